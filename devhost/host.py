"""A small local Functions host: runs a ``FunctionApp``'s HTTP and Cosmos DB triggers from its own metadata.

Azure Functions Core Tools (``func start``) cannot be installed everywhere, so this host reads the same metadata the
Python worker reports to the Functions host (``app.get_functions()``) and behaves like ``func start`` where the app
can notice: routes and route constraints under the ``routePrefix`` of ``host.json``, 404/405 answers, the request
body limit, ``func.HttpRequest``/``func.HttpResponse`` conversion, and change-feed delivery with leases, batch
sizes, poll delays and the function's retry policy.

Typical use::

    async with LocalFunctionsHost(app, services=services, port=0) as host:
        print(host.base_url)
        await host.wait_until_idle()
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import socket
import time
import uuid
import weakref
from collections.abc import Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import azure.functions as func
from aiohttp import HttpVersion11, web
from azure.functions.decorators.function_app import Function, FunctionRegister
from multidict import CIMultiDict

from composition.local_settings import LOCAL_SETTINGS_FILE, apply_local_settings_values, read_local_settings
from composition.services import Services, get_services
from composition.settings import SettingsError, load_settings
from devhost.changefeed import ChangeFeedTrigger, CosmosTriggerBinding, TriggerStats
from devhost.invocation import FunctionInvoker
from devhost.retry import RetryPolicy
from devhost.routes import RouteMatch, RouteTemplate

#: Set to "1" while a local host runs; the app streams server-sent events only where it is (blueprints/http.py).
STREAMING_ENV = "DEVHOST_HTTP_STREAMING"
log = logging.getLogger(__name__)
access_log = logging.getLogger("devhost.access")

DEFAULT_ROUTE_PREFIX = "api"
#: What an httpTrigger without ``methods`` accepts.
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")
_READ_CHUNK = 64 * 1024

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


def _import_app_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        # Only the app module itself missing is the user's path problem; a missing import inside it keeps its
        # traceback, which points at their code.
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
    module = _import_app_module(module_name)
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


def _function_name(function: Function) -> str:
    return function.get_function_name() or function.get_user_function().__name__


def _trigger_binding(function: Function) -> dict[str, Any] | None:
    bindings = json.loads(function.get_function_json()).get("bindings", [])
    return next((binding for binding in bindings if str(binding.get("type", "")).endswith("Trigger")), None)


@dataclass(frozen=True)
class HttpRoute:
    """One ``httpTrigger`` function as served.

    Attributes:
        function_name: the function.
        methods: the HTTP methods it accepts (upper case).
        template: its compiled route, prefix included.
        invoker: calls it.
    """

    function_name: str
    methods: tuple[str, ...]
    template: RouteTemplate
    invoker: FunctionInvoker

    @property
    def accepts_any_method(self) -> bool:
        return set(self.methods) >= set(ALL_METHODS)

    def url(self, base_url: str) -> str:
        """The route's URL template under ``base_url``, e.g. ``http://127.0.0.1:7071/api/products/{id}``."""
        return f"{base_url}/{self.template.template}"


def _json_response(status: int, payload: dict[str, Any], headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(payload).encode(), content_type="application/json", headers=headers
    )


