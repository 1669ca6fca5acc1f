"""The Cosmos DB for NoSQL document store (``STORE_BACKEND=cosmos``), on ``azure.cosmos.aio``.

One :class:`CosmosDocumentStore` holds one ``CosmosClient`` (created on first use, closed by :meth:`close`); every
container it opens shares it. Authentication is Entra ID through ``DefaultAzureCredential`` unless
``COSMOS_AUTH=key``.

The store never creates containers in normal operation: their vector and indexing policies are decided once, by
``python -m composition.cosmos_bootstrap`` or ``azd up`` (``infra/``), because a vector policy cannot be changed later.
:meth:`CosmosDocumentStore.container` checks that the container exists with the partition key and vector policy
the app expects, and fails with a message saying what to run when it does not.

Choices worth knowing (each is covered by ``tests/unit/test_cosmos_store.py``):

* **Reads are a parameterised query** (``SELECT * FROM c WHERE c["id"] = @id AND c[<pk>] = @pk``, scoped to the
  partition), not a point read. Both Cosmos DB and the Cosmos protocol test server the contract suite runs against
  answer it the same way (no rows), whereas the test server answers a point read of a missing item with a 500.
  The price on Cosmos DB is a little more per read than a point read (roughly 2-3 RUs instead of 1 for a 1 KB item).
* **Every value is a query parameter** (``@p0``, ``@p1``…); field names are validated with the same strict pattern
  as the SQLite store and written in bracket notation (``c["info"]["status"]``), so a field called ``value`` or
  ``order`` cannot collide with a keyword. The one exception is a patch's filter predicate, which Cosmos DB takes
  as text without parameters: there, values are JSON literals (``json.dumps`` escapes every quote and backslash,
  so a value can never end the string it is in).
* **``ne`` matches documents without the field**: ``(NOT IS_DEFINED(f) OR (IS_STRING(f) AND f != @p0))``. The type
  check changes nothing on Cosmos DB (comparing different types is undefined there, so never true) but states the
  semantics explicitly, and makes servers that compare across types (``null != true``) agree.
* **Vector search** is ``SELECT TOP @k c AS document, VectorDistance(c.embedding, @vector) AS score FROM c
  [WHERE filters] ORDER BY VectorDistance(c.embedding, @vector)``: for a cosine policy ``VectorDistance`` is the
  cosine *similarity* and ORDER BY puts the most similar first. ``min_score`` is applied to those top ``k`` rows
  here, not in the WHERE clause: a ``VectorDistance`` predicate would be evaluated for every candidate instead of
  letting the vector index pick the top ``k``, and the result is the same as the SQLite store's (the best ``k``,
  then the weak ones dropped). See :func:`build_vector_query`.
* **Hybrid search** is ``SELECT TOP @k VALUE c FROM c [WHERE filters] ORDER BY RANK RRF(VectorDistance(c.embedding,
  @vector), FullTextScore(c.name, @t0, @t1…), FullTextScore(c.description, @t0, @t1…)…)``: one ``FullTextScore``
  (BM25) per full-text path of the container, fused with the vector ranking by Cosmos DB's reciprocal rank fusion.
  The search terms are the distinct lower-cased words of the text, each a query parameter (the Azure SDKs pass
  parameters of hybrid queries through to every component query). Cosmos DB returns no fused score (``FullTextScore``
  and ``RRF`` cannot be projected), so a hit's score is ``1 / (RRF_K + rank)``. See :func:`build_hybrid_query`.
* **The change feed** is the SDK's latest-version change feed (``query_items_change_feed``); continuations are the
  SDK's own tokens. In Azure the Functions host's Cosmos DB trigger reads the feed (with leases), so the app itself
  only calls :meth:`CosmosDocumentContainer.read_changes` from tools and the local host.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceNotFoundError

from store.base import (
    RRF_K,
    SYSTEM_FIELDS,
    ChangeBatch,
    ConflictError,
    ContainerSpec,
    Document,
    DocumentContainer,
    DocumentStore,
    FieldFilter,
    NotFoundError,
    PatchOperation,
    PreconditionFailedError,
    ScoredDocument,
    VectorSpec,
)

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.cosmos.aio import ContainerProxy, CosmosClient

#: The same pattern as the SQLite store's (store/sqlite.py ``_FIELD_NAME``): plain identifiers, dots for nesting.
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
#: Characters Cosmos DB does not allow in an item id (they would also break the item's URL).
_FORBIDDEN_ID_CHARACTERS = frozenset("/\\?#")
#: Cosmos DB applies at most this many operations in one patch request.
MAX_PATCH_OPERATIONS = 10
#: At most this many distinct words of a hybrid search's text become ``FullTextScore`` terms (the first ones).
MAX_HYBRID_TERMS = 16
#: Words of a hybrid search's text: runs of letters, digits and underscores (the SQLite store's FTS5 tokens).
_WORD = re.compile(r"\w+")
_SQL_OPERATORS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_PATCH_OPS = ("set", "replace", "add", "remove", "incr")

Parameters = list[dict[str, Any]]


# --------------------------------------------------------------------------------------------------------------
# Query text (pure functions, unit-tested for their exact output)
# --------------------------------------------------------------------------------------------------------------


def field_reference(field_name: str, alias: str = "c") -> str:
    """``c["info"]["status"]`` for ``info.status``, refusing anything but plain identifiers.

    Raises:
        ValueError: the name is not letters, digits and underscores with dots between nested names.
    """
    if not isinstance(field_name, str) or not FIELD_NAME.fullmatch(field_name):
        raise ValueError(
            f"invalid field name {field_name!r}: use letters, digits and underscores, with dots for nested fields "
            "(e.g. 'price' or 'embedding_info.status')"
        )
    return alias + "".join(f'["{part}"]' for part in field_name.split("."))


def path_reference(path: str, alias: str = "c", what: str = "vector") -> str:
    """``c.embedding`` for the path ``/embedding``: the documented form, so the query matches the container's index.

    Raises:
        ValueError: ``path`` is not a JSON pointer of plain identifiers (``what`` names it in the message).
    """
    segments = path.strip("/").split("/") if isinstance(path, str) and path.startswith("/") else [""]
    if not all(FIELD_NAME.fullmatch(s) and "." not in s for s in segments):
        raise ValueError(f"invalid {what} path {path!r}: use a JSON pointer of plain names such as /embedding")
    return alias + "".join("." + segment for segment in segments)


def vector_reference(vector: VectorSpec, alias: str = "c") -> str:
    """``c.embedding`` for the path ``/embedding``: the documented form, so the query matches the vector index.

    Raises:
        ValueError: a path segment is not a plain identifier.
    """
    return path_reference(vector.path, alias)


def _type_check(field_name: str, value: Any) -> str:
    """The Cosmos SQL function that is true when the field has the filter value's JSON type."""
    if isinstance(value, bool):
        return "IS_BOOL"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"filter on {field_name!r}: {value} is not a JSON number")
        return "IS_NUMBER"
    if isinstance(value, str):
        return "IS_STRING"
    raise ValueError(f"filter on {field_name!r}: value must be a string, number or boolean, not {type(value).__name__}")


