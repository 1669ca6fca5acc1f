"""The backends the store contract suite runs against.

Every test in this folder takes the ``backend`` fixture (directly or through ``store``/``make_container``) and so
runs once per entry of :data:`BACKENDS`. To add a backend, write a factory that takes the test's fixture request and
returns a :class:`Backend`, and add it to :data:`BACKENDS`; declare only the capabilities it really has, and the
tests that need the others are skipped with a reason instead of failing (``@pytest.mark.requires(VECTOR_SEARCH)``).

The backends:

* ``sqlite`` — the embedded store, every capability.
* ``cosmos-test-server`` — :class:`store.cosmos.CosmosDocumentStore` against ``@vercel/cosmosdb-server`` (npm, a
  Cosmos DB protocol server started once per session; skipped when ``npm ci`` has not run, failed under ``CI``).
  It cannot run ``VectorDistance`` and has no incremental change feed, so those tests skip.
* ``cosmos`` — the same store against a real Cosmos DB account, every capability; skipped unless
  ``COSMOS_TEST_ENDPOINT`` is set. Each session creates a database ``contract-<random>`` with a container per test
  (flat vector index, so rankings are exact) and deletes it at the end, which takes the account key
  (``COSMOS_TEST_KEY``): Entra ID data-plane roles cannot create databases or containers, so without a key
  (``DefaultAzureCredential``) the tests fail with a 403 saying so. A serverless account with the
  EnableNoSQLVectorSearch capability keeps the many small containers cheap.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field

import pytest
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from store.base import ContainerSpec, DocumentContainer, DocumentStore, VectorSpec
from store.cosmos import CosmosDocumentStore
from store.sqlite import SqliteDocumentStore
from tests.integration.cosmos_test_server import CosmosTestServer, cosmos_test_server  # noqa: F401 (a fixture)

#: ``vector_search`` works (the Cosmos DB emulator/test server cannot run VectorDistance).
VECTOR_SEARCH = "vector_search"
#: ``read_changes`` is an incremental latest-version feed with resumable continuations.
CHANGE_FEED = "change_feed"
#: Data written before ``close()`` is there after opening the store again.
REOPEN = "reopen"
#: Two store instances over the same data (two processes, say) see each other's writes.
SHARED_INSTANCES = "shared_instances"

ALL_CAPABILITIES = frozenset({VECTOR_SEARCH, CHANGE_FEED, REOPEN, SHARED_INSTANCES})


@dataclass
class Backend:
    """One store implementation under test: how to open instances over one shared database, and what it can do."""

    name: str
    capabilities: frozenset[str]
    open_instance: Callable[[], Awaitable[DocumentStore]]
    #: Tests (by a part of their id) this backend is known to fail for a reason outside the store, and that reason.
    known_gaps: Mapping[str, str] = field(default_factory=dict)
    _opened: list[DocumentStore] = field(default_factory=list)

    async def open(self) -> DocumentStore:
        """A new store instance over this test's database (as another process would open it)."""
        store = await self.open_instance()
        self._opened.append(store)
        return store

    async def close_all(self) -> None:
        for store in self._opened:
            await store.close()

    def require(self, capability: str) -> None:
        if capability not in self.capabilities:
            pytest.skip(f"the {self.name} backend does not support {capability}")

    def skip_known_gap(self, test_id: str) -> None:
        for part, reason in self.known_gaps.items():
            if part in test_id:
                pytest.skip(f"the {self.name} backend: {reason}")


def sqlite_backend(request: pytest.FixtureRequest) -> Backend:
    path = request.getfixturevalue("tmp_path") / "data" / "catalog.sqlite3"

    async def open_instance() -> DocumentStore:
        return SqliteDocumentStore(path)

    return Backend("sqlite", ALL_CAPABILITIES, open_instance)


#: The one database every contract test uses on the test server (container names are unique per test).
TEST_SERVER_DATABASE = "contract"


def cosmos_test_server_backend(request: pytest.FixtureRequest) -> Backend:
    server: CosmosTestServer = request.getfixturevalue("cosmos_test_server")

    async def open_instance() -> DocumentStore:
        return CosmosDocumentStore(server.endpoint, TEST_SERVER_DATABASE, credential=server.key, create_containers=True)

    return Backend(
        "cosmos-test-server",
        # Its documents live in the server process: a new store instance (another process, a restart) sees them.
        frozenset({REOPEN, SHARED_INSTANCES}),
        open_instance,
        known_gaps={
            "set-under-missing-parent": "the test server applies `set /missing/child` as `set /child` where Cosmos "
            "DB refuses it with 400 (the `cosmos` backend checks this against a real account)",
        },
    )


@pytest.fixture(scope="session")
def cosmos_account() -> Iterator[tuple[str, str | None, str]]:
    """``(endpoint, key or None, database)`` of a real Cosmos DB account, with a database made for this session."""
    endpoint = os.environ.get("COSMOS_TEST_ENDPOINT", "")
    if not endpoint:
        pytest.skip(
            "set COSMOS_TEST_ENDPOINT (and COSMOS_TEST_KEY, the account key) to run the store contract suite "
            "against a real Cosmos DB account"
        )
    key = os.environ.get("COSMOS_TEST_KEY") or None
    database = f"contract-{uuid.uuid4().hex[:8]}"
    yield endpoint, key, database

    async def drop() -> None:
        store = CosmosDocumentStore(endpoint, database, credential=key)
        try:
            await store.client().delete_database(database)
        except CosmosResourceNotFoundError:
            pass  # no test got as far as creating it
        finally:
            await store.close()

    asyncio.run(drop())


def cosmos_backend(request: pytest.FixtureRequest) -> Backend:
    endpoint, key, database = request.getfixturevalue("cosmos_account")

    async def open_instance() -> DocumentStore:
        # flat: the exact index (up to 505 dimensions), so rankings can be compared with brute-force cosine.
        return CosmosDocumentStore(endpoint, database, credential=key, create_containers=True, vector_index_type="flat")

    return Backend("cosmos", ALL_CAPABILITIES, open_instance)


#: Backend name -> factory taking the test's fixture request.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Backend]] = {
    "sqlite": sqlite_backend,
    "cosmos-test-server": cosmos_test_server_backend,
    "cosmos": cosmos_backend,
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(capability): skip unless the store backend has this capability")


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    chosen = BACKENDS[request.param](request)
    marker = request.node.get_closest_marker("requires")
    for capability in marker.args if marker else ():
        chosen.require(capability)
    chosen.skip_known_gap(request.node.name)
    yield chosen
    await chosen.close_all()


@pytest.fixture
async def store(backend: Backend) -> DocumentStore:
    return await backend.open()


MakeContainer = Callable[..., Awaitable[DocumentContainer]]


@pytest.fixture
def make_container(store: DocumentStore) -> MakeContainer:
    """Opens a container with a name unique to the test, so backends with a shared database do not collide."""

    async def make(
        partition_key_path: str = "/id",
        *,
        dimensions: int | None = None,
        name: str | None = None,
        extra_vectors: tuple[VectorSpec, ...] = (),
    ) -> DocumentContainer:
        vector = VectorSpec("/embedding", dimensions) if dimensions else None
        spec = ContainerSpec(
            name or f"contract-{uuid.uuid4().hex[:12]}", partition_key_path, vector, extra_vectors=extra_vectors
        )
        return await store.container(spec)

    return make
