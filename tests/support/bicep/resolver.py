"""Evaluates what :mod:`tests.support.bicep.reader` parsed, as a deployment would.

A resolver follows parameters (their defaults, or deployment values given to :func:`main_scope`), variables,
module arguments and ``loadJsonContent`` lookups to values. What only Azure knows (a module output such as an
endpoint, ``tenant()``, ``fail()``) stays :class:`Unresolved`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.bicep.reader import (
    BicepFile,
    BicepParser,
    Declaration,
    Expr,
    Loop,
    Token,
    bicep,
    body,
    tokenize,
    unquote,
)


@dataclass(frozen=True)
class Unresolved:
    """A value only a deployment knows, such as a module output."""

    text: str


@dataclass(frozen=True)
class Lambda:
    """``<parameter> => <body>`` (an argument of ``map()``), with the scope and loop variables it was written in."""

    parameter: str
    body: str
    scope: Scope
    local: Mapping[str, Any]


@dataclass(frozen=True)
class Scope:
    """Where an expression is evaluated: a file, and for a module the arguments its caller passed.

    Attributes:
        file: the parsed file.
        arguments: a module's arguments (``params`` of the caller's ``module`` declaration); None for main.bicep.
        caller: the scope those arguments are evaluated in.
        parameters: deployment parameter values for main.bicep (what ``--parameters`` or azd would pass); a
            parameter not named here takes its default.
    """

    file: BicepFile
    arguments: Mapping[str, Any] | None = None
    caller: Scope | None = None
    parameters: Mapping[str, Any] | None = None


def main_scope(parameters: Mapping[str, Any] | None = None) -> Scope:
    """main.bicep, deployed with its defaults or with ``parameters``."""
    main = bicep("main.bicep")
    unknown = set(parameters or {}) - set(main.params)
    assert not unknown, f"main.bicep declares no parameter {sorted(unknown)}"
    return Scope(main, parameters=parameters)


def module_scope(relative_path: str, parameters: Mapping[str, Any] | None = None) -> Scope:
    """``infra/<relative_path>`` as main.bicep (deployed with ``parameters``) calls it."""
    call = body(bicep("main.bicep").module(relative_path))
    return Scope(bicep(relative_path), call.get("params", {}), main_scope(parameters))


_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def resolve(scope: Scope, value: Any, local: Mapping[str, Any] | None = None) -> Any:
    """The value of ``value`` in ``scope`` (``local``: loop variables): :class:`Unresolved` where Azure decides."""
    if isinstance(value, dict):
        return {key: resolve(scope, item, local) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(scope, item, local) for item in value]
    if not isinstance(value, Expr):
        return value
    return evaluate(scope, value.text, local or {})


def top_level(tokens: list[Token], text: str, start: int = 0) -> int | None:
    """Index of the first ``text`` token outside brackets."""
    depth = 0
    for index in range(start, len(tokens)):
        if depth == 0 and tokens[index].text == text:
            return index
        depth += BicepParser.depth_change(tokens[index])
    return None


def closing(tokens: list[Token], opening: int) -> int:
    """Index of the bracket that closes ``tokens[opening]``."""
    depth = 0
    for index in range(opening, len(tokens)):
        depth += BicepParser.depth_change(tokens[index])
        if depth == 0:
            return index
    raise SyntaxError("unbalanced brackets")


def evaluate(scope: Scope, text: str, local: Mapping[str, Any]) -> Any:
    """Evaluates the expression forms infra/ uses: literals, paths, ``'${...}'``, ``a ? b : c``, ``||``, ``&&``,
    ``==``, ``!=``, ``!``, object and array literals, ``string()``, ``union()``, ``items()``, ``empty()`` and
    ``map()`` with a ``x => ...`` lambda; anything else (``fail()`` included) is :class:`Unresolved`."""
    tokens = [token for token in tokenize(text, "expression") if token.kind != "newline"]

    def part(first: int, last: int) -> str:
        return text[tokens[first].start : tokens[last - 1].end]

    # The tokenizer reads `=>` as `=` then `>`.
    if len(tokens) > 3 and tokens[0].kind == "name" and tokens[1].text == "=" and tokens[2].text == ">":
        return Lambda(tokens[0].text, part(3, len(tokens)), scope, dict(local))
    if (question := top_level(tokens, "?")) is not None:
        colon = top_level(tokens, ":", question + 1)
        assert colon is not None, f"a ? without : in {text!r}"
        condition = evaluate(scope, part(0, question), local)
        if not isinstance(condition, bool):
            return Unresolved(text)
        return evaluate(scope, part(question + 1, colon) if condition else part(colon + 1, len(tokens)), local)
    for operator in ("||", "&&"):
        if (at := top_level(tokens, operator)) is not None:
            left = evaluate(scope, part(0, at), local)
            if left is (operator == "||"):
                return left  # ARM short-circuits: the right side is never evaluated
            right = evaluate(scope, part(at + 1, len(tokens)), local)
            return right if isinstance(left, bool) and isinstance(right, bool) else Unresolved(text)
    for operator in ("==", "!="):
        if (at := top_level(tokens, operator)) is not None:
            left, right = evaluate(scope, part(0, at), local), evaluate(scope, part(at + 1, len(tokens)), local)
            if isinstance(left, Unresolved) or isinstance(right, Unresolved):
                return Unresolved(text)
            return (left == right) is (operator == "==")
    if tokens[0].text == "!":
        operand = evaluate(scope, part(1, len(tokens)), local)
        return (not operand) if isinstance(operand, bool) else Unresolved(text)
    if tokens[0].text in ("{", "["):
        return resolve(scope, BicepParser(text, "expression").value(), local)
    if len(tokens) == 1 and (tokens[0].kind in ("number", "string") or tokens[0].text in ("true", "false", "null")):
        literal = BicepParser(text, "expression").expression()
        if not isinstance(literal, Expr):
            return literal
    if len(tokens) > 2 and tokens[0].kind == "name" and tokens[1].text == "(" and closing(tokens, 1) == len(tokens) - 1:
        commas, depth, arguments, first = [], 0, [], 2
        for index in range(2, len(tokens) - 1):
            if depth == 0 and tokens[index].text == ",":
                commas.append(index)
            depth += BicepParser.depth_change(tokens[index])
        for comma in [*commas, len(tokens) - 1]:
            arguments.append(evaluate(scope, part(first, comma), local))
            first = comma + 1
        return call(tokens[0].text, arguments, text)
    if text.startswith("'") and "${" in text:
        pieces = re.split(r"\$\{([^}]*)\}", unquote(text))
        values = [piece if index % 2 == 0 else evaluate(scope, piece, local) for index, piece in enumerate(pieces)]
        if any(isinstance(value, Unresolved | dict | list) for value in values):
            return Unresolved(text)
        return "".join(str(value) for value in values)
    if _PATH.fullmatch(text):
        head, *rest = text.split(".")
        target = local[head] if head in local else resolve_name(scope, head)
        for key in rest:
            if not isinstance(target, dict):
                return Unresolved(text)
            target = target[key]
        return target
    return Unresolved(text)


def call(function: str, arguments: list[Any], text: str) -> Any:
    if any(isinstance(argument, Unresolved) for argument in arguments):
        return Unresolved(text)
    if function == "string" and len(arguments) == 1:
        [value] = arguments
        return str(value).lower() if isinstance(value, bool) else str(value)
    if function == "union" and all(isinstance(argument, dict) for argument in arguments):
        merged: dict[str, Any] = {}
        for argument in arguments:
            merged.update(argument)
        return merged
    if function == "items" and len(arguments) == 1 and isinstance(arguments[0], dict):
        return [{"key": key, "value": value} for key, value in sorted(arguments[0].items())]
    if function == "concat" and all(isinstance(argument, list) for argument in arguments):
        return [item for argument in arguments for item in argument]
    if function == "empty" and len(arguments) == 1 and isinstance(arguments[0], list | dict | str | None):
        return not arguments[0]
    if function == "map" and len(arguments) == 2 and isinstance(arguments[0], list):
        items, mapping = arguments
        if isinstance(mapping, Lambda):
            return [evaluate(mapping.scope, mapping.body, {**mapping.local, mapping.parameter: item}) for item in items]
    return Unresolved(text)


def resolve_name(scope: Scope, name: str) -> Any:
    file = scope.file
    if name in file.params:
        if scope.arguments is None and scope.parameters is not None and name in scope.parameters:
            return scope.parameters[name]
        if scope.arguments is None and file.params[name].value is None:
            return Unresolved(name)  # a deployment parameter without a default, such as environmentName
        if scope.arguments is not None:
            assert name in scope.arguments or file.params[name].value is not None, (
                f"{file.path.name}: parameter {name} has no default and its caller passes none"
            )
            if name in scope.arguments:
                assert scope.caller is not None
                return resolve(scope.caller, scope.arguments[name])
        return resolve(scope, file.params[name].value)
    if name in file.vars:
        value = file.vars[name].value
        if isinstance(value, Expr) and (match := re.fullmatch(r"loadJsonContent\('([^']+)'\)", value.text)):
            return json.loads((file.path.parent / match.group(1)).read_text())
        return resolve(scope, value)
    return Unresolved(name)


def expand_loop(scope: Scope, declaration: Declaration) -> list[dict[str, Any]]:
    """Each element of a ``[for item in <iterable>: {...}]`` resource, evaluated."""
    loop = declaration.value
    assert isinstance(loop, Loop), f"{declaration.name} is not a loop"
    match = re.fullmatch(r"(\w+) in (.+)", loop.header)
    assert match, f"cannot read the loop header {loop.header!r}"
    variable, iterable = match.groups()
    elements = evaluate(scope, iterable, {})
    assert isinstance(elements, list), f"{iterable} does not evaluate to a list"
    return [resolve(scope, loop.body, {variable: element}) for element in elements]


def same_binding(scope_a: Scope, expression_a: Any, scope_b: Scope, expression_b: Any) -> bool:
    """Whether two expressions name the same main.bicep value (the same parameter, variable or module output)."""

    def origin(scope: Scope, expression: Any) -> tuple[str, Any]:
        while (
            isinstance(expression, Expr)
            and (arguments := scope.arguments) is not None
            and expression.text in scope.file.params
            and expression.text in arguments
        ):
            assert scope.caller is not None
            scope, expression = scope.caller, arguments[expression.text]
        return scope.file.path.name, expression

    return origin(scope_a, expression_a) == origin(scope_b, expression_b)
