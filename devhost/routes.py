"""Azure Functions route templates (ASP.NET Core routing syntax) turned into matchers.

Supported, as the Functions host reads them:

* literal segments, matched case-insensitively (``products/search``);
* parameters ``{name}``, optional parameters ``{name?}``, defaults ``{name=value}`` and catch-alls ``{*rest}``;
* inline constraints, chained with ``:`` (``{id:int}``, ``{id:int:min(1)}``): ``int``, ``long``, ``bool``,
  ``float``, ``double``, ``decimal``, ``guid``, ``alpha``, ``minlength(n)``, ``maxlength(n)``, ``length(n)``,
  ``length(a,b)``, ``min(n)``, ``max(n)``, ``range(a,b)`` and ``regex(...)``; any other constraint (``datetime``)
  accepts any segment;
* several parameters in one segment (``{name}.{ext}``).

A path that matches the shape but fails a constraint does not match, so it falls through to another route or a
404, exactly as under ``func start``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")

# Ranks of ASP.NET Core's inbound route precedence: a literal segment beats a constrained parameter, which beats a
# plain parameter, which beats a catch-all. Lower sorts first.
_RANK_LITERAL = 1
_RANK_COMPLEX = 2
_RANK_CONSTRAINED = 3
_RANK_PARAMETER = 4
_RANK_CATCH_ALL = 5


class RouteTemplateError(ValueError):
    """A route template cannot be parsed (unbalanced braces, an optional parameter not at the end, ...)."""


Constraint = Callable[[str], bool]


def _integer_between(low: int, high: int) -> Constraint:
    def check(value: str) -> bool:
        return bool(_INTEGER.fullmatch(value)) and low <= int(value) <= high

    return check


def _is_number(value: str) -> bool:
    return bool(_NUMBER.fullmatch(value))


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _compare_number(value: str, predicate: Callable[[int], bool]) -> bool:
    return bool(_INTEGER.fullmatch(value)) and predicate(int(value))


def _args(raw: str, name: str, count: int) -> list[int]:
    parts = [part.strip() for part in raw.split(",")]
    if len(parts) != count or not all(_INTEGER.fullmatch(part) for part in parts):
        raise RouteTemplateError(f"constraint {name}({raw}) needs {count} integer argument(s)")
    return [int(part) for part in parts]


def build_constraint(spec: str) -> Constraint:
    """The check for one inline constraint such as ``int``, ``min(1)`` or ``regex(^\\d+$)``.

    Raises:
        RouteTemplateError: a known constraint has malformed arguments.
    """
    name, _, rest = spec.partition("(")
    name = name.strip().lower()
    argument = rest[:-1] if rest.endswith(")") else rest
    if name == "int":
        return _integer_between(*_INT32)
    if name == "long":
        return _integer_between(*_INT64)
    if name == "bool":
        return lambda value: value.lower() in {"true", "false"}
    if name in {"float", "double", "decimal"}:
        return _is_number
    if name == "guid":
        return _is_guid
    if name == "alpha":
        return lambda value: value.isascii() and value.isalpha()
    if name == "minlength":
        (low,) = _args(argument, name, 1)
        return lambda value: len(value) >= low
    if name == "maxlength":
        (high,) = _args(argument, name, 1)
        return lambda value: len(value) <= high
    if name == "length":
        bounds = _args(argument, name, 2) if "," in argument else _args(argument, name, 1) * 2
        return lambda value: bounds[0] <= len(value) <= bounds[1]
    if name == "min":
        (low,) = _args(argument, name, 1)
        return lambda value: _compare_number(value, lambda number: number >= low)
    if name == "max":
        (high,) = _args(argument, name, 1)
        return lambda value: _compare_number(value, lambda number: number <= high)
    if name == "range":
        low, high = _args(argument, name, 2)
        return lambda value: _compare_number(value, lambda number: low <= number <= high)
    if name == "regex":
        pattern = re.compile(argument, re.IGNORECASE)
        return lambda value: pattern.search(value) is not None
    # datetime, file, nonfile and custom constraints: the Functions host would apply them, but an unchecked
    # segment only widens what matches, which is the safe direction for a development host.
    return lambda value: True


@dataclass(frozen=True)
class RouteParameter:
    """One ``{...}`` of a template."""

    name: str
    constraints: tuple[Constraint, ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.constraints)


@dataclass(frozen=True)
class RouteMatch:
    """A successful match: the route parameters (URL-decoded) by their declared names."""

    params: dict[str, str]


def _split_constraints(body: str) -> list[str]:
    """Split ``id:int:regex(a:b)`` on the colons that are outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in body:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _parse_parameter(body: str, template: str) -> RouteParameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default: str | None = None
    optional = False
    name, *constraint_specs = _split_constraints(body)
    if constraint_specs and "=" in constraint_specs[-1]:
        constraint_specs[-1], default = constraint_specs[-1].split("=", 1)
    elif "=" in name:
        name, default = name.split("=", 1)
    if constraint_specs and constraint_specs[-1].endswith("?"):
        constraint_specs[-1] = constraint_specs[-1][:-1]
        optional = True
    elif name.endswith("?"):
        name = name[:-1]
        optional = True
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise RouteTemplateError(f"route {template!r}: {{{body}}} is not a valid parameter name")
    constraints = tuple(build_constraint(spec) for spec in constraint_specs if spec)
    return RouteParameter(
        name=name,
        constraints=constraints,
        optional=optional or default is not None or catch_all,
        default=default,
        catch_all=catch_all,
    )


