"""HTTP glue for the RAG chat: ``/api/chat``, the OpenAI-compatible ``/api/v1/chat/completions``, and the web page."""

import logging
import time
import uuid
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import azure.functions as func

from blueprints.http import handle, json_response, read_json, route_param, sse_event, streaming_response
from catalog.errors import ClientError, ProductNotFoundError, ValidationError
from chat.service import ChatEvent, ChatRequest, ChatService, validate_session_id
from composition.services import Services

log = logging.getLogger(__name__)

bp = func.Blueprint()

#: Easy Auth (App Service authentication) sets this header and strips any copy a client sends.
PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL-ID"
_ROLES = {"system", "user", "assistant"}


def chat_user(req: func.HttpRequest, services: Services, fallback: Any = None) -> str:
    """Whose semantic-cache scope this request uses: the signed-in principal, else the configured header."""
    for header in (PRINCIPAL_HEADER, services.settings.CHAT_USER_HEADER):
        value = req.headers.get(header)
        if value and value.strip():
            return value.strip()[:256]
    return str(fallback)[:256] if isinstance(fallback, str) and fallback else "anonymous"


@bp.function_name("chat")
@bp.route(route="chat", methods=["POST"])
async def chat(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req, _chat)


async def _chat(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Answer a question about the catalog; ``"stream": true`` answers as server-sent events."""
    body = read_json(req, services)
    request = ChatRequest.parse(body, user=chat_user(req, services), limits=services.chat_limits)
    service = await services.chat()
    if not body.get("stream"):
        return json_response((await service.ask(request)).to_json())
    return await streaming_response(_chat_events(service, request))


async def _chat_events(service: ChatService, request: ChatRequest) -> AsyncIterator[bytes]:
    yield sse_event({"session_id": request.session_id}, "start")
    try:
        async for event in service.ask_stream(request):
            if event.answer is not None:
                yield sse_event(event.answer.to_json(), "done")
            else:
                yield sse_event({"text": event.text}, "token")
    except Exception:
        request_id = uuid.uuid4().hex
        log.exception("chat stream failed (request %s)", request_id)
        yield sse_event({"error": "internal error", "request_id": request_id}, "error")


@bp.function_name("chat_session")
@bp.route(route="chat/{session_id}", methods=["GET", "DELETE"])
async def chat_session(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req, _chat_session)


async def _chat_session(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """A session's history (oldest first), or forget it."""
    session_id = validate_session_id(route_param(req, "session_id"))
    service = await services.chat()
    if req.method == "DELETE":
        removed = await service.forget(session_id)
        if not removed:
            raise ProductNotFoundError(f"chat session {session_id!r} not found", field="session_id")
        return json_response({"session_id": session_id, "deleted_turns": removed})
    turns = await service.session(session_id)
    if not turns:
        raise ProductNotFoundError(f"chat session {session_id!r} not found", field="session_id")
    return json_response(
        {
            "session_id": session_id,
            "turns": [
                {
                    "message": t.message,
                    "question": t.question,
                    "answer": t.answer,
                    "citations": t.citations,
                    "cached": t.cached,
                    "created_at": t.created_at,
                }
                for t in turns
            ],
        }
    )


@bp.function_name("chat_completions")
@bp.route(route="v1/chat/completions", methods=["POST"])
async def chat_completions(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req, _chat_completions)


async def _chat_completions(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """The OpenAI chat-completions wire format over the same RAG flow, so any OpenAI client can use the catalog."""
    try:
        return await _openai_completion(req, services)
    except ClientError as error:
        # OpenAI's error shape, so SDKs show the message and the parameter.
        problem = {"message": error.message, "type": "invalid_request_error", "param": error.field, "code": None}
        return json_response({"error": problem}, status=error.status)


async def _openai_completion(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    body = read_json(req, services)
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object", field="body")
    history = _openai_messages(body.get("messages"), services.chat_limits.max_messages)
    question = history.pop()["content"]
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ValidationError("stream must be true or false", field="stream")
    try:
        request = ChatRequest.parse(
            {"message": question}, user=chat_user(req, services, body.get("user")), limits=services.chat_limits
        )
    except ValidationError as error:  # this API has no "message" field: name the one the client sent
        raise ValidationError(f"the last user message: {error.message}", field="messages") from None
    request = ChatRequest(request.message, request.session_id, request.user, request.filters, request.k, history)
    service = await services.chat()
    completion_id = "chatcmpl-" + uuid.uuid4().hex
    model = str(body.get("model") or service.model.model_id)
    if not stream:
        answer = await service.ask(request)
        usage = answer.usage
        return json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer.answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                },
                "citations": answer.citations,
                "cached": answer.cached,
            }
        )
    return await streaming_response(_completion_chunks(service.ask_stream(request), completion_id, model))


async def _completion_chunks(events: AsyncIterator[ChatEvent], completion_id: str, model: str) -> AsyncIterator[bytes]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        return sse_event({**body, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for event in events:
            if event.answer is None:
                yield chunk({"content": event.text})
                continue
            usage = event.answer.usage
            yield chunk({}, "stop", citations=event.answer.citations, cached=event.answer.cached)
            total = usage.prompt_tokens + usage.completion_tokens
            yield sse_event(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "total_tokens": total,
                    },
                }
            )
    except Exception:
        request_id = uuid.uuid4().hex
        log.exception("chat completion stream failed (request %s)", request_id)
        yield sse_event({"error": {"message": "internal error", "type": "server_error", "request_id": request_id}})
    yield b"data: [DONE]\n\n"


def _openai_messages(raw: Any, limit: int) -> list[dict[str, str]]:
    """The conversation from an OpenAI ``messages`` list; client system messages are dropped (our rules stand)."""
    if not isinstance(raw, list) or not raw:
        raise ValidationError("messages is required: a non-empty list", field="messages")
    if len(raw) > limit:
        raise ValidationError(f"messages has {len(raw)} items; the limit is {limit}", field="messages")
    messages = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in _ROLES:  # (a dict or list role is unhashable)
            raise ValidationError(f"{where}.role must be one of system, user, assistant", field=f"{where}.role")
        content = message.get("content")
        if isinstance(content, list):  # the "parts" form: keep the text parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise ValidationError(f"{where}.content must be a string", field=f"{where}.content")
        if message["role"] != "system":
            messages.append({"role": message["role"], "content": content})
    if not messages or messages[-1]["role"] != "user":
        raise ValidationError("the last message must come from the user", field="messages")
    return messages


@bp.function_name("chat_page")
@bp.route(route="ui", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def chat_page(req: func.HttpRequest) -> func.HttpResponse:
    """The web chat page (plain HTML, CSS and JS; it calls ``/api/chat``)."""
    page = resources.files("chat").joinpath("web/index.html").read_bytes()
    return func.HttpResponse(page, mimetype="text/html", charset="utf-8", headers={"Cache-Control": "no-cache"})
