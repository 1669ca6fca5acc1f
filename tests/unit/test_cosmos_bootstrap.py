"""The Cosmos DB container definitions, their comparison with existing containers, and the command's dry run."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from catalog.settings import load_settings
from store.base import ContainerSpec, VectorSpec
from store.cosmos_bootstrap import (
    ContainerDefinition,
    container_definitions,
    container_differences,
    definition_for_spec,
    main,
    mismatch_message,
)

VECTOR_INDEXING = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": '/"_etag"/?'}, {"path": "/embedding/*"}],
    "vectorIndexes": [{"path": "/embedding", "type": "quantizedFlat"}],
}
PLAIN_INDEXING = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": '/"_etag"/?'}],
}


def vector_policy(dimensions: int) -> dict[str, Any]:
    return {
        "vectorEmbeddings": [
            {"path": "/embedding", "dataType": "float32", "distanceFunction": "cosine", "dimensions": dimensions}
        ]
    }


def test_container_definitions_cover_every_container_the_app_uses() -> None:
    definitions = container_definitions(load_settings({}), 1536)

    assert [(d.name, d.partition_key_path, d.setting) for d in definitions] == [
        ("products", "/id", "COSMOS_PRODUCTS_CONTAINER"),
        ("leases", "/id", "COSMOS_LEASES_CONTAINER"),
        ("deadletter", "/product_id", "COSMOS_DEADLETTER_CONTAINER"),
        ("chatcache", "/scope", "COSMOS_CACHE_CONTAINER"),
        ("chathistory", "/session_id", "COSMOS_HISTORY_CONTAINER"),
    ]
    by_name = {d.name: d for d in definitions}
    for vector_container in ("products", "chatcache"):
        assert by_name[vector_container].vector_embedding_policy == vector_policy(1536)
        assert by_name[vector_container].indexing_policy == VECTOR_INDEXING
    for plain in ("leases", "deadletter", "chathistory"):
        assert by_name[plain].vector_embedding_policy is None
        assert by_name[plain].indexing_policy == PLAIN_INDEXING
        assert by_name[plain].default_ttl is None
    # TTL on without a default: each cache entry expires by its own `ttl`; products never expire.
    assert by_name["chatcache"].default_ttl == -1
    assert by_name["products"].default_ttl is None


def test_container_definitions_follow_the_settings() -> None:
    settings = load_settings(
        {
            "COSMOS_PRODUCTS_CONTAINER": "products-v2",
            "COSMOS_CACHE_CONTAINER": "answers",
            "COSMOS_VECTOR_INDEX_TYPE": "diskANN",
        }
    )

    by_name = {d.name: d for d in container_definitions(settings, 384)}

    assert by_name["products-v2"].vector_embedding_policy == vector_policy(384)
    assert by_name["products-v2"].indexing_policy["vectorIndexes"] == [{"path": "/embedding", "type": "diskANN"}]
    assert by_name["answers"].default_ttl == -1 and by_name["answers"].partition_key_path == "/scope"
    with pytest.raises(ValueError, match="dimensions"):
        container_definitions(settings, 0)


def test_the_resource_is_what_cosmos_db_and_arm_describe() -> None:
    [cache] = [d for d in container_definitions(load_settings({}), 8) if d.name == "chatcache"]

    assert cache.resource() == {
        "id": "chatcache",
        "partitionKey": {"paths": ["/scope"], "kind": "Hash", "version": 2},
        "indexingPolicy": VECTOR_INDEXING,
        "vectorEmbeddingPolicy": vector_policy(8),
        "defaultTtl": -1,
    }


def existing(definition: ContainerDefinition, **changes: Any) -> dict[str, Any]:
    """The properties Cosmos DB returns for a container created from ``definition``, with ``changes``."""
    properties = {**definition.resource(), "_rid": "abc", "_etag": '"1"', "conflictResolutionPolicy": {}}
    properties["indexingPolicy"] = {**properties["indexingPolicy"], "compositeIndexes": [], "spatialIndexes": []}
    properties.update(changes)
    return properties


PRODUCTS = definition_for_spec(
    ContainerSpec("products", "/id", VectorSpec("/embedding", 384)),
    "quantizedFlat",
    setting="COSMOS_PRODUCTS_CONTAINER",
)


def test_a_container_created_from_the_definition_matches_it() -> None:
    assert container_differences(existing(PRODUCTS), PRODUCTS) == []
    # Cosmos DB may spell the enum values differently; they are compared case-insensitively.
    shouting = vector_policy(384)
    shouting["vectorEmbeddings"][0].update(dataType="Float32", distanceFunction="Cosine")
    assert container_differences(existing(PRODUCTS, vectorEmbeddingPolicy=shouting), PRODUCTS) == []


def test_other_dimensions_index_type_partition_key_or_ttl_are_differences() -> None:
    other_index = {**PRODUCTS.indexing_policy, "vectorIndexes": [{"path": "/embedding", "type": "diskANN"}]}

    [dimensions] = container_differences(existing(PRODUCTS, vectorEmbeddingPolicy=vector_policy(1536)), PRODUCTS)
    [index] = container_differences(existing(PRODUCTS, indexingPolicy=other_index), PRODUCTS)
    [partition] = container_differences(existing(PRODUCTS, partitionKey={"paths": ["/category"]}), PRODUCTS)
    [no_policy] = container_differences(
        {k: v for k, v in existing(PRODUCTS).items() if k != "vectorEmbeddingPolicy"}, PRODUCTS
    )
    cache = definition_for_spec(ContainerSpec("chatcache", "/scope"), "quantizedFlat", default_ttl=-1)
    [ttl] = container_differences(existing(cache, defaultTtl=None), cache)

    assert dimensions.startswith("vector embedding policy") and '"dimensions": 1536' in dimensions
    assert '"dimensions": 384' in dimensions
    assert index.startswith("vector indexes") and "diskann" in index and "quantizedflat" in index
    assert partition == "partition key: existing ['/category'], wanted ['/id']"
    assert no_policy.startswith("vector embedding policy: existing []")
    assert ttl == "default TTL: existing None, wanted -1"


def test_the_mismatch_message_says_policies_are_immutable_and_what_to_do() -> None:
    differences = container_differences(existing(PRODUCTS, vectorEmbeddingPolicy=vector_policy(1536)), PRODUCTS)

    message = mismatch_message("catalog", PRODUCTS, differences)

    assert "'products' in database 'catalog'" in message
    assert "1536" in message and "384" in message
    assert "immutable" in message
    assert "COSMOS_PRODUCTS_CONTAINER" in message and "delete" in message


def test_a_ttl_only_difference_is_fixable_in_place() -> None:
    cache = definition_for_spec(ContainerSpec("chatcache", "/scope"), "quantizedFlat", default_ttl=-1)
    message = mismatch_message("catalog", cache, container_differences(existing(cache, defaultTtl=None), cache))
    assert "--ttl -1" in message and "immutable" not in message


# --------------------------------------------------------------------------------------------------------------
# The command (no server: dry run and argument errors)
# --------------------------------------------------------------------------------------------------------------


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.startswith(("COSMOS_", "EMBEDDING_", "STORE_", "CHAT_", "AZURE_", "OPENAI_")):
            monkeypatch.delenv(key)
    return monkeypatch


def test_dry_run_prints_the_definitions_with_the_embedders_dimensions(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("EMBEDDING_BACKEND", "deterministic")
    settings_file = tmp_path / "local.settings.json"
    settings_file.write_text(json.dumps({"Values": {"COSMOS_DATABASE": "shop", "EMBEDDING_BACKEND": "local"}}))

    code, out, _ = run(["--dry-run", "--local-settings", str(settings_file)])

    assert code == 0
    printed = json.loads(out)
    assert printed["database"] == "shop"  # from the file
    [products] = [c for c in printed["containers"] if c["id"] == "products"]
    # The environment wins over the file: the deterministic embedder's 64 dimensions, not MiniLM's 384.
    assert products["vectorEmbeddingPolicy"]["vectorEmbeddings"][0]["dimensions"] == 64


def test_dry_run_with_explicit_dimensions(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out, _ = run(["--dry-run", "--dimensions", "1536", "--local-settings", str(tmp_path / "absent.json")])
    assert code == 0
    dimensions = {
        c["id"]: c.get("vectorEmbeddingPolicy", {}).get("vectorEmbeddings", [{}])[0].get("dimensions")
        for c in json.loads(out)["containers"]
    }
    assert dimensions == {"products": 1536, "leases": None, "deadletter": None, "chatcache": 1536, "chathistory": None}


def test_without_an_endpoint_the_command_names_the_setting(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, _, err = run(["--dimensions", "8", "--local-settings", str(tmp_path / "absent.json")])
    assert code == 2
    assert "COSMOS_CONNECTION__accountEndpoint" in err and "example" in err


def test_invalid_settings_are_reported_not_raised(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("COSMOS_VECTOR_INDEX_TYPE", "hnsw")
    code, _, err = run(["--dry-run", "--dimensions", "8", "--local-settings", str(tmp_path / "absent.json")])
    assert code == 2 and "COSMOS_VECTOR_INDEX_TYPE" in err
