"""The chat functions as the Azure Functions worker calls them: no HTTP streaming there, so the event stream comes
whole in one ``func.HttpResponse`` that SSE clients parse the same way."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from blueprints.http import STREAMING_ENV, StreamingHttpResponse
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


async def test_without_a_streaming_host_the_events_arrive_whole(
    call: Call, stocked: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STREAMING_ENV, raising=False)
    body = json.dumps({"message": "a tent for backpacking", "stream": True}).encode()
    response = await call("chat", "POST", "/api/chat", body=body)

    assert not isinstance(response, StreamingHttpResponse)
    assert response.mimetype == "text/event-stream"
    parsed = events(response.get_body())
    kinds = [kind for kind, _ in parsed]
    assert kinds[0] == "start" and kinds[-1] == "done" and "token" in kinds
    done = json.loads(parsed[-1][1])
    assert "".join(json.loads(data)["text"] for kind, data in parsed if kind == "token") == done["answer"]


async def test_openai_stream_without_a_streaming_host_ends_with_done(
    call: Call, stocked: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STREAMING_ENV, raising=False)
    body = json.dumps({"messages": [{"role": "user", "content": "a stove"}], "stream": True}).encode()
    response = await call("chat_completions", "POST", "/api/v1/chat/completions", body=body)
    assert response.get_body().decode().rstrip().endswith("data: [DONE]")


async def test_a_streaming_host_gets_the_body_as_it_is_written(
    call: Call, stocked: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STREAMING_ENV, "1")
    body = json.dumps({"message": "a tent for backpacking", "stream": True}).encode()
    response = await call("chat", "POST", "/api/chat", body=body)
    assert isinstance(response, StreamingHttpResponse)
    pieces = [piece async for piece in response.body_stream]
    assert len(pieces) > 3 and b"event: done" in pieces[-1]