def _condition(condition: FieldFilter, placeholder: Any) -> str:
    """One filter as Cosmos SQL; ``placeholder(value)`` returns the text standing for the value."""
    reference = field_reference(condition.field)
    if condition.op not in _SQL_OPERATORS:
        raise ValueError(f"invalid filter operator {condition.op!r}: use one of {', '.join(_SQL_OPERATORS)}")
    type_check = _type_check(condition.field, condition.value)
    value = placeholder(condition.value)
    if condition.op == "ne":
        return f"(NOT IS_DEFINED({reference}) OR ({type_check}({reference}) AND {reference} != {value}))"
    return f"{reference} {_SQL_OPERATORS[condition.op]} {value}"


class _Parameters:
    """Collects filter values as query parameters named ``@p0``, ``@p1``… in order of use."""

    def __init__(self, items: Parameters) -> None:
        self.items = items
        self.count = 0

    def add(self, value: Any) -> str:
        name = f"@p{self.count}"
        self.count += 1
        self.items.append({"name": name, "value": value})
        return name


def build_where(filters: Sequence[FieldFilter], parameters: Sequence[Mapping[str, Any]] = ()) -> tuple[str, Parameters]:
    """The conditions of ``filters`` joined by AND (``""`` when there are none), with ``@pN`` parameters.

    Returns the condition text and ``parameters`` (copied) followed by the filter values.
    """
    collected = _Parameters([dict(parameter) for parameter in parameters])
    clauses = [_condition(condition, collected.add) for condition in filters]
    return " AND ".join(clauses), collected.items


def _partition_field(partition_key_path: str) -> str:
    return partition_key_path.lstrip("/")


