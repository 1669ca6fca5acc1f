"""Reads the Bicep style infra/ is written in into plain values (no Bicep compiler runs here).

infra/main.bicep and infra/app/*.bicep keep a regular style (one property per line; objects and arrays open at the
end of a line; see the comment at the top of infra/main.bicep). :func:`bicep` tokenizes a file and parses its
declarations: objects and arrays become dicts and lists, literals become Python values, and every other expression
is kept as its source text (:class:`Expr`) for :mod:`tests.support.bicep.resolver` to evaluate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
INFRA = REPO / "infra"


@dataclass(frozen=True)
class Expr:
    """A Bicep expression kept as its source text (``storage.outputs.name``, ``'rg-${environmentName}'``)."""

    text: str


@dataclass(frozen=True)
class Loop:
    """``[for <header>: <body>]``."""

    header: str
    body: Any


@dataclass(frozen=True)
class Conditional:
    """``if (<condition>) <body>``."""

    condition: str
    body: Any


@dataclass
class Declaration:
    kind: str  # param, var, resource, module, output, targetScope, extension
    name: str
    type: str  # a param/output type, a resource type@version, or a module path
    value: Any
    decorators: dict[str, Any] = field(default_factory=dict)
    existing: bool = False


_TOKEN = re.compile(
    r"""(?P<space>[ \t\r]+)|(?P<comment>//[^\n]*|/\*.*?\*/)|(?P<newline>\n)|(?P<string>'''.*?'''|'(?:\\.|[^'\\\n])*')
    |(?P<number>\d+)|(?P<name>[A-Za-z_]\w*)|(?P<op>==|!=|<=|>=|&&|\|\||\?\?|\.\?|[{}\[\]():,.?!=<>+\-*/%@])""",
    re.S | re.X,
)
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


def tokenize(source: str, where: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            line = source.count("\n", 0, position) + 1
            raise SyntaxError(f"{where}:{line}: cannot read {source[position : position + 20]!r}")
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, match.group(), match.start(), match.end()))
        position = match.end()
    return tokens


def unquote(literal: str) -> str:
    if literal.startswith("'''"):
        return literal[3:-3]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), literal[1:-1])


class BicepParser:
    """Reads declarations; objects and arrays become dicts and lists, everything else an :class:`Expr`."""

    def __init__(self, source: str, where: str) -> None:
        self.source, self.where = source, where
        self.tokens = tokenize(source, where)
        self.position = 0

    def error(self, message: str) -> SyntaxError:
        at = self.tokens[self.position].start if self.position < len(self.tokens) else len(self.source)
        return SyntaxError(f"{self.where}:{self.source.count(chr(10), 0, at) + 1}: {message}")

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.position + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            raise self.error(f"expected {text!r}, found {token.text if token else 'the end'!r}")
        self.position += 1
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.text == text

    def skip_separators(self) -> None:
        while self.at("\n") or self.at(","):
            self.position += 1

    def declarations(self) -> list[Declaration]:
        found: list[Declaration] = []
        decorators: dict[str, Any] = {}
        while True:
            self.skip_separators()
            token = self.peek()
            if token is None:
                return found
            if token.text == "@":
                self.take("@")
                name = self.take().text
                self.take("(")
                decorators[name] = None if self.at(")") else self.value()
                self.skip_separators()
                self.take(")")
                continue
            keyword = self.take().text
            if keyword == "targetScope":
                self.take("=")
                found.append(Declaration("targetScope", "targetScope", "", self.value()))
            elif keyword == "extension":
                # `extension microsoftGraphV1` or `extension 'br:<registry>/<path>:<version>' [as <alias>]`
                reference = self.take()
                alias = None
                if self.at("as"):
                    self.take("as")
                    alias = self.take().text
                name = unquote(reference.text) if reference.kind == "string" else reference.text
                found.append(Declaration("extension", alias or name, name, None, decorators))
            elif keyword in ("param", "output"):
                name, kind = self.take().text, self.take().text
                value = None
                if self.at("="):
                    self.take("=")
                    value = self.value()
                found.append(Declaration(keyword, name, kind, value, decorators))
            elif keyword == "var":
                name = self.take().text
                self.take("=")
                found.append(Declaration("var", name, "", self.value(), decorators))
            elif keyword in ("resource", "module"):
                name, kind = self.take().text, unquote(self.take().text)
                existing = self.at("existing")
                if existing:
                    self.take("existing")
                self.take("=")
                found.append(Declaration(keyword, name, kind, self.value(), decorators, existing))
            else:
                raise self.error(f"unexpected {keyword!r} (teach tests/support/bicep/reader.py this declaration)")
            decorators = {}

    def value(self) -> Any:
        token = self.peek()
        if token is None:
            raise self.error("expected a value")
        if token.text == "{":
            return self.object()
        if token.text == "[":
            ahead = 1
            while (following := self.peek(ahead)) is not None and following.text == "\n":
                ahead += 1
            return self.loop() if following is not None and following.text == "for" else self.array()
        if token.text == "if":
            self.take("if")
            condition = self.group()
            return Conditional(condition, self.value())
        return self.expression()

    def object(self) -> dict[str, Any]:
        self.take("{")
        members: dict[str, Any] = {}
        while True:
            self.skip_separators()
            if self.at("}"):
                self.take("}")
                return members
            key = self.take()
            self.take(":")
            members[unquote(key.text) if key.kind == "string" else key.text] = self.value()

    def array(self) -> list[Any]:
        self.take("[")
        items: list[Any] = []
        while True:
            self.skip_separators()
            if self.at("]"):
                self.take("]")
                return items
            items.append(self.value())

    def loop(self) -> Loop:
        self.take("[")
        self.skip_separators()
        self.take("for")
        start = self.position
        depth = 0
        while not (depth == 0 and self.at(":")):
            depth += self.depth_change(self.take())
        header = self.text(start, self.position)
        self.take(":")
        self.skip_separators()
        body = self.value()
        self.skip_separators()
        self.take("]")
        return Loop(header, body)

    def group(self) -> str:
        """A parenthesised expression's inner text."""
        self.take("(")
        start, depth = self.position, 1
        while depth:
            depth += self.depth_change(self.take())
        return self.text(start, self.position - 1)

    def expression(self) -> Any:
        start, depth = self.position, 0
        while (token := self.peek()) is not None:
            if depth == 0 and (token.text in ("\n", ",") or token.text in ("}", "]", ")")):
                break
            depth += self.depth_change(token)
            self.position += 1
        if self.position == start:
            raise self.error("expected an expression")
        parts = self.tokens[start : self.position]
        if len(parts) == 1:
            only = parts[0]
            if only.kind == "number":
                return int(only.text)
            if only.text in ("true", "false"):
                return only.text == "true"
            if only.text == "null":
                return None
            if only.kind == "string" and "${" not in only.text:
                return unquote(only.text)
        return Expr(self.text(start, self.position))

    @staticmethod
    def depth_change(token: Token) -> int:
        return 1 if token.text in _CLOSERS else -1 if token.text in _CLOSERS.values() else 0

    def text(self, start: int, end: int) -> str:
        return self.source[self.tokens[start].start : self.tokens[end - 1].end] if end > start else ""


@dataclass
class BicepFile:
    """One parsed .bicep file."""

    path: Path
    declarations: list[Declaration]

    def named(self, kind: str) -> dict[str, Declaration]:
        return {item.name: item for item in self.declarations if item.kind == kind}

    @property
    def params(self) -> dict[str, Declaration]:
        return self.named("param")

    @property
    def vars(self) -> dict[str, Declaration]:
        return self.named("var")

    def resources(self, resource_type: str) -> list[Declaration]:
        return [
            item for item in self.declarations if item.kind == "resource" and item.type.split("@")[0] == resource_type
        ]

    def resource(self, resource_type: str) -> Declaration:
        matches = [item for item in self.resources(resource_type) if not item.existing]
        assert len(matches) == 1, f"{self.path.name} declares {len(matches)} {resource_type} resources, expected one"
        return matches[0]

    def declared(self, name: str) -> Declaration:
        """The resource (or module) declared under the symbolic name ``name``."""
        [match] = [item for item in self.declarations if item.kind in ("resource", "module") and item.name == name]
        return match

    def module(self, relative_path: str) -> Declaration:
        [match] = [item for item in self.declarations if item.kind == "module" and item.type == relative_path]
        return match


@cache
def bicep(relative_path: str) -> BicepFile:
    """``infra/<relative_path>``, parsed (once per test process)."""
    path = INFRA / relative_path
    return BicepFile(path, BicepParser(path.read_text(), str(path.relative_to(REPO))).declarations())


def body(declaration: Declaration) -> dict[str, Any]:
    """A resource or module body, through ``if (...)`` and ``[for ...]``."""
    value = declaration.value
    while isinstance(value, Conditional | Loop):
        value = value.body
    assert isinstance(value, dict), f"{declaration.name} has no object body"
    return value
