"""The backends the store contract suite runs against.

Every test in this folder takes the ``backend`` fixture (directly or through ``store``/``make_container``) and so
runs once per entry of :data:`BACKENDS`. To add a backend, write a factory that returns a :class:`Backend` and add
it to :data:`BACKENDS`; declare only the capabilities it really has, and the tests that need the others are
skipped with a reason instead of failing (``@pytest.mark.requires(VECTOR_SEARCH)``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from store.base import ContainerSpec, DocumentContainer, DocumentStore, VectorSpec
from store.sqlite import SqliteDocumentStore

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


def sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "data" / "catalog.sqlite3"

    async def open_instance() -> DocumentStore:
        return SqliteDocumentStore(path)

    return Backend("sqlite", ALL_CAPABILITIES, open_instance)


#: Backend name -> factory taking the test's ``tmp_path``.
BACKENDS: dict[str, Callable[[Path], Backend]] = {"sqlite": sqlite_backend}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(capability): skip unless the store backend has this capability")


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    chosen = BACKENDS[request.param](tmp_path)
    marker = request.node.get_closest_marker("requires")
    for capability in marker.args if marker else ():
        chosen.require(capability)
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
        partition_key_path: str = "/id", *, dimensions: int | None = None, name: str | None = None
    ) -> DocumentContainer:
        vector = VectorSpec("/embedding", dimensions) if dimensions else None
        spec = ContainerSpec(name or f"contract-{uuid.uuid4().hex[:12]}", partition_key_path, vector)
        return await store.container(spec)

    return make
