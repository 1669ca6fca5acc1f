"""HTTP glue shared by the blueprints: JSON in and out, and one place where errors become status codes.

Every handler runs through :func:`handle`: a :class:`catalog.errors.ClientError` (a model's refusal included, see
:func:`api.validation.parse`) becomes its 4xx with a message naming the field; anything else is logged with its
traceback and answered with a bare 500 and a request id, so no stack trace ever reaches a client.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import azure.functions as func

from api.body import decode_json_body
from api.limits import ApiLimits
from api.models import ApiModels, api_models
from api.status import Error, InternalError, Unavailable
from api.validation import ResponseModel
from catalog.errors import ClientError, ValidationError
from composition.services import Services, get_services
from composition.settings import SettingsError

log = logging.getLogger(__name__)

Handler = Callable[[func.HttpRequest, Services], Awaitable[func.HttpResponse]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """``body`` as JSON: a response model as :meth:`api.validation.ResponseModel.body`, anything else as it is."""
    if isinstance(body, ResponseModel):
        body = body.body()
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(error: ClientError) -> func.HttpResponse:
    return json_response(Error.model_validate(error.to_json()), status=error.status)


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
        return json_response(Unavailable(error="service unavailable: misconfigured", request_id=request_id), 503)
    try:
        return await handler(req, services)
    except ClientError as error:
        return error_response(error)
    except Exception:
        request_id = uuid.uuid4().hex
        log.exception("unhandled error in %s %s (request %s)", req.method, req.url, request_id)
        return json_response(InternalError(error="internal error", request_id=request_id), status=500)


def read_json(req: func.HttpRequest, services: Services) -> Any:
    """The request's JSON body (see :func:`api.body.decode_json_body` for what is refused)."""
    return decode_json_body(req.get_body() or b"", max_bytes=services.settings.MAX_REQUEST_BYTES)


def request_models(services: Services) -> ApiModels:
    """The request models with this app's limits (built once per set of limits)."""
    return api_models(ApiLimits.from_settings(services.settings))


def route_param(req: func.HttpRequest, name: str) -> str:
    value = req.route_params.get(name)
    if not value:
        raise ValidationError(f"{name} is required in the URL", field=name)
    return value


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
