"""Reconciliation: the safety net under the change feed.

The change-feed pipeline embeds every change it is given, but some changes never reach it: a batch dropped after its
retries ran out, a lease reset, documents written while the trigger was off or copied in by a tool that bypasses the
feed, or a recipe change (another model, dimensions or ``EMBED_FIELDS``) that no document edit announces. The
:class:`Reconciler` pages through the products container, asks :class:`catalog.model.EmbeddingRecipe` about each
product, and hands the ones whose vector is missing, stale, or failed for a reason that may pass now to the same
:meth:`catalog.embedding_sync.EmbeddingPipeline.embed_changed_products` the trigger calls: the same batching, the
same conditional write-backs.

* **Idempotent and cheap when nothing is wrong.** Current products are only read: a run over a current catalog
  sends no embedding request and writes nothing but its own record.
* **Safe beside the change feed.** Write-backs are conditional on the ``_etag`` read; a product the feed embedded
  meanwhile is refused (a conflict, no harm done), and one it embedded before the page was read is current.
* **Bounded.** A run reads at most ``max_products`` products, in pages of ``page_size`` ordered by id, continuing
  with ``id > last id`` (the store interface's plain query, no server-side continuation tokens). Where a run stops
  is kept in the :class:`ReconcileRecord`; the next run resumes there and wraps around to the first id, so a
  catalog of N products is covered every ``ceil(N / max_products)`` runs.
* **Failures are retried, not forever.** A failure stamped ``retryable`` (the model or the store refused the input)
  is tried again until it has ``max_failed_attempts`` attempts; an invalid document (an empty description) waits
  for an edit, which changes its hash and makes it a new product to the pipeline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from catalog.embedding_sync import EmbeddingPipeline
from catalog.model import DELETED_FIELD, VectorState, failure_retry_allowed, utc_timestamp
from store.base import Document, DocumentContainer, FieldFilter

log = logging.getLogger(__name__)

#: The id of the reconciler's record in the leases container (partition key ``/id``). The Functions host's lease
#: documents are named after the account, database and container, so they never collide with it.
RECORD_ID = "embeddings-reconcile"
DEFAULT_MAX_PRODUCTS_PER_RUN = 2000
DEFAULT_PAGE_SIZE = 100
#: Tries of a retryable failure (the pipeline's first one included) before the reconciler leaves it to an operator.
DEFAULT_MAX_FAILED_ATTEMPTS = 3

#: Soft-deleted products are out of search; they are not read at all.
LIVE = FieldFilter(DELETED_FIELD, "ne", True)


@dataclass
class ReconcileReport:
    """What one run found and did.

    ``seen = current + missing + stale + failed_retried + failed_left``; of the ``missing + stale + failed_retried``
    handed to the pipeline, ``embedded`` got a vector, ``failed`` were (again) marked failed and ``conflicts``
    changed while the run had them (the change feed has their newer version).
    """

    started_at: str
    seen: int = 0
    current: int = 0
    missing: int = 0
    stale: int = 0
    failed_retried: int = 0
    #: Marked failed for their current text and not retried: invalid documents, or out of attempts.
    failed_left: int = 0
    embedded: int = 0
    failed: int = 0
    conflicts: int = 0
    embed_requests: int = 0
    pages: int = 0
    #: Where this run started (``None``: at the first id).
    resumed_after: str | None = None
    #: Where the next run starts (``None``: at the first id, because this run went round the whole container).
    continuation: str | None = None
    #: The run read every live product once.
    complete: bool = False
    duration_ms: float = 0.0
    #: Why the run stopped early (the pipeline raised); its progress up to the last whole page is kept.
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def log_line(self) -> str:
        fields = ("seen", "current", "missing", "stale", "failed_retried", "embedded", "failed", "conflicts")
        counts = " ".join(f"{name}={getattr(self, name)}" for name in fields)
        return f"reconcile: {counts} embed_requests={self.embed_requests} pages={self.pages} {self.duration_ms}ms"


@dataclass
class ReconcileRecord:
    """The reconciler's one document in the leases container: where the next run starts and the last report."""

    container: DocumentContainer
    record_id: str = RECORD_ID

    async def load(self) -> Document:
        return await self.container.read(self.record_id, self.record_id) or {"id": self.record_id}

    async def last_report(self) -> dict[str, Any] | None:
        """The last run's report as stored (``None`` before the first run)."""
        report = (await self.load()).get("last_report")
        return report if isinstance(report, dict) else None

    async def save(self, report: ReconcileReport) -> None:
        # Last writer wins: two overlapping runs (a CLI run beside the timer) each leave a consistent record.
        await self.container.upsert(
            {"id": self.record_id, "continuation": report.continuation, "last_report": report.to_json()}
        )


