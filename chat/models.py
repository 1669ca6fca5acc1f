"""Chat models: one interface (stream, with complete in the base) and the offline extractive default.

No language model runs offline here, so the default backend, :class:`ExtractiveChatModel`, says so and answers with
the retrieved products themselves, cited. Any OpenAI-compatible endpoint (Azure OpenAI, OpenAI, Ollama, vLLM,
llama.cpp server) can be configured instead (:mod:`chat.openai_chat`).
"""

from __future__ import annotations

import abc
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from chat.tokens import count_tokens


@dataclass(frozen=True)
class RetrievedProduct:
    """A product retrieved for a question: what the model is shown and what the answer cites."""

    id: str
    name: str
    score: float
    text: str
    content_hash: str | None = None
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ChatPrompt:
    """Everything a model needs for one answer.

    Attributes:
        messages: the assembled chat messages (system rules, products as data, history, question).
        question: the standalone question.
        products: the retrieved products, in the order the messages number them.
    """

    messages: list[dict[str, str]]
    question: str
    products: list[RetrievedProduct]


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
        text, _ = await self.complete(ChatPrompt(messages=messages, question="", products=[]))
        return text.strip()

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients."""


NO_MODEL_NOTICE = (
    "No language model is configured (CHAT_BACKEND=extractive), so this answer lists the catalog products that "
    "best match your question instead of writing one."
)
NO_PRODUCTS_ANSWER = (
    "No language model is configured (CHAT_BACKEND=extractive), and no product in the catalog matches this question."
)


class ExtractiveChatModel(ChatModel):
    """The honest offline default: the retrieved products as a cited list, saying no language model wrote it."""

    model_id = "extractive-v1"
    is_language_model = False

    def __init__(self, sentences_per_product: int = 2) -> None:
        self.sentences_per_product = sentences_per_product

    def answer(self, products: Sequence[RetrievedProduct]) -> str:
        if not products:
            return NO_PRODUCTS_ANSWER
        lines = [NO_MODEL_NOTICE, ""]
        for number, product in enumerate(products, start=1):
            document = product.document
            facts = [str(document["category_name"])] if document.get("category_name") else []
            price = document.get("price")
            if isinstance(price, int | float) and not isinstance(price, bool):
                facts.append(f"${price:,.2f}")
            summary = _first_sentences(str(document.get("description") or ""), self.sentences_per_product)
            shown_facts = f" ({', '.join(facts)})" if facts else ""
            lines.append(f"{number}. {product.name}{shown_facts}: {summary} [{number}]")
        return "\n".join(lines)

    async def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatChunk]:
        text = self.answer(prompt.products)
        # Word-sized pieces, so streaming clients render the same way they would for a language model.
        for piece in re.findall(r"\S+\s*|\s+", text):
            yield ChatChunk(piece)
        yield ChatChunk(usage=Usage(0, count_tokens(text)))


def _first_sentences(text: str, count: int) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(sentences[:count]).strip()
