"""The request limits that come from settings: the one place they enter the models (see :mod:`api.models`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class LimitSettings(Protocol):
    """The settings the limits are read from (``composition.settings.Settings`` has them, named as in
    ``local.settings.json``)."""

    @property
    def SEARCH_DEFAULT_K(self) -> int: ...

    @property
    def SEARCH_MAX_K(self) -> int: ...

    @property
    def SEARCH_MODE(self) -> str: ...

    @property
    def CHAT_MAX_MESSAGE_CHARS(self) -> int: ...

    @property
    def CHAT_DEFAULT_K(self) -> int: ...

    @property
    def CHAT_MAX_K(self) -> int: ...

    @property
    def CHAT_MAX_MESSAGES(self) -> int: ...

    @property
    def MAX_BULK_PRODUCTS(self) -> int: ...

    @property
    def MAX_REQUEST_BYTES(self) -> int: ...


@dataclass(frozen=True)
class ApiLimits:
    """Bounds on what one request may ask for, as configured.

    Attributes:
        search_default_k: results when a search names no ``k`` (SEARCH_DEFAULT_K).
        search_max_k: the largest ``k`` a search may ask for (SEARCH_MAX_K).
        search_default_mode: the ranking when a search names none (SEARCH_MODE).
        chat_max_message_chars: the longest question (CHAT_MAX_MESSAGE_CHARS).
        chat_default_k: products retrieved for a chat answer (CHAT_DEFAULT_K).
        chat_max_k: the largest ``k`` a chat may ask for (CHAT_MAX_K).
        chat_max_messages: the most ``messages`` an OpenAI-style request may send (CHAT_MAX_MESSAGES).
        max_bulk_products: the most products one bulk request may write (MAX_BULK_PRODUCTS; 413 above).
        max_request_bytes: the largest body (MAX_REQUEST_BYTES; 413 above).
    """

    search_default_k: int
    search_max_k: int
    search_default_mode: str
    chat_max_message_chars: int
    chat_default_k: int
    chat_max_k: int
    chat_max_messages: int
    max_bulk_products: int
    max_request_bytes: int

    @classmethod
    def from_settings(cls, settings: LimitSettings) -> ApiLimits:
        return cls(
            search_default_k=settings.SEARCH_DEFAULT_K,
            search_max_k=settings.SEARCH_MAX_K,
            search_default_mode=settings.SEARCH_MODE,
            chat_max_message_chars=settings.CHAT_MAX_MESSAGE_CHARS,
            chat_default_k=settings.CHAT_DEFAULT_K,
            chat_max_k=settings.CHAT_MAX_K,
            chat_max_messages=settings.CHAT_MAX_MESSAGES,
            max_bulk_products=settings.MAX_BULK_PRODUCTS,
            max_request_bytes=settings.MAX_REQUEST_BYTES,
        )
