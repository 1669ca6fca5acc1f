"""The Azure OpenAI / OpenAI embedder and chat model against a loopback server speaking the OpenAI wire protocol.

The server (aiohttp on 127.0.0.1, a free port) answers both URL shapes — Azure's
``/openai/deployments/{name}/...?api-version=...`` and plain ``/v1/...`` — records every request (path, query,
headers, body, arrival time), enforces the API's documented limits (2048 inputs, 8192 tokens per input, 300,000 tokens
per request: 400 otherwise) and plays scripted faults (429 with ``retry-after-ms`` / ``Retry-After``, 5xx, 4xx, answers
slower than the client's timeout, a stream cut mid-answer). The real ``openai`` SDK code path runs unchanged; Entra ID
is exercised with a fake ``get_token`` credential behind ``azure.identity.aio.get_bearer_token_provider``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import openai
import pytest
from azure.core.credentials import AccessToken
from openai.lib.azure import API_KEY_SENTINEL

from catalog.model import embedding_text
from chat.models import ChatPrompt, Usage
from chat.openai_chat import OpenAIChatModel
from chat.tokens import count_tokens as chat_tokens
from composition.backends import build_chat_model, build_embedder
from composition.openai_clients import AZURE_OPENAI_SCOPE, azure_openai_client
from composition.services import Services
from composition.settings import Settings, SettingsError, load_settings
from embedding.base import EmbeddingError, PreparedText, RetryPolicy, TransientEmbeddingError
from embedding.deterministic import DeterministicEmbedder
from embedding.openai_embedder import EmbeddingDimensionsError, OpenAIEmbedder, embedding_dimensions
from tests.conftest import REPO, FeedDriver
from tests.openai_server import CL100K, FakeOpenAI, Fault, tokens
from transport.retry import retry_after_seconds

API_VERSION = "2024-10-21"
FAST = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=5.0, max_total_wait=10.0)
FIELDS = ("name", "category_name", "description")


class FakeCredential:
    """An ``azure.identity.aio``-style credential: hands out bearer tokens and remembers the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"entra-token-{len(self.scopes)}", int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def closing(server: FakeOpenAI) -> AsyncIterator[list[Any]]:
    """Embedders and chat models to close after the test (before the server stops)."""
    opened: list[Any] = []
    yield opened
    for thing in opened:
        await thing.close()


def azure_settings(server: FakeOpenAI, **values: str) -> Settings:
    env = {
        "EMBEDDING_BACKEND": "azure-openai",
        "AZURE_OPENAI_ENDPOINT": server.url,
        "AZURE_OPENAI_API_KEY": "test-key",
        "AZURE_OPENAI_API_VERSION": API_VERSION,
    }
    return load_settings({**env, **values})


def openai_settings(server: FakeOpenAI, **values: str) -> Settings:
    env = {"EMBEDDING_BACKEND": "openai", "OPENAI_BASE_URL": f"{server.url}/v1", "OPENAI_API_KEY": "sk-test"}
    return load_settings({**env, **values})


def embedder_from(settings: Settings, closing: list[Any], policy: RetryPolicy = FAST) -> OpenAIEmbedder:
    embedder = build_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    embedder.retry_policy = policy
    closing.append(embedder)
    return embedder


def expected(text: str, dimensions: int) -> Any:
    return pytest.approx(DeterministicEmbedder(dimensions).vector(text), abs=1e-6)


PROMPT = ChatPrompt(messages=[{"role": "user", "content": "what stove boils water fastest?"}], question="", products=[])


# Retry-After parsing (unit)


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "Retry-After": "30"}) == 1.5
    assert retry_after_seconds({"Retry-After-Ms": "250"}) == 0.25


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({"retry-after": " 2.5 "}) == 2.5
    assert retry_after_seconds({"retry-after": "-3"}) == 0.0


def test_retry_after_as_an_http_date() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds({"Retry-After": formatdate(now + 12, usegmt=True)}, now=now) == 12.0
    assert retry_after_seconds({"Retry-After": "Tue, 14 Nov 2023 22:13:32 GMT"}, now=now) == 12.0
    assert retry_after_seconds({"Retry-After": formatdate(now - 60, usegmt=True)}, now=now) == 0.0


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"Retry-After": "soon"},
        {"Retry-After": ""},
        {"Retry-After": "nan"},
        {"Retry-After": "inf"},
        {"retry-after-ms": "later"},
        {"Retry-After": "Someday, 99 Foo 2023 25:61:00 GMT"},
    ],
)
def test_unreadable_retry_after_is_ignored(headers: dict[str, str] | None) -> None:
    assert retry_after_seconds(headers) is None


