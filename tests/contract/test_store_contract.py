"""The behaviour every :class:`store.base.DocumentContainer` backend must have (see ``conftest.BACKENDS``).

Code above the store layer relies on exactly these guarantees: ETags that change on every write and guard
conditional writes, Cosmos DB filter semantics, exact cosine ranking, and a latest-version change feed that
resumes where it stopped, across restarts and processes.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
import pytest

from store.base import (
    ConflictError,
    ContainerSpec,
    DocumentContainer,
    FieldFilter,
    NotFoundError,
    PatchOperation,
    PreconditionFailedError,
    VectorSpec,
)
from tests.contract.conftest import (
    CHANGE_FEED,
    REOPEN,
    SHARED_INSTANCES,
    VECTOR_SEARCH,
    Backend,
    MakeContainer,
)

DIMS = 16


def ids(documents: list[dict[str, Any]]) -> list[str]:
    return [document["id"] for document in documents]


def body(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the fields the store owns."""
    return {key: value for key, value in document.items() if not key.startswith("_")}


def random_unit_vectors(count: int, seed: int = 7) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMS))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


async def drain(
    container: DocumentContainer, continuation: str | None, max_items: int = 100
) -> tuple[list, str | None]:
    """Every change after ``continuation``, and the continuation to resume after them."""
    documents: list[dict[str, Any]] = []
    while True:
        batch = await container.read_changes(continuation, max_items)
        documents += batch.documents
        continuation = batch.continuation
        if not batch.has_more:
            return documents, continuation


# --------------------------------------------------------------------------------------------------------------
# Writes, reads, ETags
# --------------------------------------------------------------------------------------------------------------


async def test_create_returns_the_stored_document_with_system_fields(make_container: MakeContainer) -> None:
    products = await make_container()
    before = int(time.time())

    created = await products.create({"id": "p1", "name": "Trail Shoe", "price": 89.5, "tags": ["run", "trail"]})

    assert body(created) == {"id": "p1", "name": "Trail Shoe", "price": 89.5, "tags": ["run", "trail"]}
    assert isinstance(created["_etag"], str) and created["_etag"]
    assert before - 1 <= created["_ts"] <= int(time.time()) + 1
    assert await products.read("p1", "p1") == created


async def test_system_fields_sent_by_the_caller_are_ignored(make_container: MakeContainer) -> None:
    products = await make_container()

    created = await products.create({"id": "p1", "_etag": '"forged"', "_ts": 1, "_rid": "forged", "_lsn": 10**9})

    assert created["_etag"] != '"forged"'
    assert created["_ts"] > 1
    assert created.get("_rid") != "forged"
    assert created.get("_lsn") != 10**9
    assert await products.read("p1", "p1") == created


async def test_every_write_gives_a_new_etag(make_container: MakeContainer) -> None:
    products = await make_container()
    etags = [(await products.create({"id": "p1", "stock": 1}))["_etag"]]
    etags.append((await products.upsert({"id": "p1", "stock": 2}))["_etag"])
    etags.append((await products.replace({"id": "p1", "stock": 3}))["_etag"])
    etags.append((await products.patch("p1", "p1", [PatchOperation("incr", "/stock", 1)]))["_etag"])

    stored = await products.read("p1", "p1")

    assert len(set(etags)) == 4
    assert stored is not None and stored["_etag"] == etags[-1] and stored["stock"] == 4


async def test_the_callers_document_is_not_modified(make_container: MakeContainer) -> None:
    products = await make_container()
    document = {"id": "p1", "details": {"color": "red"}}

    stored = await products.create(document)
    stored["details"]["color"] = "blue"

    assert document == {"id": "p1", "details": {"color": "red"}}
    assert (await products.read("p1", "p1"))["details"] == {"color": "red"}  # type: ignore[index]


