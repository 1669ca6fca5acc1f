"""The product document: what a client may write, what is embedded, and the fields the pipeline owns.

A product is a JSON document in the products container (partition key ``/id``). Clients own every field except
the ones in :data:`SERVER_FIELDS`. The embedding pipeline writes:

``embedding``
    the vector (list of floats), the container's vector path.
``embedding_info``
    ``{"status": "embedded" | "failed", "model", "dimensions", "fields", "content_hash", "embedded_at",
    "truncated"}``, and on a failure also ``"error"``, ``"retryable"`` and ``"attempts"`` — ``content_hash`` covers
    exactly the embedded text plus the model id and dimensions, so a document whose hash matches is never embedded
    twice (the change-feed echo of our own write-back included). :class:`EmbeddingRecipe` makes the stamps and
    judges them.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from catalog.errors import ValidationError
from store import fields as store_fields

EMBEDDING_FIELD = "embedding"
EMBEDDING_INFO_FIELD = "embedding_info"
DELETED_FIELD = "deleted"
DELETED_AT_FIELD = "deleted_at"


@dataclass(frozen=True)
class VectorSlot:
    """Where one model's vector and stamp live on a product document.

    A product has two slots. Search ranks by one of them, the active one; a model migration
    (:mod:`catalog.migration`) fills the other with the new model's vectors while search keeps using the first, so
    one ranking never mixes two models' vectors.
    """

    name: str
    vector_field: str
    info_field: str

    @property
    def vector_path(self) -> str:
        return "/" + self.vector_field


SLOT_A = VectorSlot("a", EMBEDDING_FIELD, EMBEDDING_INFO_FIELD)
SLOT_B = VectorSlot("b", EMBEDDING_FIELD + "_b", EMBEDDING_INFO_FIELD + "_b")
SLOTS = {slot.name: slot for slot in (SLOT_A, SLOT_B)}
#: Every field holding a vector (kept out of search results and API answers).
VECTOR_FIELDS = frozenset(slot.vector_field for slot in SLOTS.values())

#: The embedding pipeline's fields (each slot's vector and stamp): a client's write keeps them.
PIPELINE_FIELDS = frozenset(field for slot in SLOTS.values() for field in (slot.vector_field, slot.info_field))
#: Fields only the service writes; a client's copy of them is refused.
SERVER_FIELDS = PIPELINE_FIELDS | {DELETED_FIELD, DELETED_AT_FIELD}

STATUS_EMBEDDED = "embedded"
STATUS_FAILED = "failed"
STATUS_PENDING = "pending"

#: The longest product id: the longest id Cosmos DB takes (the store's rule).
MAX_ID_LENGTH = store_fields.MAX_ID_LENGTH
MAX_NAME_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 20_000
MAX_CATEGORY_LENGTH = 200


class InvalidProductError(ValueError):
    """A stored product cannot be embedded; ``reason`` is written on the document and in the dead-letter record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def embedding_text(product: Mapping[str, Any], fields: Sequence[str]) -> str:
    """The text embedded for ``product``: the configured fields' values, in order, one per line.

    ``description`` must be a non-empty string; the other fields are optional and used when they are a string or a
    number.

    Raises:
        InvalidProductError: the description is missing, empty or not a string, or another field has a type that
            cannot be embedded.
    """
    description = product.get("description")
    if description is None:
        raise InvalidProductError("description is missing")
    if not isinstance(description, str):
        raise InvalidProductError(f"description must be a string, not {type(description).__name__}")
    if not description.strip():
        raise InvalidProductError("description is empty")
    parts: list[str] = []
    for name in fields:
        value = product.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidProductError(f"{name} must be a string or a number, not {type(value).__name__}")
        parts.append(str(value).strip())
    return "\n".join(part for part in parts if part)


def display_text(product: Mapping[str, Any]) -> str:
    """The text a chat model or a person is shown for ``product``: name, category, price and description."""
    lines = [str(product.get("name") or product.get("id"))]
    if product.get("category_name"):
        lines.append(f"Category: {product['category_name']}")
    price = product.get("price")
    if isinstance(price, int | float) and not isinstance(price, bool):
        lines.append(f"Price: {price:.2f}")
    if isinstance(product.get("description"), str):
        lines.append(product["description"].strip())
    return "\n".join(lines)