def build_query(
    filters: Sequence[FieldFilter] = (),
    *,
    partition_key_path: str | None = None,
    partition_key: Any = None,
    order_by: str | None = None,
    descending: bool = False,
    limit: int | None = None,
) -> tuple[str, Parameters]:
    """The query text and parameters of :meth:`CosmosDocumentContainer.query`.

    With a ``partition_key`` the query also states ``c[<partition key field>] = @pk``: Cosmos DB scopes the query by
    the request's partition key anyway, and servers that only check the query text (the test server) need it.

    Raises:
        ValueError: an invalid field name, operator or value, or a negative ``limit``.
    """
    where, parameters = build_where(filters)
    clauses = [where] if where else []
    if partition_key is not None and partition_key_path is not None:
        clauses.append(f"{field_reference(_partition_field(partition_key_path))} = @pk")
        parameters.append({"name": "@pk", "value": partition_key})
    text = "SELECT * FROM c"
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be zero or more, not {limit}")
        text = "SELECT TOP @limit * FROM c"
        parameters.append({"name": "@limit", "value": limit})
    if clauses:
        text += " WHERE " + " AND ".join(clauses)
    if order_by is not None:
        text += f" ORDER BY {field_reference(order_by)} {'DESC' if descending else 'ASC'}"
    return text, parameters


def build_count_query(filters: Sequence[FieldFilter] = ()) -> tuple[str, Parameters]:
    """``SELECT VALUE COUNT(1) FROM c [WHERE …]`` and its parameters."""
    where, parameters = build_where(filters)
    return "SELECT VALUE COUNT(1) FROM c" + (f" WHERE {where}" if where else ""), parameters


def build_read_query(partition_key_path: str, item_id: str, partition_key: Any) -> tuple[str, Parameters]:
    """The query that reads one item by id in its partition (see the module docstring for why not a point read)."""
    text = f'SELECT * FROM c WHERE c["id"] = @id AND {field_reference(_partition_field(partition_key_path))} = @pk'
    return text, [{"name": "@id", "value": item_id}, {"name": "@pk", "value": partition_key}]


def build_vector_query(
    spec: ContainerSpec, vector: Sequence[float], k: int, filters: Sequence[FieldFilter] = ()
) -> tuple[str, Parameters]:
    """The query text and parameters of a vector search: the top ``k`` documents by cosine similarity.

    Each row is ``{"document": <the whole stored document>, "score": <cosine similarity>}``, most similar first.
    ``min_score`` is not part of the query: :meth:`CosmosDocumentContainer.vector_search` applies it to these rows
    (a ``VectorDistance`` predicate in WHERE would be computed for every candidate instead of using the index).

    Raises:
        ValueError: the container has no vector policy, ``vector`` has the wrong dimensions, is all zeros or not
            finite, ``k`` is not positive, or a filter is invalid.
    """
    distance, parameters = _vector_search_parts(spec, vector, k)
    where, parameters = build_where(filters, parameters)
    text = f"SELECT TOP @k c AS document, {distance} AS score FROM c"
    if where:
        text += f" WHERE {where}"
    return text + f" ORDER BY {distance}", parameters


def _vector_search_parts(spec: ContainerSpec, vector: Sequence[float], k: int) -> tuple[str, Parameters]:
    """``VectorDistance(c.<path>, @vector)`` and the ``@k`` and ``@vector`` parameters, after checking the request."""
    if spec.vector is None:
        raise ValueError(f"container {spec.name!r} has no vector policy, so it cannot be searched by vector")
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"k must be at least 1, not {k}")
    if not _is_array(vector) or len(vector) != spec.vector.dimensions:
        size = len(vector) if _is_array(vector) else "?"
        raise ValueError(
            f"the query vector has {size} dimensions; container {spec.name!r} holds "
            f"{spec.vector.dimensions}-dimensional vectors"
        )
    query_vector = _plain_vector(vector)
    if query_vector is None or not any(query_vector):
        raise ValueError("the query vector must be finite numbers and not all zeros")
    distance = f"VectorDistance({vector_reference(spec.vector)}, @vector)"
    return distance, [{"name": "@k", "value": k}, {"name": "@vector", "value": query_vector}]


def hybrid_terms(text: str) -> list[str]:
    """The full-text terms of a hybrid search: the distinct lower-cased words of ``text``, in order of appearance,
    at most :data:`MAX_HYBRID_TERMS` (Cosmos DB recommends single keywords over phrases for ``FullTextScore``)."""
    if not isinstance(text, str):
        raise ValueError(f"the search text must be a string, not {type(text).__name__}")
    return list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))[:MAX_HYBRID_TERMS]


