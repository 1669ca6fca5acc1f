"""The operator's views (counts, oldest pending, failed products with their dead letters) and re-embedding on request,
over the embedded store."""

from __future__ import annotations

import pytest

from catalog.embedding_status import EmbeddingStatusView
from catalog.embedding_sync import EmbeddingPipeline
from catalog.model import VectorState
from catalog.reconcile import Reconciler, ReconcileRecord
from catalog.reembed import Reembedder
from composition.services import Services
from embedding.deterministic import DeterministicEmbedder
from tests.conftest import FeedDriver
from tests.reconcile_support import lose_pending_changes, product, stored, write

FIELDS = ("name", "category_name", "description")


@pytest.fixture
async def record(services: Services) -> ReconcileRecord:
    return ReconcileRecord(await services.container_named(services.settings.COSMOS_LEASES_CONTAINER))


@pytest.fixture
async def view(services: Services, record: ReconcileRecord) -> EmbeddingStatusView:
    pipeline = await services.embedding_pipeline()
    return EmbeddingStatusView(
        await services.products(), await services.deadletters(), record, pipeline.recipe, max_failed_attempts=3
    )


@pytest.fixture
async def reembedder(services: Services) -> Reembedder:
    return Reembedder(await services.products(), await services.embedding_pipeline())


async def test_counts_by_status_and_recipe_the_oldest_pending_and_the_last_reconcile(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, view: EmbeddingStatusView
) -> None:
    embedder.refuse_texts_containing = "flagged"
    await write(services, *(product(n) for n in range(4)), product(4, description="flagged"), product(5, deleted=True))
    await feed.drain()
    old_model = DeterministicEmbedder(model_id="old-model", dimensions=32)
    products = await services.products()
    await write(services, product(6))
    await EmbeddingPipeline(products, await services.deadletters(), old_model, FIELDS).embed_changed_products(
        [await products.read("p006", "p006")]
    )
    await write(services, product(7), product(8))
    await lose_pending_changes(feed)
    oldest = await products.read("p007", "p007")
    assert oldest is not None
    view.now = lambda: float(oldest["_ts"]) + 90

    summary = await view.summary()

    assert (summary.model, summary.dimensions, summary.products) == (embedder.model_id, 64, 8)
    assert summary.by_status == {"embedded": 4, "pending": 3, "failed": 1}
    recipes = {(row.model, row.dimensions): (row.embedded, row.failed, row.current) for row in summary.by_recipe}
    assert recipes == {(embedder.model_id, 64): (4, 1, True), ("old-model", 32): (1, 0, False)}
    assert summary.oldest_pending_age_seconds is not None and summary.oldest_pending_age_seconds >= 90
    assert summary.oldest_pending_id in {"p006", "p007", "p008"}
    assert summary.last_reconcile is None

    leases = await services.container_named("leases")
    await Reconciler(products, ReconcileRecord(leases), await services.embedding_pipeline()).reconcile()
    after = await view.summary()
    assert after.by_status == {"embedded": 7, "pending": 0, "failed": 1}
    assert after.oldest_pending_id is None and after.oldest_pending_age_seconds is None
    assert after.last_reconcile is not None
    assert (after.last_reconcile["stale"], after.last_reconcile["missing"]) == (1, 2)


async def test_an_empty_catalog_has_nothing_pending(view: EmbeddingStatusView) -> None:
    summary = await view.summary()
    assert (summary.products, summary.by_status) == (0, {"embedded": 0, "pending": 0, "failed": 0})
    assert [(row.embedded, row.current) for row in summary.by_recipe] == [(0, True)]


