"""Re-embedding on request: an operator names products (by id, by category and status, or all of them) to embed again.

A few ids are embedded at once, through the pipeline, during the request. Otherwise each product's stamp is replaced
by ``{"status": "pending", "requested_at"}`` with a conditional write: that write is a change, so the change feed
hands the product to the pipeline, which embeds it (a stamp that is not ``embedded`` or ``failed`` is never
current), and the reconciler would find it too. The old vector stays until the new one replaces it, so the product
stays searchable meanwhile. A request marks a bounded number of products; ``continuation`` in the result continues.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from catalog.embedding_sync import EmbeddingPipeline
from catalog.model import STATUS_FAILED, STATUS_PENDING, VectorState, utc_timestamp
from catalog.reconcile import LIVE
from store.base import Document, DocumentContainer, FieldFilter, NotFoundError, PatchOperation, PreconditionFailedError

#: The most ids one request may name.
MAX_REEMBED_IDS = 500
#: Requests naming at most this many ids are embedded during the request; larger ones are queued.
DIRECT_REEMBED_MAX = 20
#: The most products one filter or ``all`` request reads; the result's continuation goes on from there.
MAX_SCANNED_PER_REQUEST = 2000
PAGE_SIZE = 200
#: Marks in flight at once.
WRITE_CONCURRENCY = 16
#: Tries of a mark whose product changed between the read and the write.
MARK_ATTEMPTS = 3

ReembedStatus = Literal["failed", "pending"]


@dataclass
class ReembedResult:
    """What a re-embed request did.

    Attributes:
        matched: live products the request selected.
        queued: products marked pending for the change feed to embed.
        embedded: products embedded during the request.
        failed: products the pipeline marked failed during the request (the reason is on the product).
        conflicts: products that kept changing while marked or embedded (their newest version is in the feed).
        not_found: named ids with no live product.
        continuation: pass back with the same filter to go on; ``None`` when every product was read.
    """

    matched: int = 0
    queued: int = 0
    embedded: int = 0
    failed: int = 0
    conflicts: int = 0
    not_found: list[str] = field(default_factory=list)
    continuation: str | None = None


class Reembedder:
    """Re-embeds products an operator names.

    Args:
        products: the products container.
        pipeline: the change-feed pipeline (used directly for a few ids; its recipe says which products are pending).
        clock: the ``requested_at`` timestamp.
        direct_max: id lists up to this size are embedded during the request.
        max_scanned: most products one filter or ``all`` request reads.
    """

    def __init__(
        self,
        products: DocumentContainer,
        pipeline: EmbeddingPipeline,
        *,
        clock: Callable[[], str] = utc_timestamp,
        direct_max: int = DIRECT_REEMBED_MAX,
        max_scanned: int = MAX_SCANNED_PER_REQUEST,
    ) -> None:
        self.products = products
        self.pipeline = pipeline
        #: The stamp of the slot search uses (the pipeline's).
        self.info_field = pipeline.recipe.slot.info_field
        self.clock = clock
        self.direct_max = direct_max
        self.max_scanned = max_scanned

    async def reembed_ids(self, ids: Sequence[str]) -> ReembedResult:
        """Re-embed the named products: now when there are at most ``direct_max``, else by marking them pending.

        Raises:
            ValueError: more than :data:`MAX_REEMBED_IDS` ids.
        """
        if len(ids) > MAX_REEMBED_IDS:
            raise ValueError(f"at most {MAX_REEMBED_IDS} ids, not {len(ids)}")
        unique = list(dict.fromkeys(ids))
        documents = await _gather_bounded([self.products.read(item_id, item_id) for item_id in unique])
        result = ReembedResult()
        found: list[Document] = []
        for item_id, document in zip(unique, documents, strict=True):
            if document is None or self.pipeline.recipe.state(document) is VectorState.DELETED:
                result.not_found.append(item_id)
            else:
                found.append(document)
        result.matched = len(found)
        if len(found) <= self.direct_max:
            await self._embed_now(found, result)
        else:
            await self._mark_all(found, result)
        return result

    async def reembed_matching(
        self,
        *,
        category: str | None = None,
        status: ReembedStatus | None = None,
        everything: bool = False,
        continuation: str | None = None,
    ) -> ReembedResult:
        """Mark pending the live products of ``category`` (exact ``category_name``) and ``status`` (``failed``: marked
        failed; ``pending``: not current for the current recipe), or every live product with ``everything``.

        Reads at most ``max_scanned`` products, ordered by id after ``continuation``.

        Raises:
            ValueError: neither a category, a status nor ``everything``.
        """
        if category is None and status is None and not everything:
            raise ValueError("name a category or a status, or ask for everything")
        filters = [LIVE]
        if category is not None:
            filters.append(FieldFilter("category_name", "eq", category))
        if status == STATUS_FAILED:
            filters.append(FieldFilter(f"{self.info_field}.status", "eq", STATUS_FAILED))
        result = ReembedResult()
        after, budget = continuation, self.max_scanned
        while budget > 0:
            limit = min(PAGE_SIZE, budget)
            probe = 1 if budget <= PAGE_SIZE else 0  # one more row on the last page: is there anything after it?
            page_filters = filters + ([FieldFilter("id", "gt", after)] if after else [])
            rows = await self.products.query(page_filters, order_by="id", limit=limit + probe)
            page = rows[:limit]
            chosen = [document for document in page if status != STATUS_PENDING or self._is_pending(document)]
            result.matched += len(chosen)
            await self._mark_all(chosen, result)
            budget -= len(page)
            after = str(page[-1]["id"]) if page else after
            if len(rows) <= len(page) and (len(page) < limit or probe):
                return result
        result.continuation = after
        return result

    def _is_pending(self, document: Mapping[str, Any]) -> bool:
        return self.pipeline.recipe.state(document) in (VectorState.MISSING, VectorState.STALE)

    async def _embed_now(self, documents: list[Document], result: ReembedResult) -> None:
        # The pipeline sees each as stamped pending (nothing is written first); its write-back is conditional on
        # the version read, as always.
        requested = [{**document, self.info_field: self._pending_stamp()} for document in documents]
        if not requested:
            return
        report = await self.pipeline.embed_changed_products(requested)
        result.embedded += report.embedded
        result.failed += report.failed
        result.conflicts += report.conflicts

    async def _mark_all(self, documents: list[Document], result: ReembedResult) -> None:
        outcomes = await _gather_bounded([self._mark_pending(document) for document in documents])
        result.queued += outcomes.count("queued")
        result.conflicts += outcomes.count("conflict")

    async def _mark_pending(self, document: Document) -> str:
        """Replace the stamp, conditional on the version read; re-read and try again when it changed meanwhile."""
        current: Document | None = document
        for _ in range(MARK_ATTEMPTS):
            if current is None or self.pipeline.recipe.state(current) is VectorState.DELETED:
                return "gone"
            operation = PatchOperation("set", "/" + self.info_field, self._pending_stamp())
            item_id = str(current["id"])
            try:
                await self.products.patch(item_id, item_id, [operation], if_match=current.get("_etag"))
                return "queued"
            except NotFoundError:
                return "gone"
            except PreconditionFailedError:
                current = await self.products.read(item_id, item_id)
        return "conflict"

    def _pending_stamp(self) -> dict[str, Any]:
        return {"status": STATUS_PENDING, "requested_at": self.clock()}


async def _gather_bounded(coroutines: list[Any]) -> list[Any]:
    semaphore = asyncio.Semaphore(WRITE_CONCURRENCY)

    async def run(coroutine: Any) -> Any:
        async with semaphore:
            return await coroutine

    return list(await asyncio.gather(*(run(coroutine) for coroutine in coroutines)))
