"""HTTP glue shared by the blueprints: JSON in and out, and one place where errors become status codes.

Every handler runs through :func:`handle`: a :class:`catalog.errors.ClientError` (a model's refusal included, see
:func:`api.validation.parse`) becomes its 4xx with a message naming the field; anything else is logged with its
traceback and answered with a bare 500 and a request id, so no stack trace ever reaches a client.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import azure.functions as func

from api.body import decode_json_body
from api.limits import ApiLimits
from api.models import ApiModels, api_models
from api.status import Error, InternalError, Unavailable
from api.validation import ResponseModel
from blueprints.identity import OPERATOR_ROLE, Caller, caller_of
from blueprints.invocation import measured
from blueprints.rate_limit import RateLimitedError, RateLimiter, rate_key
from catalog.errors import ClientError, ForbiddenError, ValidationError
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


def guard(req: func.HttpRequest, services: Services) -> Caller:
    """The verified caller of a shopper route, after spending one of its rate-limit tokens.

    Raises:
        RateLimitedError: the caller is over ``RATE_LIMIT_PER_MINUTE`` (429 with ``Retry-After``).
    """
    caller = caller_of(req, services.settings)
    limiter = services.feature("rate_limiter", lambda: RateLimiter(services.settings.RATE_LIMIT_PER_MINUTE))
    limiter.take(rate_key(req, caller))
    return caller


def require_operator(req: func.HttpRequest, services: Services) -> None:
    """Refuse a catalog write from a signed-in caller without the operator role (403).

    The Functions host already asked for a function key (``AuthLevel.FUNCTION``). With Easy Auth in front, a
    caller who signed in must also hold the ``Catalog.Operator`` app role: a shopper's session never writes, even
    with a key. A key presented without signing in is accepted (that is what keys are for: scripts, pipelines);
    ``docs/operators.md`` says how to keep and rotate it.

    Raises:
        ForbiddenError: Easy Auth is trusted, the caller is signed in, and lacks the role.
    """
    caller = caller_of(req, services.settings)
    if caller.principal.startswith("aad:") and not caller.is_operator:
        raise ForbiddenError(f"writing the catalog needs the {OPERATOR_ROLE} app role")


def error_response(error: ClientError) -> func.HttpResponse:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimitedError) else None
    return json_response(Error.model_validate(error.to_json()), status=error.status, headers=headers)


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
    name = f"{handler.__module__.rsplit('.', 1)[-1]}.{handler.__name__.lstrip('_')}"
    async with measured(services, name, **{"http.request.method": req.method}) as span:
        try:
            response = await handler(req, services)
        except ClientError as error:
            response = error_response(error)
        except Exception as error:
            span.failed(error)
            request_id = uuid.uuid4().hex
            log.exception("unhandled error in %s %s (request %s)", req.method, req.url, request_id)
            response = json_response(InternalError(error="internal error", request_id=request_id), status=500)
        span.set(**{"http.response.status_code": response.status_code})
        return response


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


class StreamingHttpResponse(func.HttpResponse):
    """A response whose body is produced piece by piece; the dev host sends each piece as it comes."""

    def __init__(self, body_stream: AsyncIterator[bytes], *, mimetype: str, headers: dict[str, str]) -> None:
        super().__init__(b"", status_code=200, mimetype=mimetype, charset="utf-8", headers=headers)
        self.body_stream = body_stream


async def streaming_response(
    body_stream: AsyncIterator[bytes], *, streaming: bool, mimetype: str = "text/event-stream"
) -> func.HttpResponse:
    """Stream where the host can, else the same bytes in one response (clients parse both alike).

    Args:
        body_stream: the body's pieces.
        streaming: the host sends a body while it is produced (``Services.http_streaming``: the local dev host
            does; the Functions host cannot for a ``func.HttpResponse``, true streaming there needs the FastAPI
            extension, see the README).
        mimetype: the body's media type.
    """
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if streaming:
        return StreamingHttpResponse(body_stream, mimetype=mimetype, headers=headers)
    body = b"".join([chunk async for chunk in body_stream])
    return func.HttpResponse(body, status_code=200, mimetype=mimetype, charset="utf-8", headers=headers)


def sse_event(data: object, event: str | None = None) -> bytes:
    """One server-sent event with a JSON payload."""
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()
