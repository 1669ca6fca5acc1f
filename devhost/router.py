"""Which HTTP function serves a request: aiohttp's router over the app's translated route templates.

Functions routes ignore case, aiohttp's do not: the router resolves the lower-cased path (the translated templates
are lower-case too) and then reads the parameter values, case kept, from the path as sent. When the path's routes
accept other methods only, aiohttp's answer names them all (405 with ``Allow``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiohttp import web
from yarl import URL

from devhost.routes import TranslatedRoute

Target = TypeVar("Target")


@dataclass(frozen=True)
class RouteFound(Generic[Target]):
    """The function that serves a request, and its route parameters (URL-decoded, by their declared names)."""

    target: Target
    params: dict[str, str]


@dataclass(frozen=True)
class RouteMissing:
    """No function serves the request: 404, or 405 with the methods the path does accept."""

    status: int
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Registered(Generic[Target]):
    target: Target
    route: TranslatedRoute
    # The aiohttp path's regex, matched against the path as sent (ignoring case) to keep the values' case.
    pattern: re.Pattern[str] | None


async def _called_by_the_host(request: web.Request) -> web.StreamResponse:
    # aiohttp wants a handler per route; the host calls the function itself, with the case-kept parameters.
    raise AssertionError("FunctionRouter only resolves; LocalFunctionsHost calls the function")


def _without_trailing_slash(path: str) -> str:
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


def _unquote_path_safe(value: str) -> str:
    # yarl's path_safe keeps %2F and %25 encoded, so an encoded slash stays inside its segment until now.
    return value.replace("%2F", "/").replace("%25", "%")


class FunctionRouter(Generic[Target]):
    """Routes requests to targets (the host's HTTP functions) with aiohttp's :class:`web.UrlDispatcher`.

    Add routes in precedence order (:attr:`TranslatedRoute.precedence`): aiohttp tries the routes under one literal
    prefix in the order they were added, the longest literal prefix first.
    """

    def __init__(self) -> None:
        self._dispatcher = web.UrlDispatcher()
        self._registered: dict[web.AbstractRoute, _Registered[Target]] = {}
        self._served: set[tuple[str, str]] = set()

    def add(self, route: TranslatedRoute, methods: Sequence[str], target: Target) -> None:
        """Serve ``route`` with ``target`` for ``methods``.

        Raises:
            ValueError: a target added before serves the same path and method.
        """
        for path in route.paths:
            for method in methods:
                # aiohttp would only notice when the two routes are added one after the other.
                if (method, path) in self._served:
                    raise ValueError(f"{method} {route.template} is served by two functions")
                self._served.add((method, path))
                added = self._dispatcher.add_route(method, path, _called_by_the_host)
                pattern = added.resource.get_info().get("pattern") if added.resource else None
                compiled = re.compile(pattern.pattern, re.IGNORECASE) if isinstance(pattern, re.Pattern) else None
                self._registered[added] = _Registered(target, route, compiled)

    async def resolve(self, request: web.BaseRequest) -> RouteFound[Target] | RouteMissing:
        """The target for ``request`` and its route parameters, or why there is none."""
        # Raw: percent-encoded ASCII, so lower() changes no escape's meaning and no character's position.
        lowered = URL.build(path=_without_trailing_slash(request.rel_url.raw_path.lower()), encoded=True)
        match = await self._dispatcher.resolve(request.clone(rel_url=lowered))  # type: ignore[arg-type]
        exception = getattr(match, "http_exception", None)
        if isinstance(exception, web.HTTPMethodNotAllowed):
            return RouteMissing(405, tuple(sorted(exception.allowed_methods)))
        registered = self._registered.get(match.route)
        if exception is not None or registered is None:
            return RouteMissing(404)
        values: dict[str, str] = {}
        if registered.pattern is not None:
            found = registered.pattern.fullmatch(_without_trailing_slash(request.rel_url.path_safe))
            if found is None:  # cannot happen: it matched the same path in lower case
                return RouteMissing(404)
            values = {name: _unquote_path_safe(value) for name, value in found.groupdict().items() if value}
        params = registered.route.checked_params(values)
        return RouteMissing(404) if params is None else RouteFound(registered.target, params)
