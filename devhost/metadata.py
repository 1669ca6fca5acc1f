"""Finding the app and reading what it declares, as the Python worker reports it to the Functions host.

The host learns everything from ``app.get_functions()``: each function's bindings (``get_function_json()``), its
retry policy and its Python callable. ``host.json`` gives the route prefix; ``local.settings.json`` the app settings.
"""

from __future__ import annotations

import importlib
import json
import os
import weakref
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from azure.functions.decorators.function_app import Function, FunctionRegister

from composition.local_settings import LOCAL_SETTINGS_FILE, apply_local_settings_values, read_local_settings
from composition.settings import SettingsError
from devhost.retry import RetryPolicy
from devhost.routes import TranslatedRoute, translate_route

DEFAULT_ROUTE_PREFIX = "api"
#: What an httpTrigger without ``methods`` accepts.
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")

# get_functions() validates unique names against state it keeps, so a second call on one app raises. Every host
# built on the same app (a restart in a test, a benchmark's second run) shares the first call's list.
_indexed_apps: weakref.WeakKeyDictionary[FunctionRegister, list[Function]] = weakref.WeakKeyDictionary()


class HostError(RuntimeError):
    """The host cannot load or run the app; the message says what to change."""


def apply_local_settings(app_dir: Path, environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """Copy ``local.settings.json`` ``Values`` into the environment for keys not already set, as ``func start`` does.

    Args:
        app_dir: the folder holding ``local.settings.json``.
        environ: the mapping to update (default: ``os.environ``).

    Returns:
        The parsed file (``{}`` when there is none), so callers can read ``Host.LocalHttpPort``.

    Raises:
        HostError: the file is not valid JSON.
    """
    try:
        content = read_local_settings(app_dir / LOCAL_SETTINGS_FILE)
    except SettingsError as error:
        raise HostError(str(error)) from None
    apply_local_settings_values(content, os.environ if environ is None else environ)
    return content


def read_route_prefix(host_json: Path) -> str:
    """``extensions.http.routePrefix`` of ``host.json`` (``api`` when the file or the key is missing)."""
    if not host_json.is_file():
        return DEFAULT_ROUTE_PREFIX
    try:
        content = json.loads(host_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise HostError(f"{host_json} is not valid JSON ({error})") from None
    prefix = ((content.get("extensions") or {}).get("http") or {}).get("routePrefix")
    return DEFAULT_ROUTE_PREFIX if prefix is None else str(prefix).strip("/")


def import_app_module(module_name: str) -> ModuleType:
    """Import the module that defines the app.

    Raises:
        HostError: the module itself is not found (a missing import inside it keeps its traceback, which points at
            the user's code).
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise HostError(
            f"cannot import the app module {module_name!r} from {Path.cwd()}: run from the folder holding "
            f"{module_name}.py, or name the module with --app"
        ) from None


def load_function_app(module_name: str) -> FunctionRegister:
    """Import ``module_name`` and return the ``FunctionApp`` it defines, as the Python worker finds it.

    Raises:
        HostError: the module cannot be found, or defines no ``FunctionApp`` (or more than one).
    """
    module = import_app_module(module_name)
    apps = [value for value in vars(module).values() if isinstance(value, FunctionRegister)]
    if len(apps) != 1:
        raise HostError(f"module {module_name} must define exactly one FunctionApp; found {len(apps)}")
    return apps[0]


def indexed_functions(app: FunctionRegister) -> list[Function]:
    """``app.get_functions()``, called once per app instance and remembered.

    Raises:
        HostError: someone else already called ``get_functions()`` on this instance (it can only run once).
    """
    if app not in _indexed_apps:
        try:
            _indexed_apps[app] = app.get_functions()
        except ValueError as error:
            raise HostError(
                f"app.get_functions() failed ({error}); it can run once per FunctionApp, so if your code already "
                "called it, pass that list as LocalFunctionsHost(functions=...)"
            ) from error
    return _indexed_apps[app]


def function_name(function: Function) -> str:
    """The name the host knows the function by (``@app.function_name``, else the Python function's name)."""
    return function.get_function_name() or function.get_user_function().__name__


def _trigger_binding(function: Function) -> dict[str, Any] | None:
    bindings = json.loads(function.get_function_json()).get("bindings", [])
    return next((binding for binding in bindings if str(binding.get("type", "")).endswith("Trigger")), None)


@dataclass(frozen=True)
class HttpFunction:
    """An ``httpTrigger`` function.

    Attributes:
        name: the function's name.
        function: its metadata.
        binding: its trigger binding (``name`` is the parameter receiving the request).
        methods: the HTTP methods it accepts (upper case).
        route: its route, translated for aiohttp's router (route prefix included).
    """

    name: str
    function: Function
    binding: dict[str, Any]
    methods: tuple[str, ...]
    route: TranslatedRoute

    @property
    def accepts_any_method(self) -> bool:
        return set(self.methods) >= set(ALL_METHODS)


@dataclass(frozen=True)
class CosmosFunction:
    """A ``cosmosDBTrigger`` function with its retry policy (``None`` when it has none)."""

    name: str
    function: Function
    binding: dict[str, Any]
    retry_policy: RetryPolicy | None


@dataclass
class AppIndex:
    """The app's functions sorted by what this host does with them.

    Attributes:
        http: HTTP functions, in route precedence order (literal segments before parameters, as ASP.NET ranks).
        cosmos: change-feed functions.
        skipped: functions with a trigger this host does not run (timer, queue, ...): ``(name, trigger type)``.
    """

    http: list[HttpFunction] = field(default_factory=list)
    cosmos: list[CosmosFunction] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def index_functions(functions: Sequence[Function], route_prefix: str) -> AppIndex:
    """Sort ``functions`` into HTTP routes and change-feed triggers, validating their metadata.

    Raises:
        HostError: a retry policy or route template the Functions host would refuse, naming the function.
    """
    index = AppIndex()
    for function in functions:
        name = function_name(function)
        binding = _trigger_binding(function)
        trigger_type = str(binding.get("type")) if binding else "none"
        if binding is None or trigger_type not in {"httpTrigger", "cosmosDBTrigger"}:
            index.skipped.append((name, trigger_type))
            continue
        try:
            retry_policy = RetryPolicy.from_settings(function.get_settings_dict("retry_policy"), name)
        except ValueError as error:
            raise HostError(str(error)) from None
        if trigger_type == "cosmosDBTrigger":
            index.cosmos.append(CosmosFunction(name, function, binding, retry_policy))
            continue
        methods = tuple(str(method).upper() for method in binding.get("methods") or ALL_METHODS)
        try:
            route = translate_route(str(binding.get("route") or name), route_prefix)
        except ValueError as error:
            raise HostError(f"function {name}: {error}") from None
        index.http.append(HttpFunction(name, function, binding, methods, route))
    # The name keeps the order of equally ranked routes stable.
    index.http.sort(key=lambda http: (http.route.precedence, http.route.template.lower()))
    return index
