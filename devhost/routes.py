"""Azure Functions route templates (ASP.NET Core routing syntax) translated into aiohttp resource paths.

What the Functions host reads, as :func:`translate_route` writes it in aiohttp's ``{name}`` / ``{name:regex}``
syntax (:mod:`devhost.router` then matches requests with aiohttp's router):

* literal segments (``products/search``), lower-cased because the router matches lower-cased paths: Functions routes
  ignore case;
* parameters ``{name}``, optional ones ``{name?}``, defaults ``{name=value}`` and catch-alls ``{*rest}``; a template
  with optional trailing segments becomes one aiohttp path per length (``search/{category?}`` -> ``/api/search`` and
  ``/api/search/{category:[^/]+}``);
* inline constraints, chained with ``:`` (``{id:int}``, ``{id:int:min(1)}``): ``int``, ``long``, ``bool``, ``float``,
  ``double``, ``decimal``, ``guid`` and ``alpha`` shape the path regex, so a segment of another shape falls through
  to the next route; every constraint (also ``min(n)``, ``max(n)``, ``range(a,b)``, ``length``, ``minlength``,
  ``maxlength`` and ``regex(...)``) is then checked on the decoded value by :meth:`TranslatedRoute.checked_params`.
  A value of the right shape that fails such a check is a 404 here, where ``func start`` might try a lower-ranked
  route; any other constraint (``datetime``) accepts any segment;
* several parameters in one segment (``{name}.{ext}``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_INTEGER = r"[+-]?\d+"
_HEX = "[0-9a-fA-F]"
_GUID = f"{_HEX}{{32}}|{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
#: The regex of a segment with no shaping constraint; [^/] (unlike aiohttp's default) also takes braces.
ANY_SEGMENT = "[^/]+"
#: A catch-all takes the rest of the path, newlines (%0A) included.
REST_OF_PATH = r"[\s\S]+"

#: Path regexes of the constraints that decide a segment's shape (lower-case letters only where case matters).
SHAPES = {
    "int": _INTEGER,
    "long": _INTEGER,
    "bool": "(?i:true|false)",
    "float": _NUMBER,
    "double": _NUMBER,
    "decimal": _NUMBER,
    "guid": f"(?:{_GUID})",
    "alpha": "[a-zA-Z]+",
}

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
    return lambda value: bool(re.fullmatch(_INTEGER, value)) and low <= int(value) <= high


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _args(raw: str, name: str, count: int) -> list[int]:
    parts = [part.strip() for part in raw.split(",")]
    if len(parts) != count or not all(re.fullmatch(_INTEGER, part) for part in parts):
        raise RouteTemplateError(f"constraint {name}({raw}) needs {count} integer argument(s)")
    return [int(part) for part in parts]


def _number_test(test: Callable[[int], bool]) -> Constraint:
    return lambda value: bool(re.fullmatch(_INTEGER, value)) and test(int(value))


def build_constraint(spec: str) -> Constraint:
    """The check for one inline constraint such as ``int``, ``min(1)`` or ``regex(^\\d+$)``.

    Raises:
        RouteTemplateError: a known constraint has malformed arguments.
    """
    name, _, rest = spec.partition("(")
    name = name.strip().lower()
    argument = rest[:-1] if rest.endswith(")") else rest
    if name in ("int", "long"):
        return _integer_between(*(_INT32 if name == "int" else _INT64))
    if name == "guid":
        return _is_guid
    if name in SHAPES:
        shape = re.compile(SHAPES[name])
        return lambda value: shape.fullmatch(value) is not None
    if name in ("minlength", "maxlength", "min", "max"):
        (bound,) = _args(argument, name, 1)
        if name == "minlength":
            return lambda value: len(value) >= bound
        if name == "maxlength":
            return lambda value: len(value) <= bound
        return _number_test((lambda number: number >= bound) if name == "min" else (lambda number: number <= bound))
    if name == "length":
        low, high = _args(argument, name, 2) if "," in argument else _args(argument, name, 1) * 2
        return lambda value: low <= len(value) <= high
    if name == "range":
        low, high = _args(argument, name, 2)
        return _number_test(lambda number: low <= number <= high)
    if name == "regex":
        # ASP.NET searches (not full-matches) the value, ignoring case.
        pattern = re.compile(argument, re.IGNORECASE)
        return lambda value: pattern.search(value) is not None
    # datetime, file, nonfile and custom constraints: the Functions host would apply them, but an unchecked
    # segment only widens what matches, which is the safe direction for a development host.
    return lambda value: True


@dataclass(frozen=True)
class RouteParameter:
    """One ``{...}`` of a template.

    Attributes:
        name: the parameter name as declared (the key in ``req.route_params``).
        shape: the path regex its segment must match.
        constraints: every inline constraint, checked on the decoded value.
        optional: ``{name?}``, a default or a catch-all: the segment may be missing.
        default: the value when the segment is missing.
        catch_all: ``{*name}``.
    """

    name: str
    shape: str = ANY_SEGMENT
    constraints: tuple[Constraint, ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.constraints)


def _split_constraints(body: str) -> list[str]:
    """Split ``id:int:regex(a:b)`` on the colons that are outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in body:
        depth += {"(": 1, ")": -1}.get(char, 0)
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
    specs = [spec for spec in constraint_specs if spec]
    shapes = [SHAPES[key] for spec in specs if (key := spec.partition("(")[0].strip().lower()) in SHAPES]
    return RouteParameter(
        name=name,
        shape=REST_OF_PATH if catch_all else (shapes[0] if shapes else ANY_SEGMENT),
        constraints=tuple(build_constraint(spec) for spec in specs),
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
            depth += {"{": 1, "}": -1}.get(segment[cursor], 0)
            if depth == 0:
                break
            cursor += 1
        if cursor >= len(segment):
            raise RouteTemplateError(f"route {template!r}: unbalanced '{{' in segment {segment!r}")
        parts.append(_parse_parameter(segment[start + 1 : cursor].replace("{{", "{").replace("}}", "}"), template))
        position = cursor + 1
    if "}" in "".join(part for part in parts if isinstance(part, str)):
        raise RouteTemplateError(f"route {template!r}: unbalanced '}}' in segment {segment!r}")
    return parts


def _aiohttp_segment(parts: list[str | RouteParameter]) -> str:
    """One segment in aiohttp's syntax; a parameter that may be missing inside a segment may match nothing."""
    pieces = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(part.lower())
        else:
            pieces.append(f"{{{part.name}:(?:{part.shape})?}}" if part.optional else f"{{{part.name}:{part.shape}}}")
    return "".join(pieces)


@dataclass(frozen=True)
class TranslatedRoute:
    """A Functions route template as aiohttp resource paths.

    Attributes:
        template: the template with the route prefix, as written (``api/products/{id}``).
        paths: the aiohttp paths, shortest first: one per number of optional trailing segments present.
        parameters: every parameter, in template order.
        precedence: sort key; routes with a lower one are registered (so tried) first, as ASP.NET ranks them.
    """

    template: str
    paths: tuple[str, ...]
    parameters: tuple[RouteParameter, ...]
    precedence: tuple[int, ...]

    def checked_params(self, matched: Mapping[str, str]) -> dict[str, str] | None:
        """The route parameters for the values aiohttp matched (decoded), defaults filled in.

        Returns:
            ``None`` when a value fails one of its constraints (the route does not serve the path).
        """
        params: dict[str, str] = {}
        for parameter in self.parameters:
            value = matched.get(parameter.name)
            if not value:
                if parameter.default is not None:
                    params[parameter.name] = parameter.default
                continue
            if not parameter.accepts(value):
                return None
            params[parameter.name] = value
        return params


def translate_route(template: str, prefix: str = "api") -> TranslatedRoute:
    """Translate a function's ``route`` under the host's ``routePrefix`` into aiohttp paths.

    Args:
        template: the function's route, e.g. ``products/{id:int}``.
        prefix: ``extensions.http.routePrefix`` of ``host.json`` (``api`` by default; empty for none).

    Raises:
        RouteTemplateError: the template is malformed.
    """
    full = "/".join(part for part in (prefix.strip("/"), template.strip("/")) if part)
    segments = full.split("/") if full else []
    parameters: list[RouteParameter] = []
    pieces: list[str] = []
    ranks: list[int] = []
    first_optional: int | None = None
    for index, segment in enumerate(segments):
        parts = _parse_segment(segment, full)
        params = [part for part in parts if isinstance(part, RouteParameter)]
        parameters.extend(params)
        whole = params[0] if len(parts) == 1 and params else None
        if whole is not None and whole.catch_all and index != len(segments) - 1:
            raise RouteTemplateError(f"route {full!r}: catch-all {{*{whole.name}}} must come last")
        if any(param.catch_all for param in params) and whole is None:
            raise RouteTemplateError(f"route {full!r}: a catch-all must be a whole segment")
        if first_optional is not None and (whole is None or not whole.optional):
            raise RouteTemplateError(
                f"route {full!r}: segment {segment!r} follows an optional parameter, so must be optional"
            )
        if whole is not None and whole.optional and first_optional is None:
            first_optional = index
        if whole is None:
            ranks.append(_RANK_COMPLEX if params else _RANK_LITERAL)
        elif whole.catch_all:
            ranks.append(_RANK_CATCH_ALL)
        else:
            ranks.append(_RANK_CONSTRAINED if whole.constraints else _RANK_PARAMETER)
        pieces.append(f"{{{whole.name}:{whole.shape}}}" if whole is not None else _aiohttp_segment(parts))
    names = [param.name.lower() for param in parameters]
    if len(names) != len(set(names)):
        raise RouteTemplateError(f"route {full!r}: a parameter name appears twice")
    # Optional segments nest, so `{a=x}/{b?}` serves "", "/1" and "/1/2" but never "//2".
    shortest = len(segments) if first_optional is None else first_optional
    paths = tuple("/" + "/".join(pieces[:length]) for length in range(shortest, len(segments) + 1))
    return TranslatedRoute(full, paths, tuple(parameters), tuple(ranks))
