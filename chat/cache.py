"""The semantic cache: an earlier answer served again only for a question that means the same.

A wrong cached answer costs more than a miss, and published reversal pairs ("the cheapest tent" / "the most
expensive tent") reach cosine 0.83–0.9997 on common encoders, so one similarity threshold cannot tell them apart.
A hit therefore needs all of:

1. **The same scope** (:func:`cache_scope`): the verified principal (hashed whole) — or, for an answer whose prompt
   held conversation history, that conversation alone — plus the chat model and the prompt version. One person's
   answer is never served to another, and an answer shaped by history (which a client controls) never leaves it.
2. **The same reading** (:func:`reading_signature`): the structured reading of the question (price bounds, sort,
   category, identifiers, attributes such as size, colour, gender or season, negations, kind, counts) plus the
   request's explicit filters, ``k`` and search mode must be equal. Opposite bounds, flipped superlatives, negations
   and different sizes differ here, whatever their cosine.
3. **Similar wording**: cosine similarity of the question embeddings at least the threshold. A question longer
   than the embedder reads is matched only by its exact text (two questions after one long preamble would
   otherwise look identical).
4. **The same retrieval** (:func:`consistent`): the new question's own retrieval (already done, milliseconds) must
   put the same product first as the entry's did and share most of its top three; and every product the answer
   shows must still show the same facts (:func:`product_fingerprint`: name, price, category, description,
   deleted) — read from this retrieval, or point-read when the retrieval no longer returns it. A price change, or
   a product that no longer satisfies the request's filters, retires the answer at once; an entry whose shown
   product changed is deleted when met.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from catalog.model import is_deleted, utc_timestamp
from catalog.query_understanding import QueryReading
from store.base import DocumentContainer, FieldFilter, NotFoundError

#: Entries examined per lookup: the most similar one may belong to a different retrieval, the next one not.
CANDIDATES = 4
#: The fields of a product an answer or its citations show: a change to any of them retires the answers citing it.
SHOWN_FIELDS = ("name", "price", "category_name", "description")
#: An answer longer than this is not cached (entries have a size cap).
MAX_ANSWER_CHARS = 8_000


def _digest(value: Any) -> str:
    payload = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def principal_key(principal: str) -> str:
    """A principal's id hashed whole (never truncated), so two ids that share a prefix never share a scope."""
    return "p:" + _digest(["principal", principal])


def cache_scope(owner: str, chat_model: str, prompt_version: str) -> str:
    """The partition an entry lives in: ``owner`` is :func:`principal_key` or a conversation's own key."""
    return "scope:" + _digest([owner, chat_model, prompt_version])[:40]


_SIZE_WORDS = {"small": "size:s", "medium": "size:m", "large": "size:l", "extra large": "size:xl"}
_NUMBER_WORDS = dict(
    zip("one two three four five six seven eight nine ten eleven twelve".split(), map(str, range(1, 13)), strict=True)
) | {"single": "1", "solo": "1", "double": "2", "pair": "2", "couple": "2", "dozen": "12"}
_NEGATIONS = frozenset("not no without isnt isn't aren't arent doesn't doesnt don't dont never non except nor".split())
#: Words whose opposite changes the right answer although embeddings barely notice; each maps to its class value.
_FLIPPERS = {
    # Not "light": in a shop it is mostly a lamp ("bike light set"); "a light tent" reads as lightweight anyway.
    **dict.fromkeys("lightweight ultralight ultra-light featherweight".split(), "weight:light"),
    **dict.fromkeys("heavy heavy-duty heavyweight".split(), "weight:heavy"),
    **dict.fromkeys("wife woman women women's womens ladies lady female girl girls her she".split(), "who:f"),
    **dict.fromkeys("husband man men men's mens male boy boys his he gents".split(), "who:m"),
    **dict.fromkeys("kid kids child children children's toddler baby junior youth".split(), "who:kid"),
    **dict.fromkeys("front".split(), "pos:front"),
    **dict.fromkeys("rear back".split(), "pos:rear"),
    **dict.fromkeys("indoor indoors inside".split(), "place:in"),
    **dict.fromkeys("outdoor outdoors outside".split(), "place:out"),
    **dict.fromkeys("left".split(), "side:left"),
    **dict.fromkeys("right".split(), "side:right"),
}
_TOKEN = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|\d+(?:\.\d+)?")