def _to_web_response(result: Any) -> web.Response:
    """Convert what an HTTP function returned, as the Python worker's ``http`` output converter does."""
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str):
        return web.Response(status=200, body=result.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function must return func.HttpResponse or str, not {type(result).__name__}")
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in result.headers.items():
        # aiohttp frames the body itself; a copied length or encoding could contradict it.
        if key.lower() not in {"content-length", "transfer-encoding"}:
            headers.add(key, value)
    if "Content-Type" not in headers:
        mimetype = result.mimetype
        headers["Content-Type"] = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
    return web.Response(status=result.status_code, body=result.get_body(), headers=headers)


class LocalFunctionsHost:
    """Runs a ``FunctionApp``'s ``httpTrigger`` and ``cosmosDBTrigger`` functions locally.

    Args:
        app: the ``FunctionApp``, or the name of the module defining it (default ``function_app``).
        services: the services whose store holds the trigger containers. ``None`` uses the process-wide
            :func:`composition.services.get_services` (what the app's handlers use too), fetched only when the app has a
            Cosmos DB trigger.
        host: the address to listen on.
        port: the port; ``0`` picks a free one (read :attr:`port` after :meth:`start`).
        app_dir: the app folder (``host.json``); default: the module's folder, or the working directory.
        host_json: ``host.json`` path; default ``app_dir / "host.json"``.
        max_request_bytes: largest request body accepted; default the ``MAX_REQUEST_BYTES`` setting.
        functions: the app's ``get_functions()`` list, when the caller already called it on this app instance.
        run_triggers: ``False`` serves HTTP only (e.g. to load data before the first trigger poll).
        shutdown_timeout: seconds :meth:`stop` lets in-flight HTTP requests finish.
        home_route: the HTTP route (under the route prefix) that ``GET /`` redirects to, e.g. the web chat page.

    Raises:
        HostError: the app cannot be loaded, or a function's metadata is invalid (a bad retry policy, route or
            trigger binding).
    """

    def __init__(
        self,
        app: FunctionRegister | str = "function_app",
        *,
        services: Services | None = None,
        host: str = "127.0.0.1",
        port: int = 7071,
        app_dir: str | Path | None = None,
        host_json: str | Path | None = None,
        max_request_bytes: int | None = None,
        functions: Sequence[Function] | None = None,
        run_triggers: bool = True,
        shutdown_timeout: float = 5.0,
        home_route: str | None = None,
    ) -> None:
        default_dir = Path.cwd()
        if isinstance(app, str):
            module_file = getattr(_import_app_module(app), "__file__", None)
            if module_file:
                default_dir = Path(module_file).parent
            app = load_function_app(app)
        self.app = app
        self.app_dir = Path(app_dir) if app_dir is not None else default_dir
        self.route_prefix = read_route_prefix(Path(host_json) if host_json else self.app_dir / "host.json")
        self.host = host
        self.requested_port = port
        self.run_triggers = run_triggers
        self.shutdown_timeout = shutdown_timeout
        self.home_route = home_route
        self._streaming_env_before: str | None = None
        self._services = services
        self._max_request_bytes = max_request_bytes
        self._functions = list(functions) if functions is not None else indexed_functions(app)
        self._executor: ThreadPoolExecutor | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._trigger_tasks: dict[str, asyncio.Task[None]] = {}
        self.http_routes: list[HttpRoute] = []
        self.triggers: list[ChangeFeedTrigger] = []
        #: Functions with a trigger this host does not run (timer, queue, ...): ``(name, trigger type)``.
        self.skipped_functions: list[tuple[str, str]] = []
        self._trigger_specs: list[tuple[Function, dict[str, Any], RetryPolicy | None]] = []
        self._index()

    # ----------------------------------------------------------------------------------------------- metadata

    def _index(self) -> None:
        """Sort the app's functions into HTTP routes and change-feed triggers, validating their metadata."""
        for function in self._functions:
            name = _function_name(function)
            binding = _trigger_binding(function)
            trigger_type = str(binding.get("type")) if binding else "none"
            if binding is None or trigger_type not in {"httpTrigger", "cosmosDBTrigger"}:
                self.skipped_functions.append((name, trigger_type))
                continue
            try:
                retry_policy = RetryPolicy.from_settings(function.get_settings_dict("retry_policy"), name)
            except ValueError as error:
                raise HostError(str(error)) from None
            if trigger_type == "cosmosDBTrigger":
                self._trigger_specs.append((function, binding, retry_policy))
                continue
            methods = tuple(str(method).upper() for method in binding.get("methods") or ALL_METHODS)
            try:
                template = RouteTemplate(str(binding.get("route") or name), self.route_prefix)
            except ValueError as error:
                raise HostError(f"function {name}: {error}") from None
            self.http_routes.append(HttpRoute(name, methods, template, self._invoker(function, binding)))
        # Literal segments win over parameters, as in ASP.NET routing; the name keeps the order stable.
        self.http_routes.sort(key=lambda route: (route.template.precedence, route.template.template.lower()))

    def _invoker(self, function: Function, binding: Mapping[str, Any]) -> FunctionInvoker:
        invoker = FunctionInvoker(
            _function_name(function),
            function.get_user_function(),
            str(binding["name"]),
            self._executor,
            str(self.app_dir),
        )
        if invoker.unfilled_parameters:
            log.warning(
                "function %s has parameters the local host does not fill (%s); only the trigger and context are",
                invoker.name,
                ", ".join(invoker.unfilled_parameters),
            )
        return invoker

    # ---------------------------------------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        """The port listened on (the real one when the host was created with port 0).

        Raises:
            HostError: the host is not started.
        """
        if self._port is None:
            raise HostError("the host is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running host."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def max_request_bytes(self) -> int:
        """The largest request body accepted (known once started, unless given to the constructor).

        Raises:
            HostError: the host is not started and no limit was given.
        """
        if self._max_request_bytes is None:
            raise HostError("the request body limit is read from settings when the host starts")
        return self._max_request_bytes

    @property
    def services(self) -> Services | None:
        """The services the triggers use (``None`` until a trigger needed them)."""
        return self._services

    @property
    def is_running(self) -> bool:
        return self._runner is not None

    @property
    def home_path(self) -> str | None:
        """The path ``GET /`` redirects to, when the app has the home route."""
        if not self.home_route:
            return None
        path = "/" + "/".join(part for part in (self.route_prefix, self.home_route) if part)
        return path if any(route.template.match(path) for route in self.http_routes) else None

    @property
    def stats(self) -> dict[str, TriggerStats]:
        """Counters of every Cosmos DB trigger, by function name (empty until :meth:`start`)."""
        return {trigger.name: trigger.stats for trigger in self.triggers}

    async def start(self) -> None:
        """Open the trigger containers, listen for HTTP and start polling the change feeds.

        Raises:
            SettingsError: a ``%NAME%`` binding expression names an unset app setting, or settings are invalid.
            OSError: the port is taken.
        """
        if self._runner is not None:
            raise HostError("the host is already running")
        # Tells the app's HTTP glue that this host sends bodies as they are produced (server-sent events).
        self._streaming_env_before = os.environ.get(STREAMING_ENV)
        os.environ[STREAMING_ENV] = "1"
        if self._max_request_bytes is None:
            settings = self._services.settings if self._services else load_settings()
            self._max_request_bytes = settings.MAX_REQUEST_BYTES
        # The Python worker's pool: PYTHON_THREADPOOL_THREAD_COUNT threads, else Python's default.
        threads = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "").strip()
        self._executor = ThreadPoolExecutor(
            max_workers=int(threads) if threads.isdigit() and int(threads) > 0 else None,
            thread_name_prefix="devhost-function",
        )
        for route in self.http_routes:
            route.invoker.executor = self._executor
        if self.run_triggers:
            self.triggers = await self._build_triggers()
        if self._services is not None:
            # Load the model before the first request does, so no user waits for it.
            await asyncio.to_thread(self._services.embedder.warm_up)
        try:
            await self._start_http()
        except BaseException:
            self._executor.shutdown(wait=False, cancel_futures=True)
            raise
        for trigger in self.triggers:
            self._trigger_tasks[trigger.name] = asyncio.create_task(trigger.run(), name=f"trigger {trigger.name}")
        log.info(
            "host listening on %s: %d HTTP routes, %d triggers",
            self.base_url,
            len(self.http_routes),
            len(self.triggers),
        )

    async def _build_triggers(self) -> list[ChangeFeedTrigger]:
        if not self._trigger_specs:
            return []
        if self._services is None:
            self._services = await get_services()
        owner = f"{socket.gethostname()}:{os.getpid()}"
        triggers = []
        for function, binding, retry_policy in self._trigger_specs:
            name = _function_name(function)
            resolved = CosmosTriggerBinding.from_binding(name, binding)
            monitored = await self._services.container_named(resolved.container_name)
            leases = await self._services.container_named(resolved.lease_container_name)
            invoker = self._invoker(function, binding)
            triggers.append(ChangeFeedTrigger(resolved, invoker, retry_policy, monitored, leases, owner))
        return triggers

    async def _start_http(self) -> None:
        web_app = web.Application()
        # [\s\S], not ".": a decoded path may hold a newline (%0A); it must reach our JSON 404, not aiohttp's text one.
        web_app.router.add_route("*", r"/{path:[\s\S]*}", self._dispatch, expect_handler=self._expect_continue)
        # Our own access line (method, path, status, ms) replaces aiohttp's.
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        try:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            if os.name != "nt":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.requested_port))
            except OSError:
                sock.close()
                raise
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = sock.getsockname()[1]
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening and cancel the trigger loops.

        An in-flight trigger batch is cancelled before its checkpoint is written, so the next start delivers it
        again: nothing is lost. In-flight HTTP requests get ``shutdown_timeout`` seconds to finish.
        """
        tasks = list(self._trigger_tasks.values())
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for name, result in zip(self._trigger_tasks, results, strict=True):
            if isinstance(result, Exception):
                log.error("trigger %s had stopped with an error", name, exc_info=result)
        self._trigger_tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            # Sync functions still running in a thread cannot be interrupted; do not wait for them.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._port = None
        if self._streaming_env_before is None:
            os.environ.pop(STREAMING_ENV, None)
        else:
            os.environ[STREAMING_ENV] = self._streaming_env_before
        log.info("host stopped")

    async def __aenter__(self) -> LocalFunctionsHost:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_until_idle(self, timeout: float = 30.0) -> None:
        """Wait until every trigger has processed the change feed up to its end as of this call.

        Raises:
            TimeoutError: a trigger did not catch up in ``timeout`` seconds (e.g. a batch keeps failing).
            HostError: the host is not running, or a trigger loop died.
        """
        if not self.is_running:
            raise HostError("the host is not started")
        if not self.triggers:
            return
        caught_up: asyncio.Future[Any] = asyncio.ensure_future(
            asyncio.gather(*(trigger.wait_until_caught_up() for trigger in self.triggers))
        )
        loops: set[asyncio.Future[Any]] = set(self._trigger_tasks.values())
        try:
            done, _ = await asyncio.wait({caught_up, *loops}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not caught_up.done():
                caught_up.cancel()
        if caught_up in done:
            caught_up.result()
            return
        for name, task in self._trigger_tasks.items():
            if task in done:
                error = task.exception() if not task.cancelled() else None
                raise HostError(f"trigger {name} stopped: {error!r}")
        behind = {name: stats for name, stats in self.stats.items()}
        raise TimeoutError(f"triggers did not catch up with the change feed in {timeout}s: {behind}")

    def trigger_stats(self, function_name: str) -> TriggerStats:
        """Counters of one Cosmos DB trigger.

        Raises:
            KeyError: no running trigger has that function name.
        """
        return self.stats[function_name]

    # ---------------------------------------------------------------------------------------------------- HTTP

    def _log_access(self, request: web.Request, status: int, started: float) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        access_log.info("%s %s %d %.1fms", request.method, request.rel_url, status, elapsed_ms)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        response = await self._respond(request)
        self._log_access(request, response.status, started)
        return response

    async def _expect_continue(self, request: web.Request) -> web.StreamResponse | None:
        """Answer ``Expect: 100-continue`` with the final 404/405/413 when there is one, so no body is sent in vain."""
        started = time.perf_counter()
        routed = self._route(request)
        if isinstance(routed, web.StreamResponse):
            routed.force_close()  # the client may still send the body it announced; do not parse it as a request
            self._log_access(request, routed.status, started)
            return routed
        if request.version == HttpVersion11:
            if request.headers.get("Expect", "").lower() != "100-continue":
                raise web.HTTPExpectationFailed(text=f"Unknown Expect: {request.headers.get('Expect')}")
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the interim response is not part of the final one
        return None

    def _route(self, request: web.Request) -> tuple[HttpRoute, RouteMatch] | web.Response:
        """The route and parameters for ``request``, or the 404/405/413 answer that needs no body read."""
        path = request.rel_url.raw_path
        method = request.method.upper()
        if path == "/" and self.home_path and method in ("GET", "HEAD"):
            return web.Response(status=302, headers={"Location": self.home_path})
        candidates = [(route, found) for route in self.http_routes if (found := route.template.match(path))]
        if not candidates:
            return _json_response(404, {"error": "not found"})
        chosen = next(((route, found) for route, found in candidates if method in route.methods), None)
        if chosen is None:
            allowed = sorted({method for route, _ in candidates for method in route.methods})
            return _json_response(
                405, {"error": "method not allowed", "allowed": allowed}, headers={"Allow": ", ".join(allowed)}
            )
        if request.content_length is not None and request.content_length > self.max_request_bytes:
            return self._too_large()
        return chosen

    def _too_large(self) -> web.Response:
        limit = self.max_request_bytes
        response = _json_response(
            413,
            {
                "error": f"request body is larger than {limit} bytes (MAX_REQUEST_BYTES)",
                "field": "body",
                "limit_bytes": limit,
            },
        )
        # The rest of the body stays unread; closing the connection keeps it from being parsed as a request.
        response.force_close()
        return response

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        routed = self._route(request)
        if isinstance(routed, web.StreamResponse):
            return routed
        route, found = routed
        body = await self._read_body(request)
        if body is None:
            return self._too_large()
        request_id = str(uuid.uuid4())
        try:
            http_request = func.HttpRequest(
                request.method.upper(),
                str(request.url),
                headers={key: ", ".join(request.headers.getall(key)) for key in request.headers},
                # The Functions host joins repeated query parameters with commas.
                params={key: ",".join(request.rel_url.query.getall(key)) for key in request.rel_url.query},
                route_params=found.params,
                body=body,
            )
            result = await route.invoker.invoke(http_request)
            body_stream = getattr(result, "body_stream", None)
            if body_stream is not None:
                return await self._stream(request, result, body_stream, request_id)
            return _to_web_response(result)
        except Exception:
            log.exception(
                "%s failed on %s %s (request_id=%s)", route.function_name, request.method, request.rel_url, request_id
            )
            return _json_response(500, {"error": "internal error", "request_id": request_id})

    async def _stream(
        self, request: web.Request, result: func.HttpResponse, body_stream: Any, request_id: str
    ) -> web.StreamResponse:
        """Send a streaming response's pieces as they are produced (what ``func.HttpResponse`` cannot do)."""
        headers = CIMultiDict(_to_web_response(result).headers)
        headers.popall("Content-Length", None)
        response = web.StreamResponse(status=result.status_code, headers=headers)
        await response.prepare(request)
        try:
            async for piece in body_stream:
                await response.write(piece)
        except asyncio.CancelledError:
            raise
        except ConnectionResetError:
            # The client hung up mid-stream (a closed tab, a cancelled SDK call): nothing failed on our side.
            log.info("client left mid-stream: %s %s (request_id=%s)", request.method, request.rel_url, request_id)
            return response
        except Exception:
            # The status line is gone already: log, and end the body where it stands.
            log.exception("stream failed on %s %s (request_id=%s)", request.method, request.rel_url, request_id)
        await response.write_eof()
        return response

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The request body, or ``None`` once it exceeds the limit (never reading more than limit + one chunk)."""
        limit = self.max_request_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def describe_routes(self) -> list[str]:
        """Lines like ``GET,PUT  http://127.0.0.1:7071/api/products/{id}  (get_product)`` for the banner."""
        rows = [
            (
                "ANY" if route.accepts_any_method else ",".join(route.methods),
                route.url(self.base_url),
                route.function_name,
            )
            for route in self.http_routes
        ]
        width = max((len(methods) for methods, _, _ in rows), default=0)
        return [f"{methods.ljust(width)}  {url}  ({name})" for methods, url, name in rows]