def test_unreadable_retry_after_ms_falls_back_to_retry_after() -> None:
    assert retry_after_seconds({"retry-after-ms": "abc", "Retry-After": "3"}) == 3.0


# Dimensions and tokens (unit)


@pytest.mark.parametrize(
    ("model", "configured", "result"),
    [
        ("text-embedding-3-small", 0, (1536, False)),
        ("text-embedding-3-small", 256, (256, True)),
        ("text-embedding-3-large", 0, (3072, False)),
        ("text-embedding-3-large", 1024, (1024, True)),
        ("text-embedding-ada-002", 0, (1536, False)),
        ("text-embedding-ada-002", 1536, (1536, False)),
        ("nomic-embed-text", 768, (768, False)),
    ],
)
def test_vector_size_and_whether_dimensions_is_sent(model: str, configured: int, result: tuple[int, bool]) -> None:
    assert embedding_dimensions(model, configured) == result


@pytest.mark.parametrize(
    ("model", "configured", "says"),
    [
        ("nomic-embed-text", 0, "EMBEDDING_DIMENSIONS"),
        ("text-embedding-ada-002", 512, "EMBEDDING_DIMENSIONS=1536"),
        ("text-embedding-3-small", 3072, "at most 1536"),
    ],
)
def test_impossible_vector_sizes_are_refused(model: str, configured: int, says: str) -> None:
    with pytest.raises(EmbeddingDimensionsError, match=says):
        embedding_dimensions(model, configured)


def test_an_unknown_model_without_dimensions_fails_at_build_time_naming_the_setting() -> None:
    env = {"EMBEDDING_BACKEND": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "EMBEDDING_MODEL": "mxbai"}
    with pytest.raises(SettingsError, match="EMBEDDING_DIMENSIONS") as raised:
        build_embedder(load_settings(env))
    assert "'mxbai'" in str(raised.value) and "example: EMBEDDING_DIMENSIONS=" in str(raised.value)


def test_tokens_are_counted_and_cut_with_cl100k() -> None:
    embedder = OpenAIEmbedder(client=None, model="text-embedding-3-small")
    assert embedder.count_tokens("hello world") == 2
    assert embedder.count_tokens("<|endoftext|>") > 1  # user text, never a special token
    long = "Grüße aus München, 東京のキャンプ場 " * 2000
    prepared = embedder.prepare(long)
    assert prepared.truncated and prepared.tokens == 8191
    assert tokens(prepared.text) <= 8191 and long.startswith(prepared.text) and "\ufffd" not in prepared.text
    assert embedder.prepare("short text") == PreparedText("short text", 2, False)


# Wire shape and auth


async def test_azure_key_auth_speaks_the_deployment_url_with_the_api_version(
    server: FakeOpenAI, closing: list[Any]
) -> None:
    embedder = embedder_from(azure_settings(server, EMBEDDING_DIMENSIONS="256"), closing)
    texts = ["Camp Kettle", "Trail Stove", "Down Sleeping Bag"]
    vectors = await embedder.embed(texts)

    [request] = server.requests
    assert request.path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert request.query == {"api-version": API_VERSION}
    assert request.headers["api-key"] == "test-key" and "authorization" not in request.headers
    assert request.body["input"] == texts and request.body["dimensions"] == 256
    assert vectors == [expected(text, 256) for text in texts]
    assert (embedder.model_id, embedder.dimensions) == ("text-embedding-3-small", 256)
    assert embedder.client.max_retries == 0 and embedder.client.timeout == 30.0


async def test_azure_entra_id_sends_a_bearer_token_for_the_cognitive_services_scope(server: FakeOpenAI) -> None:
    credential = FakeCredential()
    settings = azure_settings(server, AZURE_OPENAI_API_KEY="")
    client, owned = azure_openai_client(settings, credential=credential)
    embedder = OpenAIEmbedder(client, "text-embedding-3-small", credential=owned, retry_policy=FAST)
    await embedder.embed(["one"])
    await embedder.embed(["two"])
    await embedder.close()

    assert [r.headers["authorization"] for r in server.requests] == ["Bearer entra-token-1"] * 2
    assert all("api-key" not in r.headers for r in server.requests)
    assert credential.scopes == [(AZURE_OPENAI_SCOPE,)]  # asked once, then cached until it nears expiry
    assert credential.closed


