"""The usage ledger: what every model call and store call cost, counted in memory and added to day documents.

Recording is a few additions in memory (it runs inside a Cosmos DB response hook and after every embedding batch,
so it never awaits). :meth:`UsageLedger.flush` adds what was counted to one document per day and model in the book
container (the leases container: partition key ``/id``) with Cosmos DB's atomic ``incr`` patch, so any number of
instances add to the same totals without losing a count, and a restart loses nothing that was flushed.

What stays in memory is bounded: a tally per (day, model), a handful of models, and at most
:data:`MAX_PENDING_KEYS` of them (older days are dropped with a warning when the book cannot be written for days).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from store.base import ConflictError, DocumentContainer, FieldFilter, NotFoundError, PatchOperation

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger(__name__)

#: (day, model) tallies kept in memory at most while the book cannot be written.
MAX_PENDING_KEYS = 64
#: Cosmos DB takes at most 10 operations in one patch.
MAX_PATCH_OPERATIONS = 10
#: The ``kind`` of a ledger document (the book container holds other documents too).
KIND = "usage"
#: The model name of Cosmos DB request charges.
STORE_MODEL = "cosmos-db"


class Role(StrEnum):
    """What a model is paid for."""

    EMBEDDING = "embedding"
    CHAT = "chat"
    STORE = "store"


@dataclass
class Tally:
    """Counts of one model on one day (or of one invocation)."""

    requests: int = 0
    #: Embedding input tokens (counted with the model's tokenizer before sending).
    tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Cosmos DB request units (``x-ms-request-charge``).
    request_charge: float = 0.0
    cache_hits: int = 0
    #: What the answers served from the cache cost when they were written (and so did not cost again).
    saved_prompt_tokens: int = 0
    saved_completion_tokens: int = 0
    saved_ms: float = 0.0

    def add(self, **counts: float) -> None:
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + value)

    def merge(self, other: Tally) -> None:
        self.add(**asdict(other))

    def nonzero(self) -> dict[str, float]:
        return {name: value for name, value in asdict(self).items() if value}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Tally:
        return cls(**{f.name: document.get(f.name) or 0 for f in fields(cls)})


COUNTERS = tuple(f.name for f in fields(Tally))


@dataclass(frozen=True)
class Meter:
    """A model the ledger counts for: its name, what it is paid for, and whether anyone bills it."""

    model: str
    role: Role
    metered: bool


@dataclass(frozen=True)
class Prices:
    """List prices per million units, in ``currency``."""

    embedding_per_1m_tokens: float = 0.0
    chat_input_per_1m_tokens: float = 0.0
    chat_output_per_1m_tokens: float = 0.0
    per_1m_request_units: float = 0.0
    currency: str = "USD"

    def cost(self, role: str, metered: bool, tally: Tally) -> float:
        """What ``tally`` cost at these prices (0 for a model nobody bills)."""
        if not metered:
            return 0.0
        if role == Role.EMBEDDING:
            return tally.tokens * self.embedding_per_1m_tokens / 1e6
        if role == Role.STORE:
            return tally.request_charge * self.per_1m_request_units / 1e6
        return self.chat_cost(tally.prompt_tokens, tally.completion_tokens)

    def saving(self, role: str, metered: bool, tally: Tally) -> float:
        """What the cache hits in ``tally`` would have cost had they been written again."""
        if not metered or role != Role.CHAT:
            return 0.0
        return self.chat_cost(tally.saved_prompt_tokens, tally.saved_completion_tokens)

    def chat_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.chat_input_per_1m_tokens + completion_tokens * self.chat_output_per_1m_tokens
        ) / 1e6


def today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def document_id(day: str, model: str) -> str:
    """``usage:<day>:<hash of the model>`` (model names may hold characters a Cosmos DB id may not)."""
    return f"{KIND}:{day}:{hashlib.sha256(model.encode('utf-8')).hexdigest()[:16]}"


_invocation: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("ledger_invocation", default=None)


class UsageLedger:
    """Counts tokens, request charges and cache savings; adds them to per-day, per-model documents.

    Args:
        meters: the models this process uses (others recorded later are counted as metered).
        prices: list prices, for the estimates of single answers (:meth:`chat_cost`).
        flush_interval: seconds between flushes at the end of invocations (:meth:`flush_if_due`).
        clock: seconds, for the interval.
        day: today's date (UTC, ISO), for the document a count goes to.
    """

    def __init__(
        self,
        meters: tuple[Meter, ...] = (),
        *,
        prices: Prices | None = None,
        flush_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        day: Callable[[], str] = today,
    ) -> None:
        self.meters: dict[str, Meter] = {meter.model: meter for meter in meters}
        self.prices = prices or Prices()
        self.flush_interval = flush_interval
        self._clock = clock
        self._day = day
        self._pending: dict[tuple[str, str], Tally] = {}
        self._last_flush = clock()
        self._lock: asyncio.Lock | None = None  # made on first flush: importing the app loads no asyncio

    def add_meter(self, meter: Meter) -> None:
        self.meters[meter.model] = meter

    def meter(self, model: str) -> Meter:
        return self.meters.get(model) or Meter(model, Role.STORE if model == STORE_MODEL else Role.CHAT, True)

    def chat_cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """The estimated cost of one answer of ``model`` (0 when nobody bills it)."""
        meter = self.meter(model)
        return self.prices.chat_cost(prompt_tokens, completion_tokens) if meter.metered else 0.0

    # ---- recording (never awaits) -------------------------------------------------------------------------------

    def record(self, model: str, **counts: float) -> None:
        """Add ``counts`` (names of :class:`Tally` fields) for ``model`` today, and to the current invocation."""
        key = (self._day(), model)
        tally = self._pending.get(key)
        if tally is None:
            if len(self._pending) >= MAX_PENDING_KEYS:
                oldest = min(self._pending)
                log.warning("usage ledger: the book is not being written; dropping the counts of %s", oldest)
                del self._pending[oldest]
            tally = self._pending[key] = Tally()
        tally.add(**counts)
        current = _invocation.get()
        if current is not None:
            current.add(**counts)

    def record_embedding(self, model: str, tokens: int) -> None:
        """One embedding request that returned vectors for ``tokens`` input tokens."""
        self.record(model, requests=1, tokens=tokens)

    def record_chat(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        """One completion (an answer or a question rewrite)."""
        self.record(model, requests=1, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    def record_cache_hit(self, model: str, prompt_tokens: int, completion_tokens: int, ms: float) -> None:
        """An answer served from the cache: the tokens and milliseconds its writing cost once."""
        self.record(
            model,
            cache_hits=1,
            saved_prompt_tokens=prompt_tokens,
            saved_completion_tokens=completion_tokens,
            saved_ms=ms,
        )

    def record_request_charge(self, charge: float) -> None:
        """One Cosmos DB response's ``x-ms-request-charge``."""
        self.record(STORE_MODEL, requests=1, request_charge=charge)

    @contextlib.contextmanager
    def invocation(self) -> Iterator[Tally]:
        """Counts recorded by this task (and the tasks it starts) inside the block, for its telemetry span."""
        tally = Tally()
        token = _invocation.set(tally)
        try:
            yield tally
        finally:
            _invocation.reset(token)

    def pending(self) -> dict[tuple[str, str], Tally]:
        """A copy of what is counted but not yet in the book."""
        return {key: Tally(**asdict(tally)) for key, tally in self._pending.items()}

    # ---- the book -----------------------------------------------------------------------------------------------

    async def flush_if_due(self, book: DocumentContainer) -> None:
        """:meth:`flush` when ``flush_interval`` has passed since the last one."""
        if self._pending and self._clock() - self._last_flush >= self.flush_interval:
            await self.flush(book)

    async def flush(self, book: DocumentContainer) -> None:
        """Add every pending tally to its day document (``incr``; created when missing).

        Raises:
            StoreError: the book could not be written; what was not written stays pending.
        """
        if self._lock is None:
            import asyncio

            self._lock = asyncio.Lock()
        async with self._lock:
            self._last_flush = self._clock()
            pending, self._pending = self._pending, {}
            keys = sorted(pending)
            try:
                while keys:
                    day, model = keys[0]
                    await self._add(book, day, self.meter(model), pending[keys[0]])
                    keys.pop(0)
            finally:
                for key in keys:  # not written: back in (after anything counted meanwhile)
                    self._pending.setdefault(key, Tally()).merge(pending[key])

    async def _add(self, book: DocumentContainer, day: str, meter: Meter, tally: Tally) -> None:
        doc_id = document_id(day, meter.model)
        counts = tally.nonzero()
        if not counts:
            return
        try:
            await self._increment(book, doc_id, counts)
        except NotFoundError:
            document = {
                "id": doc_id,
                "kind": KIND,
                "day": day,
                "model": meter.model,
                "role": str(meter.role),
                "metered": meter.metered,
                **{name: 0 for name in COUNTERS},
                **counts,
            }
            try:
                await book.create(document)
            except ConflictError:  # another instance created it first
                await self._increment(book, doc_id, counts)

    @staticmethod
    async def _increment(book: DocumentContainer, doc_id: str, counts: dict[str, float]) -> None:
        operations = [PatchOperation("incr", f"/{name}", value) for name, value in counts.items()]
        for start in range(0, len(operations), MAX_PATCH_OPERATIONS):
            await book.patch(doc_id, doc_id, operations[start : start + MAX_PATCH_OPERATIONS])

    async def days(self, book: DocumentContainer, first_day: str) -> list[dict[str, Any]]:
        """The day documents from ``first_day`` on (as stored: ``day``, ``model``, ``role``, ``metered``, counts)."""
        documents = await book.query(
            [FieldFilter("kind", "eq", KIND), FieldFilter("day", "ge", first_day)],
            order_by="day",
            limit=MAX_DOCUMENTS_READ,
        )
        return documents


#: Day documents one report reads at most (a year of a few models).
MAX_DOCUMENTS_READ = 2_000
