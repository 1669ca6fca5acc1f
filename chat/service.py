"""The RAG chat flow, in two steps: :meth:`ChatService.prepare` (history → standalone question → reading →
retrieval → semantic cache → prompt) and :meth:`ChatService.answer` (stream the hit or the model's answer, then
history + cache).

Independent of Azure Functions: the HTTP blueprint, the OpenAI-compatible surface, tests and benchmarks all call
:meth:`ChatService.ask_stream` (or :meth:`ChatService.ask`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from catalog.errors import ClientError, ValidationError
from catalog.model import display_text
from catalog.ranking import RankedProduct
from catalog.retrieval import ProductFinder, Retrieval
from catalog.search import SearchFilters
from chat.cache import (
    AnswerCost,
    CacheHit,
    CacheKey,
    CacheSource,
    SemanticCache,
    cache_scope,
    principal_key,
    product_fingerprint,
    reading_signature,
)
from chat.citations import cited_products, end_at_sentence, repair_citations
from chat.followup import standalone_question
from chat.history import ChatHistory, Turn, bounded_history
from chat.models import ChatModel, ChatPrompt, RetrievedProduct, Usage
from chat.prompt import PROMPT_VERSION, build_messages
from ledger import UsageLedger


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat request.

    Attributes:
        message: what the user asked.
        session_id: the conversation; history is loaded from and stored to it unless ``history`` is given. Empty
            or ``None``: a new one the server creates (a client cannot choose one).
        user: the verified caller (whose cache scope and sessions these are).
        filters: search filters; part of the cache scope.
        k: products retrieved.
        history: earlier messages supplied by the caller (the stateless OpenAI-compatible surface); when given,
            the session store is neither read nor written.
    """

    message: str
    session_id: str | None
    user: str
    filters: SearchFilters = field(default_factory=SearchFilters)
    k: int = 5
    history: list[dict[str, str]] | None = None
    mode: str | None = None


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
    understood: dict[str, Any] = field(default_factory=dict)
    no_match: bool = False
    #: The answer's estimated cost at the configured prices (``None`` without a ledger).
    estimated_cost: float | None = None
    currency: str | None = None
    #: A cached answer: what writing it cost once (``None`` for entries written before costs were kept).
    saved: AnswerCost | None = None
    saved_cost: float | None = None

    def to_json(self, *, show_cache_score: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "session_id": self.session_id,
            "answer": self.answer,
            "citations": self.citations,
            "understood": self.understood,
            "cached": self.cached,
            "timings": self.timings,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "estimated_cost": self.estimated_cost,
                "currency": self.currency,
            },
        }
        if self.saved is not None:
            body["saved"] = {
                "prompt_tokens": self.saved.prompt_tokens,
                "completion_tokens": self.saved.completion_tokens,
                "ms": round(self.saved.ms, 3),
                "estimated_cost": self.saved_cost,
            }
        # The similarity says how close someone's earlier question was: shown only where debugging is switched on.
        if show_cache_score and self.cache_score is not None:
            body["cache_score"] = round(self.cache_score, 6)
        return body


@dataclass(frozen=True)
class ChatEvent:
    """One step of a streamed answer: a ``token`` with text, then one ``done`` with the whole answer."""

    kind: str
    text: str = ""
    answer: ChatAnswer | None = None


class SessionNotFoundError(ClientError):
    """The session does not exist for this caller (HTTP 404): another owner's session looks the same as none."""

    status = 404


@dataclass
class Prepared:
    """A chat turn made ready before anything is streamed: the question, how it was read, and either a cache hit
    or the retrieved products and the prompt.

    Attributes:
        request: the validated request.
        session_id: the conversation (created by the server when the request named none).
        question: the standalone question retrieval and the cache use.
        retrieval: what the question found (always done: the cache's consistency check needs it).
        key: where the answer is cached, or ``None`` when it must not be (a follow-up that is not standalone).
        hit: the cached answer to serve, if any.
        prompt: what the model is asked, on a miss.
        turns: the session's earlier turns (to store the new one after them).
        timings: milliseconds spent so far.
    """

    request: ChatRequest
    session_id: str
    question: str
    retrieval: Retrieval
    key: CacheKey | None
    hit: CacheHit | None
    prompt: ChatPrompt | None
    turns: list[Turn]
    timings: dict[str, float]


