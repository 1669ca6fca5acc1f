"""The chat functions as the Azure Functions worker calls them: no HTTP streaming there, so the event stream comes
whole in one ``func.HttpResponse`` that SSE clients parse the same way."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from blueprints.http import StreamingHttpResponse
from chat.models import ChatChunk, ChatModel, ChatPrompt
from composition.services import Services
from tests.unit.test_chat import CATALOG

Call = Callable[..., Any]


@pytest.fixture
async def stocked(app_services: Services) -> Services:
    await (await app_services.catalog()).put_many(CATALOG)
    pipeline = await app_services.embedding_pipeline()
    products = await app_services.products()
    await pipeline.embed_changed_products((await products.read_changes(None, 100)).documents)
    return app_services


def events(body: bytes) -> list[tuple[str, Any]]:
    parsed = []
    for block in body.decode().strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        parsed.append((fields.get("event", "message"), fields["data"]))
    return parsed


async def test_without_a_streaming_host_the_events_arrive_whole(call: Call, stocked: Services) -> None:
    assert not stocked.http_streaming
    body = json.dumps({"message": "a tent for backpacking", "stream": True}).encode()
    response = await call("chat", "POST", "/api/chat", body=body)

    assert not isinstance(response, StreamingHttpResponse)
    assert response.mimetype == "text/event-stream"
    parsed = events(response.get_body())
    kinds = [kind for kind, _ in parsed]
    assert kinds[0] == "start" and kinds[-1] == "done" and "token" in kinds
    done = json.loads(parsed[-1][1])
    assert "".join(json.loads(data)["text"] for kind, data in parsed if kind == "token") == done["answer"]


async def test_openai_stream_without_a_streaming_host_is_a_whole_answer_then_done(
    call: Call, stocked: Services
) -> None:
    assert not stocked.http_streaming
    body = json.dumps({"messages": [{"role": "user", "content": "a stove"}], "stream": True}).encode()
    response = await call("chat_completions", "POST", "/api/v1/chat/completions", body=body)
    parsed = events(response.get_body())
    assert parsed[-1] == ("message", "[DONE]")
    chunks = [json.loads(data) for _, data in parsed[:-1]]
    # An error event before [DONE] would pass a failed answer off as a whole one.
    assert [chunk["object"] for chunk in chunks] == ["chat.completion.chunk"] * len(chunks)
    choices = [choice for chunk in chunks for choice in chunk["choices"]]
    assert "Trail Stove" in "".join(choice["delta"].get("content") or "" for choice in choices)
    assert choices[-1]["finish_reason"] == "stop" and chunks[-1]["usage"]["total_tokens"] >= 0


class BreaksMidAnswer(ChatModel):
    """Writes a word, then fails, as a model endpoint that drops the connection does."""

    model_id = "breaks-mid-answer"
    is_language_model = False

    async def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatChunk]:
        yield ChatChunk("The")
        raise ConnectionResetError("secret internals: connection reset by 10.0.0.7")


async def test_a_stream_that_fails_part_way_ends_with_an_error_and_never_looks_whole(
    call: Call, stocked: Services
) -> None:
    stocked.chat_model = BreaksMidAnswer()  # (the chat service is built on first use, with this model)
    question = {"messages": [{"role": "user", "content": "a stove"}], "stream": True}
    response = await call("chat_completions", "POST", "/api/v1/chat/completions", body=json.dumps(question).encode())
    parsed = events(response.get_body())
    assert "[DONE]" not in [data for _, data in parsed]
    error = json.loads(parsed[-1][1])["error"]
    assert error["type"] == "server_error" and error["request_id"]
    assert "secret" not in response.get_body().decode()

    chat = await call("chat", "POST", "/api/chat", body=json.dumps({"message": "a stove", "stream": True}).encode())
    kinds = [kind for kind, _ in events(chat.get_body())]
    assert kinds[0] == "start" and kinds[-1] == "error" and "done" not in kinds


async def test_a_streaming_host_gets_the_body_as_it_is_written(call: Call, stocked: Services) -> None:
    stocked.http_streaming = True
    body = json.dumps({"message": "a tent for backpacking", "stream": True}).encode()
    response = await call("chat", "POST", "/api/chat", body=body)
    assert isinstance(response, StreamingHttpResponse)
    pieces = [piece async for piece in response.body_stream]
    assert len(pieces) > 3 and b"event: done" in pieces[-1]
