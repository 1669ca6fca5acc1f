"""HTTP glue shared by the blueprints: JSON in and out, and one place where errors become status codes.

Every handler runs through :func:`handle`: a :class:`catalog.errors.ClientError` becomes its 4xx with a
message naming the field; anything else is logged with its traceback and answered with a bare 500 and a request id,
so no stack trace ever reaches a client.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import azure.functions as func

from catalog.errors import ClientError, PayloadTooLargeError, ValidationError
from composition.services import Services, get_services
from composition.settings import SettingsError

log = logging.getLogger(__name__)

#: JSON nested deeper than this is refused (stores and serialisers downstream have depth limits of their own).
MAX_JSON_DEPTH = 32
#: "\ud800" is valid JSON but no character: UTF-8 cannot encode it, so no store or response could carry it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

Handler = Callable[[func.HttpRequest, Services], Awaitable[func.HttpResponse]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(error: ClientError) -> func.HttpResponse:
    return json_response(error.to_json(), status=error.status)


async def handle(req: func.HttpRequest, handler: Handler) -> func.HttpResponse:
    """Run ``handler`` with the services; client errors become their 4xx, anything else a bare 500.

    The decorated Functions entry points call this in one line and keep their plain ``(req)`` signature, which the
    Functions worker checks against the bindings.
    """
    try:
        services = await get_services()
    except (SettingsError, NotImplementedError) as error:
        # The app is misconfigured: one line naming the setting in the log, nothing about it to the client.
        request_id = uuid.uuid4().hex
        log.error("cannot serve %s %s (request %s): %s", req.method, req.url, request_id, error)
        return json_response({"error": "service unavailable: misconfigured", "request_id": request_id}, status=503)
    try:
        return await handler(req, services)
    except ClientError as error:
        return error_response(error)
    except Exception:
        request_id = uuid.uuid4().hex
        log.exception("unhandled error in %s %s (request %s)", req.method, req.url, request_id)
        return json_response({"error": "internal error", "request_id": request_id}, status=500)


def read_json(req: func.HttpRequest, services: Services) -> Any:
    """The request's JSON body.

    Raises:
        PayloadTooLargeError: the body is larger than MAX_REQUEST_BYTES.
        ValidationError: the body is empty, not UTF-8, not JSON, or nested too deeply; or, naming the field, holds
            NaN, Infinity, a number beyond the double range or a lone surrogate (Python's parser takes them; no
            store, serialiser or client can).
    """
    body = req.get_body() or b""
    limit = services.settings.MAX_REQUEST_BYTES
    if len(body) > limit:
        raise PayloadTooLargeError(f"body is {len(body)} bytes; the limit is {limit}", field="body")
    if not body.strip():
        raise ValidationError("body is required: a JSON document", field="body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("body must be UTF-8 encoded JSON", field="body") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValidationError(f"body is nested deeper than {MAX_JSON_DEPTH} levels", field="body") from None
    except ValueError as error:
        raise ValidationError(f"body is not valid JSON: {error}", field="body") from None
    problem = _unstorable(value, MAX_JSON_DEPTH)
    if problem is not None:
        raise problem
    return value


def _unstorable(value: Any, max_depth: int) -> ValidationError | None:
    """The error for the first part of a parsed body nothing downstream can take (walked without recursion).

    Fields are named as the validators name them: ``name``, ``filters.category``, ``messages[2].content``, and
    ``body[0].price`` inside a top-level list. The offending text is never echoed (it could not be encoded).
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        field = path or "body"
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return ValidationError(f"{field} holds a lone UTF-16 surrogate, which is not a character", field=field)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            if (isinstance(item, float) and not math.isfinite(item)) or abs(item) > sys.float_info.max:
                return ValidationError(
                    f"{field} must be a finite number of at most {sys.float_info.max:.4g} in size "
                    "(NaN and Infinity are not JSON)",
                    field=field,
                )
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return ValidationError(f"body is nested deeper than {max_depth} levels", field="body")
            if isinstance(item, list):
                stack.extend((child, f"{field}[{index}]", depth + 1) for index, child in enumerate(item))
                continue
            for key, child in item.items():
                if _LONE_SURROGATE.search(key):
                    return ValidationError(f"a key in {field} holds a lone UTF-16 surrogate", field=field)
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
    return None


def route_param(req: func.HttpRequest, name: str) -> str:
    value = req.route_params.get(name)
    if not value:
        raise ValidationError(f"{name} is required in the URL", field=name)
    return value


def flag(req: func.HttpRequest, name: str) -> bool:
    """A query-string switch such as ``?include_vector=true``."""
    raw = req.params.get(name, "").strip(" \t").lower()  # not strip(): it also drops \x1c-\x1f
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ValidationError(f"{name} must be true or false", field=name)


#: Set (to "1") by the local dev host, which can send a body while it is produced. The Functions host cannot do so
#: for a ``func.HttpResponse`` (true streaming there needs the FastAPI extension; see the README), so there the
#: same events are sent in one body.
STREAMING_ENV = "DEVHOST_HTTP_STREAMING"


class StreamingHttpResponse(func.HttpResponse):
    """A response whose body is produced piece by piece; the dev host sends each piece as it comes."""

    def __init__(self, body_stream: AsyncIterator[bytes], *, mimetype: str, headers: dict[str, str]) -> None:
        super().__init__(b"", status_code=200, mimetype=mimetype, charset="utf-8", headers=headers)
        self.body_stream = body_stream


async def streaming_response(
    body_stream: AsyncIterator[bytes], *, mimetype: str = "text/event-stream"
) -> func.HttpResponse:
    """Stream where the host can, else the same bytes in one response (clients parse both alike)."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if os.environ.get(STREAMING_ENV) == "1":
        return StreamingHttpResponse(body_stream, mimetype=mimetype, headers=headers)
    body = b"".join([chunk async for chunk in body_stream])
    return func.HttpResponse(body, status_code=200, mimetype=mimetype, charset="utf-8", headers=headers)


def sse_event(data: object, event: str | None = None) -> bytes:
    """One server-sent event with a JSON payload."""
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()
