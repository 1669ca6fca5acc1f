"""The embedding endpoint misbehaves (bursts of 429 with Retry-After, 500s, answers slower than the timeout, an
outage longer than one invocation's retries) while the real app runs under the local host: everything is still
embedded, Retry-After is honoured, and the attempts stay bounded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import function_app
from catalog.model import embedding_text
from composition.services import Services, build_services, set_services
from composition.settings import load_settings
from devhost.host import LocalFunctionsHost
from embedding.deterministic import DeterministicEmbedder
from tests.app_functions import app_functions
from tests.conftest import REPO
from tests.openai_server import FakeOpenAI, Fault

pytestmark = pytest.mark.slow

PRODUCTS = json.loads((REPO / "devhost" / "sample_products.json").read_text())
BATCH = 8


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def services(tmp_path: Path, server: FakeOpenAI) -> AsyncIterator[Services]:
    settings = load_settings(
        {
            "LOCAL_DATA_DIR": str(tmp_path / "data"),
            "EMBEDDING_BACKEND": "azure-openai",
            "AZURE_OPENAI_ENDPOINT": server.url,
            "AZURE_OPENAI_API_KEY": "test-key",
            "EMBEDDING_DIMENSIONS": "64",
            "EMBED_BATCH_SIZE": str(BATCH),
            "EMBED_MAX_ATTEMPTS": "4",
            "OPENAI_TIMEOUT_SECONDS": "1",
        }
    )
    built = build_services(settings)
    set_services(built)
    yield built
    set_services(None)
    await built.close()


async def embed_catalog(services: Services) -> LocalFunctionsHost:
    host = LocalFunctionsHost(function_app.app, services=services, port=0, functions=app_functions())
    await (await services.catalog()).put_many(PRODUCTS)
    await host.start()
    return host


async def assert_all_embedded(services: Services) -> None:
    products = await services.products()
    model = DeterministicEmbedder(64)  # what the loopback server embeds with
    fields = services.settings.EMBED_FIELDS
    for product in PRODUCTS:
        stored = await products.read(product["id"], product["id"])
        assert stored is not None and stored["embedding_info"]["status"] == "embedded", product["id"]
        assert stored["embedding"] == pytest.approx(model.vector(embedding_text(stored, fields)))
    assert await (await services.deadletters()).count() == 0


async def test_bursts_of_429_500_and_timeouts_are_ridden_out(server: FakeOpenAI, services: Services) -> None:
    server.faults = [
        Fault(429, {"retry-after-ms": "400"}),
        Fault(429, {"Retry-After": "1"}),
        Fault(500),
        Fault(503),
        Fault(status=0, delay=1.5),  # slower than the 1 s client timeout
    ]
    host = await embed_catalog(services)
    try:
        await host.wait_until_idle(timeout=60)
    finally:
        await host.stop()

    await assert_all_embedded(services)
    batches = -(-len(PRODUCTS) // BATCH)
    # Each scripted fault costs exactly one extra request: retries are per failed request, not per batch.
    assert len(server.requests) == batches + 5
    gaps = server.gaps()
    assert gaps[0] >= 0.4  # retry-after-ms: 400
    assert gaps[1] >= 1.0  # Retry-After: 1


async def test_an_outage_longer_than_the_retries_is_redelivered_by_the_host(
    server: FakeOpenAI, services: Services
) -> None:
    # Twice four attempts fail: the first invocation gives up, the host's retry policy redelivers the batch.
    server.faults = [Fault(500)] * 8
    host = await embed_catalog(services)
    try:
        await host.wait_until_idle(timeout=90)
        stats = host.trigger_stats("embed_changed_products")
    finally:
        await host.stop()

    await assert_all_embedded(services)
    assert stats.failures == 2 and stats.retries == 2
    batches = -(-len(PRODUCTS) // BATCH)
    assert len(server.requests) == batches + 8  # bounded: 4 attempts per invocation, then the redelivery
