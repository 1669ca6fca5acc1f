"""Per-session chat history: one document per turn, partitioned by session id."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from catalog.model import utc_timestamp
from store.base import DocumentContainer, FieldFilter, NotFoundError


@dataclass
class Turn:
    """One question and its answer."""

    session_id: str
    message: str
    question: str
    answer: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False
    created_at: str = field(default_factory=utc_timestamp)
    # Nanoseconds since the epoch: orders turns even when two land in the same millisecond.
    sequence: int = field(default_factory=time.time_ns)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: The hashed principal the session belongs to: only they can read, continue or delete it.
    owner: str = ""

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "owner": self.owner,
            "sequence": self.sequence,
            "created_at": self.created_at,
            "message": self.message,
            "question": self.question,
            "answer": self.answer,
            "citations": self.citations,
            "cached": self.cached,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Turn:
        return cls(
            session_id=document["session_id"],
            message=document["message"],
            question=document.get("question", document["message"]),
            answer=document["answer"],
            citations=list(document.get("citations") or []),
            cached=bool(document.get("cached")),
            created_at=document["created_at"],
            sequence=int(document["sequence"]),
            id=document["id"],
            owner=str(document.get("owner") or ""),
        )

    def as_messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.message}, {"role": "assistant", "content": self.answer}]


class ChatHistory:
    """Turns of each session, oldest first.

    Args:
        container: the history container (partition key ``/session_id``).
        max_turns: turns kept per session; older ones are deleted when a new one is added.
        ttl_seconds: how long a turn is kept (Cosmos DB deletes it through ``ttl``; the embedded store's timer
            through ``expires_at``).
    """

    def __init__(self, container: DocumentContainer, max_turns: int, ttl_seconds: int = 30 * 86_400) -> None:
        self.container = container
        self.max_turns = max_turns
        self.ttl_seconds = ttl_seconds

    async def load(self, session_id: str, owner: str) -> list[Turn]:
        """The turns of ``session_id`` that belong to ``owner``, oldest first (none for anyone else)."""
        documents = await self.container.query(
            [
                FieldFilter("session_id", "eq", session_id),
                FieldFilter("owner", "eq", owner),
                FieldFilter("expires_at", "gt", time.time()),
            ],
            partition_key=session_id,
            order_by="sequence",
        )
        # Partition key filters are advisory on some servers: the session filter above is what scopes the result.
        return [Turn.from_document(document) for document in documents]

    async def append(self, turn: Turn, earlier: list[Turn], *, owner: str) -> None:
        """Store ``turn`` for ``owner``; ``earlier`` (the turns loaded for this request) beyond ``max_turns`` are
        deleted."""
        turn.owner = owner
        document = {**turn.to_document(), "expires_at": time.time() + self.ttl_seconds, "ttl": self.ttl_seconds}
        await self.container.create(document)
        for old in earlier[: max(0, len(earlier) + 1 - self.max_turns)]:
            await self._delete(old)

    async def delete_expired(self, limit: int = 500) -> int:
        """Delete up to ``limit`` expired turns (the embedded store has no TTL; a timer calls this)."""
        expired = await self.container.query([FieldFilter("expires_at", "le", time.time())], limit=limit)
        for document in expired:
            await self._delete(Turn.from_document(document))
        return len(expired)

    async def forget(self, session_id: str, owner: str) -> int:
        """Delete ``owner``'s turns of the session; returns how many there were."""
        turns = await self.load(session_id, owner)
        for turn in turns:
            await self._delete(turn)
        return len(turns)

    async def _delete(self, turn: Turn) -> None:
        try:
            await self.container.delete(turn.id, turn.session_id)
        except NotFoundError:
            pass  # a concurrent request trimmed it first


#: Client-supplied history (the OpenAI-compatible surface) sent on to a rewrite or a prompt, at most.
MAX_HISTORY_CHARS = 8_000
MAX_HISTORY_MESSAGE_CHARS = 2_000


def bounded_history(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The newest client-supplied messages within :data:`MAX_HISTORY_CHARS` (each cut to
    :data:`MAX_HISTORY_MESSAGE_CHARS`): what a rewrite or a prompt may carry, however much a client sends."""
    kept: list[dict[str, str]] = []
    used = 0
    for message in reversed(messages):
        content = message["content"][:MAX_HISTORY_MESSAGE_CHARS]
        if used + len(content) > MAX_HISTORY_CHARS:
            break
        kept.append({"role": message["role"], "content": content})
        used += len(content)
    kept.reverse()
    return kept
