"""Chat models: one interface (stream, with complete in the base).

Offline, :class:`chat.answer_writer.AnswerWriter` answers from the retrieved products without a language model; any
OpenAI-compatible endpoint (Azure OpenAI, OpenAI, Ollama, vLLM, llama.cpp server) can be configured instead
(:mod:`chat.openai_chat`).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from catalog.query_understanding import QueryReading


@dataclass(frozen=True)
class RetrievedProduct:
    """A product retrieved for a question: what the model is shown and what the answer cites."""

    id: str
    name: str
    score: float
    text: str
    content_hash: str | None = None
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: Other variants of the same model grouped into this result (``{"id", "name", "price"}``).
    variants: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)


@dataclass(frozen=True)
class ChatPrompt:
    """Everything a model needs for one answer.

    Attributes:
        messages: the assembled chat messages (system rules, products as data, history, question).
        question: the standalone question.
        products: the retrieved products, in the order the messages number them.
        reading: how the question was read (bounds, sort, category, kind), when it was.
        no_match: retrieval found nothing the question asks for.
        closest: when a price bound excluded everything: the nearest products outside it.
    """

    messages: list[dict[str, str]]
    question: str
    products: list[RetrievedProduct]
    reading: QueryReading | None = None
    no_match: bool = False
    closest: list[RetrievedProduct] = field(default_factory=list)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class ChatChunk:
    """A piece of a streamed answer; the last chunk of a stream carries the usage."""

    text: str = ""
    usage: Usage | None = None


class ChatModel(abc.ABC):
    """Writes an answer from a :class:`ChatPrompt`.

    Attributes:
        model_id: the identity that scopes the semantic cache (answers of one model are not served for another).
        is_language_model: whether it can follow instructions (rewrite follow-ups, write prose).
    """

    model_id: str
    is_language_model: bool = True
    #: Called with the usage of the completions the base class asks for itself (question rewrites); answers are
    #: recorded by the chat service. The composition root points it at the usage ledger.
    usage_sink: Callable[[Usage], None] | None = None

    @abc.abstractmethod
    def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatChunk]:
        """Yield the answer in pieces; the last chunk carries the token usage."""

    async def complete(self, prompt: ChatPrompt) -> tuple[str, Usage]:
        """The whole answer and its usage."""
        parts: list[str] = []
        usage = Usage()
        async for chunk in self.stream(prompt):
            parts.append(chunk.text)
            usage = chunk.usage or usage
        return "".join(parts), usage

    async def rewrite_question(self, messages: list[dict[str, str]]) -> str:
        """A standalone question from a conversation; only language models are asked to."""
        text, usage = await self.complete(ChatPrompt(messages=messages, question="", products=[]))
        if self.usage_sink is not None:
            self.usage_sink(usage)
        return text.strip()

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients."""
