"""What the local host answers: the functions' responses as aiohttp ones, and its own JSON refusals."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

log = logging.getLogger(__name__)


def json_response(status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer of the host itself (404, 405, 413, ...), shaped like the app's errors."""
    return web.Response(
        status=status, body=json.dumps(payload).encode(), content_type="application/json", headers=headers
    )


def refusal(status: int, error: str, field: str, *, close: bool = False, **extra: Any) -> web.Response:
    """``{"error": ..., "field": ...}`` with ``status``.

    Args:
        close: close the connection after answering: the request's body stays unread, and must not be parsed as
            the next request.
    """
    response = json_response(status, {"error": error, "field": field, **extra})
    if close:
        response.force_close()
    return response


def to_web_response(result: Any) -> web.Response:
    """Convert what an HTTP function returned, as the Python worker's ``http`` output converter does.

    Raises:
        TypeError: the function returned something other than ``func.HttpResponse``, ``str`` or ``None``.
    """
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


async def stream_response(
    request: web.Request, result: func.HttpResponse, body_stream: AsyncIterator[bytes], request_id: str
) -> web.StreamResponse:
    """Send a streaming response's pieces as they are produced (what ``func.HttpResponse`` cannot do)."""
    headers = CIMultiDict(to_web_response(result).headers)
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
