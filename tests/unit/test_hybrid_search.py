"""Hybrid search in the embedded store: reciprocal rank fusion of the exact vector ranking and FTS5 bm25."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.base import RRF_K, ContainerSpec, DocumentContainer, FieldFilter, VectorSpec, rrf_fuse
from store.sqlite import SqliteDocumentStore

SPEC = ContainerSpec("products", "/id", VectorSpec("/embedding", 3), full_text_paths=("/name", "/description"))
QUERY = [1.0, 0.0, 0.0]


def doc(item_id: str, vector: list[float], description: str, **extra: object) -> dict:
    return {"id": item_id, "name": item_id.title(), "description": description, "embedding": vector, **extra}


@pytest.fixture
async def products(tmp_path: Path) -> DocumentContainer:
    store = SqliteDocumentStore(tmp_path / "db.sqlite3")
    container = await store.container(SPEC)
    for document in (
        doc("near", [1.0, 0.05, 0.0], "A lantern for the campsite."),
        doc("middle", [0.7, 0.7, 0.0], "A folding chair."),
        doc("keyword", [0.0, 0.2, 1.0], "The X200 titanium spork, our lightest utensil."),
        doc("far", [0.0, 1.0, 0.0], "A wool blanket."),
    ):
        await container.upsert(document)
    return container


def test_rrf_adds_reciprocal_ranks() -> None:
    fused = dict(rrf_fuse([["a", "b"], ["b", "c"]], 3))
    assert fused["b"] == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))
    assert fused["a"] == pytest.approx(1 / (RRF_K + 1))
    assert list(dict(rrf_fuse([["a", "b"], ["b", "c"]], 3))) == ["b", "a", "c"]


async def test_a_rare_exact_word_lifts_a_product_the_vector_ranking_puts_last(products: DocumentContainer) -> None:
    by_vector = [hit.document["id"] for hit in await products.vector_search(QUERY, 4)]
    assert by_vector.index("keyword") >= 2

    hybrid = [hit.document["id"] for hit in await products.hybrid_search(QUERY, "x200 spork", 4)]
    assert hybrid[0] == "keyword"
    assert set(hybrid) == {"near", "middle", "keyword", "far"}


async def test_words_are_stemmed_and_fts_syntax_is_inert(products: DocumentContainer) -> None:
    assert (await products.hybrid_search(QUERY, "lanterns", 1))[0].document["id"] == "near"
    hits = await products.hybrid_search(QUERY, 'spork" AND ( * -{ ^', 4)
    assert hits[0].document["id"] == "keyword"


async def test_filters_apply_to_both_rankings(products: DocumentContainer) -> None:
    await products.upsert(doc("keyword", [0.0, 0.2, 1.0], "The X200 titanium spork.", deleted=True))
    hits = await products.hybrid_search(QUERY, "x200 spork", 4, filters=[FieldFilter("deleted", "ne", True)])
    assert "keyword" not in {hit.document["id"] for hit in hits}


async def test_edits_and_deletes_reach_the_full_text_index(products: DocumentContainer) -> None:
    await products.hybrid_search(QUERY, "spork", 4)  # index built
    await products.upsert(doc("keyword", [0.0, 0.2, 1.0], "A plain steel fork."))
    await products.delete("middle", "middle")
    hits = await products.hybrid_search(QUERY, "spork chair", 4)
    ids = [hit.document["id"] for hit in hits]
    assert "middle" not in ids
    assert ids[0] == "near"  # no text match left: the vector ranking decides


async def test_another_process_writes_are_indexed(products: DocumentContainer, tmp_path: Path) -> None:
    await products.hybrid_search(QUERY, "anything", 1)
    other = await SqliteDocumentStore(tmp_path / "db.sqlite3").container(SPEC)
    await other.upsert(doc("newcomer", [0.0, 0.0, 1.0], "A zebra-striped hammock."))
    assert (await products.hybrid_search(QUERY, "zebra hammock", 1))[0].document["id"] == "newcomer"


async def test_a_container_without_full_text_fields_refuses(tmp_path: Path) -> None:
    store = SqliteDocumentStore(tmp_path / "db.sqlite3")
    plain = await store.container(ContainerSpec("plain", "/id", VectorSpec("/embedding", 3)))
    with pytest.raises(ValueError, match="full_text_paths"):
        await plain.hybrid_search(QUERY, "x", 1)
