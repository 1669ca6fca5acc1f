"""``/api/embeddings/*``: the operator's routes — status, failed products, and re-embedding on request.

Limits are the catalog's constants (:data:`catalog.reembed.MAX_REEMBED_IDS`, :data:`catalog.embedding_status.
MAX_FAILED_PAGE`), so what the handlers enforce and what the OpenAPI document says are one number.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from api.fields import DOT_SEGMENTS, Text, WholeNumber
from api.products import ProductId
from api.validation import RequestModel, ResponseModel, rule
from catalog.embedding_status import DEFAULT_FAILED_PAGE, MAX_FAILED_PAGE
from catalog.model import MAX_CATEGORY_LENGTH, MAX_ID_LENGTH
from catalog.reembed import MAX_REEMBED_IDS

Continuation = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="The `continuation` of the previous answer; absent for the first page.",
    ),
]

# ------------------------------------------------------------------------------------------------- requests


def _not_a_dot_segment(value: str) -> str:
    # The pattern cannot say it (JSON Schema's `not` documents it); no product id is "." or "..".
    if value in DOT_SEGMENTS:
        raise rule("must not be . or ..")
    return value


ReembedId = Annotated[ProductId, AfterValidator(_not_a_dot_segment)]


class FailedQuery(RequestModel):
    """The query string of `GET /api/embeddings/failed`."""

    limit: Annotated[
        int, WholeNumber(1, MAX_FAILED_PAGE), Field(json_schema_extra={"default": DEFAULT_FAILED_PAGE})
    ] = DEFAULT_FAILED_PAGE
    continuation: Continuation | None = None


class ReembedFilter(RequestModel):
    """Which products: those of a category, in a status, or both."""

    category: Annotated[str, Text(MAX_CATEGORY_LENGTH), Field(description="Exact `category_name`.")] | None = None
    status: Literal["failed", "pending"] | None = Field(
        default=None, description="`failed`: marked failed; `pending`: not embedded for the current model and text."
    )

    @model_validator(mode="after")
    def _names_something(self) -> ReembedFilter:
        if self.category is None and self.status is None:
            raise rule("must name a category or a status")
        return self


class ReembedInput(RequestModel):
    """Exactly one of `ids`, `filter` or `all`. A few ids (at most 20) are embedded during the request; otherwise
    the products are marked pending and the change feed embeds them."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"filter": {"status": "failed"}}]})

    ids: Annotated[list[ReembedId], Field(min_length=1, max_length=MAX_REEMBED_IDS)] | None = Field(
        default=None, description=f"At most {MAX_REEMBED_IDS} product ids."
    )
    filter: ReembedFilter | None = None
    all: bool | None = Field(default=None, description="`true`: every live product.")
    continuation: Continuation | None = Field(
        default=None, description="With `filter` or `all`: the `continuation` of the previous answer, to go on."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ReembedInput:
        if self.all is False:
            raise rule("must be true, or left out", field="all")
        chosen = [name for name in ("ids", "filter", "all") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise rule("must have exactly one of ids, filter or all")
        if self.continuation is not None and self.ids is not None:
            raise rule("goes with filter or all, not ids", field="continuation")
        return self


# ------------------------------------------------------------------------------------------------ responses


class RecipeCount(ResponseModel):
    """Live products stamped by one model and vector size."""

    model: str
    dimensions: int
    embedded: int = Field(ge=0)
    failed: int = Field(ge=0)
    current: bool = Field(description="The model and size the app embeds with now.")


class OldestPending(ResponseModel):
    id: str
    age_seconds: float = Field(ge=0, description="Since its last write (`_ts`).")


class ReconcileReport(ResponseModel):
    """What the last reconcile run found and did (`seen = current + missing + stale + failed_retried +
    failed_left`)."""

    model_config = ConfigDict(extra="allow")

    started_at: str
    seen: int
    current: int
    missing: int
    stale: int
    failed_retried: int
    failed_left: int
    embedded: int
    failed: int
    conflicts: int
    embed_requests: int
    pages: int
    resumed_after: str | None
    continuation: str | None
    complete: bool
    duration_ms: float
    error: str | None


class SlotStatus(ResponseModel):
    """A vector slot kept current: the model filling it and its products by status."""

    slot: Literal["a", "b"]
    model: str
    dimensions: int
    by_status: dict[Literal["embedded", "pending", "failed"], int]


class MigrationStatus(ResponseModel):
    """A model migration (``catalog migrate``): which slot search uses and what fills the other one."""

    phase: Literal["idle", "filling", "switched"]
    active: Literal["a", "b"] = Field(description="The slot search ranks by.")
    target: Literal["a", "b"] | None = Field(description="The slot being filled, or kept for a rollback.")
    recorded: bool = Field(description="A migration has run: the state document, not the settings, names the models.")
    started_at: str | None
    switched_at: str | None
    slots: list[SlotStatus]
    history: list[str]


class EmbeddingStatus(ResponseModel):
    """Counts of live products by embedding status (for the current model and size) and by stamp."""

    model: str
    dimensions: int
    slot: Literal["a", "b"] = Field(description="The vector slot search uses (`embedding` is a, `embedding_b` b).")
    migration: MigrationStatus | None = None
    products: int = Field(ge=0, description="Live (not soft-deleted) products.")
    by_status: dict[Literal["embedded", "pending", "failed"], int]
    by_recipe: list[RecipeCount]
    other_recipes: bool = Field(description="More (model, size) stamps exist than are listed.")
    oldest_pending: OldestPending | None
    last_reconcile: ReconcileReport | None = Field(
        description="Kept in the leases container, document `embeddings-reconcile`."
    )

    @classmethod
    def of(cls, summary: Any, migration: MigrationStatus | None = None) -> EmbeddingStatus:
        """From :class:`catalog.embedding_status.StatusSummary`."""
        oldest = None
        if summary.oldest_pending_id is not None:
            oldest = OldestPending(id=summary.oldest_pending_id, age_seconds=summary.oldest_pending_age_seconds or 0)
        return cls(
            model=summary.model,
            dimensions=summary.dimensions,
            slot=summary.slot,
            migration=migration,
            products=summary.products,
            by_status=summary.by_status,
            by_recipe=[RecipeCount.model_validate(row, from_attributes=True) for row in summary.by_recipe],
            other_recipes=summary.other_recipes,
            oldest_pending=oldest,
            last_reconcile=None if summary.last_reconcile is None else ReconcileReport(**summary.last_reconcile),
        )


class DeadLetter(ResponseModel):
    """A dead-letter record (the document snapshot stays in the container)."""

    model_config = ConfigDict(extra="allow")

    id: str
    product_id: str
    reason: str
    dead_lettered_at: str | None = None


class FailedProduct(ResponseModel):
    id: str
    name: str | None
    reason: str | None
    retryable: bool = Field(description="The model or the store refused it; a later try may pass.")
    attempts: int | None
    failed_at: str | None
    model: str | None
    dimensions: int | None
    current: bool = Field(description="Failed for its current text and model (else it is due for a new try).")
    will_retry: bool = Field(description="The reconciler will try it again.")
    dead_letters: list[DeadLetter]


class FailedProducts(ResponseModel):
    products: list[FailedProduct]
    continuation: str | None = Field(description="Pass it as `continuation` for the next page; null on the last.")


class ReembedAccepted(ResponseModel):
    """What a re-embed request did (HTTP 202)."""

    matched: int = Field(ge=0, description="Live products selected.")
    queued: int = Field(ge=0, description="Marked pending: the change feed embeds them.")
    embedded: int = Field(ge=0, description="Embedded during the request.")
    failed: int = Field(ge=0, description="Marked failed during the request (the reason is on the product).")
    conflicts: int = Field(ge=0, description="Kept changing meanwhile; their newest version is on its way.")
    not_found: list[str] = Field(description="Named ids with no live product.")
    continuation: str | None = Field(description="Send the same filter with it to go on; null when done.")
