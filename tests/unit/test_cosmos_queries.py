"""What the Cosmos DB store sends and how it reads the answers, checked exactly and without a server: query text,
patch filter predicates and operations, request bodies, search hits and error mapping.

The contract suite (``tests/contract``) and ``test_cosmos_store.py`` run the store against a Cosmos DB protocol
server; what that server cannot run (``VectorDistance``, ``FullTextScore`` and ``RRF``) or cannot show (that values
never reach the query text) is pinned down here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosHttpResponseError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from store.base import (
    RRF_K,
    ConflictError,
    ContainerSpec,
    FieldFilter,
    NotFoundError,
    PatchOperation,
    PreconditionFailedError,
    RejectedDocumentError,
    VectorSpec,
)
from store.cosmos.definitions import spec_mismatch
from store.cosmos.documents import (
    document_body,
    hybrid_hits,
    is_missing_item,
    ranked_documents,
    scored_documents,
    translate_error,
)
from store.cosmos.queries import (
    MAX_HYBRID_TERMS,
    MAX_PATCH_OPERATIONS,
    build_count_query,
    build_filter_predicate,
    build_hybrid_query,
    build_patch_operations,
    build_query,
    build_vector_query,
    field_reference,
    hybrid_terms,
)

PRODUCTS = ContainerSpec("products", "/id", VectorSpec("/embedding", 3))
MALICIOUS = "x' OR 1=1 --"
PROTECTED = frozenset({"id", "_etag", "_ts", "_rid", "_self", "_attachments", "_lsn"})


def parameter_values(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {parameter["name"]: parameter["value"] for parameter in parameters}


# --------------------------------------------------------------------------------------------------------------
# Vector search
# --------------------------------------------------------------------------------------------------------------


def test_vector_query_text_and_parameters_without_filters() -> None:
    text, parameters = build_vector_query(PRODUCTS, [0.5, -0.25, 1], 5)

    assert text == (
        "SELECT TOP @k c AS document, VectorDistance(c.embedding, @vector) AS score FROM c "
        "ORDER BY VectorDistance(c.embedding, @vector)"
    )
    assert parameters == [{"name": "@k", "value": 5}, {"name": "@vector", "value": [0.5, -0.25, 1.0]}]
    assert all(isinstance(x, float) for x in parameters[1]["value"])


def test_vector_query_with_filters_keeps_every_value_a_parameter() -> None:
    filters = [
        FieldFilter("category_name", "eq", MALICIOUS),
        FieldFilter("deleted", "ne", True),
        FieldFilter("price", "le", 50),
    ]

    text, parameters = build_vector_query(PRODUCTS, [0.1, 0.2, 0.3], 10, filters)

    assert text == (
        "SELECT TOP @k c AS document, VectorDistance(c.embedding, @vector) AS score FROM c "
        'WHERE c["category_name"] = @p0 '
        'AND (NOT IS_DEFINED(c["deleted"]) OR (IS_BOOL(c["deleted"]) AND c["deleted"] != @p1)) '
        'AND c["price"] <= @p2 '
        "ORDER BY VectorDistance(c.embedding, @vector)"
    )
    assert parameters == [
        {"name": "@k", "value": 10},
        {"name": "@vector", "value": [0.1, 0.2, 0.3]},
        {"name": "@p0", "value": MALICIOUS},
        {"name": "@p1", "value": True},
        {"name": "@p2", "value": 50},
    ]
    assert "1=1" not in text and "'" not in text


def test_vector_query_follows_the_containers_vector_path() -> None:
    spec = ContainerSpec("cache", "/scope", VectorSpec("/vectors/question", 2))
    text, _ = build_vector_query(spec, [1.0, 0.0], 1)
    assert "VectorDistance(c.vectors.question, @vector)" in text


def test_a_search_of_the_second_slot_names_its_path_and_keeps_every_value_a_parameter() -> None:
    spec = ContainerSpec(
        "products",
        "/id",
        VectorSpec("/embedding", 3),
        full_text_paths=("/name",),
        extra_vectors=(VectorSpec("/embedding_b", 2),),
    )
    filters = [FieldFilter("deleted", "ne", True), FieldFilter("embedding_info_b.model", "eq", MALICIOUS)]

    text, parameters = build_vector_query(spec, [0.5, 0.5], 4, filters, path="/embedding_b")

    assert text == (
        "SELECT TOP @k c AS document, VectorDistance(c.embedding_b, @vector) AS score FROM c "
        'WHERE (NOT IS_DEFINED(c["deleted"]) OR (IS_BOOL(c["deleted"]) AND c["deleted"] != @p0)) '
        'AND c["embedding_info_b"]["model"] = @p1 '
        "ORDER BY VectorDistance(c.embedding_b, @vector)"
    )
    assert parameters[-1] == {"name": "@p1", "value": MALICIOUS}
    hybrid, _ = build_hybrid_query(spec, [0.5, 0.5], "tent", 4, filters, path="/embedding_b")
    assert "RRF(VectorDistance(c.embedding_b, @vector)" in hybrid
    # The slot's own size, and only the paths the spec names.
    with pytest.raises(ValueError, match="2-dimensional vectors at /embedding_b"):
        build_vector_query(spec, [0.5, 0.5, 0.5], 4, path="/embedding_b")
    with pytest.raises(ValueError, match="no vector policy at /elsewhere"):
        build_vector_query(spec, [0.5, 0.5], 4, path="/elsewhere")


@pytest.mark.parametrize(
    ("spec", "vector", "k", "message"),
    [
        (ContainerSpec("plain"), [1.0, 0.0, 0.0], 3, "no vector policy"),
        (PRODUCTS, [1.0, 0.0], 3, "dimensions"),
        (PRODUCTS, [1.0, 0.0, 0.0, 0.0], 3, "dimensions"),
        (PRODUCTS, [0.0, 0.0, 0.0], 3, "zeros"),
        (PRODUCTS, [float("nan"), 0.0, 1.0], 3, "finite"),
        (PRODUCTS, ["1", 0.0, 1.0], 3, "finite"),
        (PRODUCTS, [1.0, 0.0, 0.0], 0, "k must be"),
        (PRODUCTS, [1.0, 0.0, 0.0], True, "k must be"),
    ],
    ids=["no-policy", "short", "long", "zeros", "nan", "string-element", "k-zero", "k-bool"],
)
def test_vector_query_refuses_bad_requests(spec: ContainerSpec, vector: list, k: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_vector_query(spec, vector, k)


def test_scored_documents_stop_at_min_score_and_drop_rows_without_a_usable_vector() -> None:
    rows = [
        {"document": {"id": "a", "embedding": [1.0, 0.0, 0.0]}, "score": 0.99},
        {"document": {"id": "short", "embedding": [1.0, 0.0]}, "score": 0.95},
        {"document": {"id": "none"}, "score": 0.94},
        {"document": {"id": "b", "embedding": [0.0, 1, 0]}, "score": 0.9},
        {"document": {"id": "no-score", "embedding": [0.0, 1.0, 0.0]}},
        {"document": {"id": "c", "embedding": [0.0, 0.0, 1.0]}, "score": 0.5},
        {"document": {"id": "d", "embedding": [0.0, 0.0, 1.0]}, "score": 0.95},
    ]

    hits = scored_documents(rows, PRODUCTS, min_score=0.8)

    # "d" is never reached: rows come best first, so the first one under min_score ends the list.
    assert [(hit.document["id"], hit.score) for hit in hits] == [("a", 0.99), ("b", 0.9)]
    assert [hit.document["id"] for hit in scored_documents(rows, PRODUCTS)] == ["a", "b", "c", "d"]


# --------------------------------------------------------------------------------------------------------------
# Hybrid search
# --------------------------------------------------------------------------------------------------------------

SEARCHABLE = ContainerSpec(
    "products", "/id", VectorSpec("/embedding", 3), full_text_paths=("/name", "/category_name", "/description")
)


def test_hybrid_query_text_and_parameters() -> None:
    text, parameters = build_hybrid_query(SEARCHABLE, [0.5, -0.25, 1], "Camp KETTLE, camp stove", 5)

    assert text == (
        "SELECT TOP @k VALUE c FROM c "
        "ORDER BY RANK RRF(VectorDistance(c.embedding, @vector), "
        "FullTextScore(c.name, @t0, @t1, @t2), "
        "FullTextScore(c.category_name, @t0, @t1, @t2), "
        "FullTextScore(c.description, @t0, @t1, @t2), [3, 1, 1, 1])"
    )
    assert parameters == [
        {"name": "@k", "value": 5},
        {"name": "@vector", "value": [0.5, -0.25, 1.0]},
        {"name": "@t0", "value": "camp"},
        {"name": "@t1", "value": "kettle"},
        {"name": "@t2", "value": "stove"},
    ]


def test_hybrid_query_with_filters_and_an_injection_attempt_keeps_every_value_a_parameter() -> None:
    filters = [FieldFilter("category_name", "eq", MALICIOUS), FieldFilter("deleted", "ne", True)]
    attack = 'tent") OR 1=1 --, "x\\"; DROP c; FullTextScore(c.id, "y")'

    text, parameters = build_hybrid_query(SEARCHABLE, [0.1, 0.2, 0.3], attack, 3, filters)

    terms = ", ".join(f"@t{index}" for index in range(9))
    assert text == (
        "SELECT TOP @k VALUE c FROM c "
        'WHERE c["category_name"] = @p0 '
        'AND (NOT IS_DEFINED(c["deleted"]) OR (IS_BOOL(c["deleted"]) AND c["deleted"] != @p1)) '
        "ORDER BY RANK RRF(VectorDistance(c.embedding, @vector), "
        f"FullTextScore(c.name, {terms}), FullTextScore(c.category_name, {terms}), "
        f"FullTextScore(c.description, {terms}), [3, 1, 1, 1])"
    )
    values = parameter_values(parameters)
    # Only words reach the terms, each a parameter: quotes, brackets and operators never reach the query.
    assert [values[f"@t{index}"] for index in range(9)] == [
        "tent",
        "or",
        "1",
        "x",
        "drop",
        "c",
        "fulltextscore",
        "id",
        "y",
    ]
    assert values["@p0"] == MALICIOUS and values["@p1"] is True
    assert values["@k"] == 3 and len(parameters) == 13
    for leaked in ("tent", "1=1", "DROP", "--", "'", "\\", '"y"'):
        assert leaked not in text


def test_hybrid_terms_are_distinct_lower_cased_words_capped() -> None:
    assert hybrid_terms("Tent TENT tent-pole Zelt_2 été") == ["tent", "pole", "zelt_2", "été"]
    many = " ".join(f"word{index}" for index in range(40))
    assert hybrid_terms(many) == [f"word{index}" for index in range(MAX_HYBRID_TERMS)]
    text, parameters = build_hybrid_query(SEARCHABLE, [1, 0, 0], many, 2)
    assert f"@t{MAX_HYBRID_TERMS - 1})" in text and f"@t{MAX_HYBRID_TERMS}" not in text
    assert len(parameters) == 2 + MAX_HYBRID_TERMS


@pytest.mark.parametrize("text", ["", "   ", "?! -- ''", '"""'])
def test_hybrid_query_without_words_is_the_vector_query(text: str) -> None:
    filters = [FieldFilter("deleted", "ne", True)]
    assert build_hybrid_query(SEARCHABLE, [1, 0, 0], text, 4, filters) == build_vector_query(
        SEARCHABLE, [1, 0, 0], 4, filters
    )


