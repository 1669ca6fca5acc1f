"""The change-feed embedding pipeline, one test per promise it makes (embedded SQLite store, deterministic model)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from catalog.embedding_sync import EmbeddingPipeline
from catalog.model import content_hash, embedding_text
from composition.services import Services
from embedding.base import EmbeddingConfigurationError, RetryPolicy, TransientEmbeddingError
from embedding.deterministic import DeterministicEmbedder
from store.base import FieldFilter
from store.fields import MAX_DOCUMENT_BYTES, MAX_ID_LENGTH
from tests.conftest import FeedDriver

FIELDS = ("name", "category_name", "description")


def product(product_id: str, description: Any = "A warm down sleeping bag for winter camping.", **extra: Any) -> dict:
    doc = {"id": product_id, "name": f"Product {product_id}", "category_name": "Camping", "price": 10.0}
    if description is not None:
        doc["description"] = description
    return {**doc, **extra}


async def write(services: Services, *docs: dict) -> None:
    products = await services.products()
    for doc in docs:
        await products.upsert(doc)


async def stored(services: Services, product_id: str) -> dict:
    document = await (await services.products()).read(product_id, product_id)
    assert document is not None
    return document


async def test_text_is_built_from_the_configured_fields_in_order() -> None:
    doc = product("p1", name="Trail Stove", category_name="Cooking", description="Boils water fast.")
    assert embedding_text(doc, FIELDS) == "Trail Stove\nCooking\nBoils water fast."
    assert embedding_text(doc, ("description",)) == "Boils water fast."


async def test_vector_and_metadata_are_written_onto_the_same_document(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    await write(services, product("p1"))
    [report] = await feed.drain()

    assert (report.seen, report.embedded, report.skipped, report.failed, report.conflicts) == (1, 1, 0, 0, 0)
    doc = await stored(services, "p1")
    assert len(doc["embedding"]) == embedder.dimensions
    info = doc["embedding_info"]
    assert info["status"] == "embedded"
    assert info["model"] == embedder.model_id
    assert info["dimensions"] == embedder.dimensions
    assert info["content_hash"] == content_hash(embedding_text(doc, FIELDS), embedder.model_id, embedder.dimensions)
    assert info["truncated"] is False
    assert info["embedded_at"].endswith("Z")
    assert doc["name"] == "Product p1" and doc["price"] == 10.0  # the client's fields are untouched


async def test_the_echo_of_our_own_write_back_costs_no_embedding_and_no_write(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    await write(services, product("p1"), product("p2"))
    await feed.drain()
    requests, etags = embedder.requests_sent, {(await stored(services, i))["_etag"] for i in ("p1", "p2")}

    # The write-back itself is a change: the feed delivers both documents again.
    echo_reports = await feed.drain()

    assert sum(r.seen for r in echo_reports) == 2
    assert sum(r.skipped for r in echo_reports) == 2
    assert embedder.requests_sent == requests
    assert {(await stored(services, i))["_etag"] for i in ("p1", "p2")} == etags
    assert await feed.drain() == []  # and nothing more: no loop


async def test_an_edited_description_is_embedded_again_exactly_once(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    await write(services, product("p1"))
    await feed.drain()
    before = await stored(services, "p1")
    requests = embedder.requests_sent

    await write(services, {**before, "description": "An ultralight tent for two hikers."})
    await feed.drain()
    await feed.drain()

    after = await stored(services, "p1")
    assert embedder.requests_sent == requests + 1
    assert after["embedding_info"]["content_hash"] != before["embedding_info"]["content_hash"]
    assert after["embedding"] != before["embedding"]


async def test_a_different_model_re_embeds_documents_stamped_by_another(services: Services, feed: FeedDriver) -> None:
    await write(services, product("p1"))
    await feed.drain()
    other = DeterministicEmbedder(dimensions=services.embedder.dimensions, model_id="another-model")
    pipeline = EmbeddingPipeline(await services.products(), await services.deadletters(), other, FIELDS)

    report = await pipeline.embed_changed_products([await stored(services, "p1")])

    assert report.embedded == 1
    assert (await stored(services, "p1"))["embedding_info"]["model"] == "another-model"


async def test_batches_respect_the_count_limit(services: Services, feed: FeedDriver, embedder: DeterministicEmbedder):
    embedder.max_batch_size = 4
    await write(services, *(product(f"p{i}", f"Item number {i} for the trail") for i in range(10)))
    [report] = await feed.drain()
    assert report.embedded == 10
    assert report.embed_requests == 3
    assert [len(batch) for batch in embedder.sent_batches] == [4, 4, 2]


async def test_batches_respect_the_token_limit(services: Services, feed: FeedDriver, embedder: DeterministicEmbedder):
    embedder.max_batch_tokens = 30
    # Each text is 2 (name) + 1 (category) + 10 (description) = 13 "tokens" for the word-counting model.
    await write(services, *(product(f"p{i}", " ".join(["word"] * 10)) for i in range(6)))
    [report] = await feed.drain()
    assert report.embedded == 6
    assert [len(batch) for batch in embedder.sent_batches] == [2, 2, 2]


async def test_over_long_text_is_truncated_and_flagged(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    embedder.max_input_tokens = 20
    await write(services, product("long", " ".join(f"word{i}" for i in range(100))), product("short"))
    [report] = await feed.drain()
    assert report.embedded == 2 and report.truncated == 1
    assert (await stored(services, "long"))["embedding_info"]["truncated"] is True
    assert (await stored(services, "short"))["embedding_info"]["truncated"] is False


async def test_a_concurrent_edit_is_never_overwritten_by_the_write_back(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    products = await services.products()
    await write(services, product("p1", "Old text about a lantern."))
    batch = await products.read_changes(None, 100)
    # A user edits the product after the change feed read it, while it is being embedded.
    edited = {**(await stored(services, "p1")), "description": "New text about a camping stove."}
    await products.replace(edited)

    report = await feed.pipeline.embed_changed_products(batch.documents)

    assert report.conflicts == 1 and report.embedded == 0
    doc = await stored(services, "p1")
    assert doc["description"] == "New text about a camping stove."
    assert "embedding" not in doc
    # The edit has its own change event, which embeds the new text.
    feed.continuation = batch.continuation
    await feed.drain()
    doc = await stored(services, "p1")
    assert doc["embedding_info"]["content_hash"] == content_hash(
        embedding_text(doc, FIELDS), embedder.model_id, embedder.dimensions
    )


@pytest.mark.parametrize(
    ("description", "reason"),
    [(None, "description is missing"), ("   ", "description is empty"), (42, "description must be a string, not int")],
)
async def test_a_bad_document_is_failed_and_dead_lettered_while_the_rest_is_embedded(
    services: Services, feed: FeedDriver, description: Any, reason: str
) -> None:
    await write(services, product("good1"), product("bad", description), product("good2"))
    [report] = await feed.drain()

    assert (report.embedded, report.failed) == (2, 1)
    assert report.failures == [{"id": "bad", "reason": reason}]
    bad = await stored(services, "bad")
    assert bad["embedding_info"]["status"] == "failed"
    assert bad["embedding_info"]["error"] == reason
    [letter] = await (await services.deadletters()).query([FieldFilter("product_id", "eq", "bad")])
    assert letter["reason"] == reason
    assert letter["document"]["id"] == "bad"
    # The failure's own write-back does not fail it again or add a second record.
    await feed.drain()
    assert await (await services.deadletters()).count() == 1


async def test_a_document_that_is_not_a_product_is_dead_lettered(services: Services, feed: FeedDriver) -> None:
    await write(services, product("p1"))
    report = await feed.pipeline.embed_changed_products([{"no_id": True}, await stored(services, "p1")])
    assert (report.embedded, report.failed) == (1, 1)
    [letter] = await (await services.deadletters()).query()
    assert "string id" in letter["reason"]


async def test_a_fixed_description_recovers_from_failed(services: Services, feed: FeedDriver) -> None:
    await write(services, product("p1", ""))
    await feed.drain()
    assert (await stored(services, "p1"))["embedding_info"]["status"] == "failed"
    await write(services, {**(await stored(services, "p1")), "description": "A fixed, useful description."})
    await feed.drain()
    assert (await stored(services, "p1"))["embedding_info"]["status"] == "embedded"


async def test_an_emptied_description_takes_the_stale_vector_out_of_search(services: Services, feed: FeedDriver):
    await write(services, product("p1"))
    await feed.drain()
    await write(services, {**(await stored(services, "p1")), "description": ""})
    await feed.drain()
    doc = await stored(services, "p1")
    assert doc["embedding_info"]["status"] == "failed" and "embedding" not in doc


async def test_transient_failures_are_retried_honouring_retry_after(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    embedder.retry_policy = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=1.0)
    embedder.failures = [
        TransientEmbeddingError("429", retry_after=0.3),
        TransientEmbeddingError("503"),
    ]
    await write(services, product("p1"))
    [report] = await feed.drain()

    assert report.embedded == 1 and report.embed_requests == 3
    first, second, third = embedder.call_times
    assert second - first >= 0.3  # the server asked for 0.3 s
    assert third - second < 0.3  # the plain 503 waited only the short backoff


async def test_persistent_failure_raises_so_the_host_redelivers_and_nothing_is_lost(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    embedder.retry_policy = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=0.02)
    embedder.failures = [TransientEmbeddingError("503")] * 3
    await write(services, product("p1"), product("p2"))

    with pytest.raises(TransientEmbeddingError):
        await feed.drain()
    assert embedder.requests_sent == 3
    assert "embedding" not in await stored(services, "p1")
    assert feed.continuation is None  # the checkpoint did not move

    [report] = await feed.drain()  # the redelivery, once the endpoint recovers
    assert report.embedded == 2


async def test_an_input_the_model_refuses_is_isolated_from_its_batch(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    embedder.refuse_texts_containing = "FORBIDDEN"
    await write(services, product("ok1"), product("poison", "A FORBIDDEN text the model refuses."), product("ok2"))
    [report] = await feed.drain()
    assert (report.embedded, report.failed) == (2, 1)
    assert report.failures[0]["id"] == "poison"
    assert "embedding refused" in (await stored(services, "poison"))["embedding_info"]["error"]


async def test_soft_deleted_products_are_not_embedded_and_leave_search(services: Services, feed: FeedDriver) -> None:
    await write(
        services, product("keep", "Stainless steel camping mug"), product("gone", "Stainless steel camping mug")
    )
    await feed.drain()
    catalog = await services.catalog()
    await catalog.soft_delete("gone")
    requests = services.embedder.requests_sent
    reports = await feed.drain()
    assert sum(r.embedded for r in reports) == 0 and services.embedder.requests_sent == requests

    result = await (await services.search()).search("steel mug", 5)
    assert [hit.document["id"] for hit in result.hits] == ["keep"]


async def test_one_structured_log_line_per_batch(
    services: Services, feed: FeedDriver, caplog: pytest.LogCaptureFixture
) -> None:
    await write(services, product("p1"), product("p2", ""))
    with caplog.at_level(logging.INFO, logger="catalog.embedding_sync"):
        await feed.drain()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "catalog.embedding_sync"]
    assert len(lines) == 1
    assert lines[0]["event"] == "embedding_batch"
    assert (lines[0]["seen"], lines[0]["embedded"], lines[0]["failed"]) == (2, 1, 1)


async def test_a_misconfigured_endpoint_fails_the_invocation_instead_of_failing_documents(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    embedder.failures = [EmbeddingConfigurationError("HTTP 401: check AZURE_OPENAI_API_KEY")]
    await write(services, product("p1"), product("p2"))
    with pytest.raises(EmbeddingConfigurationError):
        await feed.drain()
    assert "embedding_info" not in await stored(services, "p1")
    assert await (await services.deadletters()).count() == 0
    [report] = await feed.drain()  # redelivered once the configuration is fixed
    assert report.embedded == 2


async def test_an_input_the_model_refuses_is_not_sent_again_until_it_changes(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder
) -> None:
    embedder.refuse_texts_containing = "FORBIDDEN"
    await write(services, product("poison", "A FORBIDDEN text the model refuses."))
    await feed.drain()
    requests = embedder.requests_sent

    # The failure's own write-back comes back through the feed: it is recognised, not embedded and failed again.
    echo = await feed.drain()

    assert sum(r.skipped for r in echo) == 1 and sum(r.failed for r in echo) == 0
    assert embedder.requests_sent == requests
    assert await feed.drain() == []  # no loop
    await write(services, {**(await stored(services, "poison")), "description": "A kind text, now accepted."})
    await feed.drain()
    assert (await stored(services, "poison"))["embedding_info"]["status"] == "embedded"


def description_of(size: int) -> str:
    """A description of ``size`` characters whose many distinct words make a dense vector (a long one as JSON)."""
    words = " ".join(f"w{i}" for i in range(3000))
    return words + " " + "z" * (size - len(words) - 1)


async def test_a_product_too_large_for_its_vector_is_failed_with_the_reason_and_the_rest_is_embedded(
    services: Services, feed: FeedDriver, embedder: DeterministicEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    # Just under the store's 2 MB as written; the vector and its stamp, once added, take it over.
    big = product("big", "")
    big["description"] = description_of(MAX_DOCUMENT_BYTES - 700 - len(json.dumps(big)))
    assert len(json.dumps(embedder.vector(embedding_text(big, FIELDS)))) > 1000
    await write(services, product("good1"), big, product("good2"))

    with caplog.at_level(logging.WARNING, logger="catalog.embedding_sync"):
        [report] = await feed.drain()

    assert (report.embedded, report.failed, report.conflicts) == (2, 1, 0)
    [failure] = report.failures
    assert failure["id"] == "big"
    assert failure["reason"].startswith("vector write-back refused by the store: ")
    assert f"at most {MAX_DOCUMENT_BYTES}" in failure["reason"]
    doc = await stored(services, "big")
    assert doc["embedding_info"]["status"] == "failed"
    assert doc["embedding_info"]["error"] == failure["reason"]
    assert "embedding" not in doc
    assert (await stored(services, "good2"))["embedding_info"]["status"] == "embedded"
    [letter] = await (await services.deadletters()).query([FieldFilter("product_id", "eq", "big")])
    assert letter["reason"] == failure["reason"]
    assert not [r for r in caplog.records if "refused" in r.getMessage()]  # nothing else was refused
    # And it is not embedded again on the echo of its own failure.
    requests = embedder.requests_sent
    await feed.drain()
    assert embedder.requests_sent == requests


async def test_a_dead_letter_id_too_long_for_the_store_is_logged_and_the_product_still_failed(
    services: Services, feed: FeedDriver, caplog: pytest.LogCaptureFixture
) -> None:
    # A valid product id (at most 255 characters) whose dead-letter id ("<id>:<hash>") is over the limit.
    long_id = "p" * 250
    await write(services, product(long_id, ""), product("good"))

    with caplog.at_level(logging.WARNING, logger="catalog.embedding_sync"):
        [report] = await feed.drain()

    assert (report.embedded, report.failed) == (1, 1)
    assert report.failures == [{"id": long_id, "reason": "description is empty"}]
    assert (await stored(services, long_id))["embedding_info"]["error"] == "description is empty"
    assert await (await services.deadletters()).count() == 0
    [warning] = [r.getMessage() for r in caplog.records if "dead-letter record" in r.getMessage()]
    assert f"at most {MAX_ID_LENGTH}" in warning and long_id not in warning  # the id is cut short in the log


async def test_an_id_of_300_characters_does_not_stall_the_pipeline(services: Services, feed: FeedDriver) -> None:
    # Longer than the embedded store takes, so only a change feed can deliver it (as Cosmos DB's may).
    await write(services, product("good"))
    batch = (await (await services.products()).read_changes(None, 10)).documents
    too_long = "q" * 300

    report = await feed.pipeline.embed_changed_products(
        [product(too_long, ""), product(too_long[:-1], "A fine text."), *batch]
    )

    assert report.embedded == 1 and report.seen == 3
    assert (await stored(services, "good"))["embedding_info"]["status"] == "embedded"
    assert await (await services.deadletters()).count() == 0
