"""Vector search over products: a question in, the most similar live products out."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalog.errors import ValidationError
from catalog.model import DELETED_FIELD, EMBEDDING_FIELD, is_finite_number
from embedding.base import Embedder
from store.base import DocumentContainer, FieldFilter

MAX_QUERY_LENGTH = 1000
MAX_CATEGORY_LENGTH = 200
# Numbers sent as text (query strings): plain ASCII decimals. int()/float() would also take "1_0", " 5 ", "١".
WHOLE_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+")
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


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

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, prefix: str = "") -> SearchFilters:
        """Filters from a JSON object or a query string (numbers may arrive as text).

        Raises:
            ValidationError: naming the field that is not a string or a finite number >= 0, or when
                min_price > max_price.
        """
        category = raw.get("category")
        # NUL: the store's filter columns compare through numpy, which drops trailing NULs ("A\0" would match "A").
        if category is not None and (
            not isinstance(category, str) or len(category) > MAX_CATEGORY_LENGTH or "\x00" in category
        ):
            raise ValidationError(
                f"{prefix}category must be a string of at most {MAX_CATEGORY_LENGTH} characters, without NUL",
                field=f"{prefix}category",
            )
        min_price = _price(raw.get("min_price"), f"{prefix}min_price")
        max_price = _price(raw.get("max_price"), f"{prefix}max_price")
        if min_price is not None and max_price is not None and min_price > max_price:
            raise ValidationError(f"{prefix}min_price must not exceed {prefix}max_price", field=f"{prefix}min_price")
        return cls(category or None, min_price, max_price)


SEARCH_MODES = ("vector", "hybrid")


@dataclass(frozen=True)
class SearchRequest:
    """A validated search: the text, how many results, the filters and the ranking mode."""

    query: str
    k: int
    filters: SearchFilters
    mode: str = "vector"

    @classmethod
    def parse(
        cls, raw: Mapping[str, Any], *, default_k: int, max_k: int, default_mode: str = "vector"
    ) -> SearchRequest:
        """A search from ``q``, ``k``, ``category``, ``min_price``, ``max_price``, ``mode`` (body or query string).

        Raises:
            ValidationError: naming the field at fault and its limit.
        """
        query = raw.get("q")
        if not isinstance(query, str) or not query.strip():
            raise ValidationError("q is required: the text to search for", field="q")
        if len(query) > MAX_QUERY_LENGTH:
            raise ValidationError(f"q must be at most {MAX_QUERY_LENGTH} characters", field="q")
        k = _int(raw.get("k", default_k), "k")
        if not 1 <= k <= max_k:
            raise ValidationError(f"k must be between 1 and {max_k}", field="k")
        mode = raw.get("mode")
        if mode is None or mode == "":  # not `or`: false, 0, [] and {} are mistakes, not "the default"
            mode = default_mode
        if mode not in SEARCH_MODES:
            raise ValidationError("mode must be vector or hybrid", field="mode")
        return cls(query.strip(), k, SearchFilters.parse(raw), mode)


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

    Args:
        products: the products container.
        embedder: the catalog's embedding model.
        default_mode: ``vector`` (cosine similarity) or ``hybrid`` (reciprocal rank fusion of vector and full-text
            rankings) when a search names none.
    """

    def __init__(self, products: DocumentContainer, embedder: Embedder, default_mode: str = "vector") -> None:
        self.products = products
        self.embedder = embedder
        self.default_mode = default_mode

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
        field_filters = (filters or SearchFilters()).to_field_filters()
        if (mode or self.default_mode) == "hybrid":
            scored = await self.products.hybrid_search(vector, text, k, filters=field_filters)
        else:
            scored = await self.products.vector_search(vector, k, filters=field_filters)
        hits = [
            SearchHit({key: value for key, value in hit.document.items() if key != EMBEDDING_FIELD}, hit.score)
            for hit in scored
        ]
        return hits, _ms(time.perf_counter() - started)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _price(value: Any, field: str) -> float | None:
    if value is None or value == "":
        return None
    number = _number(value, field)
    if number < 0:
        raise ValidationError(f"{field} must be a number >= 0", field=field)
    return number


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a number", field=field)
    if isinstance(value, str):
        if not NUMBER_TEXT.fullmatch(value):
            raise ValidationError(f"{field} must be a number", field=field)
        value = float(value)
    if not is_finite_number(value):
        raise ValidationError(f"{field} must be a finite number", field=field)
    return float(value)


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a whole number", field=field)
    if isinstance(value, str):
        if not WHOLE_NUMBER_TEXT.fullmatch(value):
            raise ValidationError(f"{field} must be a whole number", field=field)
        try:
            return int(value)
        except ValueError:  # beyond Python's 4300-digit limit for int("...")
            raise ValidationError(f"{field} must be a whole number of at most 4300 digits", field=field) from None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValidationError(f"{field} must be a whole number", field=field)