@pytest.mark.parametrize(
    ("spec", "vector", "text", "k", "message"),
    [
        (PRODUCTS, [1.0, 0.0, 0.0], "tent", 3, "no full-text paths"),
        (ContainerSpec("plain", full_text_paths=("/name",)), [1.0, 0.0, 0.0], "tent", 3, "no vector policy"),
        (ContainerSpec("p", vector=VectorSpec("/embedding", 3), full_text_paths=("/*",)), [1, 0, 0], "t", 3, "path"),
        (ContainerSpec("p", vector=VectorSpec("/embedding", 3), full_text_paths=("name",)), [1, 0, 0], "t", 3, "path"),
        (SEARCHABLE, [1.0, 0.0], "tent", 3, "dimensions"),
        (SEARCHABLE, [0.0, 0.0, 0.0], "tent", 3, "zeros"),
        (SEARCHABLE, [1.0, 0.0, 0.0], "tent", 0, "k must be"),
        (SEARCHABLE, [1.0, 0.0, 0.0], None, 3, "string"),
    ],
    ids=["no-full-text", "no-vector", "wildcard-path", "relative-path", "short", "zeros", "k-zero", "text-none"],
)
def test_hybrid_query_refuses_bad_requests(spec: ContainerSpec, vector: list, text: Any, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_hybrid_query(spec, vector, text, k)


def test_ranked_documents_score_by_rank_and_drop_documents_without_a_usable_vector() -> None:
    rows = [
        {"id": "a", "embedding": [1.0, 0.0, 0.0]},
        {"id": "no-vector"},
        {"id": "b", "embedding": [0, 1, 0]},
        "not a document",
        {"id": "c", "embedding": [0.0, 0.0, 1.0]},
    ]

    hits = ranked_documents(rows, SEARCHABLE)

    assert [(hit.document["id"], hit.score) for hit in hits] == [
        ("a", 1 / (RRF_K + 1)),
        ("b", 1 / (RRF_K + 3)),
        ("c", 1 / (RRF_K + 5)),
    ]


def test_hybrid_hits_are_the_rows_scored_by_rank() -> None:
    rows = [{"id": "kettle", "embedding": [0.0, 1.0, 0.0]}, {"id": "stove", "embedding": [1, 0, 0]}]

    hits = hybrid_hits(rows, SEARCHABLE, "camp kettle")

    assert [(hit.document["id"], hit.score) for hit in hits] == [
        ("kettle", 1 / (RRF_K + 1)),
        ("stove", 1 / (RRF_K + 2)),
    ]


def test_hybrid_hits_without_words_unwrap_the_vector_rows_and_score_them_by_rank() -> None:
    rows = [
        {"document": {"id": "near", "embedding": [1.0, 0.0, 0.0]}, "score": 0.99},
        {"document": {"id": "unembedded"}},
        {"document": {"id": "far", "embedding": [0.0, 0.0, 1.0]}, "score": 0.1},
    ]

    hits = hybrid_hits(rows, SEARCHABLE, " ?! ")

    # The cosine scores are not fused scores: the hits are scored by their rank, as with words.
    assert [(hit.document["id"], hit.score) for hit in hits] == [("near", 1 / (RRF_K + 1)), ("far", 1 / (RRF_K + 3))]


# --------------------------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------------------------


def test_query_without_anything_reads_every_document() -> None:
    assert build_query() == ("SELECT * FROM c", [])


def test_query_with_filters_partition_order_and_limit() -> None:
    text, parameters = build_query(
        [FieldFilter("session_id", "eq", "alice"), FieldFilter("info.status", "ne", "embedded")],
        partition_key_path="/session_id",
        partition_key="alice",
        order_by="sequence",
        descending=True,
        limit=20,
    )

    assert text == (
        'SELECT TOP @limit * FROM c WHERE c["session_id"] = @p0 '
        'AND (NOT IS_DEFINED(c["info"]["status"]) OR (IS_STRING(c["info"]["status"]) '
        'AND c["info"]["status"] != @p1)) AND c["session_id"] = @pk ORDER BY c["sequence"] DESC'
    )
    assert parameter_values(parameters) == {"@p0": "alice", "@p1": "embedded", "@pk": "alice", "@limit": 20}


@pytest.mark.parametrize(
    ("value", "type_check"), [(True, "IS_BOOL"), (3, "IS_NUMBER"), (2.5, "IS_NUMBER"), ("x", "IS_STRING")]
)
def test_ne_matches_a_missing_field_or_another_value_of_the_same_type(value: Any, type_check: str) -> None:
    text, parameters = build_query([FieldFilter("f", "ne", value)])
    assert text == f'SELECT * FROM c WHERE (NOT IS_DEFINED(c["f"]) OR ({type_check}(c["f"]) AND c["f"] != @p0))'
    assert parameters == [{"name": "@p0", "value": value}]


@pytest.mark.parametrize(("op", "sql"), [("eq", "="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")])
def test_comparison_operators(op: Any, sql: str) -> None:
    assert build_query([FieldFilter("price", op, 1)])[0] == f'SELECT * FROM c WHERE c["price"] {sql} @p0'


def test_order_by_ascending_and_count() -> None:
    assert build_query(order_by="id") == ('SELECT * FROM c ORDER BY c["id"] ASC', [])
    assert build_count_query([FieldFilter("category", "eq", "camping")]) == (
        'SELECT VALUE COUNT(1) FROM c WHERE c["category"] = @p0',
        [{"name": "@p0", "value": "camping"}],
    )
    assert build_count_query() == ("SELECT VALUE COUNT(1) FROM c", [])


@pytest.mark.parametrize(
    "field_name", ["price) OR 1=1 --", "price'", 'price"]', "", "info..status", "1price", "a.b.", "a-b", "a b"]
)
def test_invalid_field_names_never_reach_the_query(field_name: str) -> None:
    with pytest.raises(ValueError, match="field"):
        build_query([FieldFilter(field_name, "eq", 1)])
    with pytest.raises(ValueError, match="field"):
        build_query(order_by=field_name)
    with pytest.raises(ValueError, match="field"):
        build_filter_predicate([FieldFilter(field_name, "eq", 1)])


def test_nested_fields_are_written_in_bracket_notation() -> None:
    assert field_reference("embedding_info.status") == 'c["embedding_info"]["status"]'
    assert field_reference("value", alias="d") == 'd["value"]'  # a keyword as a field name cannot break the query


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (FieldFilter("price", "like", 1), "operator"),  # type: ignore[arg-type]
        (FieldFilter("price", "eq", float("inf")), "JSON number"),
        (FieldFilter("price", "eq", None), "string, number or boolean"),  # type: ignore[arg-type]
        (FieldFilter("price", "eq", [1]), "string, number or boolean"),  # type: ignore[arg-type]
    ],
)
def test_invalid_filter_operators_and_values_are_refused(condition: FieldFilter, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_query([condition])


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        build_query(limit=-1)


# --------------------------------------------------------------------------------------------------------------
# Patch: filter predicates and operations
# --------------------------------------------------------------------------------------------------------------


def test_filter_predicate_writes_values_as_json_literals() -> None:
    predicate = build_filter_predicate(
        [
            FieldFilter("embedding_info.content_hash", "eq", "sha256:ab"),
            FieldFilter("deleted", "ne", True),
            FieldFilter("price", "ge", 2.5),
            FieldFilter("stock", "lt", 10),
        ]
    )

    assert predicate == (
        'FROM c WHERE c["embedding_info"]["content_hash"] = "sha256:ab" '
        'AND (NOT IS_DEFINED(c["deleted"]) OR (IS_BOOL(c["deleted"]) AND c["deleted"] != true)) '
        'AND c["price"] >= 2.5 AND c["stock"] < 10'
    )
    assert build_filter_predicate([]) is None


@pytest.mark.parametrize(
    "value",
    ['x" OR 1=1 --', 'x\\" OR true OR "', MALICIOUS, "line\nbreak", 'ünïcødé "quoted"', "back\\slash\\"],
)
def test_a_filter_predicate_value_cannot_leave_its_string_literal(value: str) -> None:
    predicate = build_filter_predicate([FieldFilter("description", "eq", value)])

    assert predicate is not None
    prefix = 'FROM c WHERE c["description"] = '
    assert predicate.startswith(prefix)
    literal = predicate[len(prefix) :]
    # The rest is exactly one JSON string: the value, with every quote and backslash escaped, and nothing after it.
    assert json.loads(literal) == value
    assert re.fullmatch(r'"(?:[^"\\]|\\.)*"', literal)
    assert literal.isascii()


def test_patch_operations_translate_to_the_sdk_format() -> None:
    operations = [
        PatchOperation("set", "/embedding", [0.5, 0.25]),
        PatchOperation("replace", "/price", 9),
        PatchOperation("add", "/tags/-", "new"),
        PatchOperation("remove", "/old"),
        PatchOperation("incr", "/stock", -2),
        PatchOperation("set", "/embedding_info/status", "embedded"),
    ]

    assert build_patch_operations(operations, PROTECTED) == [
        {"op": "set", "path": "/embedding", "value": [0.5, 0.25]},
        {"op": "replace", "path": "/price", "value": 9},
        {"op": "add", "path": "/tags/-", "value": "new"},
        {"op": "remove", "path": "/old"},
        {"op": "incr", "path": "/stock", "value": -2},
        {"op": "set", "path": "/embedding_info/status", "value": "embedded"},
    ]


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ([PatchOperation("move", "/a", 1)], "invalid patch op"),  # type: ignore[arg-type]
        ([PatchOperation("set", "price", 1)], "JSON pointer"),
        ([PatchOperation("set", "/", 1)], "JSON pointer"),
        ([PatchOperation("set", "/id", "other")], "cannot be patched"),
        ([PatchOperation("remove", "/_etag")], "cannot be patched"),
        ([PatchOperation("incr", "/stock", "1")], "needs a number"),
        ([PatchOperation("incr", "/stock", True)], "needs a number"),
        ([], "at least one"),
        ([PatchOperation("set", f"/f{i}", i) for i in range(MAX_PATCH_OPERATIONS + 1)], "at most 10"),
    ],
    ids=["unknown-op", "relative-path", "root", "id", "system-field", "incr-string", "incr-bool", "empty", "too-many"],
)
def test_invalid_patches_are_refused_before_sending(operations: list[PatchOperation], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_patch_operations(operations, PROTECTED)


# --------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (CosmosResourceNotFoundError(status_code=404, message="Entity does not exist"), NotFoundError),
        (
            CosmosResourceExistsError(status_code=409, message="Resource with specified id already exists"),
            ConflictError,
        ),
        (CosmosAccessConditionFailedError(status_code=412, message="precondition not met"), PreconditionFailedError),
        (
            CosmosHttpResponseError(status_code=400, message="Node to be replaced is absent.\nCode: BadRequest"),
            ValueError,
        ),
    ],
    ids=["404", "409", "412", "400"],
)
def test_cosmos_errors_become_store_errors(error: CosmosHttpResponseError, expected: type[Exception]) -> None:
    translated = translate_error(error, "patch of document 'p1' in container 'products'")

    assert type(translated) is expected
    assert "document 'p1' in container 'products'" in str(translated)
    assert "Code:" not in str(translated)  # only the service's first line, not the SDK's appended diagnostics


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_outages_are_not_disguised(status: int) -> None:
    error = CosmosHttpResponseError(status_code=status, message="busy")
    assert translate_error(error, "read") is error


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (413, "Request size is too large"),
        (400, "The input name is invalid. Ensure to provide a unique non-empty string less than '255' characters."),
    ],
    ids=["413-too-large", "400-id-too-long"],
)
def test_a_write_refused_for_the_documents_sake_is_a_rejected_document(status: int, message: str) -> None:
    error = CosmosHttpResponseError(status_code=status, message=message + "\nActivityId: 1")

    translated = translate_error(error, "patch of document 'p1' in container 'products'", write=True)

    assert type(translated) is RejectedDocumentError
    assert isinstance(translated, ValueError)  # what a Cosmos DB 400 always was to callers
    assert "document 'p1'" in str(translated) and message[:20] in str(translated)
    assert "ActivityId" not in str(translated)