def build_hybrid_query(
    spec: ContainerSpec, vector: Sequence[float], text: str, k: int, filters: Sequence[FieldFilter] = ()
) -> tuple[str, Parameters]:
    """The query text and parameters of a hybrid search: the top ``k`` documents by reciprocal rank fusion.

    ``SELECT TOP @k VALUE c FROM c [WHERE <filters>] ORDER BY RANK RRF(VectorDistance(c.embedding, @vector),
    FullTextScore(c.name, @t0, @t1…), …, [n, 1, …])``: one ``FullTextScore`` per full-text path of ``spec`` (the
    vector ranking weighted as all ``n`` of them together), in order, each
    scoring the same terms (:func:`hybrid_terms`), every term a parameter (``@t0``, ``@t1``…). Rows are whole
    documents, best first; Cosmos DB returns no fused score (``RRF`` and ``FullTextScore`` are only allowed in
    ``ORDER BY RANK``).

    With no terms (``text`` has no words) there is nothing to rank by text: the query is :func:`build_vector_query`'s,
    whose rows are ``{"document", "score"}``.

    Raises:
        ValueError: the container has no vector policy or no full-text paths, a full-text path is not a JSON pointer
            of plain names, or as :func:`build_vector_query`.
    """
    if not spec.full_text_paths:
        raise ValueError(
            f"container {spec.name!r} has no full-text paths (ContainerSpec.full_text_paths), so it cannot be "
            "searched by hybrid search"
        )
    scored_paths = [path_reference(path, what="full-text") for path in spec.full_text_paths]
    terms = hybrid_terms(text)
    if not terms:
        return build_vector_query(spec, vector, k, filters)
    distance, parameters = _vector_search_parts(spec, vector, k)
    names = []
    for index, term in enumerate(terms):
        names.append(f"@t{index}")
        parameters.append({"name": names[-1], "value": term})
    arguments = ", ".join(names)
    scores = ", ".join(f"FullTextScore({reference}, {arguments})" for reference in scored_paths)
    where, parameters = build_where(filters, parameters)
    query = "SELECT TOP @k VALUE c FROM c"
    if where:
        query += f" WHERE {where}"
    # Weights: the vector ranking counts as much as all the full-text rankings together, as in the embedded store
    # (one vector ranking fused with one full-text ranking over every field).
    weights = ", ".join([str(len(scored_paths))] + ["1"] * len(scored_paths))
    return query + f" ORDER BY RANK RRF({distance}, {scores}, [{weights}])", parameters


def _literal(value: Any) -> str:
    # ensure_ascii: only the escapes Cosmos SQL string literals share with JSON (\" \\ \uXXXX …) are produced.
    return json.dumps(value, ensure_ascii=True, allow_nan=False)


def build_filter_predicate(filters: Sequence[FieldFilter]) -> str | None:
    """A patch's filter predicate, ``FROM c WHERE …``, or ``None`` when there are no filters.

    Cosmos DB takes the predicate as text with no parameters, so values are written as JSON literals; the filters
    mean exactly what they mean in :func:`build_query`.

    Raises:
        ValueError: an invalid field name, operator or value.
    """
    if not filters:
        return None
    return "FROM c WHERE " + " AND ".join(_condition(condition, _literal) for condition in filters)


def _parse_pointer(path: str) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise ValueError(f"invalid path {path!r}: use a JSON pointer such as '/price' or '/embedding_info/status'")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def build_patch_operations(operations: Sequence[PatchOperation], protected: frozenset[str]) -> list[dict[str, Any]]:
    """The SDK's ``patch_operations`` for ``operations``, refusing what Cosmos DB would refuse with a 400.

    Args:
        operations: the operations, applied in order and atomically.
        protected: top-level fields that cannot be patched (the id, the partition key field, system fields).

    Raises:
        ValueError: an unknown op, an invalid or protected path, ``incr`` by a non-number, or more than
            :data:`MAX_PATCH_OPERATIONS` operations.
    """
    if not operations:
        raise ValueError("a patch needs at least one operation")
    if len(operations) > MAX_PATCH_OPERATIONS:
        raise ValueError(
            f"a patch takes at most {MAX_PATCH_OPERATIONS} operations in Cosmos DB, not {len(operations)}: "
            "split it, or replace the document"
        )
    translated = []
    for operation in operations:
        if operation.op not in _PATCH_OPS:
            raise ValueError(f"invalid patch op {operation.op!r}: use set, replace, add, remove or incr")
        tokens = _parse_pointer(operation.path)
        if tokens[0] in protected:
            raise ValueError(f"patch path {operation.path!r} targets {tokens[0]!r}, which cannot be patched")
        if operation.op == "incr" and not _is_number(operation.value):
            raise ValueError(f"incr at {operation.path!r} needs a number, not {operation.value!r}")
        if operation.op == "remove":
            translated.append({"op": "remove", "path": operation.path})
        else:
            translated.append({"op": operation.op, "path": operation.path, "value": operation.value})
    return translated


# --------------------------------------------------------------------------------------------------------------
# Errors, documents, container properties
# --------------------------------------------------------------------------------------------------------------


def _service_message(error: CosmosHttpResponseError) -> str:
    """The first line of what the service said (the SDK appends headers and diagnostics)."""
    message = str(getattr(error, "message", None) or error).strip().splitlines()
    return (message[0] if message else "")[:300]


