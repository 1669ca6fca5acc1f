"""The Cosmos DB container definitions, their comparison with existing containers (and the in-place update of
full-text policies), and the command's dry run."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceNotFoundError

from composition.containers import container_definitions
from composition.cosmos_bootstrap import main
from composition.settings import load_settings
from store.base import ContainerSpec, VectorSpec
from store.cosmos.definitions import (
    ContainerDefinition,
    ContainerMismatchError,
    container_differences,
    definition_for_spec,
    full_text_policy,
    is_updatable_in_place,
    mismatch_message,
)
from store.cosmos.provision import ensure_container, full_text_update

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
TEXT_PATHS = ["/name", "/category_name", "/description"]
FULL_TEXT_POLICY = {
    "defaultLanguage": "en-US",
    "fullTextPaths": [{"path": path, "language": "en-US"} for path in TEXT_PATHS],
}


def vector_policy(dimensions: int, paths: tuple[str, ...] = ("/embedding",)) -> dict[str, Any]:
    return {
        "vectorEmbeddings": [
            {"path": path, "dataType": "float32", "distanceFunction": "cosine", "dimensions": dimensions}
            for path in paths
        ]
    }


#: Products and cached answers get the second vector slot a model migration fills, provisioned up front
#: (a vector policy is fixed at creation).
SLOTS = ("/embedding", "/embedding_b")
PRODUCT_INDEXING = {
    **VECTOR_INDEXING,
    "excludedPaths": [{"path": '/"_etag"/?'}, {"path": "/embedding/*"}, {"path": "/embedding_b/*"}],
    "vectorIndexes": [{"path": path, "type": "quantizedFlat"} for path in SLOTS],
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
        assert by_name[vector_container].vector_embedding_policy == vector_policy(1536, SLOTS)
    # Products are searched by hybrid search too: a full-text policy and index on each embedded field.
    assert by_name["products"].indexing_policy == {
        **PRODUCT_INDEXING,
        "fullTextIndexes": [{"path": path} for path in TEXT_PATHS],
    }
    assert by_name["products"].full_text_policy == FULL_TEXT_POLICY
    assert by_name["chatcache"].indexing_policy == PRODUCT_INDEXING
    assert by_name["chatcache"].full_text_policy is None
    for plain in ("leases", "deadletter", "chathistory"):
        assert by_name[plain].vector_embedding_policy is None
        assert by_name[plain].full_text_policy is None
        assert by_name[plain].indexing_policy == PLAIN_INDEXING
    # TTL on without a default: each cache entry and chat turn expires by its own `ttl`; products never expire.
    assert by_name["chatcache"].default_ttl == -1 and by_name["chathistory"].default_ttl == -1
    assert by_name["products"].default_ttl is None
    assert by_name["leases"].default_ttl is None and by_name["deadletter"].default_ttl is None


def test_container_definitions_follow_the_settings() -> None:
    settings = load_settings(
        {
            "COSMOS_PRODUCTS_CONTAINER": "products-v2",
            "COSMOS_CACHE_CONTAINER": "answers",
            "COSMOS_VECTOR_INDEX_TYPE": "diskANN",
        }
    )

    by_name = {d.name: d for d in container_definitions(settings, 384)}

    assert by_name["products-v2"].vector_embedding_policy == vector_policy(384, SLOTS)
    assert by_name["products-v2"].indexing_policy["vectorIndexes"] == [
        {"path": path, "type": "diskANN"} for path in SLOTS
    ]
    assert by_name["answers"].default_ttl == -1 and by_name["answers"].partition_key_path == "/scope"
    with pytest.raises(ValueError, match="dimensions"):
        container_definitions(settings, 0)


def test_the_full_text_paths_follow_the_embedded_fields() -> None:
    settings = load_settings({"EMBED_FIELDS": "description,name"})

    [products] = [d for d in container_definitions(settings, 8) if d.name == "products"]

    assert products.full_text_policy == {
        "defaultLanguage": "en-US",
        "fullTextPaths": [{"path": "/description", "language": "en-US"}, {"path": "/name", "language": "en-US"}],
    }
    assert products.indexing_policy["fullTextIndexes"] == [{"path": "/description"}, {"path": "/name"}]


@pytest.mark.parametrize("path", ["description", "/*", "/tags/[]", "/a b", "/", ""])
def test_full_text_paths_are_plain_json_pointers(path: str) -> None:
    with pytest.raises(ValueError, match="full-text path"):
        full_text_policy([path])
    with pytest.raises(ValueError, match="full-text path"):
        definition_for_spec(ContainerSpec("p", full_text_paths=(path,)), "quantizedFlat")


def test_the_resource_is_what_cosmos_db_and_arm_describe() -> None:
    definitions = {d.name: d for d in container_definitions(load_settings({}), 8)}

    assert definitions["chatcache"].resource() == {
        "id": "chatcache",
        "partitionKey": {"paths": ["/scope"], "kind": "Hash", "version": 2},
        "indexingPolicy": PRODUCT_INDEXING,
        "vectorEmbeddingPolicy": vector_policy(8, SLOTS),
        "defaultTtl": -1,
    }
    assert definitions["products"].resource() == {
        "id": "products",
        "partitionKey": {"paths": ["/id"], "kind": "Hash", "version": 2},
        "indexingPolicy": {**PRODUCT_INDEXING, "fullTextIndexes": [{"path": path} for path in TEXT_PATHS]},
        "vectorEmbeddingPolicy": vector_policy(8, SLOTS),
        "fullTextPolicy": FULL_TEXT_POLICY,
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
# Full-text policies: compared, and updated in place
# --------------------------------------------------------------------------------------------------------------

SEARCHABLE = definition_for_spec(
    ContainerSpec("products", "/id", VectorSpec("/embedding", 384), full_text_paths=tuple(TEXT_PATHS)),
    "quantizedFlat",
    setting="COSMOS_PRODUCTS_CONTAINER",
)


def without_full_text(definition: ContainerDefinition, **changes: Any) -> dict[str, Any]:
    """An existing container made before full-text search: no full-text policy, no full-text indexes."""
    properties = existing(definition, **changes)
    properties.pop("fullTextPolicy", None)
    properties["indexingPolicy"] = {k: v for k, v in properties["indexingPolicy"].items() if k != "fullTextIndexes"}
    return properties


def test_a_missing_or_other_full_text_policy_is_a_difference_that_can_be_fixed_in_place() -> None:
    assert container_differences(existing(SEARCHABLE), SEARCHABLE) == []
    # Languages are compared case-insensitively, and a path without one has the default language.
    relaxed = {"defaultLanguage": "EN-us", "fullTextPaths": [{"path": path} for path in reversed(TEXT_PATHS)]}
    assert container_differences(existing(SEARCHABLE, fullTextPolicy=relaxed), SEARCHABLE) == []

    policy, indexes = container_differences(without_full_text(SEARCHABLE), SEARCHABLE)
    german = {**FULL_TEXT_POLICY, "defaultLanguage": "de-DE", "fullTextPaths": [{"path": "/name"}]}
    [other] = container_differences(existing(SEARCHABLE, fullTextPolicy=german), SEARCHABLE)

    assert policy.startswith("full-text policy: existing []") and '"language": "en-us"' in policy
    assert indexes == 'full-text indexes: existing [], wanted ["/category_name", "/description", "/name"]'
    assert other.startswith("full-text policy") and "de-de" in other
    assert all(map(is_updatable_in_place, [policy, indexes, other]))
    # A container that should have none but has one differs too (the app no longer searches it by text).
    cache = definition_for_spec(ContainerSpec("chatcache", "/scope"), "quantizedFlat")
    [extra] = container_differences(existing(cache, fullTextPolicy=FULL_TEXT_POLICY), cache)
    assert extra.startswith("full-text policy: existing [{")


def test_full_text_differences_are_not_called_immutable_unless_something_else_is() -> None:
    differences = container_differences(without_full_text(SEARCHABLE), SEARCHABLE)
    message = mismatch_message("catalog", SEARCHABLE, differences)
    assert "immutable" not in message and "in place" in message and "COSMOS_AUTH=key" in message

    other_vectors = container_differences(
        without_full_text(SEARCHABLE, vectorEmbeddingPolicy=vector_policy(1536)), SEARCHABLE
    )
    assert len(other_vectors) == 3 and not is_updatable_in_place(other_vectors[0])
    assert "immutable" in mismatch_message("catalog", SEARCHABLE, other_vectors)


def test_the_update_keeps_everything_else_the_container_has() -> None:
    old = without_full_text(
        SEARCHABLE,
        partitionKey={"paths": ["/id"], "kind": "Hash", "version": 1},
        defaultTtl=3600,
        computedProperties=[{"name": "lower_name", "query": "SELECT VALUE LOWER(c.name) FROM c"}],
    )
    old["indexingPolicy"]["compositeIndexes"] = [[{"path": "/price"}, {"path": "/name"}]]

    update = full_text_update(old, SEARCHABLE)

    assert dict(update.pop("partition_key")) == {"paths": ["/id"], "kind": "Hash", "version": 1}
    assert update == {
        "indexing_policy": {
            **VECTOR_INDEXING,
            "compositeIndexes": [[{"path": "/price"}, {"path": "/name"}]],
            "spatialIndexes": [],
            "fullTextIndexes": [{"path": path} for path in TEXT_PATHS],
        },
        "full_text_policy": FULL_TEXT_POLICY,
        "default_ttl": 3600,
        "vector_embedding_policy": vector_policy(384),
        "conflict_resolution_policy": {},
        "computed_properties": [{"name": "lower_name", "query": "SELECT VALUE LOWER(c.name) FROM c"}],
    }


class FakeCosmos:
    """Just enough of ``azure.cosmos.aio.CosmosClient`` for :func:`ensure_container`: containers by name."""

    def __init__(self, containers: dict[str, dict[str, Any]], replace_error: Exception | None = None) -> None:
        self.containers = containers
        self.replace_error = replace_error
        self.replaced: list[tuple[str, dict[str, Any]]] = []

    def get_database_client(self, database: str) -> FakeCosmos:
        return self

    async def read(self) -> dict[str, Any]:  # the database
        return {"id": "catalog"}

    def get_container_client(self, name: str) -> Any:
        cosmos = self

        class Proxy:
            async def read(self) -> dict[str, Any]:
                if name not in cosmos.containers:
                    raise CosmosResourceNotFoundError(status_code=404, message="not found")
                return json.loads(json.dumps(cosmos.containers[name]))

        return Proxy()

    async def replace_container(self, name: str, **options: Any) -> None:
        if self.replace_error is not None:
            raise self.replace_error
        self.replaced.append((name, options))
        resource = {
            "id": name,
            "partitionKey": dict(options["partition_key"]),
            "indexingPolicy": options["indexing_policy"],
            "fullTextPolicy": options.get("full_text_policy"),
            "vectorEmbeddingPolicy": options.get("vector_embedding_policy"),
            "defaultTtl": options.get("default_ttl"),
        }
        self.containers[name] = {key: value for key, value in resource.items() if value is not None}


async def test_a_container_without_the_full_text_policy_is_updated_in_place() -> None:
    cosmos = FakeCosmos({"products": without_full_text(SEARCHABLE)})

    status = await ensure_container(cosmos, "catalog", SEARCHABLE)  # type: ignore[arg-type]

    assert status == "updated"
    [(name, options)] = cosmos.replaced
    assert name == "products" and options["full_text_policy"] == FULL_TEXT_POLICY
    assert options["vector_embedding_policy"] == vector_policy(384)  # kept: a replace is a full PUT
    assert container_differences(cosmos.containers["products"], SEARCHABLE) == []
    assert await ensure_container(cosmos, "catalog", SEARCHABLE) == "exists"  # type: ignore[arg-type]
    assert len(cosmos.replaced) == 1


async def test_nothing_is_updated_when_an_immutable_policy_differs_too() -> None:
    cosmos = FakeCosmos({"products": without_full_text(SEARCHABLE, vectorEmbeddingPolicy=vector_policy(1536))})

    with pytest.raises(ContainerMismatchError, match="immutable") as raised:
        await ensure_container(cosmos, "catalog", SEARCHABLE)  # type: ignore[arg-type]

    assert cosmos.replaced == []
    assert "full-text policy" in str(raised.value) and '"dimensions": 1536' in str(raised.value)


async def test_an_identity_that_may_not_update_the_container_is_told_what_to_do() -> None:
    forbidden = CosmosHttpResponseError(status_code=403, message="Request blocked by Auth")
    cosmos = FakeCosmos({"products": without_full_text(SEARCHABLE)}, replace_error=forbidden)

    with pytest.raises(RuntimeError, match="full-text policy of Cosmos DB container 'products'") as raised:
        await ensure_container(cosmos, "catalog", SEARCHABLE)  # type: ignore[arg-type]

    assert "COSMOS_AUTH=key" in str(raised.value) and "azd up" in str(raised.value)


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


def test_a_products_container_made_before_the_migration_slot_is_still_fit_for_the_app() -> None:
    wanted = {d.name: d for d in container_definitions(load_settings({}), 1536)}["products"]
    before_slots = {
        "partitionKey": {"paths": ["/id"]},
        "vectorEmbeddingPolicy": vector_policy(1536),
        "indexingPolicy": {**VECTOR_INDEXING, "fullTextIndexes": [{"path": path} for path in TEXT_PATHS]},
        "fullTextPolicy": FULL_TEXT_POLICY,
    }

    assert container_differences(before_slots, wanted) == []
    # Another size at the main path is still refused: stored vectors depend on it.
    other_size = {**before_slots, "vectorEmbeddingPolicy": vector_policy(384)}
    assert "vector embedding policy" in [d.split(":")[0] for d in container_differences(other_size, wanted)]