def test_a_bad_request_that_is_not_a_write_stays_a_plain_value_error() -> None:
    error = CosmosHttpResponseError(status_code=400, message="Syntax error, incorrect syntax near 'TOP'.")
    assert type(translate_error(error, "query on container 'products'")) is ValueError


def test_a_404_of_a_point_read_is_no_item_unless_the_container_itself_is_missing() -> None:
    assert is_missing_item(CosmosResourceNotFoundError(status_code=404, message="Entity does not exist"))
    assert not is_missing_item(
        CosmosResourceNotFoundError(status_code=404, message="Owner resource does not exist", sub_status=1003)
    )


# --------------------------------------------------------------------------------------------------------------
# Containers and documents
# --------------------------------------------------------------------------------------------------------------


def properties(paths: list[str], dimensions: int | None = None, distance: str = "cosine") -> dict[str, Any]:
    found: dict[str, Any] = {"id": "x", "partitionKey": {"paths": paths, "kind": "Hash", "version": 2}}
    if dimensions is not None:
        found["vectorEmbeddingPolicy"] = {
            "vectorEmbeddings": [
                {"path": "/embedding", "dataType": "float32", "distanceFunction": distance, "dimensions": dimensions}
            ]
        }
    return found


def test_an_existing_container_must_match_the_spec() -> None:
    assert spec_mismatch(PRODUCTS, properties(["/id"], 3)) is None
    assert spec_mismatch(ContainerSpec("history", "/session_id"), properties(["/session_id"])) is None
    assert "partition key" in (spec_mismatch(PRODUCTS, properties(["/category"], 3)) or "")
    assert "no vector embedding policy" in (spec_mismatch(PRODUCTS, properties(["/id"])) or "")
    assert "1536-dimensional" in (spec_mismatch(PRODUCTS, properties(["/id"], 1536)) or "")
    assert "'euclidean'" in (spec_mismatch(PRODUCTS, properties(["/id"], 3, "euclidean")) or "")


def test_documents_are_sent_without_system_fields_and_with_float_vectors() -> None:
    document = {"id": "p1", "_etag": '"x"', "_ts": 1, "_lsn": 9, "_rid": "r", "embedding": [1, 2, 3], "n": 1}

    body = document_body(document, PRODUCTS)

    assert body == {"id": "p1", "embedding": [1.0, 2.0, 3.0], "n": 1}
    assert all(type(x) is float for x in body["embedding"])
    assert document["embedding"] == [1, 2, 3] and document["_etag"] == '"x"'  # the caller's dict is untouched


def test_a_nested_vector_is_sent_as_floats_without_touching_the_callers_document() -> None:
    spec = ContainerSpec("cache", "/scope", VectorSpec("/vectors/question", 2))
    document = {"id": "q1", "scope": "s", "vectors": {"question": [1, 0], "model": "m"}}

    body = document_body(document, spec)

    assert body["vectors"] == {"question": [1.0, 0.0], "model": "m"}
    assert document["vectors"]["question"] == [1, 0]