async def test_create_of_an_existing_id_conflicts_and_keeps_the_original(make_container: MakeContainer) -> None:
    products = await make_container()
    original = await products.create({"id": "p1", "name": "original"})

    with pytest.raises(ConflictError):
        await products.create({"id": "p1", "name": "impostor"})

    assert await products.read("p1", "p1") == original


async def test_upsert_creates_then_fully_replaces(make_container: MakeContainer) -> None:
    products = await make_container()
    await products.upsert({"id": "p1", "name": "first", "color": "red"})

    await products.upsert({"id": "p1", "name": "second"})

    stored = await products.read("p1", "p1")
    assert stored is not None and body(stored) == {"id": "p1", "name": "second"}


async def test_reading_a_missing_document_returns_none(make_container: MakeContainer) -> None:
    products = await make_container()
    assert await products.read("nope", "nope") is None


@pytest.mark.parametrize("operation", ["replace", "patch", "delete"])
async def test_writes_to_a_missing_document_raise_not_found(make_container: MakeContainer, operation: str) -> None:
    products = await make_container()
    with pytest.raises(NotFoundError):
        if operation == "replace":
            await products.replace({"id": "ghost", "name": "x"})
        elif operation == "patch":
            await products.patch("ghost", "ghost", [PatchOperation("set", "/name", "x")])
        else:
            await products.delete("ghost", "ghost")
    assert await products.read("ghost", "ghost") is None


async def test_delete_removes_the_document(make_container: MakeContainer) -> None:
    products = await make_container()
    await products.create({"id": "p1"})

    await products.delete("p1", "p1")

    assert await products.read("p1", "p1") is None
    with pytest.raises(NotFoundError):
        await products.delete("p1", "p1")


async def test_a_document_without_its_partition_key_field_is_refused(make_container: MakeContainer) -> None:
    sessions = await make_container("/session_id")
    with pytest.raises(ValueError, match="session_id"):
        await sessions.create({"id": "m1", "text": "hello"})


@pytest.mark.parametrize("item_id", ["a/b", "a\\b", "a?b", "a#b", "", None])
async def test_an_id_cosmos_db_does_not_allow_is_refused_and_nothing_is_stored(
    make_container: MakeContainer, item_id: str | None
) -> None:
    products = await make_container()
    for write in (products.create, products.upsert):
        with pytest.raises(ValueError, match="id"):
            await write({"id": item_id, "name": "x"})
    assert await products.count() == 0


# --------------------------------------------------------------------------------------------------------------
# Conditional writes
# --------------------------------------------------------------------------------------------------------------


async def test_replace_with_a_stale_etag_fails_and_keeps_the_newer_version(make_container: MakeContainer) -> None:
    products = await make_container()
    stale = await products.create({"id": "p1", "price": 10})
    newer = await products.replace({"id": "p1", "price": 12}, if_match=stale["_etag"])

    with pytest.raises(PreconditionFailedError):
        await products.replace({"id": "p1", "price": 99}, if_match=stale["_etag"])

    assert await products.read("p1", "p1") == newer


async def test_patch_with_a_stale_etag_fails_and_keeps_the_newer_version(make_container: MakeContainer) -> None:
    products = await make_container()
    stale = await products.create({"id": "p1", "price": 10})
    newer = await products.patch("p1", "p1", [PatchOperation("set", "/price", 12)], if_match=stale["_etag"])

    with pytest.raises(PreconditionFailedError):
        await products.patch("p1", "p1", [PatchOperation("set", "/price", 99)], if_match=stale["_etag"])

    assert await products.read("p1", "p1") == newer


async def test_delete_with_a_stale_etag_fails_and_keeps_the_document(make_container: MakeContainer) -> None:
    products = await make_container()
    stale = await products.create({"id": "p1"})
    current = await products.upsert({"id": "p1", "name": "edited"})

    with pytest.raises(PreconditionFailedError):
        await products.delete("p1", "p1", if_match=stale["_etag"])
    assert await products.read("p1", "p1") == current

    await products.delete("p1", "p1", if_match=current["_etag"])
    assert await products.read("p1", "p1") is None


