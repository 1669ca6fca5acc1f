"""Reconciliation over the embedded store: lost changes repaired, stale stamps re-embedded, failures retried a
bounded number of times, bounded runs that resume, and nothing spent when everything is current."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from catalog.embedding_sync import EmbeddingPipeline
from catalog.model import VectorState, content_hash, embedding_text
from catalog.reconcile import RECORD_ID, Reconciler, ReconcileRecord
from composition.services import Services
from composition.settings import SettingsError, load_settings
from embedding.base import RetryPolicy, TransientEmbeddingError
from embedding.deterministic import DeterministicEmbedder
from tests.conftest import FeedDriver
from tests.reconcile_support import lose_pending_changes, product, stored, write

FIELDS = ("name", "category_name", "description")


async def make_reconciler(services: Services, **options: Any) -> Reconciler:
    leases = await services.container_named(services.settings.COSMOS_LEASES_CONTAINER)
    return Reconciler(
        await services.products(), ReconcileRecord(leases), await services.embedding_pipeline(), **options
    )


@pytest.fixture
async def reconciler(services: Services) -> Reconciler:
    return await make_reconciler(services)


async def test_a_lost_change_is_repaired_by_one_run_and_a_second_run_costs_nothing(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, reconciler: Reconciler
) -> None:
    await write(services, *(product(n) for n in range(40)))
    assert await lose_pending_changes(feed) == 40
    assert embedder.calls == 0
    assert {reconciler.recipe.state(doc) for doc in (await stored(services)).values()} == {VectorState.MISSING}

    report = await reconciler.reconcile()

    assert (report.seen, report.missing, report.stale, report.embedded, report.conflicts) == (40, 40, 0, 40, 0)
    assert report.embed_requests == embedder.calls == 1  # 40 texts fit one request
    assert report.complete and report.continuation is None
    for document in (await stored(services)).values():
        info = document["embedding_info"]
        text = embedding_text(document, FIELDS)
        assert info["content_hash"] == content_hash(text, embedder.model_id, embedder.dimensions)
        assert (info["status"], info["model"], info["dimensions"]) == ("embedded", embedder.model_id, 64)
        assert info["fields"] == list(FIELDS)
        assert document["embedding"] == pytest.approx(embedder.vector(text))

    # The write-backs are changes too: their echo reaches the pipeline and costs nothing.
    etags = {key: doc["_etag"] for key, doc in (await stored(services)).items()}
    echo = await feed.drain()
    assert sum(batch.skipped for batch in echo) == 40 and embedder.calls == 1

    again = await reconciler.reconcile()

    assert (again.seen, again.current, again.embedded, again.embed_requests) == (40, 40, 0, 0)
    assert embedder.calls == 1
    assert {key: doc["_etag"] for key, doc in (await stored(services)).items()} == etags


async def test_stamps_of_another_model_dimensions_or_fields_are_re_embedded(
    services: Services, embedder: DeterministicEmbedder, reconciler: Reconciler
) -> None:
    products, deadletters = await services.products(), await services.deadletters()
    yesterday = {
        "p000": EmbeddingPipeline(products, deadletters, DeterministicEmbedder(model_id="old-model"), FIELDS),
        "p001": EmbeddingPipeline(products, deadletters, DeterministicEmbedder(dimensions=32), FIELDS),
        "p002": EmbeddingPipeline(products, deadletters, embedder, ("name", "description")),
    }
    for number, (product_id, pipeline) in enumerate(yesterday.items()):
        await write(services, product(number))
        document = await products.read(product_id, product_id)
        assert (await pipeline.embed_changed_products([document])).embedded == 1
    calls = embedder.calls

    report = await reconciler.reconcile()

    assert (report.seen, report.stale, report.embedded) == (3, 3, 3)
    assert embedder.calls == calls + 1
    for document in (await stored(services)).values():
        info = document["embedding_info"]
        assert (info["model"], info["dimensions"], info["fields"]) == (embedder.model_id, 64, list(FIELDS))
        assert len(document["embedding"]) == 64
        assert reconciler.recipe.state(document) is VectorState.CURRENT


async def test_a_fields_change_that_leaves_the_text_as_it_was_costs_nothing(
    services: Services, embedder: DeterministicEmbedder, reconciler: Reconciler
) -> None:
    products = await services.products()
    await write(services, {**product(1), "category_name": None})
    old = EmbeddingPipeline(products, await services.deadletters(), embedder, ("name", "description"))
    await old.embed_changed_products([await products.read("p001", "p001")])
    calls = embedder.calls

    report = await reconciler.reconcile()

    assert (report.current, report.stale, embedder.calls) == (1, 0, calls)


async def test_a_failure_that_may_pass_is_retried_until_it_passes(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, reconciler: Reconciler
) -> None:
    embedder.refuse_texts_containing = "flagged"
    await write(services, product(1, description="A flagged description the model refuses today."), product(2))
    await feed.drain()
    info = (await stored(services))["p001"]["embedding_info"]
    assert (info["status"], info["retryable"], info["attempts"]) == ("failed", True, 1)

    embedder.refuse_texts_containing = None  # the service accepts it again
    report = await reconciler.reconcile()

    assert (report.failed_retried, report.current, report.embedded, report.embed_requests) == (1, 1, 1, 1)
    assert reconciler.recipe.state((await stored(services))["p001"]) is VectorState.CURRENT


async def test_a_failure_that_keeps_failing_is_retried_a_bounded_number_of_times(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    reconciler = await make_reconciler(services, max_failed_attempts=3)
    embedder.refuse_texts_containing = "flagged"
    await write(services, product(1, description="A flagged description the model always refuses."))
    await feed.drain()  # attempt 1
    calls = embedder.calls

    runs = [await reconciler.reconcile() for _ in range(4)]

    assert [run.failed_retried for run in runs] == [1, 1, 0, 0]
    assert [run.failed_left for run in runs] == [0, 0, 1, 1]
    assert embedder.calls == calls + 2
    info = (await stored(services))["p001"]["embedding_info"]
    assert (info["status"], info["attempts"]) == ("failed", 3)
    # One dead-letter record per failed text, however often it was tried.
    assert len(await (await services.deadletters()).query()) == 1


async def test_an_invalid_product_is_not_retried(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, reconciler: Reconciler
) -> None:
    await write(services, product(1, description="   "))
    await feed.drain()
    before = (await stored(services))["p001"]
    assert (before["embedding_info"]["status"], before["embedding_info"]["retryable"]) == ("failed", False)

    runs = [await reconciler.reconcile() for _ in range(3)]

    assert [(run.failed_left, run.failed_retried, run.embed_requests) for run in runs] == [(1, 0, 0)] * 3
    assert (await stored(services))["p001"]["_etag"] == before["_etag"]  # not even rewritten
    assert embedder.calls == 0

    await write(services, {**before, "description": "Now it has a description."})  # an edit is a new try
    report = await reconciler.reconcile()
    assert (report.stale, report.embedded) == (1, 1)


async def test_soft_deleted_products_are_not_read(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, reconciler: Reconciler
) -> None:
    await write(services, product(1, deleted=True), product(2))
    await lose_pending_changes(feed)

    report = await reconciler.reconcile()

    assert (report.seen, report.embedded) == (1, 1)
    assert "embedding_info" not in (await stored(services))["p001"]


async def test_a_run_reads_at_most_its_budget_and_the_next_resumes_and_wraps_around(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    reconciler = await make_reconciler(services, max_products=10, page_size=4)
    await write(services, *(product(n) for n in range(25)))
    await lose_pending_changes(feed)

    first = await reconciler.reconcile()
    assert (first.seen, first.embedded, first.pages, first.complete) == (10, 10, 3, False)
    assert (first.resumed_after, first.continuation) == (None, "p009")

    second = await reconciler.reconcile()
    assert (second.resumed_after, second.seen, second.embedded, second.continuation) == ("p009", 10, 10, "p019")

    third = await reconciler.reconcile()  # p020..p024, then round to p000..p004
    assert (third.seen, third.missing, third.current, third.continuation) == (10, 5, 5, "p004")
    states = {reconciler.recipe.state(document) for document in (await stored(services)).values()}
    assert states == {VectorState.CURRENT}

    record = await (await services.container_named("leases")).read(RECORD_ID, RECORD_ID)
    assert record is not None and record["continuation"] == "p004"
    assert record["last_report"]["seen"] == 10

    restart = await reconciler.reconcile(from_start=True)
    assert (restart.resumed_after, restart.seen, restart.current) == (None, 10, 10)


async def test_a_whole_catalog_within_budget_is_covered_wherever_the_last_run_stopped(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    await write(services, *(product(n) for n in range(12)))
    await lose_pending_changes(feed)
    await (await make_reconciler(services, max_products=5)).reconcile()  # stops after p004

    report = await (await make_reconciler(services, max_products=100)).reconcile()

    assert (report.resumed_after, report.seen, report.missing, report.complete) == ("p004", 12, 7, True)
    assert report.continuation is None


async def test_running_beside_the_change_feed_embeds_each_product_once_and_loses_nothing(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, reconciler: Reconciler
) -> None:
    await write(services, *(product(n) for n in range(60)))

    feed_reports, report = await asyncio.gather(feed.drain(), reconciler.reconcile())

    documents = (await stored(services)).values()
    assert {reconciler.recipe.state(document) for document in documents} == {VectorState.CURRENT}
    # Both read the same version; whoever writes second is refused: one write-back per product, none lost.
    written = sum(batch.embedded for batch in feed_reports) + report.embedded
    conflicts = sum(batch.conflicts for batch in feed_reports) + report.conflicts
    assert written == 60
    assert embedder.texts_embedded == written + conflicts
    await feed.drain()
    calls = embedder.calls
    assert (await reconciler.reconcile()).embed_requests == 0 and embedder.calls == calls


async def test_an_embedder_that_keeps_failing_stops_the_run_and_keeps_its_progress(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    reconciler = await make_reconciler(services, page_size=5)
    await write(services, *(product(n) for n in range(5)))
    await feed.drain()  # p000..p004 embedded: the first page needs no request
    await write(services, *(product(n) for n in range(5, 12)))
    await lose_pending_changes(feed)
    embedder.retry_policy = RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.002)
    embedder.failures = [TransientEmbeddingError("the service is down")] * 2

    with pytest.raises(TransientEmbeddingError):
        await reconciler.reconcile()

    record = await reconciler.record.load()
    assert record["continuation"] == "p004"
    assert record["last_report"]["current"] == 5 and "the service is down" in record["last_report"]["error"]

    report = await reconciler.reconcile()  # the service is back
    assert (report.resumed_after, report.missing, report.embedded, report.current) == ("p004", 7, 7, 5)


async def test_a_catalog_of_exactly_the_budget_is_read_once_and_the_run_knows_it_went_round(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    reconciler = await make_reconciler(services, max_products=8, page_size=4)
    await write(services, *(product(n) for n in range(8)))
    await lose_pending_changes(feed)

    report = await reconciler.reconcile()

    assert (report.seen, report.pages, report.complete, report.continuation) == (8, 2, True, None)


@pytest.mark.parametrize("schedule", ["*/15 * * * *", "every 15 minutes"])
def test_a_schedule_that_is_not_ncrontab_is_refused_at_start_up_naming_the_setting(schedule: str) -> None:
    with pytest.raises(SettingsError, match="RECONCILE_SCHEDULE"):
        load_settings({"RECONCILE_SCHEDULE": schedule})
    assert load_settings({"RECONCILE_SCHEDULE": "*/30 * * * * *"}).RECONCILE_SCHEDULE == "*/30 * * * * *"