async def test_keyless_is_the_default_for_azure(server: FakeOpenAI, closing: list[Any]) -> None:
    from azure.identity.aio import DefaultAzureCredential

    settings = azure_settings(server, AZURE_OPENAI_API_KEY="", CHAT_BACKEND="azure-openai", OPENAI_TIMEOUT_SECONDS="12")
    embedder = embedder_from(settings, closing)
    chat = build_chat_model(settings)
    closing.append(chat)
    assert isinstance(chat, OpenAIChatModel)
    for built in (embedder, chat):
        assert isinstance(built.credential, DefaultAzureCredential)
        assert isinstance(built.client, openai.AsyncAzureOpenAI)
        assert built.client.max_retries == 0 and built.client.timeout == 12.0
        assert built.client.api_key == API_KEY_SENTINEL  # no key: Entra ID tokens only


async def test_openai_sends_the_key_as_a_bearer_token_to_v1(server: FakeOpenAI, closing: list[Any]) -> None:
    embedder = embedder_from(openai_settings(server), closing)
    await embedder.embed(["Camp Kettle"])
    [request] = server.requests
    assert request.path == "/v1/embeddings" and request.query == {}
    assert request.headers["authorization"] == "Bearer sk-test" and "api-key" not in request.headers
    assert request.body["model"] == "text-embedding-3-small" and "dimensions" not in request.body


@pytest.mark.parametrize(
    ("model", "configured", "sent", "length"),
    [
        ("text-embedding-3-small", "512", 512, 512),
        ("text-embedding-3-large", "0", None, 3072),
        ("text-embedding-ada-002", "0", None, 1536),
        ("nomic-embed-text", "768", None, 768),
    ],
)
async def test_dimensions_is_sent_only_to_text_embedding_3_models(
    server: FakeOpenAI, closing: list[Any], model: str, configured: str, sent: int | None, length: int
) -> None:
    embedder = embedder_from(openai_settings(server, EMBEDDING_MODEL=model, EMBEDDING_DIMENSIONS=configured), closing)
    [vector] = await embedder.embed(["Camp Kettle"])
    [request] = server.requests
    assert request.body.get("dimensions") == sent
    assert len(vector) == length == embedder.dimensions


async def test_an_azure_deployment_with_its_own_name_runs_embedding_model(
    server: FakeOpenAI, closing: list[Any]
) -> None:
    settings = azure_settings(
        server,
        AZURE_OPENAI_EMBEDDING_DEPLOYMENT="catalog-embeddings",
        EMBEDDING_MODEL="text-embedding-3-large",
        EMBEDDING_DIMENSIONS="1024",
    )
    embedder = embedder_from(settings, closing)
    [vector] = await embedder.embed(["Camp Kettle"])
    [request] = server.requests
    assert request.path == "/openai/deployments/catalog-embeddings/embeddings"
    assert request.body["dimensions"] == 1024 and len(vector) == 1024
    assert embedder.model_id == "text-embedding-3-large"


# Batching and order


async def test_5000_texts_go_in_three_requests_of_at_most_2048(server: FakeOpenAI, closing: list[Any]) -> None:
    embedder = embedder_from(openai_settings(server, EMBEDDING_DIMENSIONS="8", EMBED_BATCH_SIZE="2048"), closing)
    texts = [f"product number {i}" for i in range(5000)]
    vectors = await embedder.embed(texts)
    assert [len(r.body["input"]) for r in server.requests] == [2048, 2048, 904]
    assert [text for r in server.requests for text in r.body["input"]] == texts
    assert vectors[0] == expected(texts[0], 8) and vectors[4999] == expected(texts[4999], 8)


