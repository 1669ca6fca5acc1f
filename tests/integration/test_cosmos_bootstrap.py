"""``python -m composition.cosmos_bootstrap`` and opening containers, against a Cosmos DB protocol server on loopback.

The server (``@vercel/cosmosdb-server``) accepts and returns vector embedding policies, vector indexes and default
TTLs as Cosmos DB does, so creating containers with them, finding them on a second run and noticing a changed
policy are all exercised through the real SDK here.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest

from composition.containers import container_definitions
from composition.cosmos_bootstrap import main
from composition.settings import load_settings
from store.base import ContainerSpec, NotFoundError, VectorSpec
from store.cosmos import CosmosDocumentStore
from store.cosmos.provision import bootstrap
from tests.integration.cosmos_test_server import CosmosTestServer, cosmos_test_server  # noqa: F401 (a fixture)


@pytest.fixture
def database() -> str:
    return f"bootstrap-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def store(cosmos_test_server: CosmosTestServer, database: str) -> Any:  # noqa: F811
    opened = CosmosDocumentStore(cosmos_test_server.endpoint, database, credential=cosmos_test_server.key)
    yield opened
    await opened.close()


async def test_bootstrap_creates_every_container_once(store: CosmosDocumentStore, database: str) -> None:
    definitions = container_definitions(load_settings({}), 16)

    first = await bootstrap(store.client(), database, definitions)
    second = await bootstrap(store.client(), database, definitions)

    names = [d.name for d in definitions]
    assert first.ok and first.database == "created"
    assert first.containers == [(name, "created") for name in names]
    assert second.ok and second.database == "exists"
    assert second.containers == [(name, "exists") for name in names]
    cache = await store.client().get_database_client(database).get_container_client("chatcache").read()
    assert cache["partitionKey"]["paths"] == ["/scope"]
    assert cache["defaultTtl"] == -1
    assert cache["vectorEmbeddingPolicy"]["vectorEmbeddings"][0]["dimensions"] == 16
    # Both vector slots (the second is what a model migration fills), each out of the range index.
    assert cache["indexingPolicy"]["vectorIndexes"] == [
        {"path": path, "type": "quantizedFlat"} for path in ("/embedding", "/embedding_b")
    ]
    assert {"path": "/embedding/*"} in cache["indexingPolicy"]["excludedPaths"]
    assert {"path": "/embedding_b/*"} in cache["indexingPolicy"]["excludedPaths"]


async def test_a_changed_vector_policy_is_reported_and_the_rest_still_created(
    store: CosmosDocumentStore, database: str
) -> None:
    settings = load_settings({})
    await bootstrap(store.client(), database, [d for d in container_definitions(settings, 16) if d.name == "products"])

    report = await bootstrap(store.client(), database, container_definitions(settings, 32))

    assert not report.ok
    assert ("products", "failed") in report.containers
    assert ("chathistory", "created") in report.containers
    [problem] = [p for p in report.problems if "'products'" in p]
    assert '"dimensions": 16' in problem and '"dimensions": 32' in problem and "immutable" in problem
    # The cache container did not exist, so it was created with the new policy.
    assert ("chatcache", "created") in report.containers


async def test_the_app_opens_bootstrapped_containers_and_names_the_command_for_missing_ones(
    store: CosmosDocumentStore, database: str
) -> None:
    settings = load_settings({})
    await bootstrap(store.client(), database, container_definitions(settings, 16))

    products = await store.container(ContainerSpec("products", "/id", VectorSpec("/embedding", 16)))
    stored = await products.create({"id": "p1", "name": "Camp Kettle", "embedding": [0.25] * 16})
    assert await products.read("p1", "p1") == stored

    with pytest.raises(NotFoundError, match=r"'deleted-by-accident'.*python -m composition\.cosmos_bootstrap"):
        await store.container(ContainerSpec("deleted-by-accident", "/id"))
    with pytest.raises(ValueError, match="16-dimensional vectors .* makes 1536"):
        await store.container(ContainerSpec("chatcache", "/scope", VectorSpec("/embedding", 1536)))
    with pytest.raises(ValueError, match="partition key"):
        await store.container(ContainerSpec("chathistory", "/id"))


async def test_change_feed_pages_come_back_with_sdk_continuations(
    cosmos_test_server: CosmosTestServer,  # noqa: F811
    database: str,
) -> None:
    # The test server has no incremental feed (so the contract suite skips it); the first page and the "from now"
    # position still go through the SDK's change-feed code and come back as this store's continuations.
    creator = CosmosDocumentStore(
        cosmos_test_server.endpoint, database, credential=cosmos_test_server.key, create_containers=True
    )
    try:
        feed = await creator.container(ContainerSpec("feed", "/id"))
        for name in ["a", "b", "c"]:
            await feed.create({"id": name})

        first = await feed.read_changes(None, 2)
        now = await feed.read_changes(None, 10, from_beginning=False)

        assert [document["id"] for document in first.documents] == ["a", "b"]
        assert first.has_more and first.continuation
        assert now.documents == [] and now.continuation and not now.has_more
        with pytest.raises(ValueError, match="not issued"):
            await feed.read_changes("17", 10)
    finally:
        await creator.close()


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_the_command_creates_then_finds_then_refuses_other_dimensions(
    cosmos_test_server: CosmosTestServer,  # noqa: F811
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    environment = {
        "STORE_BACKEND": "cosmos",
        "COSMOS_CONNECTION__accountEndpoint": cosmos_test_server.endpoint,
        "COSMOS_AUTH": "key",
        "COSMOS_KEY": cosmos_test_server.key,
        "COSMOS_DATABASE": database,
        "EMBEDDING_BACKEND": "deterministic",
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    no_file = ["--local-settings", str(tmp_path / "absent.json")]

    created = run(no_file)
    found = run(no_file)
    refused = run([*no_file, "--dimensions", "32"])

    assert created[0] == 0, created[2]
    assert f"database '{database}': created" in created[1]
    assert "container 'products': created" in created[1] and "container 'chatcache': created" in created[1]
    assert found[0] == 0 and "container 'products': exists" in found[1]
    assert refused[0] == 1
    assert "container 'products': failed" in refused[1]
    assert '"dimensions": 64' in refused[2] and '"dimensions": 32' in refused[2] and "immutable" in refused[2]


async def test_a_migration_knows_whether_the_container_has_a_second_slot_of_its_size(
    store: CosmosDocumentStore, database: str
) -> None:
    from catalog.migration import SlotModel
    from catalog.model import SLOT_B
    from devhost.cli.migrate import vector_slot_problem
    from store.cosmos.definitions import definition_for_spec
    from store.cosmos.provision import ensure_container

    settings = load_settings({})
    products = {d.name: d for d in container_definitions(settings, 16)}["products"]
    before_slots = definition_for_spec(ContainerSpec("products-old", "/id", VectorSpec("/embedding", 16)), "flat")
    await bootstrap(store.client(), database, [products])
    await ensure_container(store.client(), database, before_slots)

    made_now = await (
        await store.container(ContainerSpec("products", "/id", VectorSpec("/embedding", 16)))
    ).stored_vector_sizes()
    made_before = await (
        await store.container(ContainerSpec("products-old", "/id", VectorSpec("/embedding", 16)))
    ).stored_vector_sizes()

    assert made_now == {"/embedding": 16, "/embedding_b": 16}
    assert made_before == {"/embedding": 16}
    same_size = SlotModel({}, "text-embedding-3-large", 16, ("description",))
    other_size = SlotModel({}, "text-embedding-3-large", 32, ("description",))
    assert vector_slot_problem(made_now, SLOT_B, same_size) is None
    assert "holds 16-dimension vectors" in str(vector_slot_problem(made_now, SLOT_B, other_size))
    assert "no vector path /embedding_b" in str(vector_slot_problem(made_before, SLOT_B, same_size))
    assert vector_slot_problem(None, SLOT_B, other_size) is None  # the embedded store takes any size
