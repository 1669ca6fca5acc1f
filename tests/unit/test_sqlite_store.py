"""What only the embedded SQLite store promises, beyond the contract suite (tests/contract)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from store.base import (
    ContainerSpec,
    FieldFilter,
    PatchOperation,
    RejectedDocumentError,
    StoreUnavailableError,
    VectorSpec,
)
from store.fields import MAX_DOCUMENT_BYTES, MAX_ID_LENGTH
from store.sqlite import SqliteDocumentContainer, SqliteDocumentStore

REPO = Path(__file__).resolve().parents[2]
DIMS = 8
PRODUCTS = ContainerSpec("products", "/id", VectorSpec("/embedding", DIMS))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "folder" / "catalog.sqlite3"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteDocumentStore]:
    opened = SqliteDocumentStore(db_path)
    yield opened
    await opened.close()


@pytest.fixture
async def products(store: SqliteDocumentStore) -> SqliteDocumentContainer:
    return await store.container(PRODUCTS)


def unit(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).standard_normal(DIMS)
    return (vector / np.linalg.norm(vector)).tolist()


async def test_the_data_file_and_its_folders_are_created(db_path: Path, products: SqliteDocumentContainer) -> None:
    await products.create({"id": "p1"})
    assert db_path.is_file()


# --------------------------------------------------------------------------------------------------------------
# Container specs
# --------------------------------------------------------------------------------------------------------------


async def test_reopening_with_the_same_spec_returns_the_same_data(db_path: Path) -> None:
    first = SqliteDocumentStore(db_path)
    await (await first.container(PRODUCTS)).create({"id": "p1"})
    await first.close()

    second = SqliteDocumentStore(db_path)
    try:
        assert await (await second.container(PRODUCTS)).read("p1", "p1") is not None
    finally:
        await second.close()


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (ContainerSpec("products", "/category", VectorSpec("/embedding", DIMS)), "'/category'"),
        (ContainerSpec("products", "/id", VectorSpec("/embedding", DIMS * 2)), "'dimensions': 16"),
        (ContainerSpec("products", "/id", VectorSpec("/vector", DIMS)), "'/vector'"),
        (ContainerSpec("products", "/id", None), "opened with '/id' and None"),
    ],
    ids=["partition-key", "dimensions", "vector-path", "no-vector"],
)
async def test_reopening_with_a_different_spec_is_refused(db_path: Path, changed: ContainerSpec, message: str) -> None:
    first = SqliteDocumentStore(db_path)
    await first.container(PRODUCTS)
    await first.close()

    second = SqliteDocumentStore(db_path)
    try:
        with pytest.raises(ValueError, match="created with") as refused:
            await second.container(changed)
        assert message in str(refused.value)
        # The stored spec is untouched: the original spec still opens.
        await second.container(PRODUCTS)
    finally:
        await second.close()


async def test_a_closed_store_says_so(db_path: Path) -> None:
    closed = SqliteDocumentStore(db_path)
    container = await closed.container(PRODUCTS)
    await closed.close()
    await closed.close()  # closing twice is harmless

    with pytest.raises(RuntimeError, match="closed"):
        await container.read("p1", "p1")


@pytest.mark.parametrize(
    ("content", "said"),
    [(b"just some notes, not a database\n" * 100, "file is not a database"), (None, "malformed")],
    ids=["not-sqlite", "corrupt"],
)
async def test_a_damaged_data_file_is_one_clear_error_naming_it(
    db_path: Path, content: bytes | None, said: str
) -> None:
    if content is None:
        # A real store file whose schema page is then overwritten: SQLite's header is intact, its tables are not.
        healthy = SqliteDocumentStore(db_path)
        await (await healthy.container(PRODUCTS)).create({"id": "p1"})
        await healthy.close()
        with open(db_path, "r+b") as damaged:
            damaged.seek(100)
            damaged.write(b"\xff" * 4000)
    else:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        db_path.write_bytes(content)

    store = SqliteDocumentStore(db_path)
    try:
        for _ in range(2):  # and again on the next call: the store does not half-open
            with pytest.raises(StoreUnavailableError) as refused:
                await store.container(PRODUCTS)
            message = str(refused.value)
            assert message.startswith(f"{db_path} is not a usable SQLite database (")
            assert said in message and "move it aside or delete it to start empty" in message
    finally:
        await store.close()


# --------------------------------------------------------------------------------------------------------------
# What Cosmos DB would refuse is refused here too
# --------------------------------------------------------------------------------------------------------------


async def test_a_document_larger_than_cosmos_db_stores_is_rejected_and_nothing_is_written(
    products: SqliteDocumentContainer,
) -> None:
    too_large = "x" * (MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(RejectedDocumentError, match=f"at most {MAX_DOCUMENT_BYTES}"):
        await products.create({"id": "huge", "description": too_large})
    # Multi-byte characters count as Cosmos DB counts them: UTF-8 bytes, not characters.
    with pytest.raises(RejectedDocumentError):
        await products.upsert({"id": "wide", "description": "é" * (MAX_DOCUMENT_BYTES // 2 + 1)})
    with pytest.raises(RejectedDocumentError):
        await products.upsert_many([{"id": "fine"}, {"id": "huge", "description": too_large}])
    assert await products.count() == 0
    assert (await products.read_changes(None, 10)).documents == []


async def test_a_patch_that_adds_the_vector_past_the_limit_is_rejected_and_changes_nothing(
    products: SqliteDocumentContainer,
) -> None:
    # Fits as written; the vector (stored as bytes here, as JSON numbers in Cosmos DB) tips it over.
    stored = await products.create({"id": "p1", "description": "x" * (MAX_DOCUMENT_BYTES - 150)})

    with pytest.raises(RejectedDocumentError, match="'p1'.*its vector included"):
        await products.patch("p1", "p1", [PatchOperation("set", "/embedding", unit(1))], if_match=stored["_etag"])

    assert await products.read("p1", "p1") == stored
    patched = await products.patch("p1", "p1", [PatchOperation("set", "/status", "failed")], if_match=stored["_etag"])
    assert patched["status"] == "failed"


async def test_an_id_longer_than_cosmos_db_takes_is_rejected(products: SqliteDocumentContainer) -> None:
    longest = "p" * MAX_ID_LENGTH
    await products.create({"id": longest})

    with pytest.raises(RejectedDocumentError, match=f"at most {MAX_ID_LENGTH}"):
        await products.upsert({"id": longest + "q"})
    assert await products.count() == 1


# --------------------------------------------------------------------------------------------------------------
# Field names never reach SQL unchecked
# --------------------------------------------------------------------------------------------------------------

INJECTIONS = [
    "price) OR 1=1 --",
    "price' OR '1'='1",
    "price; DROP TABLE documents",
    "price\n",
    "$.price",
    "a[0]",
    "a..b",
    ".a",
    "a.",
    "9lives",
    "",
]


@pytest.mark.parametrize("field_name", INJECTIONS)
async def test_field_names_outside_the_strict_pattern_are_refused_everywhere(
    products: SqliteDocumentContainer, field_name: str
) -> None:
    await products.create({"id": "p1", "price": 5, "embedding": unit(1)})
    attack = [FieldFilter(field_name, "eq", 1)]

    with pytest.raises(ValueError, match="invalid field name"):
        await products.query(attack)
    with pytest.raises(ValueError, match="invalid field name"):
        await products.query(order_by=field_name)
    with pytest.raises(ValueError, match="invalid field name"):
        await products.count(attack)
    with pytest.raises(ValueError, match="invalid field name"):
        await products.vector_search(unit(1), 3, filters=attack)
    with pytest.raises(ValueError, match="invalid field name"):
        await products.patch("p1", "p1", [PatchOperation("set", "/x", 1)], filter_predicate=attack)

    assert await products.count() == 1
    assert "x" not in (await products.read("p1", "p1") or {})


async def test_filter_values_are_bound_not_interpolated(products: SqliteDocumentContainer) -> None:
    await products.create({"id": "p1", "name": "shoe"})
    assert await products.query([FieldFilter("name", "eq", "x' OR '1'='1")]) == []
    assert await products.count([FieldFilter("name", "ne", "x') OR 1=1 --")]) == 1


async def test_unknown_operators_and_value_types_are_refused(products: SqliteDocumentContainer) -> None:
    with pytest.raises(ValueError, match="operator"):
        await products.query([FieldFilter("price", "like", 1)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="value"):
        await products.query([FieldFilter("price", "eq", None)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a JSON number"):
        await products.query([FieldFilter("price", "lt", float("nan"))])


# --------------------------------------------------------------------------------------------------------------
# Filters in vector search mean exactly what they mean in query()
# --------------------------------------------------------------------------------------------------------------


def mixed_documents(count: int) -> list[dict[str, Any]]:
    """Documents whose fields take every JSON type, including missing, so filter semantics are fully exercised."""
    rng = np.random.default_rng(42)
    values: list[Any] = [None, True, False, 0, 1, 2, 2.5, -1, "", "a", "b", "2", [1], {"x": 1}]
    documents = []
    for i in range(count):
        document: dict[str, Any] = {"id": f"d{i}", "embedding": unit(i)}
        for name in ("f", "g"):
            choice = int(rng.integers(len(values) + 1))
            if choice < len(values):
                document[name] = values[choice]
        if rng.random() < 0.7:
            document["nested"] = {"v": values[int(rng.integers(len(values)))]}
        documents.append(document)
    return documents


async def test_vector_search_filters_select_exactly_what_query_selects(products: SqliteDocumentContainer) -> None:
    documents = mixed_documents(150)
    await products.upsert_many(documents)
    probe_values: list[Any] = [True, False, 0, 1, 2, 2.0, 1.5, "", "a", "2"]
    cases = [
        [FieldFilter(name, op, value)]
        for name in ("f", "nested.v", "missing")
        for op in ("eq", "ne", "lt", "le", "gt", "ge")
        for value in probe_values
    ]
    cases.append([FieldFilter("f", "ne", True), FieldFilter("g", "ge", 1)])
    cases.append([FieldFilter("f", "gt", "a"), FieldFilter("nested.v", "ne", 2)])

    nonempty = 0
    for filters in cases:
        expected = sorted(document["id"] for document in await products.query(filters))
        hits = await products.vector_search(unit(0), len(documents), filters=filters)
        assert sorted(hit.document["id"] for hit in hits) == expected, filters
        nonempty += bool(expected)
    assert nonempty > len(cases) // 2  # the cases really select something


async def test_filter_columns_follow_later_writes(products: SqliteDocumentContainer) -> None:
    await products.create({"id": "p1", "status": "pending", "embedding": unit(1)})
    await products.create({"id": "p2", "status": "pending", "embedding": unit(2)})
    pending = [FieldFilter("status", "eq", "pending")]
    assert len(await products.vector_search(unit(1), 5, filters=pending)) == 2

    await products.patch("p1", "p1", [PatchOperation("set", "/status", "embedded")])
    await products.create({"id": "p3", "status": "pending", "embedding": unit(3)})

    hits = await products.vector_search(unit(1), 5, filters=pending)
    assert sorted(hit.document["id"] for hit in hits) == ["p2", "p3"]


# --------------------------------------------------------------------------------------------------------------
# Vector index and vector storage
# --------------------------------------------------------------------------------------------------------------


async def test_the_index_stays_exact_through_random_writes_and_deletes(products: SqliteDocumentContainer) -> None:
    rng = np.random.default_rng(3)
    live: dict[str, tuple[list[float], str]] = {}
    colour = [FieldFilter("colour", "eq", "red")]
    for step in range(400):
        item_id = f"p{int(rng.integers(40))}"
        action = rng.random()
        if action < 0.6:
            live[item_id] = unit(1000 + step), str(rng.choice(["red", "blue"]))
            await products.upsert({"id": item_id, "embedding": live[item_id][0], "colour": live[item_id][1]})
        elif item_id in live and action < 0.8:
            await products.delete(item_id, item_id)
            del live[item_id]
        elif item_id in live:
            await products.upsert({"id": item_id, "colour": "red", "note": "vector removed"})
            del live[item_id]
        if step % 25 == 0:
            # Interleave index syncs with the writes; the filter keeps a field column in step too.
            await products.vector_search(unit(0), 1, filters=colour)

    query = np.asarray(unit(7))
    by_similarity = sorted(live, key=lambda key: -float(np.dot(live[key][0], query)))
    everything = await products.vector_search(query.tolist(), 100)
    red = await products.vector_search(query.tolist(), 100, filters=colour)
    assert [hit.document["id"] for hit in everything] == by_similarity
    assert [hit.document["id"] for hit in red] == [key for key in by_similarity if live[key][1] == "red"]


async def test_vectors_read_back_exactly(products: SqliteDocumentContainer) -> None:
    float64_vector = unit(5)
    float32_vector = np.asarray(unit(6), dtype=np.float32).astype(float).tolist()
    await products.create({"id": "f64", "embedding": float64_vector})
    await products.create({"id": "f32", "embedding": float32_vector})
    await products.create({"id": "ints", "embedding": [1, 0, 0, 0, 0, 0, 0, 2]})

    assert (await products.read("f64", "f64"))["embedding"] == float64_vector  # type: ignore[index]
    assert (await products.read("f32", "f32"))["embedding"] == float32_vector  # type: ignore[index]
    assert (await products.read("ints", "ints"))["embedding"] == [1.0, 0, 0, 0, 0, 0, 0, 2.0]  # type: ignore[index]


@pytest.mark.parametrize(
    "value",
    [["0.5"] * DIMS, [True] * DIMS, [0.0] * DIMS, [[1.0]] * DIMS, "not a vector", {"x": 1}],
    ids=["strings", "booleans", "zeros", "nested", "string", "object"],
)
async def test_a_value_that_is_not_a_vector_is_kept_as_written_and_not_searchable(
    products: SqliteDocumentContainer, value: Any
) -> None:
    await products.create({"id": "odd", "embedding": value})

    assert (await products.read("odd", "odd"))["embedding"] == value  # type: ignore[index]
    assert await products.vector_search(unit(1), 5) == []


async def test_a_nested_vector_path_works(store: SqliteDocumentStore) -> None:
    nested = await store.container(ContainerSpec("nested", "/id", VectorSpec("/vectors/text", DIMS)))
    stored = await nested.create({"id": "p1", "vectors": {"text": unit(1), "model": "m"}, "name": "x"})

    [hit] = await nested.vector_search(unit(1), 3)

    assert hit.document == stored == await nested.read("p1", "p1")
    assert stored["vectors"] == {"text": unit(1), "model": "m"}


# --------------------------------------------------------------------------------------------------------------
# Patch details
# --------------------------------------------------------------------------------------------------------------


async def test_patch_edits_arrays_and_creates_counters(products: SqliteDocumentContainer) -> None:
    await products.create({"id": "p1", "tags": ["a", "c"], "sizes": [1, 2, 3]})

    patched = await products.patch(
        "p1",
        "p1",
        [
            PatchOperation("add", "/tags/1", "b"),
            PatchOperation("add", "/tags/-", "d"),
            PatchOperation("set", "/sizes/0", 10),
            PatchOperation("remove", "/sizes/2"),
            PatchOperation("incr", "/sizes/1", 5),
            PatchOperation("incr", "/views", 1),
            PatchOperation("set", "/a~1b", "slash"),
        ],
    )

    assert patched["tags"] == ["a", "b", "c", "d"]
    assert patched["sizes"] == [10, 7]
    assert patched["views"] == 1
    assert patched["a/b"] == "slash"


@pytest.mark.parametrize("path", ["/id", "/_etag", "/_ts", "/_lsn", "", "/", "price"])
async def test_patch_refuses_protected_and_malformed_paths(products: SqliteDocumentContainer, path: str) -> None:
    stored = await products.create({"id": "p1", "price": 1})
    with pytest.raises(ValueError):
        await products.patch("p1", "p1", [PatchOperation("set", path, "x")])
    assert await products.read("p1", "p1") == stored


async def test_patch_refuses_the_partition_key_field(store: SqliteDocumentStore) -> None:
    messages = await store.container(ContainerSpec("messages", "/session_id"))
    await messages.create({"id": "m1", "session_id": "alice"})
    with pytest.raises(ValueError, match="session_id"):
        await messages.patch("m1", "alice", [PatchOperation("set", "/session_id", "bob")])


# --------------------------------------------------------------------------------------------------------------
# Queries and the change feed: SQLite specifics
# --------------------------------------------------------------------------------------------------------------


async def test_order_by_across_types_follows_cosmos_db(products: SqliteDocumentContainer) -> None:
    values: list[Any] = ["b", 2, True, None, "a", 1.5, False, [1], {"k": 1}]
    for i, value in enumerate(values):
        await products.create({"id": f"p{i}", "v": value})
    await products.create({"id": "missing"})

    ordered = [document.get("v", "<missing>") for document in await products.query(order_by="v")]

    assert ordered == ["<missing>", None, False, True, 1.5, 2, "a", "b", [1], {"k": 1}]


async def test_a_foreign_continuation_is_refused(products: SqliteDocumentContainer) -> None:
    await products.create({"id": "p1"})
    with pytest.raises(ValueError, match="not issued"):
        await products.read_changes("abc", 10)
    with pytest.raises(ValueError, match="ahead"):
        await products.read_changes("999", 10)
    with pytest.raises(ValueError, match="max_items"):
        await products.read_changes(None, 0)


async def test_lsn_is_the_change_feed_position(products: SqliteDocumentContainer) -> None:
    first = await products.create({"id": "p1"})
    second = await products.upsert({"id": "p1", "edited": True})
    batch = await products.read_changes(None, 10)
    assert second["_lsn"] == first["_lsn"] + 1
    assert batch.continuation == str(second["_lsn"])


# --------------------------------------------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------------------------------------------


async def test_concurrent_upserts_all_land_with_distinct_lsns(products: SqliteDocumentContainer) -> None:
    written = await asyncio.gather(*(products.upsert({"id": f"p{i}", "embedding": unit(i)}) for i in range(50)))

    lsns = [document["_lsn"] for document in written]
    assert len(set(lsns)) == 50
    assert await products.count() == 50
    changes = (await products.read_changes(None, 100)).documents
    assert [document["_lsn"] for document in changes] == sorted(lsns)


async def test_store_work_leaves_the_event_loop_free(products: SqliteDocumentContainer) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    running = asyncio.create_task(ticker())
    await products.upsert_many([{"id": f"p{i}", "embedding": unit(i)} for i in range(3000)])
    await products.vector_search(unit(0), 5)
    running.cancel()

    assert ticks >= 5, "the event loop was blocked while the store worked"


async def test_bulk_upsert_writes_everything_in_one_go(products: SqliteDocumentContainer) -> None:
    written = await products.upsert_many({"id": f"p{i}", "embedding": unit(i)} for i in range(300))

    assert written == 300
    assert await products.count() == 300
    assert len(await products.vector_search(unit(0), 1000)) == 300
    assert await products.upsert_many([]) == 0


WRITER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from store.base import ContainerSpec, VectorSpec
    from store.sqlite import SqliteDocumentStore

    async def main(path, prefix, count):
        store = SqliteDocumentStore(path)
        products = await store.container(ContainerSpec("products", "/id", VectorSpec("/embedding", 8)))
        for i in range(count):
            vector = [0.0] * 8
            vector[i % 8] = 1.0
            await products.upsert({"id": f"{prefix}{i}", "embedding": vector})
        await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_another_process_can_write_while_this_one_does(db_path: Path, products: SqliteDocumentContainer) -> None:
    await products.create({"id": "seed", "embedding": unit(0)})
    await products.vector_search(unit(0), 1)  # this process's index is built before the other process writes
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER_SCRIPT, str(db_path), "other-", "200", env=env, stderr=subprocess.PIPE
    )

    # Keep writing for as long as the other process runs, so the two really contend for the file.
    mine = 0
    while writer.returncode is None and mine < 20_000:
        await products.upsert({"id": f"mine-{mine}", "embedding": unit(mine)})
        mine += 1
    _, stderr = await writer.communicate()

    assert writer.returncode == 0, stderr.decode()
    assert await products.count() == 1 + mine + 200
    changes, continuation = [], None
    while True:
        batch = await products.read_changes(continuation, 1000)
        changes += batch.documents
        continuation = batch.continuation
        if not batch.has_more:
            break
    lsns = [document["_lsn"] for document in changes]
    assert lsns == sorted(set(lsns)) and len(lsns) == 1 + mine + 200
    theirs = {document["_lsn"] for document in changes if document["id"].startswith("other-")}
    interleaved = [lsn for lsn in lsns if min(theirs) < lsn < max(theirs) and lsn not in theirs]
    assert interleaved, "the two processes never wrote concurrently"
    other_ids = {hit.document["id"] for hit in await products.vector_search([1.0] + [0.0] * 7, 100_000)}
    assert {f"other-{i}" for i in range(200)} <= other_ids


async def test_a_string_filter_with_a_trailing_nul_never_matches_the_string_without_it(tmp_path: Path) -> None:
    store = SqliteDocumentStore(tmp_path / "nul.sqlite3")
    container = await store.container(ContainerSpec("nul", "/id", VectorSpec("/embedding", 2)))
    await container.upsert({"id": "a", "category": "Tents", "embedding": [1.0, 0.0]})
    await container.upsert({"id": "b", "category": "Tents\x00", "embedding": [1.0, 0.0]})
    condition = [FieldFilter("category", "eq", "Tents\x00")]
    by_vector = [hit.document["id"] for hit in await container.vector_search([1.0, 0.0], 5, filters=condition)]
    by_query = [document["id"] for document in await container.query(condition)]
    # SQLite's JSON functions end text at a NUL, so neither path can select "b"; what matters is that "a" (whose
    # value has no NUL) is never taken for it, and that vector search and query agree.
    assert "a" not in by_vector and by_vector == by_query
    await store.close()