async def test_the_token_budget_splits_big_texts(server: FakeOpenAI, closing: list[Any]) -> None:
    embedder = embedder_from(openai_settings(server, EMBED_BATCH_SIZE="2048", EMBEDDING_DIMENSIONS="8"), closing)
    page = CL100K.encode_ordinary(" ".join(f"tent stove lantern kettle {i}" for i in range(3000)))
    texts = [f"{i:03d}" + CL100K.decode(page[: 8000 - 1]) for i in range(100)]
    assert {tokens(text) for text in texts} == {8000}

    vectors = await embedder.embed(texts)

    # 300,000 tokens per request fit 37 texts of 8,000 tokens: 37 + 37 + 26, none refused by the server.
    assert [len(r.body["input"]) for r in server.requests] == [37, 37, 26]
    assert all(sum(tokens(t) for t in r.body["input"]) <= 300_000 for r in server.requests)
    assert len(vectors) == 100 and vectors[99] == expected(texts[99], 8)


async def test_a_text_over_the_input_limit_is_cut_to_8191_tokens(server: FakeOpenAI, closing: list[Any]) -> None:
    embedder = embedder_from(openai_settings(server, EMBEDDING_DIMENSIONS="8"), closing)
    long = "lantern " * 12_000
    [vector] = await embedder.embed([long])
    [request] = server.requests
    [sent] = request.body["input"]
    assert tokens(sent) == 8191 and long.startswith(sent)
    assert vector == expected(sent, 8)


async def test_vectors_keep_input_order_when_the_server_lists_them_out_of_order(
    server: FakeOpenAI, closing: list[Any]
) -> None:
    server.reverse_data = True
    embedder = embedder_from(openai_settings(server, EMBEDDING_DIMENSIONS="16"), closing)
    texts = ["Camp Kettle", "Trail Stove", "Down Sleeping Bag", "Headlamp"]
    vectors = await embedder.embed(texts)
    assert vectors == [expected(text, 16) for text in texts]
    assert vectors[0] != expected(texts[-1], 16)


# Retries


@pytest.mark.parametrize(
    ("headers", "least", "most"),
    [
        ({"retry-after-ms": "400"}, 0.4, 1.2),
        ({"Retry-After": "1"}, 1.0, 1.8),
        ({"retry-after-ms": "300", "Retry-After": "5"}, 0.3, 1.1),  # the milliseconds win
    ],
)
async def test_a_429_waits_what_the_server_asks(
    server: FakeOpenAI, closing: list[Any], headers: dict[str, str], least: float, most: float
) -> None:
    server.faults = [Fault(429, headers)]
    embedder = embedder_from(azure_settings(server), closing)
    [vector] = await embedder.embed(["Camp Kettle"])
    assert len(server.requests) == 2 and embedder.requests_sent == 2
    [gap] = server.gaps()
    assert least <= gap < most, gap
    assert vector == expected("Camp Kettle", 1536)


async def test_a_retry_after_date_is_honoured(server: FakeOpenAI, closing: list[Any]) -> None:
    # An HTTP date has one-second resolution, so how long "until then" is depends on when it is read; what the
    # semantics guarantee is that the retry is not sent before that moment (wall clock, as the date is).
    retry_at = int(time.time()) + 2
    server.faults = [Fault(429, {"Retry-After": formatdate(retry_at, usegmt=True)})]
    embedder = embedder_from(azure_settings(server), closing)
    await embedder.embed(["Camp Kettle"])
    first, retry = server.requests
    # Sleeps are measured on the monotonic clock, the date on the wall clock: allow their granularity, no more.
    assert retry.wall >= retry_at - 0.01, (retry.wall, retry_at)
    assert retry.wall - first.wall < 30  # and it did not give up on the date, or wait for the policy's maximum


async def test_a_500_is_retried(server: FakeOpenAI, closing: list[Any]) -> None:
    server.faults = [Fault(500), Fault(503)]
    embedder = embedder_from(azure_settings(server), closing)
    [vector] = await embedder.embed(["Camp Kettle"])
    assert len(server.requests) == 3 and vector == expected("Camp Kettle", 1536)


async def test_an_answer_slower_than_the_timeout_is_retried(server: FakeOpenAI, closing: list[Any]) -> None:
    # OPENAI_TIMEOUT_SECONDS is at least 1 in settings; a shorter one keeps the test fast.
    settings = dataclasses.replace(azure_settings(server), OPENAI_TIMEOUT_SECONDS=0.3)
    server.faults = [Fault(status=0, delay=1.0)]
    embedder = embedder_from(settings, closing)
    started = time.monotonic()
    [vector] = await embedder.embed(["Camp Kettle"])
    assert len(server.requests) == 2 and vector == expected("Camp Kettle", 1536)
    [gap] = server.gaps()
    assert 0.3 <= gap < 1.0, gap  # the client gave up at its timeout, not when the slow answer came
    assert time.monotonic() - started < 1.0


