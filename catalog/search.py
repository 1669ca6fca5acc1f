"""Vector search over products: a question in, the most similar live products out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from catalog.model import DELETED_FIELD, SLOT_A, VECTOR_FIELDS, VectorSlot
from embedding.base import Embedder
from store.base import DocumentContainer, FieldFilter


@dataclass(frozen=True)
class SearchFilters:
    """Optional conditions on the products a search may return."""

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None

    def to_field_filters(self) -> list[FieldFilter]:
        """Store filters: these conditions, and never a soft-deleted product."""
        filters = [FieldFilter(DELETED_FIELD, "ne", True)]
        if self.category is not None:
            filters.append(FieldFilter("category_name", "eq", self.category))
        if self.min_price is not None:
            filters.append(FieldFilter("price", "ge", self.min_price))
        if self.max_price is not None:
            filters.append(FieldFilter("price", "le", self.max_price))
        return filters

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "min_price": self.min_price, "max_price": self.max_price}


SEARCH_MODES = ("vector", "hybrid")


@dataclass(frozen=True)
class SearchRequest:
    """A validated search: the text, how many results, the filters and the ranking mode."""

    query: str
    k: int
    filters: SearchFilters
    mode: str = "vector"


@dataclass(frozen=True)
class SearchHit:
    document: dict[str, Any]
    score: float


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    embed_ms: float
    search_ms: float


class ProductSearch:
    """Embeds a question with the same model as the catalog and finds the nearest live products.

    One search ranks one model's vectors only: those in ``slot`` stamped with the embedder's model. A product whose
    vector there is another model's (a model changed in place and not yet re-embedded) is left out until it is
    re-embedded, and counted as pending by the status view, instead of being ranked beside vectors of another space.

    Args:
        products: the products container.
        embedder: the catalog's embedding model.
        default_mode: ``vector`` (cosine similarity) or ``hybrid`` (reciprocal rank fusion of vector and full-text
            rankings) when a search names none.
        slot: the vector slot searched (the active one; see :mod:`catalog.migration`).
    """

    def __init__(
        self,
        products: DocumentContainer,
        embedder: Embedder,
        default_mode: str = "vector",
        slot: VectorSlot = SLOT_A,
    ) -> None:
        self.products = products
        self.embedder = embedder
        self.default_mode = default_mode
        self.slot = slot
        self._same_model = FieldFilter(f"{slot.info_field}.model", "eq", embedder.model_id)

    async def search(
        self, query: str, k: int, filters: SearchFilters | None = None, mode: str | None = None
    ) -> SearchResult:
        """The ``k`` live products nearest in meaning to ``query``."""
        started = time.perf_counter()
        [vector] = await self.embedder.embed([query])
        embed_ms = _ms(time.perf_counter() - started)
        hits, search_ms = await self.search_vector(vector, k, filters, text=query, mode=mode)
        return SearchResult(hits, embed_ms, search_ms)

    async def search_vector(
        self,
        vector: list[float],
        k: int,
        filters: SearchFilters | None = None,
        *,
        text: str = "",
        mode: str | None = None,
    ) -> tuple[list[SearchHit], float]:
        """The ``k`` live products for an already embedded query (and its ``text`` for hybrid), and the ms taken."""
        started = time.perf_counter()
        field_filters = [*(filters or SearchFilters()).to_field_filters(), self._same_model]
        path = self.slot.vector_path
        if (mode or self.default_mode) == "hybrid":
            scored = await self.products.hybrid_search(vector, text, k, filters=field_filters, path=path)
        else:
            scored = await self.products.vector_search(vector, k, filters=field_filters, path=path)
        hits = [
            SearchHit({key: value for key, value in hit.document.items() if key not in VECTOR_FIELDS}, hit.score)
            for hit in scored
        ]
        return hits, _ms(time.perf_counter() - started)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
