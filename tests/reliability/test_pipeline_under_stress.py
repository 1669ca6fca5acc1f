"""The pipeline does not lose or corrupt data: concurrent editors, a killed host, poison documents.

The first and last run the real app in an in-process local host; the crash test kills a host subprocess with
SIGKILL in the middle of a batch and starts another on the same data.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import function_app
from catalog.model import embedding_status
from composition.services import Services, set_services
from devhost.host import LocalFunctionsHost
from embedding.deterministic import DeterministicEmbedder
from store.base import FieldFilter
from tests.app_functions import app_functions
from tests.e2e.hosting import REPO, RunningHost, host_env, start_host, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
async def host(services: Services) -> AsyncIterator[LocalFunctionsHost]:
    set_services(services)
    local = LocalFunctionsHost(function_app.app, services=services, port=0, functions=app_functions())
    await local.start()
    yield local
    await local.stop()
    set_services(None)


def assert_current(document: dict[str, Any], services: Services) -> None:
    """The stored vector is the one for the stored text, stamped with the hash of exactly that text."""
    fields, embedder = services.settings.EMBED_FIELDS, services.embedder
    assert embedding_status(document, fields, embedder.model_id, embedder.dimensions) == "embedded", document["id"]
    assert isinstance(embedder, DeterministicEmbedder)
    text = "\n".join(str(document[f]) for f in fields if document.get(f))
    assert document["embedding"] == pytest.approx(embedder.vector(text))


async def test_concurrent_editors_lose_no_edit_and_every_vector_matches_its_final_text(
    host: LocalFunctionsHost, services: Services
) -> None:
    assert isinstance(services.embedder, DeterministicEmbedder)
    services.embedder.delay = 0.3  # embedding takes long enough for edits to land mid-batch
    writers, products_each, edits_each = 4, 3, 20
    last_written: dict[str, str] = {}

    async def writer(number: int, client: httpx.AsyncClient) -> None:
        rng = random.Random(number)
        owned = [f"w{number}-p{i}" for i in range(products_each)]
        for edit in range(edits_each):
            product_id = rng.choice(owned)
            description = f"edit {edit} by writer {number}: " + " ".join(rng.sample(WORDS, 6))
            response = await client.put(
                f"/api/products/{product_id}", json={"name": product_id, "description": description}
            )
            assert response.status_code in (200, 201), response.text
            last_written[product_id] = description
            await asyncio.sleep(rng.uniform(0.05, 0.25))  # edits keep coming for ~3 s

    async with httpx.AsyncClient(base_url=host.base_url, timeout=30) as client:
        await asyncio.gather(*(writer(n, client) for n in range(writers)))
    await host.wait_until_idle(timeout=120)

    products = await services.products()
    for product_id, description in last_written.items():
        document = await products.read(product_id, product_id)
        assert document is not None
        assert document["description"] == description  # no write-back reverted an edit
        assert_current(document, services)
    assert len(last_written) == writers * products_each
    # The pipeline really ran while the edits came in (several invocations, not one batch at the end).
    assert services.pipeline_totals.seen > writers * products_each


async def test_poison_documents_are_dead_lettered_and_the_rest_embedded(
    host: LocalFunctionsHost, services: Services
) -> None:
    products = await services.products()
    poison = {
        "no-description": {"id": "no-description", "name": "x"},
        "numeric": {"id": "numeric", "name": "x", "description": 12.5},
        "blank": {"id": "blank", "name": "x", "description": "  \n "},
        "nested": {"id": "nested", "name": {"deep": [1, 2]}, "description": "fine text"},
    }
    # Written straight into the store, as a shop's other systems may: the API would have refused them.
    for index in range(20):
        await products.upsert({"id": f"good-{index}", "name": f"Good {index}", "description": f"Good item {index}"})
        if index % 5 == 0:
            await products.upsert(list(poison.values())[index // 5])
    await host.wait_until_idle(timeout=60)

    letters = await (await services.deadletters()).query()
    assert {letter["product_id"] for letter in letters} == set(poison)
    assert all(letter["reason"] for letter in letters)
    for index in range(20):
        document = await products.read(f"good-{index}", f"good-{index}")
        assert document is not None
        assert_current(document, services)
    failed = await products.query([FieldFilter("embedding_info.status", "eq", "failed")])
    assert {document["id"] for document in failed} == set(poison)


def test_a_host_killed_mid_batch_loses_nothing_after_restart(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    slow = host_env(EMBEDDING_BACKEND="deterministic", TEST_EMBED_DELAY_MS="1500", EMBED_BATCH_SIZE="5",
                    LOCAL_DATA_DIR=data)  # fmt: skip
    first = start_host(REPO, env=slow)
    products = [{"id": f"p{i}", "name": f"Product {i}", "description": f"Item {i}: {WORDS[i]}"} for i in range(30)]
    assert httpx.post(f"{first.base_url}/api/products", json=products, timeout=30).status_code == 200
    # 30 products in batches of 5 at 1.5 s each: the invocation is busy for ~9 s. Kill it in the middle.
    wait_for(
        lambda: first.get("/api/health").json()["embedding"]["requests_sent"] >= 2, timeout=30, message="mid-batch"
    )
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=30)

    second: RunningHost = start_host(REPO, env=host_env(EMBEDDING_BACKEND="deterministic", LOCAL_DATA_DIR=data))
    try:

        def all_embedded() -> bool:
            return all(
                second.get(f"/api/products/{p['id']}").json()["embedding_status"] == "embedded" for p in products
            )

        wait_for(all_embedded, timeout=60, interval=0.5, message="every product embedded after the restart")
        found = second.get("/api/search", params={"q": f"Item 7: {WORDS[7]}", "k": 1}).json()["results"]
        assert found[0]["id"] == "p7"
    finally:
        assert second.stop() == 0


WORDS = (
    "tent stove lantern kettle mug blanket chair hammock compass whistle rope knife spork bottle filter jacket boots "
    "socks gloves beanie scarf poncho tarp stakes pump saddle helmet lock light bell rack pannier map headlamp"
).split()