async def test_patch_filter_predicate_guards_the_write(make_container: MakeContainer) -> None:
    products = await make_container()
    stored = await products.create({"id": "p1", "description": "old text", "info": {"status": "pending"}})
    guard = [FieldFilter("description", "eq", "new text"), FieldFilter("info.status", "eq", "pending")]

    with pytest.raises(PreconditionFailedError):
        await products.patch("p1", "p1", [PatchOperation("set", "/embedded", True)], filter_predicate=guard)
    assert await products.read("p1", "p1") == stored

    await products.upsert({"id": "p1", "description": "new text", "info": {"status": "pending"}})
    patched = await products.patch("p1", "p1", [PatchOperation("set", "/embedded", True)], filter_predicate=guard)
    assert patched["embedded"] is True


async def test_patch_operations_edit_nested_fields(make_container: MakeContainer) -> None:
    products = await make_container()
    await products.create({"id": "p1", "stock": 5, "info": {"status": "pending", "tries": 1}, "old": "x"})

    patched = await products.patch(
        "p1",
        "p1",
        [
            PatchOperation("set", "/info/status", "embedded"),
            PatchOperation("add", "/info/model", "minilm"),
            PatchOperation("replace", "/stock", 7),
            PatchOperation("incr", "/info/tries", 2),
            PatchOperation("remove", "/old"),
            PatchOperation("set", "/price", 9.5),
        ],
    )

    assert body(patched) == {
        "id": "p1",
        "stock": 7,
        "info": {"status": "embedded", "tries": 3, "model": "minilm"},
        "price": 9.5,
    }
    assert await products.read("p1", "p1") == patched


@pytest.mark.parametrize(
    "operation",
    [
        PatchOperation("replace", "/missing", 1),
        PatchOperation("remove", "/missing"),
        PatchOperation("set", "/missing/child", 1),
        PatchOperation("incr", "/name", 1),
    ],
    ids=["replace-missing", "remove-missing", "set-under-missing-parent", "incr-a-string"],
)
async def test_an_invalid_patch_is_refused_and_changes_nothing(
    make_container: MakeContainer, operation: PatchOperation
) -> None:
    products = await make_container()
    stored = await products.create({"id": "p1", "name": "shoe"})

    with pytest.raises(ValueError):
        await products.patch("p1", "p1", [PatchOperation("set", "/price", 5), operation])

    assert await products.read("p1", "p1") == stored


# --------------------------------------------------------------------------------------------------------------
# Partitions
# --------------------------------------------------------------------------------------------------------------


async def test_the_same_id_in_two_partitions_is_two_documents(make_container: MakeContainer) -> None:
    messages = await make_container("/session_id")
    await messages.create({"id": "m1", "session_id": "alice", "text": "hi"})
    await messages.create({"id": "m1", "session_id": "bob", "text": "yo"})

    await messages.patch("m1", "alice", [PatchOperation("set", "/text", "hello")])
    await messages.delete("m1", "bob")

    alice = await messages.read("m1", "alice")
    assert alice is not None and alice["text"] == "hello"
    assert await messages.read("m1", "bob") is None
    assert await messages.read("m1", "carol") is None
    with pytest.raises(NotFoundError):
        await messages.replace({"id": "m1", "session_id": "bob", "text": "again"})


async def test_query_can_be_restricted_to_one_partition(make_container: MakeContainer) -> None:
    messages = await make_container("/session_id")
    for session, message in [("alice", "a1"), ("alice", "a2"), ("bob", "b1")]:
        await messages.create({"id": message, "session_id": session, "n": int(message[1])})

    assert sorted(ids(await messages.query(partition_key="alice"))) == ["a1", "a2"]
    assert ids(await messages.query([FieldFilter("n", "eq", 1)], partition_key="bob")) == ["b1"]


