"""The request models bounded by settings, built in one place from :class:`api.limits.ApiLimits`.

A limit that is a constant lives on its model (``MAX_QUERY_LENGTH`` on :class:`api.search.SearchInput`, the product
rules in ``catalog.model``); a limit that is a setting enters here, once, and so reaches both what the handlers
enforce and what ``/api/openapi.json`` documents.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, create_model

from api.chat import ChatInput
from api.completions import ChatCompletionInput, ChatMessage, Conversation
from api.fields import Between, Text, WholeNumber
from api.limits import ApiLimits
from api.products import BulkProductsBody, bulk_products_body
from api.search import SearchInput, SearchMode


@dataclass(frozen=True)
class ApiModels:
    """The models to validate requests with, for one set of limits."""

    limits: ApiLimits
    search: type[SearchInput]
    chat: type[ChatInput]
    chat_completion: type[ChatCompletionInput]
    bulk_products: type[BulkProductsBody]


@functools.cache
def api_models(limits: ApiLimits) -> ApiModels:
    """The request models with ``limits`` (built once per set of limits)."""
    message = Annotated[str, Text(limits.chat_max_message_chars), Field(description="What the user asked.")]
    conversation = Annotated[list[ChatMessage], Conversation(limits.chat_max_messages, limits.chat_max_message_chars)]
    return ApiModels(
        limits=limits,
        search=create_model(
            "SearchInput",
            __base__=SearchInput,
            __doc__=SearchInput.__doc__,
            k=(Annotated[int, WholeNumber(1, limits.search_max_k)], limits.search_default_k),
            mode=(Annotated[str, SearchMode(limits.search_default_mode)], limits.search_default_mode),
        ),
        chat=create_model(
            "ChatInput",
            __base__=ChatInput,
            __doc__=ChatInput.__doc__,
            message=(message, ...),
            k=(Annotated[int, Between(1, limits.chat_max_k)], limits.chat_default_k),
        ),
        chat_completion=create_model(
            "ChatCompletionInput",
            __base__=ChatCompletionInput,
            __doc__=ChatCompletionInput.__doc__,
            messages=(conversation, ...),
        ),
        bulk_products=bulk_products_body(limits.max_bulk_products),
    )