def translate_error(error: CosmosHttpResponseError, what: str) -> Exception:
    """The store error for a Cosmos DB error: 404 → NotFoundError, 409 → ConflictError, 412 →
    PreconditionFailedError, 400 → ValueError; anything else (throttling, outages) is returned unchanged."""
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
    if status == 400:
        return ValueError(f"{what}: Cosmos DB refused the request ({detail})")
    return error


@contextmanager
def _cosmos_errors(what: str) -> Iterator[None]:
    try:
        yield
    except CosmosHttpResponseError as error:
        translated = translate_error(error, what)
        if translated is error:
            raise
        raise translated from error


def _is_array(value: Any) -> bool:
    """A list, tuple or array-like (numpy), not a string or a mapping."""
    return hasattr(value, "__len__") and hasattr(value, "__iter__") and not isinstance(value, str | bytes | Mapping)


def _plain_vector(value: Any) -> list[float] | None:
    """``value`` as a list of Python floats when it is a sequence of finite real numbers, else ``None``."""
    if not _is_array(value) or len(value) == 0:
        return None
    try:
        floats = [float(x) for x in value if not isinstance(x, bool | str | bytes)]
    except (TypeError, ValueError):
        return None
    if len(floats) != len(value) or not all(map(math.isfinite, floats)):
        return None
    return floats


def _has_searchable_vector(document: Mapping[str, Any], vector: VectorSpec) -> bool:
    value: Any = document
    for token in _parse_pointer(vector.path):
        if not isinstance(value, Mapping) or token not in value:
            return False
        value = value[token]
    floats = _plain_vector(value)
    return floats is not None and len(floats) == vector.dimensions and any(floats)


def scored_documents(rows: Sequence[Any], spec: ContainerSpec, min_score: float | None = None) -> list[ScoredDocument]:
    """The hits of a :func:`build_vector_query` result, best first.

    Rows come most similar first; the first row below ``min_score`` ends the list. Rows without a numeric score
    and documents without a vector of the container's dimensions are dropped (Cosmos DB gives them no meaningful
    distance), so a search may return fewer than ``k`` hits.
    """
    if spec.vector is None:
        raise ValueError(f"container {spec.name!r} has no vector policy")
    results = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        raw_score: Any = row.get("score")
        document = row.get("document")
        if not _is_number(raw_score) or not math.isfinite(raw_score) or not isinstance(document, dict):
            continue
        score = float(raw_score)
        if min_score is not None and score < min_score:
            break
        if _has_searchable_vector(document, spec.vector):
            results.append(ScoredDocument(document, score))
    return results


def ranked_documents(rows: Sequence[Any], spec: ContainerSpec) -> list[ScoredDocument]:
    """The hits of a :func:`build_hybrid_query` result (whole documents, best first), scored by rank.

    Cosmos DB does not return the fused score of ``ORDER BY RANK RRF(...)``, so the hit at (1-based) rank ``r`` of
    the returned order scores ``1 / (RRF_K + r)``: what a document ranked ``r`` by one of the fused rankings alone
    would score. Documents without a vector of the container's dimensions are dropped (they keep no rank of their
    own, so the hits after them keep the scores of their place in Cosmos DB's order).
    """
    if spec.vector is None:
        raise ValueError(f"container {spec.name!r} has no vector policy")
    return [
        ScoredDocument(document, 1.0 / (RRF_K + rank))
        for rank, document in enumerate(rows, start=1)
        if isinstance(document, dict) and _has_searchable_vector(document, spec.vector)
    ]


def _match_conditions(if_match: str | None) -> dict[str, Any]:
    if if_match is None:
        return {}
    return {"etag": if_match, "match_condition": MatchConditions.IfNotModified}


def spec_mismatch(spec: ContainerSpec, properties: Mapping[str, Any]) -> str | None:
    """What makes an existing container (its ``read()`` properties) unfit for ``spec``, or ``None``."""
    paths = list((properties.get("partitionKey") or {}).get("paths") or [])
    if paths != [spec.partition_key_path]:
        return f"its partition key is {paths} where the app needs [{spec.partition_key_path!r}]"
    if spec.vector is None:
        return None
    embeddings = (properties.get("vectorEmbeddingPolicy") or {}).get("vectorEmbeddings") or []
    match = next((entry for entry in embeddings if entry.get("path") == spec.vector.path), None)
    if match is None:
        return f"it has no vector embedding policy for {spec.vector.path} (it has {embeddings})"
    if match.get("dimensions") != spec.vector.dimensions:
        return (
            f"its vector policy holds {match.get('dimensions')}-dimensional vectors at {spec.vector.path} where the "
            f"embedding model makes {spec.vector.dimensions}"
        )
    if str(match.get("distanceFunction", "")).lower() != spec.vector.distance:
        return f"its vector policy uses {match.get('distanceFunction')!r} distance where the app needs cosine"
    return None


