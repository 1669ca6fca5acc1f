"""The local host's HTTP side: an aiohttp server that hands each request to the function whose route it matches.

Before a function sees a request the server refuses, as JSON naming the field: a ``Host`` that is not this server
(421), an unknown route (404) or method (405, with ``Allow``), a compressed body or a write not declared JSON
(415), and a body over the limit (413, also answered before the body is sent to a client waiting on
``Expect: 100-continue``). Slow or idle clients are cut off (:class:`HttpTimeouts`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import azure.functions as func
from aiohttp import HttpVersion11, web

from devhost.http_responses import json_response, refusal, stream_response, to_web_response
from devhost.invocation import FunctionInvoker
from devhost.metadata import HttpFunction
from devhost.request_guards import HostHeaderGuard, body_refusal
from devhost.router import FunctionRouter, RouteFound, RouteMissing

log = logging.getLogger(__name__)
access_log = logging.getLogger("devhost.access")

_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpTimeouts:
    """How long the host waits on a client, in seconds (aiohttp's own keep-alive default is an hour).

    Attributes:
        idle: a connection with no request in progress is closed after this long; it bounds the time a client has
            to send a request's headers too, so connections that trickle or send nothing cannot pile up.
        body: the time a request's whole body may take once its headers are in; then 408 and the connection closes.
            After a refusal (413, 415, ...) the rest of a body is read and dropped for at most this long, so a
            client still sending gets to read the answer, and a stalled one does not hold the connection.
    """

    idle: float = 15.0
    body: float = 30.0


@dataclass(frozen=True)
class HttpRoute:
    """An HTTP function as served: its metadata and its invoker."""

    function: HttpFunction
    invoker: FunctionInvoker

    @property
    def function_name(self) -> str:
        return self.function.name

    @property
    def methods(self) -> tuple[str, ...]:
        return self.function.methods

    def url(self, base_url: str) -> str:
        """The route's URL template under ``base_url``, e.g. ``http://127.0.0.1:7071/api/products/{id}``."""
        return f"{base_url}/{self.function.route.template}"


class HttpServer:
    """Serves ``routes`` on ``host:port`` until :meth:`stop`.

    Args:
        routes: the HTTP functions, in precedence order.
        host: the address to listen on.
        port: the port; ``0`` picks a free one.
        max_request_bytes: the largest request body accepted.
        timeouts: how long to wait on clients.
        shutdown_timeout: seconds :meth:`stop` lets in-flight requests finish.
        home_path: the path ``GET /`` redirects to, if any.
        admin_key: when set (a host other machines can reach), functions of auth level ``function`` or ``admin``
            answer 401 unless the request carries it as ``x-functions-key`` (or ``?code=``), as in Azure.

    Raises:
        ValueError: two routes serve the same path and method.
    """

    def __init__(
        self,
        routes: Sequence[HttpRoute],
        *,
        host: str,
        port: int,
        max_request_bytes: int,
        timeouts: HttpTimeouts,
        shutdown_timeout: float,
        home_path: str | None,
        admin_key: str | None = None,
    ) -> None:
        self.host = host
        self.admin_key = admin_key
        self.requested_port = port
        self.max_request_bytes = max_request_bytes
        self.timeouts = timeouts
        self.shutdown_timeout = shutdown_timeout
        self.home_path = home_path
        self._router: FunctionRouter[HttpRoute] = FunctionRouter()
        for route in routes:
            self._router.add(route.function.route, route.methods, route)
        self._runner: web.AppRunner | None = None
        self._guard: HostHeaderGuard | None = None
        #: The port listened on, once started (the real one when ``port`` was 0).
        self.port: int | None = None

    async def start(self) -> None:
        """Listen.

        Raises:
            OSError: the address cannot be bound (the port is taken, say).
        """
        web_app = web.Application()
        # [\s\S], not ".": a decoded path may hold a newline (%0A); it must reach our JSON 404, not aiohttp's text one.
        web_app.router.add_route("*", r"/{path:[\s\S]*}", self._dispatch, expect_handler=self._expect_continue)
        # Our own access line (method, path, status, ms) replaces aiohttp's.
        runner = web.AppRunner(
            web_app,
            access_log=None,
            shutdown_timeout=self.shutdown_timeout,
            keepalive_timeout=self.timeouts.idle,
            lingering_time=self.timeouts.body,
            auto_decompress=False,  # compressed bodies are refused, never inflated
        )
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
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = sock.getsockname()[1]
        self._guard = HostHeaderGuard(self.host, self.port)
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening; in-flight requests get ``shutdown_timeout`` seconds to finish."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._guard = None
        self.port = None

    def _log_access(self, request: web.Request, status: int, started: float) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        access_log.info("%s %s %d %.1fms", request.method, request.rel_url, status, elapsed_ms)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        response = await self._respond(request)
        self._log_access(request, response.status, started)
        return response

    async def _expect_continue(self, request: web.Request) -> web.StreamResponse | None:
        """Answer ``Expect: 100-continue`` with the final refusal when there is one, so no body is sent in vain."""
        started = time.perf_counter()
        routed = await self._route(request)
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

    async def _route(self, request: web.Request) -> RouteFound[HttpRoute] | web.Response:
        """The function and route parameters for ``request``, or the refusal that needs no body read."""
        assert self._guard is not None
        refused = self._guard.refusal(request.headers.get("Host"))
        if refused is not None:
            return refused
        method = request.method.upper()
        if request.rel_url.raw_path == "/" and self.home_path and method in ("GET", "HEAD"):
            return web.Response(status=302, headers={"Location": self.home_path})
        routed = await self._router.resolve(request)
        if isinstance(routed, RouteMissing):
            if routed.status == 405:
                allowed = list(routed.allowed)
                return json_response(
                    405, {"error": "method not allowed", "allowed": allowed}, headers={"Allow": ", ".join(allowed)}
                )
            return json_response(404, {"error": "not found"})
        refused = body_refusal(request) or self._key_refusal(request, routed.target)
        if refused is not None:
            return refused
        if request.content_length is not None and request.content_length > self.max_request_bytes:
            return self._too_large()
        return routed

    def _key_refusal(self, request: web.Request, route: HttpRoute) -> web.Response | None:
        """401 for a key-protected function called without the admin key (only when the host has one)."""
        level = str(route.function.binding.get("authLevel") or "function").lower()
        if self.admin_key is None or level == "anonymous":
            return None
        given = request.headers.get("x-functions-key") or request.rel_url.query.get("code") or ""
        if hmac.compare_digest(given.encode(), self.admin_key.encode()):
            return None
        return refusal(401, f"{route.function_name} needs the host's key (x-functions-key)", "x-functions-key")

    def _too_large(self) -> web.Response:
        limit = self.max_request_bytes
        message = f"request body is larger than {limit} bytes (MAX_REQUEST_BYTES)"
        return refusal(413, message, "body", close=True, limit_bytes=limit)

    async def _read_body(self, request: web.Request) -> bytes | web.Response:
        """The request body; a 413 once it exceeds the limit (reading at most one chunk more), a 408 when it stalls."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeouts.body):
                async for chunk in request.content.iter_chunked(_READ_CHUNK):
                    size += len(chunk)
                    if size > self.max_request_bytes:
                        return self._too_large()
                    chunks.append(chunk)
        except TimeoutError:
            message = f"the request body did not arrive within {self.timeouts.body:g} s"
            return refusal(408, message, "body", close=True)
        return b"".join(chunks)

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        routed = await self._route(request)
        if isinstance(routed, web.StreamResponse):
            return routed
        body = await self._read_body(request)
        if isinstance(body, web.Response):
            return body
        route = routed.target
        request_id = str(uuid.uuid4())
        try:
            http_request = func.HttpRequest(
                request.method.upper(),
                str(request.url),
                headers=_forwarded(request),
                # The Functions host joins repeated query parameters with commas.
                params={key: ",".join(request.rel_url.query.getall(key)) for key in request.rel_url.query},
                route_params=routed.params,
                body=body,
            )
            result = await route.invoker.invoke(http_request)
            body_stream = getattr(result, "body_stream", None)
            if body_stream is not None:
                return await stream_response(request, result, body_stream, request_id)
            return to_web_response(result)
        except Exception:
            log.exception(
                "%s failed on %s %s (request_id=%s)", route.function_name, request.method, request.rel_url, request_id
            )
            return json_response(500, {"error": "internal error", "request_id": request_id})


def _forwarded(request: web.Request) -> dict[str, str]:
    """The request's headers, with the peer's address appended to ``X-Forwarded-For`` as Azure's front end does
    (a client can only prepend to it: the last entry is the address the app may trust, e.g. for rate limits)."""
    headers = {key: ", ".join(request.headers.getall(key)) for key in request.headers}
    sent = next((key for key in headers if key.lower() == "x-forwarded-for"), None)
    peer = request.remote or "unknown"
    if sent is None:
        headers["X-Forwarded-For"] = peer
    else:
        headers[sent] = f"{headers[sent]}, {peer}"
    return headers
