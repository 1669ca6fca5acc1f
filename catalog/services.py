"""The one place backends are chosen and built: once per process, reused by every invocation."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog.model import expected_hash
from catalog.products import ProductCatalog
from catalog.search import ProductSearch
from catalog.settings import ChatBackend, EmbeddingBackend, Settings, StoreBackend, load_settings
from chat.cache import SemanticCache
from chat.history import ChatHistory
from chat.models import ChatModel, ExtractiveChatModel
from chat.service import ChatLimits, ChatService
from embedding.base import Embedder, RetryPolicy
from embedding.pipeline import BatchReport, EmbeddingPipeline
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
    chat_model: ChatModel
    #: What the change-feed pipeline has done since this process started (shown by /api/health).
    pipeline_totals: BatchReport = field(default_factory=BatchReport)
    _containers: dict[str, DocumentContainer] = field(default_factory=dict)
    _features: dict[str, Any] = field(default_factory=dict)

    def container_specs(self) -> dict[str, ContainerSpec]:
        """Every container the app uses, by name, with partition keys and the product vector policy."""
        s = self.settings
        vector = VectorSpec(path=VECTOR_PATH, dimensions=self.embedder.dimensions)
        specs = [
            ContainerSpec(
                s.COSMOS_PRODUCTS_CONTAINER, "/id", vector, full_text_paths=tuple("/" + f for f in s.EMBED_FIELDS)
            ),
            ContainerSpec(s.COSMOS_LEASES_CONTAINER, "/id"),
            ContainerSpec(s.COSMOS_DEADLETTER_CONTAINER, "/product_id"),
            ContainerSpec(s.COSMOS_CACHE_CONTAINER, "/scope", vector),
            ContainerSpec(s.COSMOS_HISTORY_CONTAINER, "/session_id"),
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
        """Product reads and writes (built once)."""
        if "catalog" not in self._features:
            self._features["catalog"] = ProductCatalog(
                await self.products(), self.settings.EMBED_FIELDS, self.embedder.model_id, self.embedder.dimensions
            )
        catalog: ProductCatalog = self._features["catalog"]
        return catalog

    async def search(self) -> ProductSearch:
        """Search over live products (built once)."""
        if "search" not in self._features:
            self._features["search"] = ProductSearch(await self.products(), self.embedder, self.settings.SEARCH_MODE)
        search: ProductSearch = self._features["search"]
        return search

    async def embedding_pipeline(self) -> EmbeddingPipeline:
        """The change-feed pipeline over the products and dead-letter containers (built once)."""
        if "pipeline" not in self._features:
            self._features["pipeline"] = EmbeddingPipeline(
                await self.products(),
                await self.deadletters(),
                self.embedder,
                self.settings.EMBED_FIELDS,
                totals=self.pipeline_totals,
            )
        pipeline: EmbeddingPipeline = self._features["pipeline"]
        return pipeline

    def content_hash(self, product: Mapping[str, Any]) -> str:
        """The hash a product's current text has under the configured model (what cached answers remember)."""
        return expected_hash(product, self.settings.EMBED_FIELDS, self.embedder.model_id, self.embedder.dimensions)

    @property
    def chat_limits(self) -> ChatLimits:
        s = self.settings
        return ChatLimits(s.CHAT_MAX_MESSAGE_CHARS, s.CHAT_DEFAULT_K, s.CHAT_MAX_K, s.CHAT_MAX_MESSAGES)

    async def chat(self) -> ChatService:
        """The RAG chat over products, the semantic cache and the session history (built once)."""
        if "chat" not in self._features:
            s = self.settings
            cache = SemanticCache(
                await self.container_named(s.COSMOS_CACHE_CONTAINER),
                await self.products(),
                threshold=s.CHAT_CACHE_THRESHOLD,
                ttl_seconds=s.CHAT_CACHE_TTL_SECONDS,
                content_hash=self.content_hash,
            )
            history = ChatHistory(await self.container_named(s.COSMOS_HISTORY_CONTAINER), s.CHAT_HISTORY_MAX_TURNS)
            self._features["chat"] = ChatService(
                embedder=self.embedder,
                search=await self.search(),
                cache=cache,
                history=history,
                model=self.chat_model,
                content_hash=self.content_hash,
                history_token_budget=s.CHAT_HISTORY_TOKEN_BUDGET,
            )
        chat: ChatService = self._features["chat"]
        return chat

    async def close(self) -> None:
        await self.chat_model.close()
        await self.embedder.close()
        await self.store.close()