async def test_failed_products_come_with_reasons_and_dead_letters_page_by_page(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, view: EmbeddingStatusView
) -> None:
    embedder.refuse_texts_containing = "flagged"
    refused = [product(n, description="A flagged text.") for n in range(3)]
    await write(services, *refused, product(3, description=""), product(4))
    await feed.drain()

    first = await view.failed(limit=3)
    second = await view.failed(limit=3, continuation=first.continuation)

    assert [item.id for item in first.products] == ["p000", "p001", "p002"] and first.continuation == "p002"
    assert [item.id for item in second.products] == ["p003"] and second.continuation is None
    refused_item, invalid_item = first.products[0], second.products[0]
    assert refused_item.reason is not None and refused_item.reason.startswith("embedding refused")
    assert (refused_item.retryable, refused_item.attempts, refused_item.will_retry) == (True, 1, True)
    assert (invalid_item.reason, invalid_item.retryable, invalid_item.will_retry) == (
        "description is empty",
        False,
        False,
    )
    [letter] = refused_item.dead_letters
    assert letter["product_id"] == "p000" and letter["reason"] == refused_item.reason
    assert "document" not in letter
    with pytest.raises(ValueError, match="limit"):
        await view.failed(limit=0)


async def test_a_few_ids_are_re_embedded_during_the_request(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, reembedder: Reembedder
) -> None:
    await write(services, product(1), product(2))
    await feed.drain()
    calls = embedder.calls

    result = await reembedder.reembed_ids(["p001", "p001", "nope"])

    assert (result.matched, result.embedded, result.queued, result.not_found) == (1, 1, 0, ["nope"])
    assert embedder.calls == calls + 1
    assert (await stored(services))["p001"]["embedding_info"]["status"] == "embedded"
    echo = await feed.drain()
    assert sum(batch.embedded for batch in echo) == 0  # the echo of the write-back is current


async def test_many_ids_are_queued_for_the_change_feed(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, reembedder: Reembedder
) -> None:
    await write(services, *(product(n) for n in range(30)))
    await feed.drain()
    calls = embedder.calls

    result = await reembedder.reembed_ids([f"p{n:03d}" for n in range(30)])

    assert (result.matched, result.queued, result.embedded) == (30, 30, 0)
    assert embedder.calls == calls  # nothing embedded yet: the stamps say pending
    documents = await stored(services)
    assert {doc["embedding_info"]["status"] for doc in documents.values()} == {"pending"}
    assert all(len(doc["embedding"]) == 64 for doc in documents.values())  # still searchable meanwhile
    reports = await feed.drain()
    assert sum(batch.embedded for batch in reports) == 30
    assert {reembedder.pipeline.recipe.state(doc) for doc in (await stored(services)).values()} == {VectorState.CURRENT}


async def test_failed_products_of_a_category_are_queued_and_the_rest_left_alone(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, reembedder: Reembedder
) -> None:
    embedder.refuse_texts_containing = "flagged"
    await write(
        services,
        product(1, description="flagged"),
        product(2, description="flagged", category_name="Cooking"),
        product(3),
    )
    await feed.drain()
    embedder.refuse_texts_containing = None
    before = await stored(services)

    result = await reembedder.reembed_matching(category="Camping", status="failed")

    assert (result.matched, result.queued, result.continuation) == (1, 1, None)
    after = await stored(services)
    assert after["p001"]["embedding_info"]["status"] == "pending"
    assert after["p002"]["_etag"] == before["p002"]["_etag"] and after["p003"]["_etag"] == before["p003"]["_etag"]
    await feed.drain()
    assert (await stored(services))["p001"]["embedding_info"]["status"] == "embedded"


async def test_pending_and_all_requests_read_a_bounded_number_and_continue(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    reembedder = Reembedder(await services.products(), await services.embedding_pipeline(), max_scanned=4)
    await write(services, *(product(n) for n in range(3)))
    await feed.drain()
    await write(services, *(product(n) for n in range(3, 6)))
    await lose_pending_changes(feed)

    pending = await reembedder.reembed_matching(status="pending")
    assert (pending.matched, pending.queued, pending.continuation) == (1, 1, "p003")
    rest = await reembedder.reembed_matching(status="pending", continuation=pending.continuation)
    assert (rest.matched, rest.continuation) == (2, None)

    everything = await reembedder.reembed_matching(everything=True)
    assert (everything.queued, everything.continuation) == (4, "p003")
    exactly = Reembedder(await services.products(), await services.embedding_pipeline(), max_scanned=6)
    assert (await exactly.reembed_matching(everything=True)).continuation is None  # nothing after the sixth
    with pytest.raises(ValueError, match="category or a status"):
        await reembedder.reembed_matching()