# --------------------------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
async def catalog(make_container: MakeContainer) -> DocumentContainer:
    products = await make_container()
    documents: list[dict[str, Any]] = [
        {"id": "boot", "category": "shoes", "price": 120, "in_stock": True, "info": {"status": "embedded"}},
        {"id": "sandal", "category": "shoes", "price": 35.5, "in_stock": False, "deleted": False},
        {"id": "tent", "category": "camping", "price": 250, "in_stock": True, "deleted": True},
        {"id": "stove", "category": "camping", "price": "80", "in_stock": 1, "info": {"status": "pending"}},
        {"id": "lamp", "category": "camping", "price": 20, "info": {"status": "embedded"}, "deleted": None},
    ]
    for document in documents:
        await products.create(document)
    return products


async def test_query_without_filters_returns_everything(catalog: DocumentContainer) -> None:
    assert sorted(ids(await catalog.query())) == ["boot", "lamp", "sandal", "stove", "tent"]
    assert await catalog.count() == 5


async def test_ne_also_matches_documents_without_the_field(catalog: DocumentContainer) -> None:
    # "lamp" has deleted: null, and null != true is undefined in Cosmos DB, so it is not matched.
    live = await catalog.query([FieldFilter("deleted", "ne", True)])
    assert sorted(ids(live)) == ["boot", "sandal", "stove"]


async def test_numeric_ranges_skip_strings_that_look_like_numbers(catalog: DocumentContainer) -> None:
    affordable = await catalog.query([FieldFilter("price", "ge", 20), FieldFilter("price", "lt", 120)])
    assert sorted(ids(affordable)) == ["lamp", "sandal"]
    assert ids(await catalog.query([FieldFilter("price", "eq", 80)])) == []
    assert ids(await catalog.query([FieldFilter("price", "eq", "80")])) == ["stove"]
    # Comparing a string with a number is undefined, so ne does not match the "80" either.
    assert sorted(ids(await catalog.query([FieldFilter("price", "ne", 120)]))) == ["lamp", "sandal", "tent"]


async def test_integer_and_float_values_compare_as_numbers(catalog: DocumentContainer) -> None:
    assert ids(await catalog.query([FieldFilter("price", "eq", 120.0)])) == ["boot"]
    assert ids(await catalog.query([FieldFilter("price", "eq", 35.5)])) == ["sandal"]


async def test_string_equality_and_order(catalog: DocumentContainer) -> None:
    assert sorted(ids(await catalog.query([FieldFilter("category", "eq", "shoes")]))) == ["boot", "sandal"]
    assert sorted(ids(await catalog.query([FieldFilter("category", "lt", "d")]))) == ["lamp", "stove", "tent"]


async def test_dotted_fields_filter_on_nested_values(catalog: DocumentContainer) -> None:
    embedded = await catalog.query([FieldFilter("info.status", "eq", "embedded")])
    assert sorted(ids(embedded)) == ["boot", "lamp"]
    not_embedded = await catalog.query([FieldFilter("info.status", "ne", "embedded")])
    assert sorted(ids(not_embedded)) == ["sandal", "stove", "tent"]


async def test_booleans_and_numbers_never_equal_each_other(catalog: DocumentContainer) -> None:
    assert sorted(ids(await catalog.query([FieldFilter("in_stock", "eq", True)]))) == ["boot", "tent"]
    assert ids(await catalog.query([FieldFilter("in_stock", "eq", 1)])) == ["stove"]
    assert ids(await catalog.query([FieldFilter("in_stock", "eq", False)])) == ["sandal"]
    assert ids(await catalog.query([FieldFilter("in_stock", "eq", 0)])) == []