@dataclass
class _Scan:
    """Where a run is: the id range still to read and the products it may still read."""

    after: str | None
    until: str | None
    budget: int
    wrapped: bool = False

    def page_filters(self) -> list[FieldFilter]:
        filters = [LIVE]
        if self.after is not None:
            filters.append(FieldFilter("id", "gt", self.after))
        if self.until is not None:
            filters.append(FieldFilter("id", "le", self.until))
        return filters


class Reconciler:
    """Finds products the change feed left behind and embeds them through the pipeline.

    Args:
        products: the products container.
        record: where runs keep their place and their last report.
        pipeline: the change-feed pipeline (its recipe judges each product; it embeds and writes back).
        max_products: most products one run reads (``RECONCILE_MAX_PRODUCTS_PER_RUN``).
        page_size: products per query, and at most this many per call of the pipeline.
        max_failed_attempts: tries of a retryable failure before it is left to an operator.
        clock: the ``started_at`` timestamp.
    """

    def __init__(
        self,
        products: DocumentContainer,
        record: ReconcileRecord,
        pipeline: EmbeddingPipeline,
        *,
        max_products: int = DEFAULT_MAX_PRODUCTS_PER_RUN,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_failed_attempts: int = DEFAULT_MAX_FAILED_ATTEMPTS,
        clock: Callable[[], str] = utc_timestamp,
    ) -> None:
        if max_products < 1 or page_size < 1 or max_failed_attempts < 1:
            raise ValueError("max_products, page_size and max_failed_attempts must be at least 1")
        self.products = products
        self.record = record
        self.pipeline = pipeline
        self.recipe = pipeline.recipe
        self.max_products = max_products
        self.page_size = page_size
        self.max_failed_attempts = max_failed_attempts
        self.clock = clock

    async def reconcile(self, *, from_start: bool = False) -> ReconcileReport:
        """One bounded run: read up to ``max_products`` live products from where the last run stopped, and embed
        those that need it. The report is saved in the record and logged.

        Args:
            from_start: ignore where the last run stopped and start at the first id.

        Raises:
            TransientEmbeddingError: the embedder kept failing (the report, with ``error``, is saved first).
            StoreError: the store failed (likewise).
        """
        started = time.perf_counter()
        resume_after = None if from_start else _continuation(await self.record.load())
        report = ReconcileReport(started_at=self.clock(), resumed_after=resume_after)
        scan = _Scan(after=resume_after, until=None, budget=self.max_products)
        try:
            await self._run(scan, report)
        except Exception as error:
            report.error = f"{type(error).__name__}: {error}"
            raise
        finally:
            # Also after an error: the next run resumes after the last whole page, not at the start.
            report.continuation = scan.after
            await self._finish(report, started)
        return report

    async def _run(self, scan: _Scan, report: ReconcileReport) -> None:
        while scan.budget > 0:
            limit = min(self.page_size, scan.budget)
            # On the budget's last page, one more row says whether the container goes on after it.
            probe = 1 if scan.budget <= self.page_size else 0
            rows = await self.products.query(scan.page_filters(), order_by="id", limit=limit + probe)
            page = rows[:limit]
            report.pages += 1
            if page:
                await self._reconcile_page(page, report)
                scan.budget -= len(page)
                scan.after = str(page[-1]["id"])
            if len(rows) > limit or (len(page) == limit and not probe):
                continue  # there is more (the budget may end the run here)
            if report.resumed_after is not None and not scan.wrapped:
                # The last id is behind us: go round to the ids up to the one this run started after (or, when
                # the budget is spent, leave them to the next run, which starts at the first id).
                scan.after, scan.until, scan.wrapped = None, report.resumed_after, True
                continue
            report.complete = True
            scan.after = None
            break

    async def _reconcile_page(self, page: Sequence[Document], report: ReconcileReport) -> None:
        due: list[Document] = []
        for document in page:
            report.seen += 1
            state = self.recipe.state(document)
            if state is VectorState.MISSING:
                report.missing += 1
            elif state is VectorState.STALE:
                report.stale += 1
            elif state is VectorState.FAILED and failure_retry_allowed(
                document, self.max_failed_attempts, self.recipe.slot
            ):
                report.failed_retried += 1
            elif state is VectorState.FAILED:
                report.failed_left += 1
                continue
            else:
                report.current += 1
                continue
            due.append(document)
        if not due:
            return
        batch = await self.pipeline.embed_changed_products(due, retry_failed=True)
        report.embedded += batch.embedded
        report.failed += batch.failed
        report.conflicts += batch.conflicts
        report.embed_requests += batch.embed_requests

    async def _finish(self, report: ReconcileReport, started: float) -> None:
        report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info(report.log_line())
        await self.record.save(report)


def _continuation(record: Mapping[str, Any]) -> str | None:
    value = record.get("continuation")
    return value if isinstance(value, str) and value else None