def meaning_words(text: str) -> list[str]:
    """What in a question's words flips its meaning although the embedding hardly moves: every number (digits or
    words: "40 cans" / "100 cans", "two" = "2"), a negation and the word after it ("isn't down" / "down"), and
    opposites such as light/heavy, women/men, front/rear, indoor/outdoor."""
    words = _TOKEN.findall(text.lower())
    found: set[str] = set()
    for index, word in enumerate(words):
        if word[0].isdigit():
            found.add("n:" + word.rstrip("0").rstrip(".") if "." in word else "n:" + word)
        elif word in _NUMBER_WORDS:
            found.add("n:" + _NUMBER_WORDS[word])
        elif word in _NEGATIONS:
            following = words[index + 1 : index + 3]
            found.add("not:" + " ".join(following))
        elif word in _FLIPPERS:
            found.add(_FLIPPERS[word])
    return sorted(found)


def reading_signature(reading: QueryReading, filters: Mapping[str, Any], k: int, mode: str) -> str:
    """Everything that changes what a correct answer is, besides the wording: must be equal for a hit.

    From the reading: price bounds, sort, the category, identifiers, attributes (sizes, colours, genders, seasons,
    materials…), negated words and counts. Not the question's kind ("do you have X?" / "I'm looking for X" want the
    same products) nor the soft category candidates (noise between paraphrases). Plus the request's explicit
    filters, ``k`` and search mode.
    """
    attributes = sorted({_SIZE_WORDS.get(attribute, attribute) for attribute in reading.attributes})
    meaning = [
        reading.min_price,
        reading.max_price,
        reading.sort,
        reading.category,
        sorted(identifier.upper() for identifier in reading.identifiers),
        attributes,
        sorted(reading.negated),
        meaning_words(reading.text),  # every number, so also the counts
    ]
    return _digest([meaning, dict(filters), k, mode])[:40]


def product_fingerprint(product: Mapping[str, Any]) -> str:
    """The facts of a product an answer shows (and whether it is deleted)."""
    return _digest([[name, product.get(name)] for name in SHOWN_FIELDS] + [is_deleted(product)])[:32]


@dataclass(frozen=True)
class CacheKey:
    """Where and under what an answer is cached.

    Attributes:
        scope: :func:`cache_scope`.
        signature: :func:`reading_signature`.
        exact_text: the normalised question, when it is too long to be compared by embedding.
    """

    scope: str
    signature: str
    exact_text: str | None = None

    @property
    def text_hash(self) -> str | None:
        return None if self.exact_text is None else _digest(["text", self.exact_text])[:40]


@dataclass(frozen=True)
class CacheSource:
    """A product an answer was written from, in retrieval order, and the facts it showed then."""

    id: str
    fingerprint: str
    cited: bool