async def test_order_by_with_limit(catalog: DocumentContainer) -> None:
    numeric = [FieldFilter("price", "ge", 0)]
    cheapest = await catalog.query(numeric, order_by="price", limit=2)
    priciest = await catalog.query(numeric, order_by="price", descending=True, limit=3)

    assert ids(cheapest) == ["lamp", "sandal"]
    assert ids(priciest) == ["tent", "boot", "sandal"]
    assert ids(await catalog.query(order_by="id", limit=2)) == ["boot", "lamp"]
    assert await catalog.query(limit=0) == []


async def test_count_applies_the_filters(catalog: DocumentContainer) -> None:
    assert await catalog.count([FieldFilter("category", "eq", "camping")]) == 3
    assert await catalog.count([FieldFilter("category", "eq", "camping"), FieldFilter("deleted", "ne", True)]) == 1


@pytest.mark.parametrize("field_name", ["price) OR 1=1 --", "price'", "", "info..status", "1price"])
async def test_invalid_field_names_are_refused(catalog: DocumentContainer, field_name: str) -> None:
    with pytest.raises(ValueError, match="field"):
        await catalog.query([FieldFilter(field_name, "eq", 1)])
    with pytest.raises(ValueError, match="field"):
        await catalog.query(order_by=field_name)


# --------------------------------------------------------------------------------------------------------------
# Vector search
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
async def vectors_container(make_container: MakeContainer) -> tuple[DocumentContainer, np.ndarray]:
    products = await make_container(dimensions=DIMS)
    vectors = random_unit_vectors(120)
    for i, vector in enumerate(vectors):
        await products.create(
            {"id": f"p{i:03d}", "group": "even" if i % 2 == 0 else "odd", "rank": i, "embedding": vector.tolist()}
        )
    return products, vectors


def reference_top_k(vectors: np.ndarray, query: np.ndarray, k: int, allowed: list[int] | None = None) -> list:
    """Brute-force cosine ranking in float64: [(document index, score)], best first."""
    scores = vectors @ (query / np.linalg.norm(query))
    candidates = allowed if allowed is not None else list(range(len(vectors)))
    ranked = sorted(candidates, key=lambda i: -scores[i])[:k]
    return [(i, float(scores[i])) for i in ranked]


def assert_same_ranking(hits: list, expected: list) -> None:
    """Same documents in the same order; scores equal to float32 precision (near-ties may swap, scores may not)."""
    assert len(hits) == len(expected)
    expected_scores = {f"p{i:03d}": score for i, score in expected}
    for hit in hits:
        assert hit.document["id"] in expected_scores, f"{hit.document['id']} is not in the true top {len(expected)}"
        assert hit.score == pytest.approx(expected_scores[hit.document["id"]], abs=1e-5)
    assert [hit.score for hit in hits] == pytest.approx([score for _, score in expected], abs=1e-5)


@pytest.mark.requires(VECTOR_SEARCH)
async def test_vector_search_ranks_like_brute_force_cosine(vectors_container: tuple) -> None:
    products, vectors = vectors_container
    for seed in range(3):
        query = np.random.default_rng(100 + seed).standard_normal(DIMS) * 3.0  # not normalised on purpose

        hits = await products.vector_search(query.tolist(), 10)

        assert_same_ranking(hits, reference_top_k(vectors, query, 10))


@pytest.mark.requires(VECTOR_SEARCH)
async def test_vector_search_returns_the_full_stored_document(vectors_container: tuple) -> None:
    products, vectors = vectors_container

    [hit] = await products.vector_search(vectors[7].tolist(), 1)

    assert hit.document == await products.read("p007", "p007")
    assert hit.document["embedding"] == pytest.approx(vectors[7].tolist())
    assert hit.score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.requires(VECTOR_SEARCH)
async def test_vector_search_filters_before_taking_the_top_k(vectors_container: tuple) -> None:
    products, vectors = vectors_container
    query = vectors[3] + 0.1 * vectors[4]
    allowed = [i for i in range(len(vectors)) if i % 2 == 0 and i >= 40]

    hits = await products.vector_search(
        query.tolist(), 5, filters=[FieldFilter("group", "eq", "even"), FieldFilter("rank", "ge", 40)]
    )

    assert_same_ranking(hits, reference_top_k(vectors, query, 5, allowed))
    assert all(hit.document["group"] == "even" and hit.document["rank"] >= 40 for hit in hits)