def content_hash(text: str, model_id: str, dimensions: int) -> str:
    """The hash stored with a vector: exactly the embedded text plus the model identity."""
    payload = json.dumps([model_id, dimensions, text], ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def invalid_content_hash(product: Mapping[str, Any], fields: Sequence[str], model_id: str, dimensions: int) -> str:
    """The hash stored on a document that failed: its source fields, so an unchanged failure is not redone."""
    source = {name: product.get(name) for name in fields}
    payload = json.dumps([model_id, dimensions, "invalid", source], sort_keys=True, default=repr, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def expected_hash(product: Mapping[str, Any], fields: Sequence[str], model_id: str, dimensions: int) -> str:
    """The hash the document should carry for the current model, whether it can be embedded or not."""
    try:
        return content_hash(embedding_text(product, fields), model_id, dimensions)
    except InvalidProductError:
        return invalid_content_hash(product, fields, model_id, dimensions)


def embedding_status(product: Mapping[str, Any], fields: Sequence[str], model_id: str, dimensions: int) -> str:
    """``embedded`` or ``failed`` when the stored result is current for this text and model, else ``pending``."""
    return EmbeddingRecipe(tuple(fields), model_id, dimensions).status(product)


class VectorState(StrEnum):
    """What a stored product's embedding is, measured against the current :class:`EmbeddingRecipe`."""

    #: Embedded from exactly the current text, model and dimensions, with a vector of that size.
    CURRENT = "current"
    #: Never stamped (a change the pipeline never saw), or stamped embedded but without a usable vector.
    MISSING = "missing"
    #: Stamped for other text, another model or dimensions (another ``EMBED_FIELDS`` that changed the text).
    STALE = "stale"
    #: Marked failed for exactly its current embedded fields and this model.
    FAILED = "failed"
    #: Soft-deleted: nothing to embed.
    DELETED = "deleted"


@dataclass(frozen=True)
class EmbeddingRecipe:
    """What makes a stored vector current: the embedded fields, the model id and the dimensions.

    The one owner of "is this stored vector current?": the change-feed pipeline, the reconciler, product reads and
    the status view all ask :meth:`state`, and the stamps written on documents are made here.

    A stamp also records ``fields``, for people; currency is decided by ``content_hash``, which covers the embedded
    text (so a change of ``EMBED_FIELDS`` that changes a product's text makes it stale, and one that leaves its text
    as it was costs nothing), the model id and the dimensions.
    """

    fields: tuple[str, ...]
    model_id: str
    dimensions: int
    #: Where the vector and stamp are read and written.
    slot: VectorSlot = SLOT_A

    def text(self, product: Mapping[str, Any]) -> str:
        """The text embedded for ``product`` (raises :class:`InvalidProductError` as :func:`embedding_text`)."""
        return embedding_text(product, self.fields)

    def content_hash(self, text: str) -> str:
        return content_hash(text, self.model_id, self.dimensions)

    def failure_hash(self, product: Mapping[str, Any]) -> str:
        return invalid_content_hash(product, self.fields, self.model_id, self.dimensions)

    def expected_hash(self, product: Mapping[str, Any]) -> str:
        return expected_hash(product, self.fields, self.model_id, self.dimensions)

    def state(self, product: Mapping[str, Any]) -> VectorState:
        """Where ``product``'s embedding stands against this recipe (see :class:`VectorState`)."""
        if is_deleted(product):
            return VectorState.DELETED
        return self._stored_state(product)

    def status(self, product: Mapping[str, Any]) -> str:
        """What a reader is shown: ``embedded``, ``failed`` or ``pending`` (deleted products keep their status)."""
        state = self._stored_state(product)
        if state is VectorState.CURRENT:
            return STATUS_EMBEDDED
        return STATUS_FAILED if state is VectorState.FAILED else STATUS_PENDING

    def _stored_state(self, product: Mapping[str, Any]) -> VectorState:
        info = product.get(self.slot.info_field)
        if not isinstance(info, Mapping) or info.get("status") not in (STATUS_EMBEDDED, STATUS_FAILED):
            return VectorState.MISSING
        if info.get("status") == STATUS_FAILED:
            # Every failure carries the hash of its source fields: an edit of them, or another model, is a new try.
            return VectorState.FAILED if info.get("content_hash") == self.failure_hash(product) else VectorState.STALE
        try:
            digest = self.content_hash(self.text(product))
        except InvalidProductError:
            return VectorState.STALE  # embedded once, cannot be now: the pipeline marks it failed
        if info.get("content_hash") != digest:
            return VectorState.STALE
        vector = product.get(self.slot.vector_field)
        has_vector = isinstance(vector, list) and len(vector) == self.dimensions
        return VectorState.CURRENT if has_vector else VectorState.MISSING

    def embedded_stamp(self, digest: str, *, truncated: bool, at: str) -> dict[str, Any]:
        """The ``embedding_info`` written with a vector made from text hashing to ``digest``."""
        return {
            "status": STATUS_EMBEDDED,
            "model": self.model_id,
            "dimensions": self.dimensions,
            "fields": list(self.fields),
            "content_hash": digest,
            "embedded_at": at,
            "truncated": truncated,
        }

    def failed_stamp(self, product: Mapping[str, Any], reason: str, *, retryable: bool, at: str) -> dict[str, Any]:
        """The ``embedding_info`` of a product that could not be embedded.

        Args:
            product: the document as read (its earlier failure, for the same text, counts toward ``attempts``).
            reason: why, for people.
            retryable: whether the same text may succeed later (the model or the store refused it), as opposed to
                a document that cannot be embedded until someone edits it (an empty description).
            at: the timestamp.
        """
        digest = self.failure_hash(product)
        previous = product.get(self.slot.info_field)
        attempts = 1
        if isinstance(previous, Mapping) and previous.get("status") == STATUS_FAILED:
            if previous.get("content_hash") == digest:
                earlier = previous.get("attempts")
                attempts = (earlier if isinstance(earlier, int) and not isinstance(earlier, bool) else 1) + 1
        return {
            "status": STATUS_FAILED,
            "model": self.model_id,
            "dimensions": self.dimensions,
            "fields": list(self.fields),
            "content_hash": digest,
            "embedded_at": at,
            "truncated": False,
            "error": reason,
            "retryable": retryable,
            "attempts": attempts,
        }


def failure_retry_allowed(product: Mapping[str, Any], max_attempts: int, slot: VectorSlot = SLOT_A) -> bool:
    """Whether a product marked failed (in ``slot``) may be tried again: its failure was retryable and it has been
    tried fewer than ``max_attempts`` times. Stamps from before failures were classified say nothing, and are not
    retried."""
    info = product.get(slot.info_field)
    if not isinstance(info, Mapping) or info.get("retryable") is not True:
        return False
    attempts = info.get("attempts")
    return isinstance(attempts, int) and not isinstance(attempts, bool) and attempts < max_attempts


def is_deleted(product: Mapping[str, Any]) -> bool:
    return product.get(DELETED_FIELD) is True


def client_fields(product: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a client owns (no system or server fields): what a PUT compares and replaces."""
    return {key: value for key, value in product.items() if not key.startswith("_") and key not in SERVER_FIELDS}


def validate_product(body: Any, *, product_id: str | None = None, where: str = "") -> dict[str, Any]:
    """A product a client sent, checked field by field; returns the document to store (client fields only).

    Args:
        body: the parsed JSON.
        product_id: the id from the URL, when there is one; the body's ``id`` must match it or be absent.
        where: a prefix for field names in messages (``products[3].``) for bulk requests.

    Raises:
        ValidationError: naming the first field at fault.
    """
    if not isinstance(body, dict):
        raise ValidationError(f"{where or 'body'} must be a JSON object", field=where.rstrip(".") or "body")
    product = dict(body)
    body_id = product.get("id")
    if product_id is not None:
        if body_id is not None and body_id != product_id:
            raise ValidationError(f"{where}id in the body ({body_id!r}) differs from the URL", field=f"{where}id")
        product["id"] = product_id
    _check_id(product.get("id"), f"{where}id")
    _check_string(product, "name", where, MAX_NAME_LENGTH, required=True)
    _check_string(product, "description", where, MAX_DESCRIPTION_LENGTH, required=True)
    _check_string(product, "category_name", where, MAX_CATEGORY_LENGTH, required=False)
    price = product.get("price")
    if price is not None:
        if not is_finite_number(price) or price < 0:
            raise ValidationError(f"{where}price must be a number >= 0", field=f"{where}price")
    tags = product.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags)):
        raise ValidationError(f"{where}tags must be a list of strings", field=f"{where}tags")
    for key in product:
        if key.startswith("_") or key in SERVER_FIELDS:
            raise ValidationError(
                f"{where}{key} is managed by the service and cannot be written", field=f"{where}{key}"
            )
    return product


def is_finite_number(value: Any) -> bool:
    """A JSON number a float can hold: not a bool, NaN, Infinity, or an int beyond the double range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # math.isfinite(10**400) raises OverflowError instead of answering.
    return math.isfinite(value) if isinstance(value, float) else abs(value) <= sys.float_info.max


def _check_id(value: Any, field: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} is required and must be a non-empty string", field=field)
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{field} must be at most {MAX_ID_LENGTH} characters", field=field)
    if store_fields.has_forbidden_id_characters(value) or value != value.strip():
        raise ValidationError(f"{field} must not contain / \\ ? # or surrounding spaces", field=field)
    if value in (".", ".."):  # a URL path cannot carry them: clients collapse dot segments
        raise ValidationError(f"{field} must not be . or ..", field=field)


def _check_string(product: Mapping[str, Any], name: str, where: str, limit: int, *, required: bool) -> None:
    value = product.get(name)
    field = f"{where}{name}"
    if value is None:
        if required:
            raise ValidationError(f"{field} is required", field=field)
        return
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field=field)
    if required and not value.strip():
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(value) > limit:
        raise ValidationError(f"{field} must be at most {limit} characters", field=field)


def utc_timestamp() -> str:
    """Now, as the ISO 8601 UTC string stored in ``embedded_at`` and ``deleted_at``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
