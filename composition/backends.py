"""The one place backends are chosen: the store, the embedder and the chat model the settings name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chat.answer_writer import AnswerWriter
from chat.models import ChatModel
from composition.settings import ChatBackend, CosmosAuth, EmbeddingBackend, Settings, SettingsError, StoreBackend
from embedding.base import Embedder
from store.base import DocumentStore
from transport.quota import QuotaGovernor
from transport.retry import RetryPolicy

if TYPE_CHECKING:
    from store.cosmos import CosmosDocumentStore


def build_store(settings: Settings, on_request_charge: Callable[[float], None] | None = None) -> DocumentStore:
    """The document store the settings choose; Cosmos DB reports each response's request units to
    ``on_request_charge`` (the embedded store has none)."""
    if settings.STORE_BACKEND is StoreBackend.LOCAL:
        from store.sqlite import SqliteDocumentStore

        return SqliteDocumentStore(settings.data_dir / "catalog.sqlite3")
    # Opens existing containers only: `python -m composition.cosmos_bootstrap` (or `azd up`) creates them.
    return cosmos_store(settings, on_request_charge)


def cosmos_store(settings: Settings, on_request_charge: Callable[[float], None] | None = None) -> CosmosDocumentStore:
    """The Cosmos DB store the settings describe (``COSMOS_CONNECTION__accountEndpoint``, ``COSMOS_DATABASE``,
    ``COSMOS_AUTH`` with ``COSMOS_KEY``, ``AZURE_CLIENT_ID``)."""
    from store.cosmos import CosmosDocumentStore

    key = settings.COSMOS_KEY if settings.COSMOS_AUTH is CosmosAuth.KEY else None
    return CosmosDocumentStore(
        settings.COSMOS_CONNECTION__accountEndpoint,
        settings.COSMOS_DATABASE,
        credential=key or None,
        managed_identity_client_id=settings.AZURE_CLIENT_ID or None,
        vector_index_type=str(settings.COSMOS_VECTOR_INDEX_TYPE),
        on_request_charge=on_request_charge,
    )


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings choose, with the configured batch size and retry policy."""
    embedder: Embedder
    if settings.EMBEDDING_BACKEND is EmbeddingBackend.LOCAL:
        from embedding.local_onnx import OnnxEmbedder

        embedder = OnnxEmbedder(model_dir=settings.LOCAL_EMBEDDING_MODEL_DIR or None)
    elif settings.EMBEDDING_BACKEND is EmbeddingBackend.DETERMINISTIC:
        from embedding.deterministic import DeterministicEmbedder

        embedder = DeterministicEmbedder(
            dimensions=settings.EMBEDDING_DIMENSIONS or 64, delay=settings.TEST_EMBED_DELAY_MS / 1000
        )
    else:
        from composition.openai_clients import azure_openai_client, openai_client
        from embedding.openai_embedder import (
            KNOWN_EMBEDDING_MODELS,
            EmbeddingDimensionsError,
            OpenAIEmbedder,
            embedding_dimensions,
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
        # One governor per embedder, so every invocation of the process shares what it learned about the quota.
        governor = QuotaGovernor(tokens_per_minute=settings.EMBED_QUOTA_TPM) if settings.EMBED_QUOTA_GOVERNOR else None
        embedder = OpenAIEmbedder(
            client,
            model,
            dimensions=settings.EMBEDDING_DIMENSIONS,
            base_model=base_model,
            credential=credential,
            governor=governor,
        )
    embedder.max_batch_size = min(embedder.max_batch_size, settings.EMBED_BATCH_SIZE)
    embedder.retry_policy = RetryPolicy(
        max_attempts=settings.EMBED_MAX_ATTEMPTS, max_total_wait=settings.EMBED_MAX_TOTAL_WAIT_SECONDS
    )
    return embedder


def build_chat_model(settings: Settings) -> ChatModel:
    """The chat model the settings choose; its client is created here, once."""
    if settings.CHAT_BACKEND is ChatBackend.EXTRACTIVE:
        return AnswerWriter()
    from chat.openai_chat import OpenAIChatModel
    from composition.openai_clients import azure_openai_client, openai_client

    if settings.CHAT_BACKEND is ChatBackend.AZURE_OPENAI:
        client, credential = azure_openai_client(settings)
        return OpenAIChatModel(
            client, settings.AZURE_OPENAI_CHAT_DEPLOYMENT, max_tokens=settings.CHAT_MAX_TOKENS, credential=credential
        )
    return OpenAIChatModel(openai_client(settings), settings.CHAT_MODEL, max_tokens=settings.CHAT_MAX_TOKENS)
