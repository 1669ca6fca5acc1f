"""What a model migration will cost, and how far one is, measured on the stored catalog (:mod:`catalog.migration`)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from catalog.model import DELETED_FIELD, EmbeddingRecipe, InvalidProductError, VectorState
from embedding.base import Embedder
from store.base import Document, DocumentContainer, FieldFilter

PAGE_SIZE = 200
LIVE = FieldFilter(DELETED_FIELD, "ne", True)


@dataclass
class MigrationPlan:
    """What moving to ``model`` will cost, measured on the stored catalog before anything runs."""

    model: str
    dimensions: int
    products: int
    #: Products whose text can be embedded (the rest are marked failed, as the pipeline does).
    embeddable: int
    tokens: int
    requests: int
    price_per_million_tokens: float
    #: ``tokens`` × the price: an estimate (list prices, no discounts).
    estimated_cost: float
    #: At ``quota_tokens_per_minute`` (a metered endpoint) or ``texts_per_second`` (a local model).
    estimated_seconds: float
    basis: str
    truncated: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class MigrationPlanner:
    """Reads every live product once (in pages) and counts what the target model would be sent."""

    def __init__(self, products: DocumentContainer, embedder: Embedder, fields: Sequence[str]) -> None:
        self.products = products
        self.embedder = embedder
        self.fields = tuple(fields)

    async def plan(
        self,
        *,
        price_per_million_tokens: float,
        quota_tokens_per_minute: int = 0,
        texts_per_second: float | None = None,
    ) -> MigrationPlan:
        recipe = EmbeddingRecipe(self.fields, self.embedder.model_id, self.embedder.dimensions)
        products = embeddable = tokens = truncated = 0
        prepared = []
        async for page in live_pages(self.products):
            for document in page:
                products += 1
                try:
                    text = recipe.text(document)
                except InvalidProductError:
                    continue
                item = self.embedder.prepare(text)
                embeddable += 1
                tokens += item.tokens
                truncated += int(item.truncated)
                prepared.append(item)
        requests = sum(1 for _ in self.embedder.plan_batches(prepared))
        if quota_tokens_per_minute > 0:
            seconds = tokens / quota_tokens_per_minute * 60
            basis = f"a quota of {quota_tokens_per_minute:,} tokens per minute"
        elif texts_per_second:
            seconds = embeddable / texts_per_second
            basis = f"{texts_per_second:.1f} texts per second measured on this machine"
        else:
            seconds, basis = math.nan, "no quota known (set EMBED_QUOTA_TPM to the deployment's tokens per minute)"
        return MigrationPlan(
            model=self.embedder.model_id,
            dimensions=self.embedder.dimensions,
            products=products,
            embeddable=embeddable,
            tokens=tokens,
            requests=requests,
            price_per_million_tokens=price_per_million_tokens,
            estimated_cost=round(tokens / 1_000_000 * price_per_million_tokens, 4),
            estimated_seconds=round(seconds, 1),
            basis=basis,
            truncated=truncated,
        )


async def live_pages(products: DocumentContainer, size: int = PAGE_SIZE) -> AsyncIterator[list[Document]]:
    """Every live product, in pages ordered by id."""
    after: str | None = None
    while True:
        filters = [LIVE] + ([FieldFilter("id", "gt", after)] if after is not None else [])
        page = await products.query(filters, order_by="id", limit=size)
        if not page:
            return
        yield page
        if len(page) < size:
            return
        after = str(page[-1]["id"])


@dataclass
class SlotCoverage:
    """How far one slot is: live products, and those whose vector there is current for its model."""

    slot: str
    model: str
    products: int
    current: int
    failed: int

    @property
    def missing(self) -> int:
        return max(0, self.products - self.current - self.failed)


async def coverage(products: DocumentContainer, *recipes: EmbeddingRecipe) -> list[SlotCoverage]:
    """Reads every live product once (in pages) and judges its vector in each recipe's slot against the recipe."""
    results = [SlotCoverage(recipe.slot.name, recipe.model_id, 0, 0, 0) for recipe in recipes]
    async for page in live_pages(products):
        for document in page:
            for recipe, result in zip(recipes, results, strict=True):
                state = recipe.state(document)
                result.products += 1
                result.current += state is VectorState.CURRENT
                result.failed += state is VectorState.FAILED
    return results
