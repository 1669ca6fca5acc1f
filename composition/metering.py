"""The usage ledger of a process: which models it meters, at what prices, and the sinks the backends report to."""

from __future__ import annotations

from functools import partial

from chat.models import ChatModel, Usage
from composition.settings import EmbeddingBackend, Settings, StoreBackend
from embedding.base import Embedder
from ledger import Meter, Prices, Role, UsageLedger
from ledger.usage import STORE_MODEL

#: Backends whose calls someone bills (the others run on this machine).
METERED_EMBEDDERS = frozenset({EmbeddingBackend.AZURE_OPENAI, EmbeddingBackend.OPENAI})


def prices_of(settings: Settings) -> Prices:
    return Prices(
        embedding_per_1m_tokens=settings.PRICE_EMBEDDING_PER_1M_TOKENS,
        chat_input_per_1m_tokens=settings.PRICE_CHAT_INPUT_PER_1M_TOKENS,
        chat_output_per_1m_tokens=settings.PRICE_CHAT_OUTPUT_PER_1M_TOKENS,
        per_1m_request_units=settings.PRICE_PER_1M_REQUEST_UNITS,
        currency=settings.PRICE_CURRENCY,
    )


def build_ledger(settings: Settings) -> UsageLedger:
    """A ledger with the settings' prices (the models are added by :func:`meter_models`)."""
    ledger = UsageLedger(prices=prices_of(settings))
    if settings.STORE_BACKEND is StoreBackend.COSMOS:
        ledger.add_meter(Meter(STORE_MODEL, Role.STORE, True))
    return ledger


def meter_models(ledger: UsageLedger, settings: Settings, embedder: Embedder, chat_model: ChatModel) -> None:
    """Point the embedder's and the chat model's usage sinks at ``ledger``."""
    meter_embedder(ledger, settings, embedder)
    ledger.add_meter(Meter(chat_model.model_id, Role.CHAT, chat_model.is_language_model))
    chat_model.usage_sink = partial(_record_chat, ledger, chat_model.model_id)


def meter_embedder(ledger: UsageLedger, settings: Settings, embedder: Embedder) -> None:
    """Point an embedder's usage sink at ``ledger`` (``settings``: the ones it was built from)."""
    ledger.add_meter(Meter(embedder.model_id, Role.EMBEDDING, settings.EMBEDDING_BACKEND in METERED_EMBEDDERS))
    embedder.usage_sink = partial(ledger.record_embedding, embedder.model_id)


def _record_chat(ledger: UsageLedger, model: str, usage: Usage) -> None:
    ledger.record_chat(model, usage.prompt_tokens, usage.completion_tokens)
