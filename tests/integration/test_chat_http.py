"""The chat over real HTTP on the local host: the ``openai`` SDK against ``/api/v1/chat/completions``, server-sent
events from ``/api/chat``, session history, the page redirect, and 400s naming the limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from openai import AsyncOpenAI, BadRequestError

import function_app
from composition.services import Services, set_services
from devhost.host import LocalFunctionsHost
from tests.app_functions import app_functions
from tests.unit.test_chat import CATALOG


@pytest.fixture
async def host(services: Services) -> AsyncIterator[LocalFunctionsHost]:
    set_services(services)
    await (await services.catalog()).put_many(CATALOG)
    local = LocalFunctionsHost(function_app.app, services=services, port=0, functions=app_functions(), home_route="ui")
    await local.start()
    await local.wait_until_idle(timeout=30)
    yield local
    await local.stop()
    set_services(None)


@pytest.fixture
async def client(host: LocalFunctionsHost) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=host.base_url, timeout=30) as http:
        yield http


def events(body: str) -> list[tuple[str, dict]]:
    parsed = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        parsed.append((lines.get("event", "message"), json.loads(lines["data"])))
    return parsed


async def test_the_openai_sdk_gets_a_grounded_answer(host: LocalFunctionsHost) -> None:
    sdk = AsyncOpenAI(base_url=f"{host.base_url}/api/v1", api_key="unused")
    completion = await sdk.chat.completions.create(
        model="catalog", messages=[{"role": "user", "content": "a mug that keeps coffee hot"}]
    )
    answer = completion.choices[0].message.content or ""
    assert completion.choices[0].finish_reason == "stop"
    assert "Steel Mug" in answer and "[1]" in answer
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    await sdk.close()


async def test_chat_uis_list_the_catalog_as_a_model_and_get_its_reading_and_citations(host: LocalFunctionsHost) -> None:
    sdk = AsyncOpenAI(base_url=f"{host.base_url}/api/v1", api_key="unused")
    [model] = [model async for model in sdk.models.list()]
    assert model.owned_by == "catalog"
    completion = await sdk.chat.completions.create(
        model=model.id, messages=[{"role": "user", "content": "what is your cheapest tent?"}]
    )
    extra = completion.model_extra or {}
    assert extra["understood"]["sort"] == "price_asc"
    cheapest = min((p for p in CATALOG if "Tents" in str(p["category_name"])), key=lambda p: float(p["price"]))
    assert extra["citations"][0]["id"] == cheapest["id"]
    assert (completion.choices[0].message.content or "").startswith(f"The cheapest tents are the {cheapest['name']}")
    await sdk.close()


async def test_the_openai_sdk_streams_the_same_answer(host: LocalFunctionsHost) -> None:
    sdk = AsyncOpenAI(base_url=f"{host.base_url}/api/v1", api_key="unused")
    question = [{"role": "user", "content": "a compact stove for boiling water"}]
    stream = await sdk.chat.completions.create(model="catalog", messages=question, stream=True)  # type: ignore[arg-type]
    pieces = []
    finish = None
    async for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert len([p for p in pieces if p]) > 5  # it arrived in pieces
    plain = await sdk.chat.completions.create(model="catalog", messages=question)  # type: ignore[arg-type]
    assert "".join(pieces) == plain.choices[0].message.content  # (served from the cache this time)
    assert finish == "stop"
    await sdk.close()


async def test_the_openai_sdk_sees_a_400_naming_the_limit(host: LocalFunctionsHost, services: Services) -> None:
    sdk = AsyncOpenAI(base_url=f"{host.base_url}/api/v1", api_key="unused", max_retries=0)
    too_many = [{"role": "user", "content": "hi"}] * (services.settings.CHAT_MAX_MESSAGES + 1)
    with pytest.raises(BadRequestError) as raised:
        await sdk.chat.completions.create(model="catalog", messages=too_many)  # type: ignore[arg-type]
    assert "messages" in str(raised.value) and str(services.settings.CHAT_MAX_MESSAGES) in str(raised.value)
    await sdk.close()


async def test_chat_streams_server_sent_events_then_the_full_answer(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "a tent for backpacking", "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        body = "".join([chunk async for chunk in r.aiter_text()])
    parsed = events(body)
    kinds = [kind for kind, _ in parsed]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("token") > 5
    done = parsed[-1][1]
    assert "".join(data["text"] for kind, data in parsed if kind == "token") == done["answer"]
    assert {c["id"] for c in done["citations"]} >= {"tent", "tent-lite"}


async def test_history_is_kept_per_session_over_http(client: httpx.AsyncClient) -> None:
    first = (await client.post("/api/chat", json={"message": "a tent for backpacking"})).json()
    session = first["session_id"]
    second = (await client.post("/api/chat", json={"message": "and the cheaper one?", "session_id": session})).json()
    assert second["session_id"] == session

    history = (await client.get(f"/api/chat/{session}")).json()
    assert [t["message"] for t in history["turns"]] == ["a tent for backpacking", "and the cheaper one?"]
    assert (await client.delete(f"/api/chat/{session}")).json()["deleted_turns"] == 2
    assert (await client.get(f"/api/chat/{session}")).status_code == 404


async def test_chat_bounds_are_400s_naming_the_field(client: httpx.AsyncClient, services: Services) -> None:
    limit = services.settings.CHAT_MAX_MESSAGE_CHARS
    long = await client.post("/api/chat", json={"message": "x" * (limit + 1)})
    assert long.status_code == 400 and long.json()["field"] == "message" and str(limit) in long.json()["error"]
    wide = await client.post("/api/chat", json={"message": "tent", "k": 999})
    assert wide.status_code == 400 and wide.json()["field"] == "k"
    bad_json = await client.post("/api/chat", content=b"{", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["field"] == "body"


async def test_the_root_opens_the_chat_page(client: httpx.AsyncClient) -> None:
    page = await client.get("/", follow_redirects=True)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert str(page.url).endswith("/api/ui") and "Ask the catalog" in page.text
