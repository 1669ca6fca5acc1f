"""The semantic cache: answers to earlier questions, served again for a question that means the same.

An entry is scoped (:func:`cache_scope`: the user or tenant, the chat model, the prompt version and the search
filters), keyed by the embedding of the standalone question, expires after a TTL, and remembers the content hash of
every product its answer was written from. A lookup only serves an entry whose source products all still exist, are not
deleted and still hash to what they did — so from the moment a cited product's text changes (before the pipeline
has even re-embedded it) or it is soft-deleted, no answer that cited the old version is served again. Stale entries
are deleted when found.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog.model import is_deleted, utc_timestamp
from store.base import DocumentContainer, FieldFilter, NotFoundError

#: Entries examined per lookup: the best one may be stale, the next one still good.
CANDIDATES = 3


def cache_scope(user: str, chat_model: str, prompt_version: str, filters: Mapping[str, Any]) -> str:
    """The partition an entry lives in: only requests that agree on all of these share answers."""
    payload = json.dumps([user, chat_model, prompt_version, dict(filters)], sort_keys=True, separators=(",", ":"))
    return "scope:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class CachedAnswer:
    """A hit: the stored answer, its citations, and how similar the stored question was."""

    id: str
    question: str
    answer: str
    citations: list[dict[str, Any]]
    score: float


class SemanticCache:
    """Answers by meaning, with per-scope isolation, TTL and invalidation by product content hash.

    Args:
        entries: the cache container (partition key ``/scope``, vector policy on ``/embedding``).
        products: the products container, read to check that cited products are unchanged.
        threshold: the least cosine similarity between questions for a hit.
        ttl_seconds: how long an entry is served.
        content_hash: the hash of a product's current embedded text (what a source's ``content_hash`` is).
    """

    def __init__(
        self,
        entries: DocumentContainer,
        products: DocumentContainer,
        *,
        threshold: float,
        ttl_seconds: int,
        content_hash: Callable[[Mapping[str, Any]], str],
    ) -> None:
        self.entries = entries
        self.products = products
        self.content_hash = content_hash
        self.threshold = threshold
        self.ttl_seconds = ttl_seconds

    async def lookup(self, scope: str, vector: Sequence[float]) -> CachedAnswer | None:
        """The best live, current entry of ``scope`` at least ``threshold`` similar to ``vector``, or ``None``."""
        hits = await self.entries.vector_search(
            vector,
            CANDIDATES,
            filters=[FieldFilter("scope", "eq", scope), FieldFilter("expires_at", "gt", time.time())],
            min_score=self.threshold,
        )
        for hit in hits:
            entry = hit.document
            if await self._sources_current(entry["sources"]):
                return CachedAnswer(entry["id"], entry["question"], entry["answer"], entry["citations"], hit.score)
            await self._discard(entry)
        return None

    async def store(
        self,
        scope: str,
        question: str,
        vector: Sequence[float],
        answer: str,
        citations: Sequence[Mapping[str, Any]],
        sources: Sequence[Mapping[str, Any]],
    ) -> str:
        """Remember an answer; returns the entry id.

        Args:
            citations: what the answer cites (shown to the client again on a hit).
            sources: every product the answer was written from, as ``{"id", "content_hash"}``: a change to any
                of them retires the entry.
        """
        now = time.time()
        entry_id = uuid.uuid4().hex
        await self.entries.create(
            {
                "id": entry_id,
                "scope": scope,
                "question": question,
                "embedding": list(vector),
                "answer": answer,
                "citations": [dict(citation) for citation in citations],
                "sources": [{"id": source["id"], "content_hash": source["content_hash"]} for source in sources],
                "created_at": utc_timestamp(),
                "expires_at": now + self.ttl_seconds,
                # Cosmos DB deletes the entry itself after this many seconds (when the container has TTL on).
                "ttl": self.ttl_seconds,
            }
        )
        return entry_id

    async def _sources_current(self, sources: Sequence[Mapping[str, Any]]) -> bool:
        # One lookup pays for all its point reads at once, not one after another.
        products = await asyncio.gather(*(self.products.read(source["id"], source["id"]) for source in sources))
        for source, product in zip(sources, products, strict=True):
            if product is None or is_deleted(product):
                return False
            # The hash of the text as it is now, not of the last embedding: an edit invalidates at once.
            if self.content_hash(product) != source.get("content_hash"):
                return False
        return True

    async def _discard(self, entry: Mapping[str, Any]) -> None:
        try:
            await self.entries.delete(entry["id"], entry["scope"])
        except NotFoundError:
            pass  # another request discarded it first