@dataclass(frozen=True)
class AnswerCost:
    """What writing an answer cost: the model's tokens and milliseconds (what a hit on it saves)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    ms: float = 0.0


@dataclass(frozen=True)
class CacheEntry:
    """A stored answer (the document in the cache container, less its vector)."""

    id: str
    question: str
    answer: str
    citations: list[dict[str, Any]]
    sources: list[CacheSource]
    #: ``None`` for entries written before costs were kept.
    cost: AnswerCost | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> CacheEntry:
        return cls(
            str(document["id"]),
            str(document["question"]),
            str(document["answer"]),
            list(document["citations"]),
            [CacheSource(str(s["id"]), str(s["fingerprint"]), bool(s.get("cited"))) for s in document["sources"]],
            AnswerCost(**document["cost"]) if isinstance(document.get("cost"), dict) else None,
        )


@dataclass(frozen=True)
class CacheHit:
    """A served entry and how similar its question was."""

    entry: CacheEntry
    similarity: float


@dataclass
class CacheStats:
    """What lookups did since start (for ``/api/health``)."""

    hits: int = 0
    misses: int = 0
    refused_by_retrieval: int = 0
    retired_stale: int = 0


def consistent(
    entry: CacheEntry, retrieved: Sequence[CacheSource], current: Mapping[str, str | None]
) -> tuple[bool, bool]:
    """Whether ``entry`` may answer a question whose own retrieval is ``retrieved``; and whether it is stale.

    Args:
        entry: the candidate entry.
        retrieved: this question's own retrieval, best first.
        current: the current fingerprint of each product the entry shows (``None``: gone or deleted).

    Returns:
        ``(servable, stale)``: stale when a product the entry shows now shows other facts, is deleted or gone;
        servable when not stale, both retrievals put the same product first, and at least two of the entry's top
        three (all, when it has fewer) are in this question's retrieval.
    """
    stale = any(
        current.get(s.id, s.fingerprint) != s.fingerprint for s in entry.sources if s.cited or s is entry.sources[0]
    )
    if stale or not entry.sources or not retrieved:
        return False, stale
    if entry.sources[0].id != retrieved[0].id:
        return False, False
    top = [s.id for s in entry.sources[:3]]
    now = {source.id for source in retrieved}
    return sum(1 for id_ in top if id_ in now) >= min(2, len(top)), False


class SemanticCache:
    """Answers by meaning within a scope and a reading, with TTL, a size cap and retrieval-consistency checks.

    Args:
        entries: the cache container (partition key ``/scope``, vector policy on ``/embedding``).
        products: the products container (point reads of shown products the new retrieval did not return).
        threshold: the least cosine similarity between question embeddings for a hit.
        ttl_seconds: how long an entry is served (Cosmos DB deletes it itself through ``ttl``).
    """

    def __init__(
        self,
        entries: DocumentContainer,
        products: DocumentContainer,
        *,
        threshold: float,
        ttl_seconds: int,
        embedding_model: str = "",
        vector_field: str = "embedding",
    ) -> None:
        self.entries = entries
        self.products = products
        self.threshold = threshold
        self.ttl_seconds = ttl_seconds
        #: The model of the question vectors: entries of another (before a model switch) are never compared.
        self.embedding_model = embedding_model
        #: Where an entry keeps its question's vector: the field of the product slot search uses.
        self.vector_field = vector_field
        self.stats = CacheStats()

    async def lookup(self, key: CacheKey, vector: Sequence[float], retrieved: Sequence[CacheSource]) -> CacheHit | None:
        """The best entry for ``key`` at least ``threshold`` similar to ``vector`` whose products agree with
        ``retrieved`` (this question's own retrieval), or ``None``."""
        filters = [
            FieldFilter("scope", "eq", key.scope),
            FieldFilter("signature", "eq", key.signature),
            FieldFilter("expires_at", "gt", time.time()),
            FieldFilter("embedding_model", "eq", self.embedding_model),
        ]
        if key.text_hash is not None:
            filters.append(FieldFilter("text_hash", "eq", key.text_hash))
        else:
            filters.append(FieldFilter("text_hash", "eq", ""))
        hits = await self.entries.vector_search(
            vector, CANDIDATES, filters=filters, min_score=self.threshold, path="/" + self.vector_field
        )
        for hit in hits:
            entry = CacheEntry.from_document(hit.document)
            servable, stale = consistent(entry, retrieved, await self._current(entry, retrieved))
            if servable:
                self.stats.hits += 1
                return CacheHit(entry, hit.score)
            if stale:
                self.stats.retired_stale += 1
                await self._discard(entry.id, key.scope)
            else:
                self.stats.refused_by_retrieval += 1
        self.stats.misses += 1
        return None

    async def _current(self, entry: CacheEntry, retrieved: Sequence[CacheSource]) -> dict[str, str | None]:
        """The current fingerprint of each product the entry shows: from this retrieval, else a point read (a price
        change can move a product out of the retrieval altogether)."""
        known = {source.id: source.fingerprint for source in retrieved}
        shown = [s.id for s in entry.sources if s.cited or s is entry.sources[0]]
        missing = [id_ for id_ in shown if id_ not in known]
        read = await asyncio.gather(*(self.products.read(id_, id_) for id_ in missing))
        current: dict[str, str | None] = {id_: known[id_] for id_ in shown if id_ in known}
        for id_, product in zip(missing, read, strict=True):
            current[id_] = None if product is None or is_deleted(product) else product_fingerprint(product)
        return current

    async def store(
        self,
        key: CacheKey,
        question: str,
        vector: Sequence[float],
        answer: str,
        citations: Sequence[Mapping[str, Any]],
        sources: Sequence[CacheSource],
        cost: AnswerCost | None = None,
    ) -> str | None:
        """Remember an answer and what writing it cost; returns the entry id (``None`` when it is not cacheable:
        empty or too long)."""
        if not sources or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
            return None
        entry_id = uuid.uuid4().hex
        await self.entries.create(
            {
                "id": entry_id,
                "scope": key.scope,
                "signature": key.signature,
                "text_hash": key.text_hash or "",
                "question": question[:2_000],
                self.vector_field: list(vector),
                "embedding_model": self.embedding_model,
                "answer": answer,
                "citations": [dict(citation) for citation in citations],
                "sources": [{"id": s.id, "fingerprint": s.fingerprint, "cited": s.cited} for s in sources],
                "cost": None if cost is None else asdict(cost),
                "created_at": utc_timestamp(),
                "expires_at": time.time() + self.ttl_seconds,
                # Cosmos DB deletes the entry itself after this many seconds (the container has TTL on).
                "ttl": self.ttl_seconds,
            }
        )
        return entry_id

    async def delete_expired(self, limit: int = 500) -> int:
        """Delete up to ``limit`` expired entries (the embedded store has no TTL; a timer calls this)."""
        expired = await self.entries.query([FieldFilter("expires_at", "le", time.time())], limit=limit)
        for document in expired:
            await self._discard(str(document["id"]), document["scope"])
        return len(expired)

    async def _discard(self, entry_id: str, scope: str) -> None:
        try:
            await self.entries.delete(entry_id, scope)
        except NotFoundError:
            pass  # another request discarded it first