@pytest.mark.requires(VECTOR_SEARCH)
async def test_vector_search_ne_filter_keeps_documents_without_the_field(vectors_container: tuple) -> None:
    products, vectors = vectors_container
    for i in range(0, 30, 3):
        await products.patch(f"p{i:03d}", f"p{i:03d}", [PatchOperation("set", "/deleted", True)])
    for i in range(1, 30, 3):
        await products.patch(f"p{i:03d}", f"p{i:03d}", [PatchOperation("set", "/deleted", False)])
    allowed = [i for i in range(len(vectors)) if i >= 30 or i % 3 != 0]

    hits = await products.vector_search(vectors[0].tolist(), 8, filters=[FieldFilter("deleted", "ne", True)])

    assert_same_ranking(hits, reference_top_k(vectors, vectors[0], 8, allowed))


@pytest.mark.requires(VECTOR_SEARCH)
async def test_vector_search_min_score_drops_weak_hits(vectors_container: tuple) -> None:
    products, vectors = vectors_container
    expected = reference_top_k(vectors, vectors[0], 20)
    threshold = (expected[4][1] + expected[5][1]) / 2

    hits = await products.vector_search(vectors[0].tolist(), 20, min_score=threshold)

    assert_same_ranking(hits, expected[:5])


@pytest.mark.requires(VECTOR_SEARCH)
async def test_vector_search_returns_fewer_than_k_when_fewer_match(vectors_container: tuple) -> None:
    products, vectors = vectors_container
    hits = await products.vector_search(vectors[0].tolist(), 500, filters=[FieldFilter("rank", "lt", 3)])
    assert sorted(ids([hit.document for hit in hits])) == ["p000", "p001", "p002"]
    assert await products.vector_search(vectors[0].tolist(), 5, filters=[FieldFilter("rank", "lt", 0)]) == []


@pytest.mark.requires(VECTOR_SEARCH)
async def test_documents_without_a_usable_vector_are_never_returned(make_container: MakeContainer) -> None:
    products = await make_container(dimensions=DIMS)
    vector = random_unit_vectors(1)[0].tolist()
    await products.create({"id": "good", "embedding": vector})
    await products.create({"id": "none"})
    await products.create({"id": "short", "embedding": vector[:-1]})
    await products.create({"id": "null", "embedding": None})

    hits = await products.vector_search(vector, 10)

    assert ids([hit.document for hit in hits]) == ["good"]
    short = await products.read("short", "short")
    assert short is not None and short["embedding"] == vector[:-1]


@pytest.mark.requires(VECTOR_SEARCH)
async def test_vector_search_follows_updates_and_deletes(vectors_container: tuple) -> None:
    products, vectors = vectors_container
    target = vectors[10]
    assert (await products.vector_search(target.tolist(), 1))[0].document["id"] == "p010"

    await products.patch("p011", "p011", [PatchOperation("set", "/embedding", target.tolist())])
    await products.delete("p010", "p010")
    await products.patch("p012", "p012", [PatchOperation("remove", "/embedding")])

    hits = await products.vector_search(target.tolist(), 3)
    assert len(hits) == 3
    assert hits[0].document["id"] == "p011"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert {"p010", "p012"}.isdisjoint(ids([hit.document for hit in hits]))
    assert len(await products.vector_search(target.tolist(), 500)) == len(vectors) - 2