async def test_attempts_are_bounded(server: FakeOpenAI, closing: list[Any]) -> None:
    server.always = Fault(500)
    policy = dataclasses.replace(FAST, max_attempts=3)
    embedder = embedder_from(azure_settings(server), closing, policy)
    with pytest.raises(TransientEmbeddingError, match="HTTP 500"):
        await embedder.embed(["Camp Kettle"])
    # Exactly 3: the SDK's own retries are off (max_retries=0), so they do not multiply ours.
    assert len(server.requests) == 3 and embedder.requests_sent == 3


async def test_the_total_wait_is_bounded(server: FakeOpenAI, closing: list[Any]) -> None:
    server.always = Fault(429, {"retry-after-ms": "3000"})
    policy = RetryPolicy(max_attempts=10, initial_wait=0.01, max_wait=5.0, max_total_wait=1.0)
    embedder = embedder_from(azure_settings(server), closing, policy)
    started = time.monotonic()
    with pytest.raises(TransientEmbeddingError) as raised:
        await embedder.embed(["Camp Kettle"])
    # A wait that would end past the budget is not started: one request, and the error carries the server's ask.
    assert len(server.requests) == 1 and time.monotonic() - started < 1.0
    assert raised.value.retry_after == 3.0


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_not_retried(server: FakeOpenAI, closing: list[Any], status: int) -> None:
    server.always = Fault(status)
    embedder = embedder_from(azure_settings(server), closing)
    with pytest.raises(EmbeddingError, match=f"HTTP {status}") as raised:
        await embedder.embed(["Camp Kettle"])
    assert not isinstance(raised.value, TransientEmbeddingError)
    assert len(server.requests) == 1


# Chat


async def test_azure_chat_streams_text_and_usage(server: FakeOpenAI, closing: list[Any]) -> None:
    chat = build_chat_model(azure_settings(server, CHAT_BACKEND="azure-openai", CHAT_MAX_TOKENS="300"))
    closing.append(chat)
    pieces = [chunk.text async for chunk in chat.stream(PROMPT) if chunk.text]
    text, usage = await chat.complete(PROMPT)

    assert pieces == ["Hello", ",", " world", "!"] and text == "Hello, world!"
    assert usage == Usage(prompt_tokens=42, completion_tokens=4)
    request = server.requests[0]
    assert request.path == "/openai/deployments/gpt-4o/chat/completions"
    assert request.query == {"api-version": API_VERSION} and request.headers["api-key"] == "test-key"
    assert request.body["stream"] is True and request.body["stream_options"] == {"include_usage": True}
    assert request.body["max_tokens"] == 300 and request.body["messages"] == PROMPT.messages


async def test_openai_chat_counts_usage_when_the_server_does_not(server: FakeOpenAI, closing: list[Any]) -> None:
    server.send_usage = False
    chat = build_chat_model(openai_settings(server, CHAT_BACKEND="openai", CHAT_MODEL="llama3.1"))
    closing.append(chat)
    text, usage = await chat.complete(PROMPT)
    [request] = server.requests
    assert request.path == "/v1/chat/completions" and request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "llama3.1" and text == "Hello, world!"
    assert usage.completion_tokens == chat_tokens("Hello, world!") and usage.prompt_tokens > 0


async def test_azure_chat_with_entra_id(server: FakeOpenAI) -> None:
    credential = FakeCredential()
    client, owned = azure_openai_client(azure_settings(server, AZURE_OPENAI_API_KEY=""), credential=credential)
    chat = OpenAIChatModel(client, "gpt-4o", credential=owned)
    text, _ = await chat.complete(PROMPT)
    await chat.close()
    [request] = server.requests
    assert text == "Hello, world!" and request.headers["authorization"] == "Bearer entra-token-1"
    assert credential.scopes == [(AZURE_OPENAI_SCOPE,)] and credential.closed


