"""The text Cosmos DB is sent: queries, patch filter predicates and patch operations (pure; unit-tested exactly).

* **Every value is a query parameter** (``@p0``, ``@p1``…); field names are validated with the rule both stores
  share (:func:`store.fields.field_parts`) and written in bracket notation (``c["info"]["status"]``), so a field
  called ``value`` or ``order`` cannot collide with a keyword. The one exception is a patch's filter predicate, which
  Cosmos DB takes as text without parameters: there, values are JSON literals (``json.dumps`` escapes every quote
  and backslash, so a value can never end the string it is in).
* **``ne`` matches documents without the field**: ``(NOT IS_DEFINED(f) OR (IS_STRING(f) AND f != @p0))``. The type
  check changes nothing on Cosmos DB (comparing different types is undefined there, so never true) but states the
  semantics explicitly, and makes servers that compare across types (``null != true``) agree.
* **Vector search** is ``SELECT TOP @k c AS document, VectorDistance(c.embedding, @vector) AS score FROM c
  [WHERE filters] ORDER BY VectorDistance(c.embedding, @vector)``: for a cosine policy ``VectorDistance`` is the
  cosine *similarity* and ORDER BY puts the most similar first. ``min_score`` is applied to those top ``k`` rows,
  not in the WHERE clause: a ``VectorDistance`` predicate would be evaluated for every candidate instead of letting
  the vector index pick the top ``k``.
* **Hybrid search** is ``SELECT TOP @k VALUE c FROM c [WHERE filters] ORDER BY RANK RRF(VectorDistance(c.embedding,
  @vector), FullTextScore(c.name, @t0, @t1…), FullTextScore(c.description, @t0, @t1…)…)``: one ``FullTextScore``
  (BM25) per full-text path of the container, fused with the vector ranking by Cosmos DB's reciprocal rank fusion.
  The search terms are the distinct lower-cased words of the text (:func:`store.fields.words`), each a parameter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from store.base import ContainerSpec, FieldFilter, PatchOperation, VectorSpec
from store.fields import check_patch_operation, field_parts, plain_path_parts, words

#: Cosmos DB applies at most this many operations in one patch request.
MAX_PATCH_OPERATIONS = 10
#: At most this many distinct words of a hybrid search's text become ``FullTextScore`` terms (the first ones).
MAX_HYBRID_TERMS = 16
_SQL_OPERATORS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

Parameters = list[dict[str, Any]]


def field_reference(field_name: str, alias: str = "c") -> str:
    """``c["info"]["status"]`` for ``info.status``, refusing anything but plain identifiers.

    Raises:
        ValueError: the name is not letters, digits and underscores with dots between nested names.
    """
    return alias + "".join(f'["{part}"]' for part in field_parts(field_name))


def path_reference(path: str, alias: str = "c", what: str = "vector") -> str:
    """``c.embedding`` for the path ``/embedding``: the documented form, so the query matches the container's index.

    Raises:
        ValueError: ``path`` is not a JSON pointer of plain identifiers (``what`` names it in the message).
    """
    return alias + "".join("." + part for part in plain_path_parts(path, what))


def vector_reference(vector: VectorSpec, alias: str = "c") -> str:
    """``c.embedding`` for the path ``/embedding``: the documented form, so the query matches the vector index.

    Raises:
        ValueError: a path segment is not a plain identifier.
    """
    return path_reference(vector.path, alias)


def is_array(value: Any) -> bool:
    """A list, tuple or array-like (numpy), not a string or a mapping."""
    return hasattr(value, "__len__") and hasattr(value, "__iter__") and not isinstance(value, str | bytes | Mapping)


def plain_vector(value: Any) -> list[float] | None:
    """``value`` as a list of Python floats when it is a sequence of finite real numbers, else ``None``."""
    if not is_array(value) or len(value) == 0:
        return None
    try:
        floats = [float(x) for x in value if not isinstance(x, bool | str | bytes)]
    except (TypeError, ValueError):
        return None
    if len(floats) != len(value) or not all(map(math.isfinite, floats)):
        return None
    return floats


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


def _condition(condition: FieldFilter, placeholder: Callable[[Any], str]) -> str:
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
        clauses.append(f"{field_reference(partition_key_path.lstrip('/'))} = @pk")
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


def build_vector_query(
    spec: ContainerSpec,
    vector: Sequence[float],
    k: int,
    filters: Sequence[FieldFilter] = (),
    path: str | None = None,
) -> tuple[str, Parameters]:
    """The query text and parameters of a vector search: the top ``k`` documents by cosine similarity.

    Each row is ``{"document": <the whole stored document>, "score": <cosine similarity>}``, most similar first.
    ``min_score`` is not part of the query (see the module docstring). ``path`` names the vector compared, one of the
    spec's (``None``: the main one); it comes from the spec, never from a request.

    Raises:
        ValueError: the container has no vector policy (at ``path``), ``vector`` has the wrong dimensions, is all
            zeros or not finite, ``k`` is not positive, or a filter is invalid.
    """
    distance, parameters = _vector_search_parts(spec, vector, k, path)
    where, parameters = build_where(filters, parameters)
    text = f"SELECT TOP @k c AS document, {distance} AS score FROM c"
    if where:
        text += f" WHERE {where}"
    return text + f" ORDER BY {distance}", parameters


def _vector_search_parts(
    spec: ContainerSpec, vector: Sequence[float], k: int, path: str | None = None
) -> tuple[str, Parameters]:
    """``VectorDistance(c.<path>, @vector)`` and the ``@k`` and ``@vector`` parameters, after checking the request."""
    policy = spec.vector_at(path)
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"k must be at least 1, not {k}")
    if not is_array(vector) or len(vector) != policy.dimensions:
        size = len(vector) if is_array(vector) else "?"
        raise ValueError(
            f"the query vector has {size} dimensions; container {spec.name!r} holds "
            f"{policy.dimensions}-dimensional vectors at {policy.path}"
        )
    query_vector = plain_vector(vector)
    if query_vector is None or not any(query_vector):
        raise ValueError("the query vector must be finite numbers and not all zeros")
    distance = f"VectorDistance({vector_reference(policy)}, @vector)"
    return distance, [{"name": "@k", "value": k}, {"name": "@vector", "value": query_vector}]


def hybrid_terms(text: str) -> list[str]:
    """The full-text terms of a hybrid search: the distinct lower-cased words of ``text``, in order of appearance,
    at most :data:`MAX_HYBRID_TERMS` (Cosmos DB recommends single keywords over phrases for ``FullTextScore``)."""
    if not isinstance(text, str):
        raise ValueError(f"the search text must be a string, not {type(text).__name__}")
    return words(text)[:MAX_HYBRID_TERMS]


def build_hybrid_query(
    spec: ContainerSpec,
    vector: Sequence[float],
    text: str,
    k: int,
    filters: Sequence[FieldFilter] = (),
    path: str | None = None,
) -> tuple[str, Parameters]:
    """The query text and parameters of a hybrid search: the top ``k`` documents by reciprocal rank fusion.

    ``SELECT TOP @k VALUE c FROM c [WHERE <filters>] ORDER BY RANK RRF(VectorDistance(c.embedding, @vector),
    FullTextScore(c.name, @t0, @t1…), …, [n, 1, …])``: one ``FullTextScore`` per full-text path of ``spec`` (the
    vector ranking weighted as all ``n`` of them together), in order, each scoring the same terms
    (:func:`hybrid_terms`), every term a parameter (``@t0``, ``@t1``…). Rows are whole documents, best first;
    Cosmos DB returns no fused score (``RRF`` and ``FullTextScore`` are only allowed in ``ORDER BY RANK``).

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
        return build_vector_query(spec, vector, k, filters, path)
    distance, parameters = _vector_search_parts(spec, vector, k, path)
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
        check_patch_operation(operation, protected)
        if operation.op == "remove":
            translated.append({"op": "remove", "path": operation.path})
        else:
            translated.append({"op": operation.op, "path": operation.path, "value": operation.value})
    return translated