class ChatService:
    """Answers questions about the catalog from retrieved products, with a semantic cache and session history.

    Args:
        finder: reads, retrieves and ranks (the same path as search).
        cache: the semantic cache.
        history: per-session history, bound to each session's owner.
        model: writes the answer.
        history_token_budget: the most tokens of history sent to the model.
        show_cache_score: return ``cache_score`` to callers (a debugging setting).
        ledger: where answers' tokens and cache hits' savings are counted (and priced), if anywhere.
    """

    def __init__(
        self,
        *,
        finder: ProductFinder,
        cache: SemanticCache,
        history: ChatHistory,
        model: ChatModel,
        history_token_budget: int,
        show_cache_score: bool = False,
        ledger: UsageLedger | None = None,
    ) -> None:
        self.finder = finder
        self.cache = cache
        self.history = history
        self.model = model
        self.history_token_budget = history_token_budget
        self.show_cache_score = show_cache_score
        self.ledger = ledger

    async def ask(self, request: ChatRequest) -> ChatAnswer:
        """The whole answer at once."""
        async for event in self.ask_stream(request):
            if event.answer is not None:
                return event.answer
        raise AssertionError("ask_stream ended without a done event")  # pragma: no cover

    async def ask_stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Tokens as they are written, then a ``done`` event carrying the :class:`ChatAnswer`."""
        prepared = await self.prepare(request)
        async for event in self.answer(prepared):
            yield event

    async def prepare(self, request: ChatRequest) -> Prepared:
        """Everything before the answer: history, standalone question, reading, retrieval, cache lookup, prompt.

        Raises:
            SessionNotFoundError: the request names a session this caller does not own (or that does not exist).
        """
        started = time.perf_counter()
        timings = {"embed_ms": 0.0, "cache_ms": 0.0, "search_ms": 0.0, "llm_ms": 0.0}
        owner = principal_key(request.user)
        turns: list[Turn] = []
        session_id = request.session_id or new_session_id()
        if request.history is not None:
            messages = bounded_history(request.history)
            previous = _last_user_message(messages)
        else:
            if request.session_id:
                turns = await self.history.load(request.session_id, owner)
                if not turns:
                    raise SessionNotFoundError(f"no session {request.session_id!r}", field="session_id")
            messages = [message for turn in turns for message in turn.as_messages()]
            previous = turns[-1].question if turns else None

        clock = time.perf_counter()
        question, standalone = await standalone_question(self.model, messages, previous, request.message)
        timings["llm_ms"] += _ms(clock)

        try:
            retrieval = await self.finder.find(question, request.k, request.filters, request.mode)
        except ValidationError as error:  # the request's filters are under "filters"
            raise ValidationError(error.message, field=f"filters.{error.field}" if error.field else None) from None
        timings["embed_ms"], timings["search_ms"] = retrieval.embed_ms, retrieval.search_ms
        products = [_retrieved(item) for item in retrieval.results]
        sources = _sources(products, set())

        uses_history = self.model.is_language_model and bool(messages)
        key = self._key(request, owner, session_id, retrieval, uses_history) if standalone else None
        hit = None
        if key is not None and not retrieval.no_match and products:
            clock = time.perf_counter()
            hit = await self.cache.lookup(key, retrieval.vector, sources)
            timings["cache_ms"] = _ms(clock)
        prompt = None
        if hit is None:
            shown = [] if retrieval.no_match else products
            closest = [_retrieved(item) for item in retrieval.closest]
            prompt = ChatPrompt(
                build_messages(
                    question,
                    shown or closest,
                    messages if self.model.is_language_model else [],
                    history_token_budget=self.history_token_budget,
                    understood=retrieval.reading.understood(),
                ),
                question,
                shown,
                reading=retrieval.reading,
                no_match=retrieval.no_match or not shown,
                closest=closest,
            )
        timings["prepare_ms"] = _ms(started)
        return Prepared(request, session_id, question, retrieval, key, hit, prompt, turns, timings)

    async def answer(self, prepared: Prepared) -> AsyncIterator[ChatEvent]:
        """Stream the answer of a prepared turn; then store it in history and, when it may be, in the cache.

        Nothing is cached or stored in history unless the answer completes.
        """
        timings = dict(prepared.timings)
        started = time.perf_counter() - timings.pop("prepare_ms", 0.0) / 1000
        usage = Usage()
        cache_score: float | None = None
        saved: AnswerCost | None = None
        model_id = self.model.model_id
        if prepared.hit is not None:
            text, citations, cache_score = (
                prepared.hit.entry.answer,
                prepared.hit.entry.citations,
                prepared.hit.similarity,
            )
            saved = prepared.hit.entry.cost or AnswerCost()
            yield ChatEvent("token", text)
        else:
            assert prepared.prompt is not None
            prompt = prepared.prompt
            clock = time.perf_counter()
            parts: list[str] = []
            async for chunk in self.model.stream(prompt):
                if chunk.text:
                    parts.append(chunk.text)
                    yield ChatEvent("token", chunk.text)
                usage = chunk.usage or usage
            written_ms = _ms(clock)
            timings["llm_ms"] += written_ms
            text = "".join(parts)
            shown = prompt.products or prompt.closest
            if self.model.is_language_model:  # the offline writer's citations are right by construction
                text = repair_citations(end_at_sentence(text), shown)
            citations = cited_products(text, shown)
            if prepared.key is not None and prompt.products and not prompt.no_match:
                cited_ids = {c["id"] for c in citations}
                await self.cache.store(
                    prepared.key, prepared.question, prepared.retrieval.vector, text, citations,
                    _sources(prompt.products, cited_ids),
                    AnswerCost(usage.prompt_tokens, usage.completion_tokens, written_ms),
                )  # fmt: skip
        cached = prepared.hit is not None
        request = prepared.request
        if request.history is None:
            turn = Turn(prepared.session_id, request.message, prepared.question, text, citations, cached)
            await self.history.append(turn, prepared.turns, owner=principal_key(request.user))
        timings["total_ms"] = _ms(started)
        answer = ChatAnswer(
            prepared.session_id, prepared.question, text, citations, cached, cache_score, timings, usage,
            prepared.retrieval.reading.understood(), prepared.retrieval.no_match, saved=saved,
        )  # fmt: skip
        if self.ledger is not None:
            if saved is not None:
                self.ledger.record_cache_hit(model_id, saved.prompt_tokens, saved.completion_tokens, saved.ms)
                answer.saved_cost = self.ledger.chat_cost(model_id, saved.prompt_tokens, saved.completion_tokens)
            else:
                self.ledger.record_chat(model_id, usage.prompt_tokens, usage.completion_tokens)
            answer.estimated_cost = self.ledger.chat_cost(model_id, usage.prompt_tokens, usage.completion_tokens)
            answer.currency = self.ledger.prices.currency
        yield ChatEvent("done", answer=answer)

    def _key(
        self, request: ChatRequest, owner: str, session_id: str, retrieval: Retrieval, uses_history: bool
    ) -> CacheKey:
        # An answer whose prompt held history (which the client controls) stays in that conversation.
        if uses_history:
            conversation = request.history if request.history is not None else session_id
            owner = "conversation:" + principal_key(json.dumps([owner, conversation], sort_keys=True))
        scope = cache_scope(owner, self.model.model_id, PROMPT_VERSION)
        signature = reading_signature(retrieval.reading, request.filters.as_dict(), request.k, request.mode or "")
        text = " ".join(retrieval.reading.text.split()).casefold()
        exact = (
            text
            if self.finder.search.embedder.count_tokens(text) > self.finder.search.embedder.max_input_tokens // 2
            else None
        )
        return CacheKey(scope, signature, exact)

    async def session(self, session_id: str, user: str) -> list[Turn]:
        """The caller's turns of ``session_id``.

        Raises:
            SessionNotFoundError: none (another owner's session looks the same as a missing one).
        """
        turns = await self.history.load(session_id, principal_key(user))
        if not turns:
            raise SessionNotFoundError(f"no session {session_id!r}", field="session_id")
        return turns

    async def forget(self, session_id: str, user: str) -> int:
        """Delete the caller's turns of ``session_id``; returns how many there were."""
        return await self.history.forget(session_id, principal_key(user))


def new_session_id() -> str:
    """A session id only the server creates: 128 random bits."""
    return uuid.uuid4().hex


def _retrieved(item: RankedProduct) -> RetrievedProduct:
    document = item.document
    return RetrievedProduct(
        id=str(document["id"]),
        name=str(document.get("name") or document["id"]),
        score=item.similarity,
        text=display_text(document),
        document=document,
        variants=item.variants,
    )


def _sources(products: list[RetrievedProduct], cited: set[str]) -> list[CacheSource]:
    return [CacheSource(p.id, product_fingerprint(p.document), p.id in cited) for p in products]


def _last_user_message(messages: list[dict[str, str]]) -> str | None:
    return next((m["content"] for m in reversed(messages) if m.get("role") == "user"), None)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
