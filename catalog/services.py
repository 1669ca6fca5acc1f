"""The one place backends are chosen and built: once per process, reused by every invocation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from catalog.products import ProductCatalog
from catalog.search import ProductSearch
from catalog.settings import EmbeddingBackend, Settings, StoreBackend, load_settings
from embedding.base import Embedder, RetryPolicy
from embedding.pipeline import EmbeddingPipeline
from store.base import ContainerSpec, DocumentContainer, DocumentStore, VectorSpec

log = logging.getLogger(__name__)

#: Where the vector lives on a product document (a Cosmos DB vector embedding policy path).
VECTOR_PATH = "/embedding"


@dataclass
class Services:
    """Everything an invocation needs, built from settings once."""

    settings: Settings
    store: DocumentStore
    embedder: Embedder
    _containers: dict[str, DocumentContainer] = field(default_factory=dict)

    def container_specs(self) -> dict[str, ContainerSpec]:
        """Every container the app uses, by name, with partition keys and the product vector policy."""
        s = self.settings
        vector = VectorSpec(path=VECTOR_PATH, dimensions=self.embedder.dimensions)
        specs = [
            ContainerSpec(s.COSMOS_PRODUCTS_CONTAINER, "/id", vector),
            ContainerSpec(s.COSMOS_LEASES_CONTAINER, "/id"),
            ContainerSpec(s.COSMOS_DEADLETTER_CONTAINER, "/product_id"),
        ]
        return {spec.name: spec for spec in specs}

    async def container_named(self, name: str) -> DocumentContainer:
        """The container called ``name`` (as a binding's ``containerName`` resolves), opened once."""
        if name not in self._containers:
            spec = self.container_specs().get(name) or ContainerSpec(name, "/id")
            self._containers[name] = await self.store.container(spec)
        return self._containers[name]

    async def products(self) -> DocumentContainer:
        return await self.container_named(self.settings.COSMOS_PRODUCTS_CONTAINER)

    async def deadletters(self) -> DocumentContainer:
        return await self.container_named(self.settings.COSMOS_DEADLETTER_CONTAINER)

    async def catalog(self) -> ProductCatalog:
        """Product reads and writes."""
        return ProductCatalog(
            await self.products(), self.settings.EMBED_FIELDS, self.embedder.model_id, self.embedder.dimensions
        )

    async def search(self) -> ProductSearch:
        """Vector search over live products."""
        return ProductSearch(await self.products(), self.embedder)

    async def embedding_pipeline(self) -> EmbeddingPipeline:
        """The change-feed pipeline over the products and dead-letter containers."""
        return EmbeddingPipeline(
            await self.products(), await self.deadletters(), self.embedder, self.settings.EMBED_FIELDS
        )

    async def close(self) -> None:
        await self.embedder.close()
        await self.store.close()


def build_store(settings: Settings) -> DocumentStore:
    """The document store the settings choose."""
    if settings.STORE_BACKEND is StoreBackend.LOCAL:
        from store.sqlite import SqliteDocumentStore

        return SqliteDocumentStore(settings.data_dir / "catalog.sqlite3")
    raise NotImplementedError("STORE_BACKEND=cosmos is not available yet; use STORE_BACKEND=local")


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings choose, with the configured batch size and retry policy."""
    embedder: Embedder
    if settings.EMBEDDING_BACKEND is EmbeddingBackend.LOCAL:
        from embedding.local_onnx import OnnxEmbedder

        embedder = OnnxEmbedder(model_dir=settings.LOCAL_EMBEDDING_MODEL_DIR or None)
    elif settings.EMBEDDING_BACKEND is EmbeddingBackend.DETERMINISTIC:
        from embedding.deterministic import DeterministicEmbedder

        embedder = DeterministicEmbedder()
    else:
        raise NotImplementedError(
            f"EMBEDDING_BACKEND={settings.EMBEDDING_BACKEND} is not available yet; use EMBEDDING_BACKEND=local"
        )
    embedder.max_batch_size = min(embedder.max_batch_size, settings.EMBED_BATCH_SIZE)
    embedder.retry_policy = RetryPolicy(
        max_attempts=settings.EMBED_MAX_ATTEMPTS, max_total_wait=settings.EMBED_MAX_TOTAL_WAIT_SECONDS
    )
    return embedder


def build_services(settings: Settings) -> Services:
    return Services(settings=settings, store=build_store(settings), embedder=build_embedder(settings))


_services: Services | None = None


async def get_services() -> Services:
    """The process-wide services, built on first use from the environment's settings."""
    global _services
    # Building is synchronous (no await), so two coroutines cannot both build: no lock needed.
    if _services is None:
        _services = build_services(load_settings())
        log.info(
            "services ready: store=%s embedder=%s (%d dims)",
            _services.settings.STORE_BACKEND,
            _services.embedder.model_id,
            _services.embedder.dimensions,
        )
    return _services


def set_services(services: Services | None) -> None:
    """Install prebuilt services (the dev host and tests inject theirs); ``None`` forgets them."""
    global _services
    _services = services