@pytest.mark.requires(VECTOR_SEARCH)
async def test_a_second_vector_path_is_searched_on_its_own(make_container: MakeContainer) -> None:
    slot = VectorSpec("/embedding_b", DIMS)
    products = await make_container(dimensions=DIMS, extra_vectors=(slot,))

    def axis(i: int, weight: float = 1.0) -> list[float]:
        vector = [0.0] * DIMS
        vector[i] = weight
        return vector

    # Opposite orders in the two slots: a search of one must never see the other's vectors.
    await products.create({"id": "near-a", "embedding": axis(0), "embedding_b": axis(2)})
    await products.create({"id": "near-b", "embedding": axis(2), "embedding_b": axis(0)})
    await products.create({"id": "only-a", "embedding": [0.9, 0.1] + [0.0] * (DIMS - 2)})

    by_a = await products.vector_search(axis(0), 3)
    by_b = await products.vector_search(axis(0), 3, path="/embedding_b")

    assert [hit.document["id"] for hit in by_a] == ["near-a", "only-a", "near-b"]
    assert [hit.document["id"] for hit in by_b] == ["near-b", "near-a"]
    assert by_b[0].score == pytest.approx(1.0) and by_b[0].document["embedding_b"] == axis(0)
    with pytest.raises(ValueError, match="vector"):
        await products.vector_search(axis(0), 3, path="/elsewhere")


@pytest.mark.requires(VECTOR_SEARCH)
async def test_vector_search_refuses_bad_requests(make_container: MakeContainer) -> None:
    products = await make_container(dimensions=DIMS)
    plain = await make_container()
    await products.create({"id": "p1", "embedding": [1.0] * DIMS})

    with pytest.raises(ValueError, match="dimensions"):
        await products.vector_search([1.0] * (DIMS + 1), 3)
    with pytest.raises(ValueError):
        await products.vector_search([1.0] * DIMS, 0)
    with pytest.raises(ValueError, match="vector"):
        await plain.vector_search([1.0] * DIMS, 3)


# --------------------------------------------------------------------------------------------------------------
# Change feed
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.requires(CHANGE_FEED)
async def test_change_feed_delivers_each_document_once_in_its_latest_version(make_container: MakeContainer) -> None:
    products = await make_container()
    for name in ["a", "b", "c"]:
        await products.create({"id": name, "version": 1})
    await products.patch("a", "a", [PatchOperation("set", "/version", 2)])
    await products.patch("a", "a", [PatchOperation("set", "/version", 3)])

    changes, _ = await drain(products, None)

    # "a" moved behind "c": the feed is ordered by each document's latest change.
    assert ids(changes) == ["b", "c", "a"]
    assert changes[-1]["version"] == 3
    assert changes[-1] == await products.read("a", "a")


@pytest.mark.requires(CHANGE_FEED)
async def test_change_feed_resumes_exactly_after_the_continuation(make_container: MakeContainer) -> None:
    products = await make_container()
    for name in ["a", "b"]:
        await products.create({"id": name})
    first, continuation = await drain(products, None)
    assert ids(first) == ["a", "b"]

    await products.create({"id": "c"})
    await products.upsert({"id": "a", "edited": True})
    second, continuation = await drain(products, continuation)
    third, final = await drain(products, continuation)

    assert ids(second) == ["c", "a"]
    assert second[-1]["edited"] is True
    assert third == [] and final == continuation


@pytest.mark.requires(CHANGE_FEED)
async def test_change_feed_pages_with_max_items_and_has_more(make_container: MakeContainer) -> None:
    products = await make_container()
    for i in range(5):
        await products.create({"id": f"p{i}"})

    pages = []
    continuation = None
    while True:
        batch = await products.read_changes(continuation, 2)
        pages.append((ids(batch.documents), batch.has_more))
        continuation = batch.continuation
        if not batch.has_more:
            break

    assert pages == [(["p0", "p1"], True), (["p2", "p3"], True), (["p4"], False)]


