"""HTTP glue for the RAG chat: ``/api/chat``, the OpenAI-compatible ``/api/v1/chat/completions``, and the web page."""

import logging
import time
import uuid
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import azure.functions as func

from api.chat import ChatAnswer as ChatAnswerBody
from api.chat import ChatSession, ChatSessionDeleted, ChatSessionPath, ChatTurn, Citation, Usage
from api.completions import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionInput,
    ChunkChoice,
    ChunkDelta,
    CompletionChoice,
    CompletionMessage,
    ModelCard,
    ModelList,
    OpenAIError,
    OpenAIErrorDetail,
)
from api.validation import parse
from blueprints.http import (
    guard,
    json_response,
    read_json,
    request_models,
    route_param,
    sse_event,
    streaming_response,
)
from blueprints.identity import caller_of, with_cookie
from catalog.errors import ClientError
from chat.service import ChatAnswer, ChatEvent, ChatService, Prepared, SessionNotFoundError
from composition.services import Services
from transport import telemetry

log = logging.getLogger(__name__)


async def _chat(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Answer a question about the catalog; ``"stream": true`` answers as server-sent events."""
    caller = guard(req, services)
    body = parse(request_models(services).chat, read_json(req, services))
    request = body.to_request(caller.principal)
    service = await services.chat()
    if not body.stream:
        return with_cookie(json_response(_answer_body(service, await service.ask(request))), caller)
    # Prepared before the first byte is sent, so a refusal (an unknown session) still gets its own status code.
    prepared = await service.prepare(request)
    response = await streaming_response(_chat_events(service, prepared), streaming=services.http_streaming)
    return with_cookie(response, caller)


async def _chat_events(service: ChatService, prepared: Prepared) -> AsyncIterator[bytes]:
    yield sse_event({"session_id": prepared.session_id}, "start")
    try:
        async for event in service.answer(prepared):
            if event.answer is not None:
                yield sse_event(_answer_body(service, event.answer).body(), "done")
            else:
                yield sse_event({"text": event.text}, "token")
    except Exception:
        request_id = uuid.uuid4().hex
        log.exception("chat stream failed (request %s)", request_id)
        yield sse_event({"error": "internal error", "request_id": request_id}, "error")


def _answer_body(service: ChatService, answer: ChatAnswer) -> ChatAnswerBody:
    telemetry.annotate(**{"catalog.chat.cached": answer.cached, "catalog.chat.citations": len(answer.citations)})
    return ChatAnswerBody.model_validate(answer.to_json(show_cache_score=service.show_cache_score))


async def _chat_session(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """The caller's session history (oldest first), or forget it."""
    session_id = parse(ChatSessionPath, {"session_id": route_param(req, "session_id")}).session_id
    user = caller_of(req, services.settings).principal
    service = await services.chat()
    if req.method == "DELETE":
        removed = await service.forget(session_id, user)
        if not removed:
            raise SessionNotFoundError(f"no session {session_id!r}", field="session_id")
        return json_response(ChatSessionDeleted(session_id=session_id, deleted_turns=removed))
    turns = await service.session(session_id, user)
    return json_response(
        ChatSession(
            session_id=session_id,
            turns=[
                ChatTurn.model_validate(
                    {
                        "message": turn.message,
                        "question": turn.question,
                        "answer": turn.answer,
                        "citations": turn.citations,
                        "cached": turn.cached,
                        "created_at": turn.created_at,
                    }
                )
                for turn in turns
            ],
        )
    )


async def _chat_completions(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """The OpenAI chat-completions wire format over the same RAG flow, so any OpenAI client can use the catalog."""
    try:
        return await _openai_completion(req, services)
    except ClientError as error:
        # OpenAI's error shape, so SDKs show the message and the parameter.
        problem = OpenAIErrorDetail(message=error.message, type="invalid_request_error", param=error.field, code=None)
        return json_response(OpenAIError(error=problem), status=error.status)


async def _openai_completion(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    caller = guard(req, services)  # the body's `user` names nobody: it is whatever the client typed
    models = request_models(services)
    body: ChatCompletionInput = parse(models.chat_completion, read_json(req, services))
    request = body.to_request(caller.principal, k=models.limits.chat_default_k)
    service = await services.chat()
    completion_id = "chatcmpl-" + uuid.uuid4().hex
    model = str(body.model or service.model.model_id)
    if not body.stream:
        answer = await service.ask(request)
        usage = answer.usage
        return json_response(
            ChatCompletion(
                id=completion_id,
                object="chat.completion",
                created=int(time.time()),
                model=model,
                choices=[
                    CompletionChoice(
                        index=0,
                        message=CompletionMessage(role="assistant", content=answer.answer),
                        finish_reason="stop",
                    )
                ],
                usage=_usage(usage.prompt_tokens, usage.completion_tokens),
                citations=_citations(answer),
                cached=answer.cached,
                understood=answer.understood,
            )
        )
    prepared = await service.prepare(request)
    return await streaming_response(
        _completion_chunks(service.answer(prepared), completion_id, model), streaming=services.http_streaming
    )


async def _completion_chunks(events: AsyncIterator[ChatEvent], completion_id: str, model: str) -> AsyncIterator[bytes]:
    """``chat.completion.chunk`` events, then ``[DONE]``; a failure part way ends the stream with an error event
    and no ``[DONE]``, so a client cannot take the partial answer for a whole one."""
    created = int(time.time())

    def chunk(choices: list[ChunkChoice], **extra: Any) -> bytes:
        body = ChatCompletionChunk(
            id=completion_id, object="chat.completion.chunk", created=created, model=model, choices=choices, **extra
        )
        return sse_event(body.body())

    yield chunk([ChunkChoice(index=0, delta=ChunkDelta(role="assistant", content=""), finish_reason=None)])
    try:
        async for event in events:
            if event.answer is None:
                yield chunk([ChunkChoice(index=0, delta=ChunkDelta(content=event.text), finish_reason=None)])
                continue
            answer = event.answer
            stop = ChunkChoice(index=0, delta=ChunkDelta(), finish_reason="stop")
            yield chunk([stop], citations=_citations(answer), cached=answer.cached, understood=answer.understood)
            yield chunk([], usage=_usage(answer.usage.prompt_tokens, answer.usage.completion_tokens))
    except Exception:
        request_id = uuid.uuid4().hex
        log.exception("chat completion stream failed (request %s)", request_id)
        problem = OpenAIErrorDetail(message="internal error", type="server_error", request_id=request_id)
        yield sse_event(OpenAIError(error=problem).body())
        return
    yield b"data: [DONE]\n\n"


async def _chat_models(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """``GET /api/v1/models``: what chat UIs list first; the catalog answers as one model."""
    service = await services.chat()
    listed = ModelCard(id=service.model.model_id, object="model", created=0, owned_by="catalog")
    return json_response(ModelList(object="list", data=[listed]))


def _citations(answer: ChatAnswer) -> list[Citation]:
    return [Citation.model_validate(citation) for citation in answer.citations]


def _usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return Usage(
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, total_tokens=prompt_tokens + completion_tokens
    )


async def _chat_page(req: func.HttpRequest) -> func.HttpResponse:
    """The web chat page (plain HTML, CSS and JS; it calls ``/api/chat``)."""
    page = resources.files("chat").joinpath("web/index.html").read_bytes()
    return func.HttpResponse(page, mimetype="text/html", charset="utf-8", headers={"Cache-Control": "no-cache"})
