"""What is sent to Cosmos DB as a document, what comes back as search hits, and how its errors become store errors."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from azure.core import MatchConditions
from azure.cosmos.exceptions import CosmosHttpResponseError

from store.base import (
    RRF_K,
    SYSTEM_FIELDS,
    ConflictError,
    ContainerSpec,
    Document,
    NotFoundError,
    PreconditionFailedError,
    RejectedDocumentError,
    ScoredDocument,
    VectorSpec,
)
from store.cosmos.queries import hybrid_terms, plain_vector
from store.fields import check_item_id, is_number, parse_pointer


def document_body(document: Mapping[str, Any], spec: ContainerSpec) -> Document:
    """The body to send for ``document``: system fields dropped, the vector as plain floats; the caller's dict is
    untouched.

    Raises:
        TypeError: ``document`` is not a mapping.
        ValueError: its id is missing, empty or holds a character Cosmos DB does not allow, or it has no partition
            key field.
    """
    if not isinstance(document, Mapping):
        raise TypeError(f"a document must be a mapping, not {type(document).__name__}")
    check_item_id(document.get("id"))
    partition_field = spec.partition_key_path.lstrip("/")
    if partition_field not in document:
        raise ValueError(f"document has no partition key field {partition_field!r}")
    body = {key: value for key, value in document.items() if key not in SYSTEM_FIELDS}
    if spec.vector is not None:
        tokens = parse_pointer(spec.vector.path)
        parent: dict[str, Any] = body
        for token in tokens[:-1]:
            child = parent.get(token)
            if not isinstance(child, dict):
                return body
            parent[token] = child = dict(child)
            parent = child
        vector = plain_vector(parent.get(tokens[-1]))
        if vector is not None:
            parent[tokens[-1]] = vector
    return body


def _has_searchable_vector(document: Mapping[str, Any], vector: VectorSpec) -> bool:
    value: Any = document
    for token in parse_pointer(vector.path):
        if not isinstance(value, Mapping) or token not in value:
            return False
        value = value[token]
    floats = plain_vector(value)
    return floats is not None and len(floats) == vector.dimensions and any(floats)


def scored_documents(
    rows: Sequence[Any], spec: ContainerSpec, min_score: float | None = None, path: str | None = None
) -> list[ScoredDocument]:
    """The hits of a :func:`store.cosmos.queries.build_vector_query` result, best first.

    Rows come most similar first; the first row below ``min_score`` ends the list. Rows without a numeric score
    and documents without a vector of the container's dimensions are dropped (Cosmos DB gives them no meaningful
    distance), so a search may return fewer than ``k`` hits. ``path``: the vector searched (``None``: the main one).
    """
    vector = spec.vector_at(path)
    results = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        raw_score: Any = row.get("score")
        document = row.get("document")
        if not is_number(raw_score) or not math.isfinite(raw_score) or not isinstance(document, dict):
            continue
        score = float(raw_score)
        if min_score is not None and score < min_score:
            break
        if _has_searchable_vector(document, vector):
            results.append(ScoredDocument(document, score))
    return results


def ranked_documents(rows: Sequence[Any], spec: ContainerSpec, path: str | None = None) -> list[ScoredDocument]:
    """The hits of a :func:`store.cosmos.queries.build_hybrid_query` result (whole documents, best first), scored
    by rank.

    Cosmos DB does not return the fused score of ``ORDER BY RANK RRF(...)``, so the hit at (1-based) rank ``r`` of
    the returned order scores ``1 / (RRF_K + r)``: what a document ranked ``r`` by one of the fused rankings alone
    would score. Documents without a vector of the container's dimensions are dropped (they keep no rank of their
    own, so the hits after them keep the scores of their place in Cosmos DB's order).
    """
    vector = spec.vector_at(path)
    return [
        ScoredDocument(document, 1.0 / (RRF_K + rank))
        for rank, document in enumerate(rows, start=1)
        if isinstance(document, dict) and _has_searchable_vector(document, vector)
    ]


def hybrid_hits(rows: Sequence[Any], spec: ContainerSpec, text: str, path: str | None = None) -> list[ScoredDocument]:
    """The hits of the query :func:`store.cosmos.queries.build_hybrid_query` made for ``text``, scored by rank.

    When ``text`` has no words that query was the vector query, whose rows wrap the document
    (``{"document", "score"}``); either way the hits are scored by their rank, as :func:`ranked_documents` says.
    """
    if not hybrid_terms(text):
        rows = [row.get("document") for row in rows if isinstance(row, Mapping)]
    return ranked_documents(rows, spec, path)


def _service_message(error: CosmosHttpResponseError) -> str:
    """The first line of what the service said (the SDK puts the status code before it and diagnostics after it)."""
    said = getattr(error, "http_error_message", None) or getattr(error, "message", None) or error
    lines = [line for line in str(said).strip().splitlines() if not line.startswith("Status code:")]
    return (lines[0] if lines else f"HTTP {error.status_code}")[:300]


def translate_error(error: CosmosHttpResponseError, what: str, *, write: bool = False) -> Exception:
    """The store error for a Cosmos DB error, or ``error`` itself for throttling and outages (the caller retries).

    404 → NotFoundError, 409 → ConflictError, 412 → PreconditionFailedError, 413 → RejectedDocumentError; 400 →
    RejectedDocumentError for a ``write`` (the service refused the document as written, e.g. an id too long), else
    ValueError.
    """
    status = error.status_code
    detail = _service_message(error)
    if status == 404:
        return NotFoundError(f"{what}: not found ({detail})")
    if status == 409:
        return ConflictError(f"{what}: an item with this id already exists in its partition ({detail})")
    if status == 412:
        return PreconditionFailedError(
            f"{what}: the item has changed since it was read, or the patch's filter predicate is false ({detail})"
        )
    if status == 413:
        return RejectedDocumentError(f"{what}: Cosmos DB refused the document as too large ({detail})")
    if status == 400 and write:
        return RejectedDocumentError(f"{what}: Cosmos DB refused the document ({detail})")
    if status == 400:
        return ValueError(f"{what}: Cosmos DB refused the request ({detail})")
    return error


#: The sub-status of a 404 whose owner (the container, or its database) does not exist.
_OWNER_RESOURCE_NOT_FOUND = 1003


def is_missing_item(error: CosmosHttpResponseError) -> bool:
    """Whether a point read's error means "no such item" (``None``), not "no such container" (an error)."""
    return error.status_code == 404 and error.sub_status != _OWNER_RESOURCE_NOT_FOUND


@contextmanager
def cosmos_errors(what: str, *, write: bool = False) -> Iterator[None]:
    """Raise the store's error (:func:`translate_error`) for a Cosmos DB error inside the block."""
    try:
        yield
    except CosmosHttpResponseError as error:
        translated = translate_error(error, what, write=write)
        if translated is error:
            raise
        raise translated from error


def match_conditions(if_match: str | None) -> dict[str, Any]:
    """The SDK's keyword arguments for "only if the item still has this ``_etag``"."""
    if if_match is None:
        return {}
    return {"etag": if_match, "match_condition": MatchConditions.IfNotModified}


def check_continuation(continuation: str) -> None:
    """Refuse a continuation that is not one of the SDK's change-feed tokens (base64 of a JSON object).

    Raises:
        ValueError: the continuation was not issued by a Cosmos DB change feed.
    """
    try:
        state = json.loads(base64.b64decode(continuation.encode("ascii"), validate=True))
    except (UnicodeError, ValueError, binascii.Error):
        state = None
    if not isinstance(state, dict) or "containerRid" not in state:
        raise ValueError(f"continuation {continuation[:40]!r} was not issued by this store's change feed")
