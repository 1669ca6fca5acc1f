"""What an operator asks about embeddings: how many products are embedded, pending or failed, by which model, how
long the oldest has waited, what the last reconcile run did, and which products failed and why.

Counts come from the store's own ``COUNT`` and ``TOP 1`` queries on the stamps (``embedding_info.status``,
``.model``, ``.dimensions``), never from reading every product, so a status request costs a handful of small
queries whatever the catalog's size. The price of that: a product whose text was edited a moment ago still counts
under its old stamp until the change feed re-embeds it (seconds); the per-product ``embedding_status``, the
reconciler and its report judge the text itself, through :class:`catalog.model.EmbeddingRecipe`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog.model import (
    STATUS_EMBEDDED,
    STATUS_FAILED,
    EmbeddingRecipe,
    VectorState,
    failure_retry_allowed,
)
from catalog.reconcile import LIVE, ReconcileRecord
from store.base import Document, DocumentContainer, FieldFilter

#: At most this many (model, dimensions) stamps are told apart; the rest count as ``other_recipes``.
MAX_RECIPES = 8
#: The most failed products one page of ``failed()`` lists.
MAX_FAILED_PAGE = 100
DEFAULT_FAILED_PAGE = 20
#: Dead-letter records shown per failed product, newest first.
DEAD_LETTERS_PER_PRODUCT = 3


@dataclass
class RecipeCount:
    """Live products stamped by one model and vector size."""

    model: str
    dimensions: int
    embedded: int
    failed: int
    current: bool


@dataclass
class StatusSummary:
    """``GET /api/embeddings/status``.

    ``by_status`` is measured against the current model and dimensions: ``pending`` is every live product not
    stamped ``embedded`` or ``failed`` by them (never embedded, waiting, or from another model).
    """

    model: str
    dimensions: int
    #: The vector slot these counts are about.
    slot: str
    products: int
    by_status: dict[str, int]
    by_recipe: list[RecipeCount]
    #: More (model, dimensions) stamps exist than :data:`MAX_RECIPES`.
    other_recipes: bool
    oldest_pending_id: str | None
    oldest_pending_age_seconds: float | None
    last_reconcile: dict[str, Any] | None


@dataclass
class FailedProduct:
    id: str
    name: str | None
    reason: str | None
    retryable: bool
    attempts: int | None
    failed_at: str | None
    model: str | None
    dimensions: int | None
    #: The failure is for the product's current text and model; otherwise it is pending a new try.
    current: bool
    #: The reconciler will try it again.
    will_retry: bool
    dead_letters: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FailedPage:
    products: list[FailedProduct]
    #: Pass it back to get the next page; ``None`` when this is the last.
    continuation: str | None


class EmbeddingStatusView:
    """Read-only views of the products' embedding stamps, the dead-letter records and the reconciler's record.

    Args:
        products: the products container.
        deadletters: the dead-letter container (partition key ``/product_id``).
        record: the reconciler's record (for its last report).
        recipe: the current recipe (model, dimensions, fields).
        now: seconds since the epoch, as ``_ts`` counts them.
        max_failed_attempts: the reconciler's limit, to say whether it will try a failure again.
    """

    def __init__(
        self,
        products: DocumentContainer,
        deadletters: DocumentContainer,
        record: ReconcileRecord,
        recipe: EmbeddingRecipe,
        *,
        now: Callable[[], float] = time.time,
        max_failed_attempts: int,
    ) -> None:
        self.products = products
        self.deadletters = deadletters
        self.record = record
        self.recipe = recipe
        self.now = now
        self.max_failed_attempts = max_failed_attempts
        info = recipe.slot.info_field
        self._status, self._model, self._dimensions = f"{info}.status", f"{info}.model", f"{info}.dimensions"

    async def summary(self) -> StatusSummary:
        """Counts by status and by (model, dimensions), the oldest pending product, and the last reconcile report."""
        live, recipes, oldest, last = await asyncio.gather(
            self.products.count([LIVE]), self._recipes(), self._oldest_pending(), self.record.last_report()
        )
        counts = await asyncio.gather(*(self._count_stamped(model, dimensions) for model, dimensions in recipes))
        by_recipe = [
            RecipeCount(model, dimensions, embedded, failed, self._is_current(model, dimensions))
            for (model, dimensions), (embedded, failed) in zip(recipes, counts, strict=True)
        ]
        current = next((row for row in by_recipe if row.current), None)
        embedded, failed = (current.embedded, current.failed) if current else (0, 0)
        age = None if oldest is None else max(0.0, round(self.now() - float(oldest.get("_ts") or 0), 1))
        return StatusSummary(
            model=self.recipe.model_id,
            dimensions=self.recipe.dimensions,
            slot=self.recipe.slot.name,
            products=live,
            by_status={STATUS_EMBEDDED: embedded, "pending": max(0, live - embedded - failed), STATUS_FAILED: failed},
            by_recipe=by_recipe,
            other_recipes=len(recipes) >= MAX_RECIPES,
            oldest_pending_id=None if oldest is None else str(oldest.get("id")),
            oldest_pending_age_seconds=age,
            last_reconcile=last,
        )

    async def failed(self, limit: int = DEFAULT_FAILED_PAGE, continuation: str | None = None) -> FailedPage:
        """One page of live products marked failed, by id, with their reasons and latest dead-letter records.

        Raises:
            ValueError: ``limit`` is not between 1 and :data:`MAX_FAILED_PAGE`.
        """
        if not 1 <= limit <= MAX_FAILED_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_FAILED_PAGE}, not {limit}")
        filters = [LIVE, FieldFilter(self._status, "eq", STATUS_FAILED)]
        if continuation:
            filters.append(FieldFilter("id", "gt", continuation))
        rows = await self.products.query(filters, order_by="id", limit=limit + 1)
        page = rows[:limit]
        letters = await asyncio.gather(*(self._dead_letters(str(row["id"])) for row in page))
        products = [self._failed_product(row, records) for row, records in zip(page, letters, strict=True)]
        return FailedPage(products, str(page[-1]["id"]) if len(rows) > limit else None)

    # ---- helpers ---------------------------------------------------------------------------------------------

    def _is_current(self, model: str, dimensions: int) -> bool:
        return model == self.recipe.model_id and dimensions == self.recipe.dimensions

    async def _recipes(self) -> list[tuple[str, int]]:
        """The distinct (model, dimensions) of live stamps, the current one first, at most :data:`MAX_RECIPES`.

        Found without GROUP BY (not every store has it): ``TOP 1`` of the stamps unlike every one found so far.
        """
        found: list[tuple[str, int]] = [(self.recipe.model_id, self.recipe.dimensions)]
        models = await self._distinct(self._model, "", [LIVE], MAX_RECIPES)
        for model in models:
            if len(found) >= MAX_RECIPES:
                break
            sizes = await self._distinct(
                self._dimensions, 0, [LIVE, FieldFilter(self._model, "eq", model)], MAX_RECIPES
            )
            found += [(model, size) for size in sizes if (model, size) not in found]
        return found[:MAX_RECIPES]

    async def _distinct(self, name: str, least: str | int, filters: list[FieldFilter], most: int) -> list[Any]:
        # ``ge`` the least value of the type: only stamps whose field has that JSON type take part.
        values: list[Any] = []
        while len(values) < most:
            unlike = [FieldFilter(name, "ne", value) for value in values]
            rows = await self.products.query([*filters, FieldFilter(name, "ge", least), *unlike], limit=1)
            if not rows:
                break
            values.append(_field(rows[0], name))
        return values

    async def _count_stamped(self, model: str, dimensions: int) -> tuple[int, int]:
        recipe = [LIVE, FieldFilter(self._model, "eq", model), FieldFilter(self._dimensions, "eq", dimensions)]
        embedded, failed = await asyncio.gather(
            self.products.count([*recipe, FieldFilter(self._status, "eq", STATUS_EMBEDDED)]),
            self.products.count([*recipe, FieldFilter(self._status, "eq", STATUS_FAILED)]),
        )
        return embedded, failed

    async def _oldest_pending(self) -> Document | None:
        """The live product that has waited longest (by ``_ts``) for a stamp of the current model and dimensions."""
        unstamped = [
            LIVE,
            FieldFilter(self._status, "ne", STATUS_EMBEDDED),
            FieldFilter(self._status, "ne", STATUS_FAILED),
        ]
        other_model = [LIVE, FieldFilter(self._model, "ne", self.recipe.model_id)]
        other_size = [LIVE, FieldFilter(self._dimensions, "ne", self.recipe.dimensions)]
        candidates = await asyncio.gather(
            *(self.products.query(filters, order_by="_ts", limit=1) for filters in (unstamped, other_model, other_size))
        )
        rows = [row for found in candidates for row in found]
        return min(rows, key=lambda row: float(row.get("_ts") or 0), default=None)

    async def _dead_letters(self, product_id: str) -> list[dict[str, Any]]:
        records = await self.deadletters.query(
            [FieldFilter("product_id", "eq", product_id)],
            partition_key=product_id,
            order_by="dead_lettered_at",
            descending=True,
            limit=DEAD_LETTERS_PER_PRODUCT,
        )
        # The snapshot of the document stays in the container: it can be as large as the product.
        return [
            {key: value for key, value in record.items() if key != "document" and not key.startswith("_")}
            for record in records
        ]

    def _failed_product(self, document: Mapping[str, Any], dead_letters: list[dict[str, Any]]) -> FailedProduct:
        info = document.get(self.recipe.slot.info_field)
        info = info if isinstance(info, Mapping) else {}
        current = self.recipe.state(document) is VectorState.FAILED
        attempts = info.get("attempts")
        dimensions = info.get("dimensions")
        return FailedProduct(
            id=str(document["id"]),
            name=document.get("name") if isinstance(document.get("name"), str) else None,
            reason=str(info["error"]) if info.get("error") is not None else None,
            retryable=info.get("retryable") is True,
            attempts=attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else None,
            failed_at=str(info["embedded_at"]) if info.get("embedded_at") else None,
            model=str(info["model"]) if info.get("model") is not None else None,
            dimensions=dimensions if isinstance(dimensions, int) and not isinstance(dimensions, bool) else None,
            current=current,
            will_retry=not current or failure_retry_allowed(document, self.max_failed_attempts, self.recipe.slot),
            dead_letters=dead_letters,
        )


def _field(document: Mapping[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value