@pytest.mark.requires(CHANGE_FEED)
async def test_hard_deletes_do_not_appear_in_the_change_feed(make_container: MakeContainer) -> None:
    products = await make_container()
    await products.create({"id": "kept"})
    await products.create({"id": "gone"})
    _, continuation = await drain(products, None)
    await products.upsert({"id": "gone", "edited": True})
    await products.delete("gone", "gone")

    assert ids((await drain(products, None))[0]) == ["kept"]
    assert (await drain(products, continuation))[0] == []


@pytest.mark.requires(CHANGE_FEED)
async def test_change_feed_from_now_skips_existing_documents(make_container: MakeContainer) -> None:
    products = await make_container()
    await products.create({"id": "old"})

    start = await products.read_changes(None, 10, from_beginning=False)
    await products.create({"id": "new"})
    changes, _ = await drain(products, start.continuation)

    assert start.documents == [] and start.continuation is not None
    assert ids(changes) == ["new"]


# --------------------------------------------------------------------------------------------------------------
# Durability and several instances
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.requires(REOPEN, CHANGE_FEED)
async def test_documents_and_change_feed_position_survive_a_restart(backend: Backend) -> None:
    spec = ContainerSpec(f"contract-{uuid.uuid4().hex[:12]}", "/id", VectorSpec("/embedding", DIMS))
    vectors = random_unit_vectors(3)
    first = await backend.open()
    products = await first.container(spec)
    for i in range(3):
        await products.create({"id": f"p{i}", "embedding": vectors[i].tolist()})
    _, continuation = await drain(products, None)
    stored = await products.read("p1", "p1")
    await first.close()

    second = await backend.open()
    reopened = await second.container(spec)
    assert await reopened.read("p1", "p1") == stored
    await reopened.create({"id": "p3"})
    changes, _ = await drain(reopened, continuation)

    assert ids(changes) == ["p3"]
    if VECTOR_SEARCH in backend.capabilities:
        [hit] = await reopened.vector_search(vectors[2].tolist(), 1)
        assert hit.document["id"] == "p2"


@pytest.mark.requires(SHARED_INSTANCES, CHANGE_FEED)
async def test_writes_by_another_instance_reach_the_change_feed(backend: Backend) -> None:
    spec = ContainerSpec(f"contract-{uuid.uuid4().hex[:12]}", "/id")
    server = await (await backend.open()).container(spec)
    loader = await (await backend.open()).container(spec)
    await server.create({"id": "a"})
    _, continuation = await drain(server, None)

    await loader.create({"id": "b"})
    await loader.upsert({"id": "a", "edited": True})
    changes, continuation = await drain(server, continuation)
    await server.create({"id": "c"})

    assert ids(changes) == ["b", "a"]
    assert ids((await drain(server, continuation))[0]) == ["c"]


@pytest.mark.requires(SHARED_INSTANCES, VECTOR_SEARCH)
async def test_vector_search_sees_writes_by_another_instance(backend: Backend) -> None:
    spec = ContainerSpec(f"contract-{uuid.uuid4().hex[:12]}", "/id", VectorSpec("/embedding", DIMS))
    vectors = random_unit_vectors(4)
    server = await (await backend.open()).container(spec)
    loader = await (await backend.open()).container(spec)
    await server.create({"id": "p0", "embedding": vectors[0].tolist()})
    await server.create({"id": "p1", "embedding": vectors[1].tolist()})
    assert (await server.vector_search(vectors[0].tolist(), 1))[0].document["id"] == "p0"  # index now built

    await loader.create({"id": "p2", "embedding": vectors[2].tolist()})
    await loader.delete("p0", "p0")
    await loader.patch("p1", "p1", [PatchOperation("set", "/embedding", vectors[3].tolist())])

    assert (await server.vector_search(vectors[2].tolist(), 1))[0].document["id"] == "p2"
    assert (await server.vector_search(vectors[3].tolist(), 1))[0].document["id"] == "p1"
    assert sorted(ids([hit.document for hit in await server.vector_search(vectors[0].tolist(), 10)])) == ["p1", "p2"]