def build_store(settings: Settings) -> DocumentStore:
    """The document store the settings choose."""
    if settings.STORE_BACKEND is StoreBackend.LOCAL:
        from store.sqlite import SqliteDocumentStore

        return SqliteDocumentStore(settings.data_dir / "catalog.sqlite3")
    from store.cosmos import CosmosDocumentStore

    # Opens existing containers only: `python -m store.cosmos_bootstrap` (or `azd up`) creates them.
    return CosmosDocumentStore.from_settings(settings)


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings choose, with the configured batch size and retry policy."""
    embedder: Embedder
    if settings.EMBEDDING_BACKEND is EmbeddingBackend.LOCAL:
        from embedding.local_onnx import OnnxEmbedder

        embedder = OnnxEmbedder(model_dir=settings.LOCAL_EMBEDDING_MODEL_DIR or None)
    elif settings.EMBEDDING_BACKEND is EmbeddingBackend.DETERMINISTIC:
        from embedding.deterministic import DeterministicEmbedder

        embedder = DeterministicEmbedder(delay=settings.TEST_EMBED_DELAY_MS / 1000)
    else:
        from catalog.settings import SettingsError
        from embedding.openai_embedder import (
            KNOWN_EMBEDDING_MODELS,
            EmbeddingDimensionsError,
            OpenAIEmbedder,
            azure_openai_client,
            embedding_dimensions,
            openai_client,
        )

        azure = settings.EMBEDDING_BACKEND is EmbeddingBackend.AZURE_OPENAI
        model = settings.AZURE_OPENAI_EMBEDDING_DEPLOYMENT if azure else settings.EMBEDDING_MODEL
        # A deployment named after its model (the default) says which model it runs; otherwise EMBEDDING_MODEL does.
        base_model = model if model in KNOWN_EMBEDDING_MODELS else settings.EMBEDDING_MODEL
        try:
            embedding_dimensions(base_model, settings.EMBEDDING_DIMENSIONS)  # checked before any client exists
        except EmbeddingDimensionsError as error:
            raise SettingsError(str(error)) from None
        client, credential = azure_openai_client(settings) if azure else (openai_client(settings), None)
        embedder = OpenAIEmbedder(
            client, model, dimensions=settings.EMBEDDING_DIMENSIONS, base_model=base_model, credential=credential
        )
    embedder.max_batch_size = min(embedder.max_batch_size, settings.EMBED_BATCH_SIZE)
    embedder.retry_policy = RetryPolicy(
        max_attempts=settings.EMBED_MAX_ATTEMPTS, max_total_wait=settings.EMBED_MAX_TOTAL_WAIT_SECONDS
    )
    return embedder


def build_chat_model(settings: Settings) -> ChatModel:
    """The chat model the settings choose; its client is created here, once."""
    if settings.CHAT_BACKEND is ChatBackend.EXTRACTIVE:
        return ExtractiveChatModel()
    from chat.openai_chat import OpenAIChatModel
    from embedding.openai_embedder import azure_openai_client, openai_client

    if settings.CHAT_BACKEND is ChatBackend.AZURE_OPENAI:
        client, credential = azure_openai_client(settings)
        return OpenAIChatModel(
            client, settings.AZURE_OPENAI_CHAT_DEPLOYMENT, max_tokens=settings.CHAT_MAX_TOKENS, credential=credential
        )
    return OpenAIChatModel(openai_client(settings), settings.CHAT_MODEL, max_tokens=settings.CHAT_MAX_TOKENS)


def build_services(settings: Settings) -> Services:
    return Services(
        settings=settings,
        store=build_store(settings),
        embedder=build_embedder(settings),
        chat_model=build_chat_model(settings),
    )


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
