"""A small local Functions host: runs a ``FunctionApp``'s HTTP, Cosmos DB and timer triggers from its own metadata.

Azure Functions Core Tools (``func start``) cannot be installed everywhere, so this host reads the same metadata the
Python worker reports to the Functions host (``app.get_functions()``, :mod:`devhost.metadata`) and behaves like
``func start`` where the app can notice: routes and route constraints under the ``routePrefix`` of ``host.json``,
404/405 answers, the request body limit, ``func.HttpRequest``/``func.HttpResponse`` conversion
(:mod:`devhost.http_server`), and change-feed delivery with leases, batch sizes, poll delays and the function's retry
policy (:mod:`devhost.changefeed`), and timers on their NCRONTAB schedules (:mod:`devhost.timers`).

Typical use::

    async with LocalFunctionsHost(app, services=services, port=0) as host:
        print(host.base_url)
        await host.wait_until_idle()
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from azure.functions.decorators.function_app import Function, FunctionRegister

from composition.services import Services, get_services
from composition.settings import load_settings
from devhost.changefeed import ChangeFeedTrigger, CosmosTriggerBinding, TriggerStats
from devhost.http_server import HttpRoute, HttpServer, HttpTimeouts
from devhost.invocation import FunctionInvoker
from devhost.metadata import (
    ALL_METHODS,
    HostError,
    apply_local_settings,
    import_app_module,
    index_functions,
    indexed_functions,
    load_function_app,
    read_route_prefix,
)
from devhost.timers import TimerTrigger, timer_functions

__all__ = [
    "ALL_METHODS",
    "HostError",
    "HttpTimeouts",
    "LocalFunctionsHost",
    "apply_local_settings",
    "indexed_functions",
    "load_function_app",
    "read_route_prefix",
]

log = logging.getLogger(__name__)


class LocalFunctionsHost:
    """Runs a ``FunctionApp``'s ``httpTrigger``, ``cosmosDBTrigger`` and ``timerTrigger`` functions locally.

    Args:
        app: the ``FunctionApp``, or the name of the module defining it (default ``function_app``).
        services: the services whose store holds the trigger containers. ``None`` uses the process-wide
            :func:`composition.services.get_services` (what the app's handlers use too), fetched only when the app has a
            Cosmos DB trigger. While the host runs, the services' ``http_streaming`` is on: this host sends a body
            as it is produced.
        host: the address to listen on.
        port: the port; ``0`` picks a free one (read :attr:`port` after :meth:`start`).
        app_dir: the app folder (``host.json``); default: the module's folder, or the working directory.
        host_json: ``host.json`` path; default ``app_dir / "host.json"``.
        max_request_bytes: largest request body accepted; default the ``MAX_REQUEST_BYTES`` setting.
        functions: the app's ``get_functions()`` list, when the caller already called it on this app instance.
        run_triggers: ``False`` serves HTTP only (e.g. to load data before the first trigger poll).
        shutdown_timeout: seconds :meth:`stop` lets in-flight HTTP requests finish.
        home_route: the HTTP route (under the route prefix) that ``GET /`` redirects to, e.g. the web chat page.
        timeouts: how long the HTTP server waits on idle or slow clients.

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
        timeouts: HttpTimeouts | None = None,
        admin_key: str | None = None,
    ) -> None:
        default_dir = Path.cwd()
        if isinstance(app, str):
            module_file = getattr(import_app_module(app), "__file__", None)
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
        self.timeouts = timeouts or HttpTimeouts()
        #: Required on key-protected functions when set (see :class:`devhost.http_server.HttpServer`).
        self.admin_key = admin_key
        self._services = services
        self._streaming_before: bool | None = None
        self._max_request_bytes = max_request_bytes
        self._executor: ThreadPoolExecutor | None = None
        self._server: HttpServer | None = None
        self._trigger_tasks: dict[str, asyncio.Task[None]] = {}
        all_functions = list(functions) if functions is not None else indexed_functions(app)
        index = index_functions(all_functions, self.route_prefix)
        self.http_routes = [
            HttpRoute(function, self._invoker(function.name, function.function, function.binding))
            for function in index.http
        ]
        self.triggers: list[ChangeFeedTrigger] = []
        #: Timer functions, run on their schedules while the triggers run (:mod:`devhost.timers`).
        self.timers: list[TimerTrigger] = []
        self._timer_functions = timer_functions(all_functions)
        #: Functions with a trigger this host does not run (queue, blob, ...): ``(name, trigger type)``.
        self.skipped_functions = [(name, kind) for name, kind in index.skipped if kind != "timerTrigger"]
        self._cosmos_functions = index.cosmos

    def _invoker(self, name: str, function: Function, binding: dict[str, Any]) -> FunctionInvoker:
        invoker = FunctionInvoker(name, function.get_user_function(), str(binding["name"]), None, str(self.app_dir))
        if invoker.unfilled_parameters:
            log.warning(
                "function %s has parameters the local host does not fill (%s); only the trigger and context are",
                invoker.name,
                ", ".join(invoker.unfilled_parameters),
            )
        return invoker

    # ---------------------------------------------------------------------------------------------- properties

    @property
    def port(self) -> int:
        """The port listened on (the real one when the host was created with port 0).

        Raises:
            HostError: the host is not started.
        """
        if self._server is None or self._server.port is None:
            raise HostError("the host is not started")
        return self._server.port

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
        return self._server is not None

    @property
    def needs_store(self) -> bool:
        """Whether :meth:`start` opens containers: the app has Cosmos DB triggers and this host runs them."""
        return self.run_triggers and bool(self._cosmos_functions)

    @property
    def home_path(self) -> str | None:
        """The path ``GET /`` redirects to, when the app has the home route."""
        if not self.home_route:
            return None
        path = "/" + "/".join(part for part in (self.route_prefix, self.home_route) if part)
        served = any(
            path.lower() in route.function.route.paths and "GET" in route.methods for route in self.http_routes
        )
        return path if served else None

    @property
    def stats(self) -> dict[str, TriggerStats]:
        """Counters of every Cosmos DB trigger, by function name (empty until :meth:`start`)."""
        return {trigger.name: trigger.stats for trigger in self.triggers}

    # ---------------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Open the trigger containers, listen for HTTP and start polling the change feeds.

        Raises:
            SettingsError: a ``%NAME%`` binding expression names an unset app setting, or settings are invalid.
            HostError: two functions serve the same route and method.
            OSError: the port is taken.
        """
        if self._server is not None:
            raise HostError("the host is already running")
        if self._max_request_bytes is None:
            settings = self._services.settings if self._services else load_settings()
            self._max_request_bytes = settings.MAX_REQUEST_BYTES
        try:
            server = HttpServer(
                self.http_routes,
                host=self.host,
                port=self.requested_port,
                max_request_bytes=self._max_request_bytes,
                timeouts=self.timeouts,
                shutdown_timeout=self.shutdown_timeout,
                home_path=self.home_path,
                admin_key=self.admin_key,
            )
        except ValueError as error:
            raise HostError(str(error)) from None
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
            self.timers = [
                TimerTrigger(timer.name, timer.binding, self._invoker(timer.name, timer.function, timer.binding))
                for timer in self._timer_functions
            ]
        if self._services is not None:
            # This host sends a body while it is produced (server-sent events); the app's glue asks the services.
            self._streaming_before = self._services.http_streaming
            self._services.http_streaming = True
            # Load the model before the first request does, so no user waits for it.
            await asyncio.to_thread(self._services.embedder.warm_up)
        try:
            await server.start()
        except BaseException:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._restore_streaming()
            raise
        self._server = server
        for trigger in self.triggers:
            self._trigger_tasks[trigger.name] = asyncio.create_task(trigger.run(), name=f"trigger {trigger.name}")
        for timer in self.timers:
            timer.invoker.executor = self._executor
            self._trigger_tasks[timer.name] = asyncio.create_task(timer.run(), name=f"timer {timer.name}")
        log.info(
            "host listening on %s: %d HTTP routes, %d triggers",
            self.base_url,
            len(self.http_routes),
            len(self.triggers),
        )

    async def _build_triggers(self) -> list[ChangeFeedTrigger]:
        if not self._cosmos_functions:
            return []
        if self._services is None:
            self._services = await get_services()
        owner = f"{socket.gethostname()}:{os.getpid()}"
        triggers = []
        for cosmos in self._cosmos_functions:
            binding = CosmosTriggerBinding.from_binding(cosmos.name, cosmos.binding)
            monitored = await self._services.container_named(binding.container_name)
            leases = await self._services.container_named(binding.lease_container_name)
            invoker = self._invoker(cosmos.name, cosmos.function, cosmos.binding)
            invoker.executor = self._executor
            triggers.append(ChangeFeedTrigger(binding, invoker, cosmos.retry_policy, monitored, leases, owner))
        return triggers

    def _restore_streaming(self) -> None:
        if self._services is not None and self._streaming_before is not None:
            self._services.http_streaming = self._streaming_before
        self._streaming_before = None

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
        was_running = self._server is not None
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._executor is not None:
            # Sync functions still running in a thread cannot be interrupted; do not wait for them.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._restore_streaming()
        if was_running:
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
        raise TimeoutError(f"triggers did not catch up with the change feed in {timeout}s: {self.stats}")

    def trigger_stats(self, function_name: str) -> TriggerStats:
        """Counters of one Cosmos DB trigger.

        Raises:
            KeyError: no running trigger has that function name.
        """
        return self.stats[function_name]

    def describe_routes(self) -> list[str]:
        """Lines like ``GET,PUT  http://127.0.0.1:7071/api/products/{id}  (get_product)`` for the banner."""
        rows = [
            (
                "ANY" if route.function.accepts_any_method else ",".join(route.methods),
                route.url(self.base_url),
                route.function_name,
            )
            for route in self.http_routes
        ]
        width = max((len(methods) for methods, _, _ in rows), default=0)
        return [f"{methods.ljust(width)}  {url}  ({name})" for methods, url, name in rows]