def _decode_continuation(continuation: str) -> None:
    """Refuse a continuation that is not one of the SDK's change-feed tokens (base64 of a JSON object)."""
    try:
        state = json.loads(base64.b64decode(continuation.encode("ascii"), validate=True))
    except (UnicodeError, ValueError, binascii.Error):
        state = None
    if not isinstance(state, dict) or "containerRid" not in state:
        raise ValueError(f"continuation {continuation[:40]!r} was not issued by this store's change feed")


# --------------------------------------------------------------------------------------------------------------
# Store and container
# --------------------------------------------------------------------------------------------------------------


class CosmosDocumentStore(DocumentStore):
    """The containers of one Cosmos DB database, sharing one ``CosmosClient``.

    Args:
        endpoint: the account endpoint, ``https://<account>.documents.azure.com:443/``.
        database: the database name.
        credential: an account key, or an async token credential; ``None`` uses ``DefaultAzureCredential``
            (created on first use, closed by :meth:`close`).
        managed_identity_client_id: the user-assigned managed identity ``DefaultAzureCredential`` should use.
        create_containers: create a missing database or container from its spec (tests and throwaway databases
            only; the app relies on ``python -m composition.cosmos_bootstrap`` or ``azd up``).
        vector_index_type: the vector index of containers this store creates (only with ``create_containers``).
        client_options: further keyword arguments for ``CosmosClient`` (timeouts, preferred regions…).
    """

    def __init__(
        self,
        endpoint: str,
        database: str,
        *,
        credential: str | AsyncTokenCredential | None = None,
        managed_identity_client_id: str | None = None,
        create_containers: bool = False,
        vector_index_type: str = "quantizedFlat",
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not endpoint:
            raise ValueError(
                "the Cosmos DB endpoint is empty; example: "
                "COSMOS_CONNECTION__accountEndpoint=https://myaccount.documents.azure.com:443/"
            )
        if isinstance(credential, str):
            try:
                base64.b64decode(credential.encode("ascii"), validate=True)
            except (UnicodeError, binascii.Error):
                raise ValueError(
                    "the Cosmos DB account key is not base64 (COSMOS_KEY): copy the primary key of the account"
                ) from None
        self.endpoint = endpoint
        self.database_name = database
        self.create_containers = create_containers
        self.vector_index_type = vector_index_type
        self._credential = credential
        self._managed_identity_client_id = managed_identity_client_id
        self._owned_credential: Any = None
        self._client_options = dict(client_options or {})
        self._client: CosmosClient | None = None
        self._containers: dict[str, CosmosDocumentContainer] = {}
        self._closed = False

    def client(self) -> CosmosClient:
        """The store's one ``CosmosClient``, created on first use (inside the event loop that will use it)."""
        if self._closed:
            raise RuntimeError(f"the Cosmos DB store for {self.endpoint} is closed")
        if self._client is None:
            from azure.cosmos.aio import CosmosClient

            credential = self._credential
            if credential is None:
                from azure.identity.aio import DefaultAzureCredential

                credential = self._owned_credential = DefaultAzureCredential(
                    managed_identity_client_id=self._managed_identity_client_id
                )
            options = {"user_agent_suffix": "catalog-search-functions", **self._client_options}
            self._client = CosmosClient(self.endpoint, credential=credential, **options)
        return self._client

    async def container(self, spec: ContainerSpec) -> CosmosDocumentContainer:
        """The existing container described by ``spec`` (checked once, then reused).

        Raises:
            NotFoundError: the database or container does not exist (and ``create_containers`` is off).
            ValueError: the container exists with another partition key or vector policy.
        """
        opened = self._containers.get(spec.name)
        if opened is not None and opened.spec == spec:
            return opened
        database = self.client().get_database_client(self.database_name)
        proxy = database.get_container_client(spec.name)
        try:
            properties = await proxy.read()
        except CosmosResourceNotFoundError:
            if not self.create_containers:
                raise NotFoundError(
                    f"Cosmos DB container {spec.name!r} does not exist in database {self.database_name!r} at "
                    f"{self.endpoint}: create the database and containers with "
                    "`python -m composition.cosmos_bootstrap` (or `azd up`)"
                ) from None
            from store.cosmos_bootstrap import definition_for_spec, ensure_container

            await ensure_container(self.client(), self.database_name, definition_for_spec(spec, self.vector_index_type))
            properties = await proxy.read()
        problem = spec_mismatch(spec, properties)
        if problem is not None:
            raise ValueError(
                f"Cosmos DB container {spec.name!r} in database {self.database_name!r} cannot be used: {problem}. "
                "Vector and partition key policies cannot change on an existing container: create a new container "
                "with `python -m composition.cosmos_bootstrap` (after setting its name, e.g. "
                "COSMOS_PRODUCTS_CONTAINER) "
                "and re-embed into it, or delete this one and bootstrap again"
            )
        container = CosmosDocumentContainer(self, spec, proxy)
        self._containers[spec.name] = container
        return container

    async def close(self) -> None:
        """Close the client (and the credential the store created); the store cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._owned_credential is not None:
            await self._owned_credential.close()
            self._owned_credential = None


class CosmosDocumentContainer(DocumentContainer):
    """One container of a :class:`CosmosDocumentStore`; obtain it with :meth:`CosmosDocumentStore.container`."""

    def __init__(self, store: CosmosDocumentStore, spec: ContainerSpec, proxy: ContainerProxy) -> None:
        self.spec = spec
        self._store = store
        self._proxy = proxy
        self._partition_field = _partition_field(spec.partition_key_path)
        self._protected = frozenset({"id", self._partition_field, *SYSTEM_FIELDS})
        self._vector_tokens = _parse_pointer(spec.vector.path) if spec.vector else None

    def _what(self, item_id: Any = None) -> str:
        where = f"container {self.name!r}"
        return where if item_id is None else f"document {item_id!r} in {where}"

    def _prepare(self, document: Mapping[str, Any]) -> Document:
        """A copy to send: system fields dropped, the vector as plain floats, id and partition key checked."""
        if not isinstance(document, Mapping):
            raise TypeError(f"a document must be a mapping, not {type(document).__name__}")
        item_id = document.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise ValueError(f"a document needs a non-empty string 'id', got {item_id!r}")
        if _FORBIDDEN_ID_CHARACTERS & set(item_id):
            raise ValueError(f"document id {item_id!r} contains one of / \\ ? #, which Cosmos DB does not allow")
        self.partition_key_of(document)
        body = {key: value for key, value in document.items() if key not in SYSTEM_FIELDS}
        if self._vector_tokens is not None:
            parent: dict[str, Any] = body
            for token in self._vector_tokens[:-1]:
                child = parent.get(token)
                if not isinstance(child, dict):
                    return body
                parent[token] = child = dict(child)
                parent = child
            vector = _plain_vector(parent.get(self._vector_tokens[-1]))
            if vector is not None:
                parent[self._vector_tokens[-1]] = vector
        return body

    async def _query(self, text: str, parameters: Parameters, partition_key: Any = None) -> list[Any]:
        options: dict[str, Any] = {} if partition_key is None else {"partition_key": partition_key}
        with _cosmos_errors(f"query on {self._what()}"):
            return [row async for row in self._proxy.query_items(text, parameters=parameters, **options)]

    # ---- the interface ---------------------------------------------------------------------------------------

    async def read(self, item_id: str, partition_key: Any) -> Document | None:
        text, parameters = build_read_query(self.spec.partition_key_path, item_id, partition_key)
        rows = await self._query(text, parameters, partition_key)
        return rows[0] if rows else None

    async def create(self, document: Document) -> Document:
        body = self._prepare(document)
        with _cosmos_errors(f"create of {self._what(body['id'])}"):
            return await self._proxy.create_item(body)

    async def upsert(self, document: Document) -> Document:
        body = self._prepare(document)
        with _cosmos_errors(f"upsert of {self._what(body['id'])}"):
            return await self._proxy.upsert_item(body)

    async def replace(self, document: Document, *, if_match: str | None = None) -> Document:
        body = self._prepare(document)
        with _cosmos_errors(f"replace of {self._what(body['id'])}"):
            return await self._proxy.replace_item(body["id"], body, **_match_conditions(if_match))

    async def patch(
        self,
        item_id: str,
        partition_key: Any,
        operations: Sequence[PatchOperation],
        *,
        if_match: str | None = None,
        filter_predicate: Sequence[FieldFilter] = (),
    ) -> Document:
        patch_operations = build_patch_operations(list(operations), self._protected)
        predicate = build_filter_predicate(filter_predicate)
        options = _match_conditions(if_match)
        if predicate is not None:
            options["filter_predicate"] = predicate
        with _cosmos_errors(f"patch of {self._what(item_id)}"):
            return await self._proxy.patch_item(item_id, partition_key, patch_operations, **options)

    async def delete(self, item_id: str, partition_key: Any, *, if_match: str | None = None) -> None:
        with _cosmos_errors(f"delete of {self._what(item_id)}"):
            await self._proxy.delete_item(item_id, partition_key, **_match_conditions(if_match))

    async def query(
        self,
        filters: Sequence[FieldFilter] = (),
        *,
        partition_key: Any = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        """Documents matching every filter, optionally in one partition, ordered and limited.

        Ordering is Cosmos DB's (undefined first, then null, booleans, numbers, strings); unlike the SQLite store,
        documents with equal values come in no particular order (a tie-breaker would need a composite index).

        Raises:
            ValueError: an invalid field name, operator or value, or a negative ``limit``.
        """
        text, parameters = build_query(
            filters,
            partition_key_path=self.spec.partition_key_path,
            partition_key=partition_key,
            order_by=order_by,
            descending=descending,
            limit=limit,
        )
        if limit == 0:
            return []
        return await self._query(text, parameters, partition_key)

    async def count(self, filters: Sequence[FieldFilter] = ()) -> int:
        text, parameters = build_count_query(filters)
        # A cross-partition aggregate may come back as one partial count per partition.
        return int(sum(await self._query(text, parameters)))

    async def vector_search(
        self,
        vector: Sequence[float],
        k: int,
        *,
        filters: Sequence[FieldFilter] = (),
        min_score: float | None = None,
    ) -> list[ScoredDocument]:
        """The ``k`` documents most similar to ``vector`` (Cosmos DB's vector index), best first.

        ``min_score`` drops the weaker of those ``k``; rows whose document has no vector of the container's
        dimensions are dropped too (Cosmos DB gives them no meaningful distance).

        Raises:
            ValueError: the container has no vector policy, ``vector`` has the wrong dimensions, is all zeros or not
                finite, ``k`` is not positive, or a filter is invalid.
        """
        text, parameters = build_vector_query(self.spec, vector, k, filters)
        return scored_documents(await self._query(text, parameters), self.spec, min_score)

    async def hybrid_search(
        self,
        vector: Sequence[float],
        text: str,
        k: int,
        *,
        filters: Sequence[FieldFilter] = (),
    ) -> list[ScoredDocument]:
        """The ``k`` best documents by Cosmos DB's reciprocal rank fusion of vector and BM25 rankings, best first.

        The query is :func:`build_hybrid_query`'s: ``ORDER BY RANK RRF(VectorDistance(...), FullTextScore(<path>,
        <terms>)...)`` with one ``FullTextScore`` per full-text path. Cosmos DB returns the fused order but not the
        fused scores (``RRF`` and ``FullTextScore`` cannot be projected), so each hit's ``score`` is
        ``1 / (RRF_K + rank)`` for its 1-based rank in that order: it decreases as the SQLite store's fused score does,
        but is not the same number. When ``text`` has no words, the ranking is the vector ranking alone, scored the
        same way. Documents without a vector of the container's dimensions are dropped, so fewer than ``k`` may come
        back.

        Needs the account capability ``EnableNoSQLFullTextSearch`` and, for the full-text index to be used, the
        container's full-text policy and indexes (``python -m composition.cosmos_bootstrap`` or ``azd up``).

        Raises:
            ValueError: the container has no vector policy or no ``full_text_paths``, or as :meth:`vector_search`.
        """
        query, parameters = build_hybrid_query(self.spec, vector, text, k, filters)
        rows = await self._query(query, parameters)
        if not hybrid_terms(text):
            # The vector query's rows: {"document": ..., "score": <cosine similarity>}, most similar first.
            rows = [row.get("document") for row in rows if isinstance(row, Mapping)]
        return ranked_documents(rows, self.spec)

    async def read_changes(
        self, continuation: str | None, max_items: int, *, from_beginning: bool = True
    ) -> ChangeBatch:
        """One page of the latest-version change feed after ``continuation`` (the SDK's token).

        With no continuation, reading starts at the beginning, or "from now" when ``from_beginning`` is false.
        ``has_more`` is true when the page is full: the feed does not say whether more changes are waiting, so a
        full page may be followed by an empty one. Hard deletes do not appear.

        Raises:
            ValueError: ``max_items`` is not positive, or ``continuation`` was not issued by a Cosmos DB change feed.
        """
        if max_items <= 0:
            raise ValueError(f"max_items must be at least 1, not {max_items}")
        options: dict[str, Any] = {"max_item_count": max_items}
        if continuation is not None:
            _decode_continuation(continuation)
            options["continuation"] = continuation
        else:
            options["start_time"] = "Beginning" if from_beginning else "Now"
        documents: list[Document] = []
        token: str | None = None
        with _cosmos_errors(f"change feed of {self._what()}"):
            pages: Any = self._proxy.query_items_change_feed(**options).by_page()  # an AsyncPageIterator
            async for page in pages:
                documents = [document async for document in page]
                token = pages.continuation_token
                break
            else:
                # An empty response ends the iteration before the SDK hands out a page continuation; the token it
                # computed is in the response headers, read here before any other await could replace them.
                token = self._proxy.client_connection.last_response_headers.get("etag")
        return ChangeBatch(documents, token or continuation, len(documents) >= max_items)
