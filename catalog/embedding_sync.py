"""The change-feed embedding pipeline: changed products in, vectors written back onto the same documents.

Safe by construction:

* **No echo.** A document whose ``embedding_info.content_hash`` equals the hash of its current text and model is
  skipped, so the change event caused by our own write-back costs no embedding call and no write.
* **No clobbering.** The write-back is a partial update conditional on the ``_etag`` the change feed delivered; if
  a user edited the product meanwhile the write is refused and skipped — the newer version has its own change event.
* **Nothing lost.** Transient embedder failures are retried (by :class:`embedding.base.Embedder`); if they persist,
  :func:`EmbeddingPipeline.embed_changed_products` raises, the invocation fails and the host's retry policy
  delivers the batch again. Documents that can never be embedded are marked ``failed`` and dead-lettered, and the
  rest of the batch goes on.
* **No stall on a document the store refuses.** When the store refuses a write for the document's own sake
  (:class:`store.base.RejectedDocumentError`: too large once its vector is added, say), the product is marked
  ``failed`` with the reason instead of failing every redelivery of the batch. When the refused write is the
  dead-letter record itself (an id too long for it, say), that is logged and the product is still marked failed.
* **No retry of a known failure.** A document already marked ``failed`` for exactly its current embedded fields and
  model is skipped, so a failure's own write-back (or any other unrelated edit) does not start it over. Only the
  reconciler (:mod:`catalog.reconcile`) asks for another try, of failures stamped ``retryable``, a bounded number of
  times.

Whether a stored vector is current, and what a stamp holds, is :class:`catalog.model.EmbeddingRecipe`'s to say.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from catalog.model import (
    SLOT_A,
    VECTOR_FIELDS,
    EmbeddingRecipe,
    InvalidProductError,
    VectorSlot,
    VectorState,
    utc_timestamp,
)
from embedding.base import (
    Embedder,
    EmbeddingConfigurationError,
    EmbeddingError,
    PreparedText,
    TransientEmbeddingError,
)
from store.base import (
    Document,
    DocumentContainer,
    FieldFilter,
    NotFoundError,
    PatchOperation,
    PreconditionFailedError,
    RejectedDocumentError,
)

log = logging.getLogger(__name__)

#: Write-backs in flight at once (each is one small request to the store).
WRITE_CONCURRENCY = 16


@dataclass
class BatchReport:
    """What one invocation did. ``seen = skipped + embedded + failed + conflicts``."""

    seen: int = 0
    skipped: int = 0
    embedded: int = 0
    failed: int = 0
    conflicts: int = 0
    truncated: int = 0
    embed_requests: int = 0
    duration_ms: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)
    #: The documents this batch wrote, as stored after the write (id → document): what the next slot's pipeline
    #: works from during a model migration, instead of meeting a conflict and waiting for the echo.
    written: dict[str, Document] = field(default_factory=dict, repr=False)

    def add(self, other: BatchReport) -> None:
        """Fold another report's counts into this one (running totals since the process started)."""
        for name in ("seen", "skipped", "embedded", "failed", "conflicts", "truncated", "embed_requests"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.duration_ms = round(self.duration_ms + other.duration_ms, 1)

    def counts(self) -> dict[str, float]:
        return {
            item.name: getattr(self, item.name) for item in fields(self) if item.name not in ("failures", "written")
        }

    def log_line(self) -> str:
        return json.dumps({"event": "embedding_batch", **self.counts()}, separators=(",", ":"))


@dataclass
class _Work:
    """A document that needs embedding."""

    document: Mapping[str, Any]
    prepared: PreparedText
    content_hash: str


class EmbeddingPipeline:
    """Embeds changed product documents and writes the vectors back, safely.

    Args:
        products: the products container (the one the trigger watches).
        deadletters: where records of documents that cannot be embedded go.
        embedder: makes the vectors.
        fields: product fields that make up the embedded text (see :func:`catalog.model.embedding_text`).
        clock: returns the ``embedded_at`` timestamp.
        totals: a report every batch's counts are added to.
        slot: where the vectors and stamps go (the second slot while a model migration fills it).
    """

    def __init__(
        self,
        products: DocumentContainer,
        deadletters: DocumentContainer,
        embedder: Embedder,
        fields: Sequence[str],
        clock: Callable[[], str] = utc_timestamp,
        totals: BatchReport | None = None,
        slot: VectorSlot = SLOT_A,
    ) -> None:
        self.products = products
        self.deadletters = deadletters
        self.embedder = embedder
        self.fields = tuple(fields)
        self.recipe = EmbeddingRecipe(self.fields, embedder.model_id, embedder.dimensions, slot)
        self.clock = clock
        self.totals = totals

    async def embed_changed_products(self, documents: Sequence[Any], *, retry_failed: bool = False) -> BatchReport:
        """Embed the documents of one change-feed batch that need it and write their vectors back.

        Args:
            documents: the changed documents as the change feed delivered them (with ``_etag``), or as the
                reconciler read them.
            retry_failed: try again documents already marked failed for their current text (the reconciler passes
                only the ones whose failure may pass); otherwise they are skipped.

        Returns:
            Counts of what happened; also logged as one structured line.

        Raises:
            TransientEmbeddingError: the embedder kept failing after its retries; redeliver the batch.
            StoreError: the store failed in a way other than a conflict; redeliver the batch.
        """
        started = time.perf_counter()
        report = BatchReport(seen=len(documents))
        work: list[_Work] = []
        failures: list[tuple[Mapping[str, Any], str]] = []
        for document in _latest_per_id(documents, report):
            if not isinstance(document, Mapping) or not isinstance(document.get("id"), str):
                await self._dead_letter_malformed(document, report)
                continue
            state = self.recipe.state(document)
            skipped = (VectorState.DELETED, VectorState.CURRENT) + (() if retry_failed else (VectorState.FAILED,))
            if state in skipped:
                report.skipped += 1
                continue
            try:
                text = self.recipe.text(document)
            except InvalidProductError as error:
                failures.append((document, error.reason))
                continue
            work.append(_Work(document, self.embedder.prepare(text), self.recipe.content_hash(text)))

        # An invalid document stays failed until someone edits it: no later try can pass.
        await _bounded_gather(
            [self._mark_failed(doc, reason, report, retryable=False) for doc, reason in failures], WRITE_CONCURRENCY
        )
        # Batch by batch, each written back before the next is embedded: the first products of a large change
        # become searchable after one request, not after the whole invocation.
        for indices in self.embedder.plan_batches([item.prepared for item in work]):
            batch = [work[index] for index in indices]
            refused: list[tuple[Mapping[str, Any], str]] = []
            vectors = await self._embed(batch, refused, report)
            tasks = [
                self._write_vector(item, vector, report) for item, vector in zip(batch, vectors, strict=True) if vector
            ]
            # The model refused this input; another day (a changed service-side limit or filter) it may not.
            tasks += [self._mark_failed(document, reason, report, retryable=True) for document, reason in refused]
            await _bounded_gather(tasks, WRITE_CONCURRENCY)

        report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info(report.log_line())
        if self.totals is not None:
            self.totals.add(report)
        return report

    async def _embed(
        self, work: list[_Work], failures: list[tuple[Mapping[str, Any], str]], report: BatchReport
    ) -> list[list[float]]:
        """Vectors for ``work``, in order; an empty list where one document's input was refused for good."""
        if not work:
            return []
        requests_before = self.embedder.requests_sent
        try:
            vectors = await self._embed_or_refuse(work, failures, isolate=len(work) > 1)
        finally:
            report.embed_requests += self.embedder.requests_sent - requests_before
        return vectors

    async def _embed_or_refuse(
        self, work: list[_Work], failures: list[tuple[Mapping[str, Any], str]], *, isolate: bool
    ) -> list[list[float]]:
        try:
            return await self.embedder.embed_prepared([item.prepared for item in work])
        except (TransientEmbeddingError, EmbeddingConfigurationError):
            raise
        except EmbeddingError as error:
            if not isolate:
                failures.append((work[0].document, f"embedding refused: {error}"))
                return [[]]
        # One bad input can sink a whole request: embed one by one to find it and keep the rest.
        vectors: list[list[float]] = []
        for item in work:
            vectors.extend(await self._embed_or_refuse([item], failures, isolate=False))
        return vectors

    async def _write_vector(self, item: _Work, vector: list[float], report: BatchReport) -> None:
        document = item.document
        info = self.recipe.embedded_stamp(item.content_hash, truncated=item.prepared.truncated, at=self.clock())
        slot = self.recipe.slot
        operations = [
            PatchOperation("set", "/" + slot.vector_field, vector),
            PatchOperation("set", "/" + slot.info_field, info),
        ]
        try:
            written = await self._conditional_patch(document, operations, report)
        except RejectedDocumentError as error:
            # Writing it again now would be refused again: record why on the document, and let the batch go on. A
            # later try may pass (the document's other fields may shrink), so the reconciler may try again.
            reason = f"vector write-back refused by the store: {error}"
            await self._mark_failed(document, reason, report, retryable=True)
            return
        if written:
            report.embedded += 1
            report.truncated += int(item.prepared.truncated)

    async def _mark_failed(
        self, document: Mapping[str, Any], reason: str, report: BatchReport, *, retryable: bool
    ) -> None:
        info = self.recipe.failed_stamp(document, reason, retryable=retryable, at=self.clock())
        digest = info["content_hash"]
        slot = self.recipe.slot
        operations = [PatchOperation("set", "/" + slot.info_field, info)]
        if slot.vector_field in document:
            # The old vector describes text that is gone: keep it out of search.
            operations.append(PatchOperation("remove", "/" + slot.vector_field))
        await self._write_dead_letter(document, reason, digest)
        try:
            marked = await self._conditional_patch(document, operations, report)
        except RejectedDocumentError as error:
            log.error(
                "product %s could not be marked failed (%s): the store refused it: %s", _shown(document), reason, error
            )
            marked = True  # failed all the same; there is nothing left to write
        if marked:
            report.failed += 1
            report.failures.append({"id": str(document["id"]), "reason": reason})

    async def _conditional_patch(
        self, document: Mapping[str, Any], operations: list[PatchOperation], report: BatchReport
    ) -> bool:
        """Patch only if the document is still the version we read; a refusal counts as a conflict."""
        etag = document.get("_etag")
        predicate: tuple[FieldFilter, ...] = ()
        if not etag:
            # Without an ETag, guard on the fields we embedded still holding the values we read.
            predicate = tuple(
                FieldFilter(name, "eq", document[name])
                for name in self.fields
                if isinstance(document.get(name), str | int | float)
            )
        try:
            stored = await self.products.patch(
                str(document["id"]),
                self.products.partition_key_of(document),
                operations,
                if_match=etag if isinstance(etag, str) else None,
                filter_predicate=predicate,
            )
        except (PreconditionFailedError, NotFoundError):
            report.conflicts += 1
            return False
        report.written[str(document["id"])] = stored
        return True

    async def _write_dead_letter(self, document: Mapping[str, Any], reason: str, digest: str | None) -> None:
        product_id = str(document.get("id")) if isinstance(document, Mapping) else "<no id>"
        snapshot = (
            {key: value for key, value in document.items() if key not in VECTOR_FIELDS}
            if isinstance(document, Mapping)
            else {"value": repr(document)[:2000]}
        )
        record = {
            # Deterministic id: a redelivered batch overwrites its record instead of adding another.
            "id": f"{product_id}:{(digest or 'malformed').removeprefix('sha256:')[:16]}",
            "product_id": product_id,
            "model": self.recipe.model_id,
            "reason": reason,
            "content_hash": digest,
            "etag": document.get("_etag") if isinstance(document, Mapping) else None,
            "dead_lettered_at": self.clock(),
            "document": snapshot,
        }
        try:
            await self.deadletters.upsert(record)
        except RejectedDocumentError as error:
            # The record itself is what the store refuses (too large, an id too long): retrying cannot help.
            log.warning(
                "dead-letter record for product %s (%s) refused by the store, not written: %s",
                _shown(document),
                reason,
                error,
            )

    async def _dead_letter_malformed(self, document: Any, report: BatchReport) -> None:
        reason = "document is not a JSON object with a string id"
        await self._write_dead_letter(document, reason, None)
        report.failed += 1
        report.failures.append({"id": "<no id>", "reason": reason})


async def embed_into_slots(pipelines: Sequence[EmbeddingPipeline], documents: Sequence[Any]) -> list[BatchReport]:
    """Run one change-feed batch through the pipeline of each slot kept current, in order. Each pipeline starts from
    what the one before wrote (its new ``_etag``), so a migration's second slot is filled in the same invocation
    instead of conflicting with the first slot's write-back and waiting for its echo."""
    reports = []
    batch = list(documents)
    for pipeline in pipelines:
        report = await pipeline.embed_changed_products(batch)
        reports.append(report)
        if report.written:
            batch = [_latest(document, report.written) for document in batch]
    return reports


def _latest(document: Any, written: Mapping[str, Document]) -> Any:
    if isinstance(document, Mapping) and isinstance(document.get("id"), str):
        return written.get(document["id"], document)
    return document


def _shown(document: Any) -> str:
    """A document's id for a log line, cut short (ids the store refuses can be long)."""
    product_id = str(document.get("id")) if isinstance(document, Mapping) else "<no id>"
    return repr(product_id if len(product_id) <= 80 else product_id[:80] + "...")


def _latest_per_id(documents: Sequence[Any], report: BatchReport) -> list[Any]:
    """One document per id (the last one delivered); duplicates count as skipped."""
    latest: dict[str, Any] = {}
    others: list[Any] = []
    for document in documents:
        if isinstance(document, Mapping) and isinstance(document.get("id"), str):
            if document["id"] in latest:
                report.skipped += 1
            latest[document["id"]] = document
        else:
            others.append(document)
    return list(latest.values()) + others


async def _bounded_gather(coroutines: list[Any], limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(coroutine: Any) -> None:
        async with semaphore:
            await coroutine

    await asyncio.gather(*(run(coroutine) for coroutine in coroutines))
