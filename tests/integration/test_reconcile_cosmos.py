"""Reconcile, the status view and re-embedding through the real ``azure.cosmos.aio`` SDK against the Cosmos DB
protocol test server: the queries they send (asserted as text) and what they do with the answers.

The test server has no incremental change feed, which reconciliation does not need: it reads with plain queries.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from catalog.embedding_status import EmbeddingStatusView
from catalog.embedding_sync import EmbeddingPipeline
from catalog.model import VectorState
from catalog.reconcile import Reconciler, ReconcileRecord
from catalog.reembed import Reembedder
from embedding.deterministic import DeterministicEmbedder
from store.base import ContainerSpec, DocumentContainer, VectorSpec
from store.cosmos import CosmosDocumentStore
from tests.integration.cosmos_test_server import CosmosTestServer, cosmos_test_server  # noqa: F401 (a fixture)

FIELDS = ("name", "category_name", "description")


@dataclass
class Catalog:
    products: DocumentContainer
    deadletters: DocumentContainer
    leases: DocumentContainer
    embedder: DeterministicEmbedder
    pipeline: EmbeddingPipeline
    queries: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def reconciler(self, **options: Any) -> Reconciler:
        return Reconciler(self.products, ReconcileRecord(self.leases), self.pipeline, **options)

    def view(self) -> EmbeddingStatusView:
        record = ReconcileRecord(self.leases)
        return EmbeddingStatusView(self.products, self.deadletters, record, self.pipeline.recipe, max_failed_attempts=3)


@pytest.fixture
async def catalog(cosmos_test_server: CosmosTestServer) -> AsyncIterator[Catalog]:  # noqa: F811
    store = CosmosDocumentStore(
        cosmos_test_server.endpoint,
        f"reconcile-{uuid.uuid4().hex[:8]}",
        credential=cosmos_test_server.key,
        create_containers=True,
    )
    products = await store.container(ContainerSpec("products", "/id", VectorSpec("/embedding", 64)))
    deadletters = await store.container(ContainerSpec("deadletter", "/product_id"))
    leases = await store.container(ContainerSpec("leases", "/id"))
    embedder = DeterministicEmbedder()
    pipeline = EmbeddingPipeline(products, deadletters, embedder, FIELDS)
    opened = Catalog(products, deadletters, leases, embedder, pipeline)
    # Record the text every products query sends (the container's one way to Cosmos DB's query API).
    send = products._query

    async def recording(text: str, parameters: list[dict[str, Any]], partition_key: Any = None) -> list[Any]:
        opened.queries.append((text, parameters))
        return list(await send(text, parameters, partition_key))

    products._query = recording  # type: ignore[method-assign]
    yield opened
    await store.close()


def product(number: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"p{number:03d}",
        "name": f"Item {number}",
        "category_name": "Camping",
        "description": f"Camping gear number {number} for cold nights.",
        **extra,
    }


async def test_reconcile_pages_by_id_and_embeds_what_no_change_feed_delivered(catalog: Catalog) -> None:
    for number in range(7):
        await catalog.products.upsert(product(number, deleted=number == 6))

    first = await catalog.reconciler(page_size=3).reconcile()

    assert (first.seen, first.missing, first.embedded, first.pages, first.complete) == (6, 6, 6, 3, True)
    assert catalog.embedder.calls == 2  # one request per page that had work
    texts = [text for text, _ in catalog.queries]
    assert texts[0] == (
        'SELECT TOP @limit * FROM c WHERE (NOT IS_DEFINED(c["deleted"]) OR (IS_BOOL(c["deleted"]) AND '
        'c["deleted"] != @p0)) ORDER BY c["id"] ASC'
    )
    assert texts[1] == (
        'SELECT TOP @limit * FROM c WHERE (NOT IS_DEFINED(c["deleted"]) OR (IS_BOOL(c["deleted"]) AND '
        'c["deleted"] != @p0)) AND c["id"] > @p1 ORDER BY c["id"] ASC'
    )
    assert catalog.queries[1][1] == [
        {"name": "@p0", "value": True},
        {"name": "@p1", "value": "p002"},
        {"name": "@limit", "value": 3},
    ]
    for document in await catalog.products.query():
        expected = VectorState.DELETED if document["id"] == "p006" else VectorState.CURRENT
        assert catalog.pipeline.recipe.state(document) is expected

    second = await catalog.reconciler(page_size=3).reconcile()
    assert (second.current, second.embed_requests, catalog.embedder.calls) == (6, 0, 2)
    assert (await ReconcileRecord(catalog.leases).last_report() or {})["current"] == 6


async def test_status_counts_with_count_queries_and_lists_failures_with_dead_letters(catalog: Catalog) -> None:
    catalog.embedder.refuse_texts_containing = "flagged"
    for number in range(4):
        await catalog.products.upsert(product(number))
    await catalog.products.upsert(product(4, description="flagged"))
    await catalog.products.upsert(product(5))  # never embedded
    documents = [await catalog.products.read(f"p{n:03d}", f"p{n:03d}") for n in range(5)]
    await catalog.pipeline.embed_changed_products(documents)
    catalog.queries.clear()

    summary = await catalog.view().summary()

    assert (summary.products, summary.by_status) == (6, {"embedded": 4, "pending": 1, "failed": 1})
    assert [(row.model, row.dimensions, row.embedded, row.failed) for row in summary.by_recipe] == [
        (catalog.embedder.model_id, 64, 4, 1)
    ]
    assert summary.oldest_pending_id == "p005"
    texts = [text for text, _ in catalog.queries]
    live = '(NOT IS_DEFINED(c["deleted"]) OR (IS_BOOL(c["deleted"]) AND c["deleted"] != @p0))'
    assert f"SELECT VALUE COUNT(1) FROM c WHERE {live}" in texts
    assert (
        f'SELECT VALUE COUNT(1) FROM c WHERE {live} AND c["embedding_info"]["model"] = @p1 AND '
        'c["embedding_info"]["dimensions"] = @p2 AND c["embedding_info"]["status"] = @p3'
    ) in texts
    assert (
        f'SELECT TOP @limit * FROM c WHERE {live} AND (NOT IS_DEFINED(c["embedding_info"]["status"]) OR '
        '(IS_STRING(c["embedding_info"]["status"]) AND c["embedding_info"]["status"] != @p1)) AND '
        '(NOT IS_DEFINED(c["embedding_info"]["status"]) OR (IS_STRING(c["embedding_info"]["status"]) AND '
        'c["embedding_info"]["status"] != @p2)) ORDER BY c["_ts"] ASC'
    ) in texts
    assert not any(text.startswith("SELECT * FROM c") for text in texts)  # nothing reads the whole catalog

    page = await catalog.view().failed(limit=10)
    [failed] = page.products
    assert (failed.id, failed.retryable, failed.attempts, page.continuation) == ("p004", True, 1, None)
    assert failed.reason is not None and [letter["reason"] for letter in failed.dead_letters] == [failed.reason]


async def test_re_embedding_many_ids_marks_them_pending_with_conditional_writes(catalog: Catalog) -> None:
    for number in range(25):
        await catalog.products.upsert(product(number))
    await catalog.reconciler().reconcile()

    result = await Reembedder(catalog.products, catalog.pipeline).reembed_ids([f"p{n:03d}" for n in range(25)])

    assert (result.matched, result.queued, result.conflicts) == (25, 25, 0)
    documents = await catalog.products.query()
    assert {document["embedding_info"]["status"] for document in documents} == {"pending"}
    report = await catalog.reconciler().reconcile()  # what the change feed would do; the reconciler does it too
    assert (report.missing, report.embedded) == (25, 25)
