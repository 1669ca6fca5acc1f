"""The RAG chat flow: history → standalone question → semantic cache → vector search → model → history + cache.

Independent of Azure Functions: the HTTP blueprint, the OpenAI-compatible surface, tests and benchmarks all call
:meth:`ChatService.ask_stream` (or :meth:`ChatService.ask`).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog.model import display_text
from catalog.search import ProductSearch, SearchFilters
from chat.cache import SemanticCache, cache_scope
from chat.followup import standalone_question
from chat.history import ChatHistory, Turn
from chat.models import ChatModel, ChatPrompt, RetrievedProduct, Usage
from chat.prompt import PROMPT_VERSION, build_messages
from embedding.base import Embedder

_CITATION = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class ChatLimits:
    """Bounds on what one request may ask for."""

    max_message_chars: int = 2000
    default_k: int = 5
    max_k: int = 20
    max_messages: int = 50


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat request.

    Attributes:
        message: what the user asked.
        session_id: the conversation; history is loaded from and stored to it unless ``history`` is given.
        user: whose cache scope the request uses (never shared with another user).
        filters: search filters; part of the cache scope.
        k: products retrieved.
        history: earlier messages supplied by the caller (the stateless OpenAI-compatible surface); when given,
            the session store is neither read nor written.
    """

    message: str
    session_id: str
    user: str
    filters: SearchFilters = field(default_factory=SearchFilters)
    k: int = 5
    history: list[dict[str, str]] | None = None


@dataclass
class ChatAnswer:
    """What one request produced (the body of ``POST /api/chat``)."""

    session_id: str
    question: str
    answer: str
    citations: list[dict[str, Any]]
    cached: bool
    cache_score: float | None
    timings: dict[str, float]
    usage: Usage

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "session_id": self.session_id,
            "answer": self.answer,
            "citations": self.citations,
            "cached": self.cached,
            "timings": self.timings,
            "usage": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens},
        }
        if self.cache_score is not None:
            body["cache_score"] = round(self.cache_score, 6)
        return body


@dataclass(frozen=True)
class ChatEvent:
    """One step of a streamed answer: a ``token`` with text, then one ``done`` with the whole answer."""

    kind: str
    text: str = ""
    answer: ChatAnswer | None = None


class ChatService:
    """Answers questions about the catalog from retrieved products, with a semantic cache and session history.

    Args:
        embedder: embeds the standalone question (the same model as the catalog).
        search: vector search over live products.
        cache: the semantic cache.
        history: per-session history.
        model: writes the answer.
        content_hash: the hash of a product's current embedded text (for cache invalidation).
        history_token_budget: the most tokens of history sent to the model.
    """

    def __init__(
        self,
        *,
        embedder: Embedder,
        search: ProductSearch,
        cache: SemanticCache,
        history: ChatHistory,
        model: ChatModel,
        content_hash: Callable[[Mapping[str, Any]], str],
        history_token_budget: int,
    ) -> None:
        self.embedder = embedder
        self.search = search
        self.cache = cache
        self.history = history
        self.model = model
        self.content_hash = content_hash
        self.history_token_budget = history_token_budget

    async def ask(self, request: ChatRequest) -> ChatAnswer:
        """The whole answer at once."""
        async for event in self.ask_stream(request):
            if event.answer is not None:
                return event.answer
        raise AssertionError("ask_stream ended without a done event")  # pragma: no cover

    async def ask_stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Tokens as they are written, then a ``done`` event carrying the :class:`ChatAnswer`.

        Nothing is cached or stored in history unless the answer completes.
        """
        started = time.perf_counter()
        timings = {"embed_ms": 0.0, "cache_ms": 0.0, "search_ms": 0.0, "llm_ms": 0.0}
        turns: list[Turn] = []
        if request.history is None:
            turns = await self.history.load(request.session_id)
            messages = [message for turn in turns for message in turn.as_messages()]
            previous = turns[-1].question if turns else None
        else:
            messages = request.history
            previous = _last_user_message(messages)

        clock = time.perf_counter()
        question = await standalone_question(self.model, messages, previous, request.message)
        timings["llm_ms"] += _ms(clock)

        clock = time.perf_counter()
        [vector] = await self.embedder.embed([question])
        timings["embed_ms"] = _ms(clock)

        clock = time.perf_counter()
        scope = cache_scope(request.user, self.model.model_id, PROMPT_VERSION, request.filters.as_dict())
        hit = await self.cache.lookup(scope, vector)
        timings["cache_ms"] = _ms(clock)

        usage = Usage()
        if hit is not None:
            text, citations, cached, cache_score = hit.answer, hit.citations, True, hit.score
            yield ChatEvent("token", text)
        else:
            cached, cache_score = False, None
            hits, timings["search_ms"] = await self.search.search_vector(
                vector, request.k, request.filters, text=question
            )
            products = [
                RetrievedProduct(
                    id=str(h.document["id"]),
                    name=str(h.document.get("name") or h.document["id"]),
                    score=h.score,
                    text=display_text(h.document),
                    content_hash=self.content_hash(h.document),
                    document=h.document,
                )
                for h in hits
            ]
            prompt = ChatPrompt(
                build_messages(question, products, messages, history_token_budget=self.history_token_budget),
                question,
                products,
            )
            clock = time.perf_counter()
            parts: list[str] = []
            async for chunk in self.model.stream(prompt):
                if chunk.text:
                    parts.append(chunk.text)
                    yield ChatEvent("token", chunk.text)
                usage = chunk.usage or usage
            timings["llm_ms"] += _ms(clock)
            text = "".join(parts)
            citations = cited_products(text, products)
            if products and text.strip():
                sources = [{"id": p.id, "content_hash": p.content_hash} for p in products]
                await self.cache.store(scope, question, vector, text, citations, sources)

        if request.history is None:
            turn = Turn(request.session_id, request.message, question, text, citations, cached)
            await self.history.append(turn, turns)
        timings["total_ms"] = _ms(started)
        answer = ChatAnswer(request.session_id, question, text, citations, cached, cache_score, timings, usage)
        yield ChatEvent("done", answer=answer)

    async def session(self, session_id: str) -> list[Turn]:
        return await self.history.load(session_id)

    async def forget(self, session_id: str) -> int:
        return await self.history.forget(session_id)


def cited_products(answer: str, products: list[RetrievedProduct]) -> list[dict[str, Any]]:
    """The products the answer cites by ``[n]``; every retrieved product when it cites none by number."""
    numbers = [int(n) for n in _CITATION.findall(answer)]
    chosen = [products[n - 1] for n in dict.fromkeys(numbers) if 1 <= n <= len(products)] or products
    return [{"id": p.id, "name": p.name, "score": round(p.score, 6)} for p in chosen]


def _last_user_message(messages: list[dict[str, str]]) -> str | None:
    return next((m["content"] for m in reversed(messages) if m.get("role") == "user"), None)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