def _parse_segment(segment: str, template: str) -> list[str | RouteParameter]:
    """A segment as its literal and parameter parts, in order."""
    parts: list[str | RouteParameter] = []
    position = 0
    while position < len(segment):
        start = segment.find("{", position)
        if start < 0:
            parts.append(segment[position:])
            break
        if start > position:
            parts.append(segment[position:start])
        # A regex constraint may itself contain braces, e.g. {code:regex(^\d{{3}}$)}: take the closing brace that
        # balances the opening one.
        depth, cursor = 0, start
        while cursor < len(segment):
            if segment[cursor] == "{":
                depth += 1
            elif segment[cursor] == "}":
                depth -= 1
                if depth == 0:
                    break
            cursor += 1
        end = cursor
        if end >= len(segment) or depth != 0:
            raise RouteTemplateError(f"route {template!r}: unbalanced '{{' in segment {segment!r}")
        parts.append(_parse_parameter(segment[start + 1 : end].replace("{{", "{").replace("}}", "}"), template))
        position = end + 1
    if "}" in "".join(part for part in parts if isinstance(part, str)):
        raise RouteTemplateError(f"route {template!r}: unbalanced '}}' in segment {segment!r}")
    return parts


class RouteTemplate:
    """A compiled route template such as ``api/products/{id:int}``.

    Args:
        template: the function's ``route`` (without the route prefix).
        prefix: the host's route prefix (``extensions.http.routePrefix``, ``api`` by default; empty for none).

    Raises:
        RouteTemplateError: the template is malformed.
    """

    def __init__(self, template: str, prefix: str = "api") -> None:
        self.route = template.strip("/")
        self.prefix = prefix.strip("/")
        self.template = "/".join(part for part in (self.prefix, self.route) if part)
        self.parameters: list[RouteParameter] = []
        pattern, ranks = self._compile()
        self._regex = re.compile(pattern, re.IGNORECASE | re.DOTALL)
        #: Sort key: routes with a lower precedence are tried first (literals before parameters, as ASP.NET does).
        self.precedence: tuple[int, ...] = tuple(ranks)

    def _compile(self) -> tuple[str, list[int]]:
        segments = self.template.split("/") if self.template else []
        pattern = "^"
        ranks: list[int] = []
        # Optional segments nest, so `{a=x}/{b?}` matches "", "/1" and "/1/2" but never "//2".
        open_optionals = 0
        for index, segment in enumerate(segments):
            parts = _parse_segment(segment, self.template)
            params = [part for part in parts if isinstance(part, RouteParameter)]
            self.parameters.extend(params)
            whole = params[0] if len(parts) == 1 and params else None
            if whole is not None and whole.catch_all and index != len(segments) - 1:
                raise RouteTemplateError(f"route {self.template!r}: catch-all {{*{whole.name}}} must come last")
            if open_optionals and (whole is None or not whole.optional):
                raise RouteTemplateError(
                    f"route {self.template!r}: segment {segment!r} follows an optional parameter, so must be optional"
                )
            if whole is not None:
                group = f"(?P<{self._group(whole)}>{'.*' if whole.catch_all else '[^/]+'})"
                if whole.optional:
                    pattern += f"(?:/{group}"
                    open_optionals += 1
                else:
                    pattern += f"/{group}"
                if whole.catch_all:
                    ranks.append(_RANK_CATCH_ALL)
                else:
                    ranks.append(_RANK_CONSTRAINED if whole.constraints else _RANK_PARAMETER)
                continue
            if any(param.catch_all for param in params):
                raise RouteTemplateError(f"route {self.template!r}: a catch-all must be a whole segment")
            pattern += "/"
            for part in parts:
                if isinstance(part, str):
                    pattern += re.escape(part)
                else:
                    # Greedy, so `{name}.{ext}` splits "a.b.png" at the last dot, as ASP.NET matches right to left.
                    group = f"(?P<{self._group(part)}>[^/]+)"
                    pattern += f"(?:{group})?" if part.optional else group
            ranks.append(_RANK_LITERAL if not params else _RANK_COMPLEX)
        names = [param.name.lower() for param in self.parameters]
        if len(names) != len(set(names)):
            raise RouteTemplateError(f"route {self.template!r}: a parameter name appears twice")
        return pattern + ")?" * open_optionals + "/?$", ranks

    def _group(self, param: RouteParameter) -> str:
        return f"p{self.parameters.index(param)}"

    def match(self, path: str) -> RouteMatch | None:
        """Match a raw (still percent-encoded) URL path such as ``/api/products/42``.

        Returns:
            The decoded route parameters, or ``None`` when the path does not match or a constraint fails.
        """
        if not path.startswith("/"):
            path = "/" + path
        if path == "/":
            path = ""
        found = self._regex.match(path)
        if found is None:
            return None
        params: dict[str, str] = {}
        for param in self.parameters:
            raw = found.group(self._group(param))
            if raw is None or raw == "":
                if param.default is not None:
                    params[param.name] = param.default
                continue
            value = unquote(raw)
            if not param.accepts(value):
                return None
            params[param.name] = value
        return RouteMatch(params)

    def __repr__(self) -> str:
        return f"RouteTemplate({self.template!r})"