async def test_chat_429_is_retried_before_streaming(server: FakeOpenAI, closing: list[Any]) -> None:
    server.faults = [Fault(429, {"retry-after-ms": "300"})]
    chat = OpenAIChatModel(openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0), "m")
    chat.retry_policy = FAST
    closing.append(chat)
    text, usage = await chat.complete(PROMPT)
    assert text == "Hello, world!" and usage.completion_tokens == 4
    assert len(server.requests) == 2 and chat.requests_sent == 2
    [gap] = server.gaps()
    assert 0.3 <= gap < 1.1, gap


async def test_chat_attempts_are_bounded_and_the_error_reaches_the_caller(
    server: FakeOpenAI, closing: list[Any]
) -> None:
    server.always = Fault(503)
    chat = build_chat_model(openai_settings(server, CHAT_BACKEND="openai"))
    assert isinstance(chat, OpenAIChatModel)
    chat.retry_policy = dataclasses.replace(FAST, max_attempts=3)
    closing.append(chat)
    with pytest.raises(openai.InternalServerError):
        await chat.complete(PROMPT)
    assert len(server.requests) == 3


async def test_chat_4xx_is_not_retried(server: FakeOpenAI, closing: list[Any]) -> None:
    server.always = Fault(400)
    chat = build_chat_model(openai_settings(server, CHAT_BACKEND="openai"))
    closing.append(chat)
    with pytest.raises(openai.BadRequestError):
        await chat.complete(PROMPT)
    assert len(server.requests) == 1


async def test_a_chat_failure_after_the_first_token_is_not_retried(server: FakeOpenAI, closing: list[Any]) -> None:
    server.cut_stream_after = 1
    chat = build_chat_model(azure_settings(server, CHAT_BACKEND="azure-openai"))
    assert isinstance(chat, OpenAIChatModel)
    chat.retry_policy = FAST
    closing.append(chat)
    shown: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in chat.stream(PROMPT):
            shown.append(chunk.text)
    assert shown == ["Hello"]  # the part already shown is not repeated by a second attempt
    assert len(server.requests) == 1


# The pipeline end to end


@pytest.fixture
def settings_env(tmp_path: Path, server: FakeOpenAI) -> dict[str, str]:
    """The conftest ``services`` fixture on the embedded store, embedding through Azure OpenAI (the loopback one)."""
    return {
        "STORE_BACKEND": "local",
        "LOCAL_DATA_DIR": str(tmp_path / "data"),
        "EMBEDDING_BACKEND": "azure-openai",
        "AZURE_OPENAI_ENDPOINT": server.url,
        "AZURE_OPENAI_API_KEY": "test-key",
        "EMBEDDING_DIMENSIONS": "256",
        "EMBED_BATCH_SIZE": "16",
    }


async def test_the_pipeline_embeds_products_through_azure_openai(
    server: FakeOpenAI, services: Services, feed: FeedDriver
) -> None:
    products = json.loads((REPO / "devhost" / "sample_products.json").read_text())
    long = {"id": "long-1", "name": "Field Manual", "category_name": "Books", "description": "knot " * 10_000}
    container = await services.products()
    for product in [*products, long]:
        await container.upsert(product)

    reports = await feed.drain()

    assert sum(r.embedded for r in reports) == len(products) + 1 and sum(r.failed for r in reports) == 0
    assert len(server.requests) == math.ceil((len(products) + 1) / 16)
    assert all(r.path == "/openai/deployments/text-embedding-3-small/embeddings" for r in server.requests)
    for product in products:
        stored = await container.read(product["id"], product["id"])
        assert stored is not None
        assert stored["embedding"] == expected(embedding_text(stored, FIELDS), 256)
        info = stored["embedding_info"]
        assert (info["status"], info["model"], info["dimensions"]) == ("embedded", "text-embedding-3-small", 256)
        assert info["truncated"] is False
    stored_long = await container.read("long-1", "long-1")
    assert stored_long is not None and stored_long["embedding_info"]["truncated"] is True
    assert len(stored_long["embedding"]) == 256

    # The echo of the write-backs costs no request; one edit costs one request with one text.
    await feed.drain()
    sent = len(server.requests)
    edited = {**products[0], "description": products[0]["description"] + " Now in green."}
    await container.upsert(edited)
    await feed.drain()
    assert len(server.requests) == sent + 1 and len(server.requests[-1].body["input"]) == 1
