"""The product model: what is embedded, the content hash, and what a client may write."""

from __future__ import annotations

import pytest

from catalog.errors import ValidationError
from catalog.model import (
    InvalidProductError,
    content_hash,
    embedding_status,
    embedding_text,
    validate_product,
)

FIELDS = ("name", "category_name", "description")


def test_the_hash_covers_text_model_and_dimensions() -> None:
    base = content_hash("a tent", "m1", 384)
    assert base == content_hash("a tent", "m1", 384)
    assert (
        len(
            {
                base,
                content_hash("a tent!", "m1", 384),
                content_hash("a tent", "m2", 384),
                content_hash("a tent", "m1", 768),
            }
        )
        == 4
    )


def test_only_embedded_fields_change_the_text() -> None:
    doc = {"id": "1", "name": "Tent", "description": "Two-person tent.", "price": 10}
    assert embedding_text(doc, FIELDS) == embedding_text({**doc, "price": 99, "tags": ["x"]}, FIELDS)
    assert embedding_text(doc, FIELDS) != embedding_text({**doc, "name": "Shelter"}, FIELDS)


@pytest.mark.parametrize(
    "bad", [{"name": "x"}, {"description": ""}, {"description": ["a"]}, {"description": "ok", "name": {"a": 1}}]
)
def test_unembeddable_documents_raise_with_a_reason(bad: dict) -> None:
    with pytest.raises(InvalidProductError) as raised:
        embedding_text(bad, FIELDS)
    assert raised.value.reason


def test_status_is_pending_until_the_stored_hash_matches_the_current_text() -> None:
    doc = {"id": "1", "name": "Tent", "description": "Two-person tent."}
    assert embedding_status(doc, FIELDS, "m", 3) == "pending"
    info = {"status": "embedded", "content_hash": content_hash(embedding_text(doc, FIELDS), "m", 3)}
    assert embedding_status({**doc, "embedding": [0.1, 0.2, 0.3], "embedding_info": info}, FIELDS, "m", 3) == "embedded"
    edited = {**doc, "description": "Now a hammock.", "embedding": [0.1, 0.2, 0.3], "embedding_info": info}
    assert embedding_status(edited, FIELDS, "m", 3) == "pending"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ({"name": "x", "description": "y"}, "id"),
        ({"id": "a/b", "name": "x", "description": "y"}, "id"),
        ({"id": "a", "description": "y"}, "name"),
        ({"id": "a", "name": "x", "description": 5}, "description"),
        ({"id": "a", "name": "x", "description": "y", "price": -1}, "price"),
        ({"id": "a", "name": "x", "description": "y", "price": "12"}, "price"),
        ({"id": "a", "name": "x", "description": "y", "price": True}, "price"),
        ({"id": "a", "name": "x", "description": "y", "tags": "camping"}, "tags"),
        ({"id": "a", "name": "x", "description": "y", "embedding": [1.0]}, "embedding"),
        ({"id": "a", "name": "x", "description": "y", "_etag": "x"}, "_etag"),
    ],
)
def test_invalid_products_name_the_field(body: object, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate_product(body)
    assert raised.value.field == field
    assert field in raised.value.message


def test_the_url_id_wins_and_must_agree_with_the_body() -> None:
    assert validate_product({"name": "x", "description": "y"}, product_id="p1")["id"] == "p1"
    with pytest.raises(ValidationError, match="differs"):
        validate_product({"id": "p2", "name": "x", "description": "y"}, product_id="p1")
