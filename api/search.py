"""``GET|POST /api/search``: the search a client may ask for (also the filters a chat takes) and the answer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from api.fields import Price, Text, enum_of
from api.validation import RequestModel, ResponseModel, rule
from catalog.model import MAX_CATEGORY_LENGTH
from catalog.search import SEARCH_MODES, SearchFilters, SearchRequest

MAX_QUERY_LENGTH = 1000


def _category(value: str | None) -> str | None:
    # NUL: the store's filter columns compare through numpy, which drops trailing NULs ("A\0" would match "A").
    if value is not None and "\x00" in value:
        raise rule("must not contain NUL")
    return value or None


Category = Annotated[
    Annotated[str, Field(max_length=MAX_CATEGORY_LENGTH)] | None,
    AfterValidator(_category),
    Field(
        description="A catalog category (`GET /api/categories`): its full name, its last part, or a synonym, case "
        "ignored; anything else is a 400. Empty (or null) means any.",
        json_schema_extra={"pattern": "^[^\\u0000]*$"},
    ),
]


@dataclass(frozen=True)
class SearchMode(GroupedMetadata):
    """The ranking: `vector` (cosine) or `hybrid` (reciprocal rank fusion of vector and full-text ranks);
    null or `""` means `default` (SEARCH_MODE)."""

    default: str

    def _check(self, value: Any) -> str:
        if value is None or value == "":  # not `or`: false, 0, [] and {} are mistakes, not "the default"
            return self.default
        if not isinstance(value, str) or value not in SEARCH_MODES:
            raise rule("must be " + " or ".join(SEARCH_MODES))
        return value

    def __iter__(self) -> Iterator[Any]:
        yield BeforeValidator(self._check)
        documented = {
            "enum": [*SEARCH_MODES, "", None],
            "default": self.default,
            "description": "`vector` (cosine) or `hybrid` (reciprocal rank fusion of vector and full-text ranks); "
            "empty or null means the default (SEARCH_MODE).",
        }
        yield WithJsonSchema(documented, mode="validation")


def _price_range(min_price: float | None, max_price: float | None) -> None:
    if min_price is not None and max_price is not None and min_price > max_price:
        raise rule("must not exceed max_price", field="min_price")


class SearchFiltersInput(RequestModel):
    """Which products a search or a chat may return; `min_price` must not exceed `max_price`."""

    category: Category = None
    min_price: Price = None
    max_price: Price = None

    @model_validator(mode="after")
    def _min_not_above_max(self) -> SearchFiltersInput:
        _price_range(self.min_price, self.max_price)
        return self

    def to_filters(self) -> SearchFilters:
        return SearchFilters(self.category, self.min_price, self.max_price)


class SearchInput(RequestModel):
    """A search: the query string of `GET` or the JSON body of `POST` (numbers may arrive as text)."""

    # `k` and `mode` are bounded and defaulted by the settings: validate with api_models(limits).search.
    model_config = ConfigDict(json_schema_extra={"examples": [{"q": "keep my coffee hot on a cold morning", "k": 3}]})

    q: Annotated[str, Text(MAX_QUERY_LENGTH), Field(description="The text to search for.")]
    k: int
    mode: str
    category: Category = None
    min_price: Price = None
    max_price: Price = None

    @model_validator(mode="after")
    def _min_not_above_max(self) -> SearchInput:
        _price_range(self.min_price, self.max_price)
        return self

    def to_request(self) -> SearchRequest:
        return SearchRequest(self.q, self.k, SearchFilters(self.category, self.min_price, self.max_price), self.mode)


class SearchFiltersApplied(ResponseModel):
    category: str | None
    min_price: float | None
    max_price: float | None


class SearchTimings(ResponseModel):
    embed_ms: float = Field(ge=0)
    search_ms: float = Field(ge=0)


#: Characters of a product's description a search or chat result carries; the whole product is at
#: ``GET /api/products/{id}``.
DESCRIPTION_PREVIEW_CHARS = 300


class Variant(ResponseModel):
    """Another size or colour of a grouped result's model."""

    id: str
    name: str | None = None
    price: float | None = None


class SearchHit(ResponseModel):
    """A bounded projection of a live product (never the whole document or its vector) and its score."""

    id: str
    name: str | None = None
    sku: str | None = None
    category_name: str | None = None
    price: float | None = None
    description: str | None = Field(default=None, description=f"At most {DESCRIPTION_PREVIEW_CHARS} characters.")
    score: float = Field(description="Ranking score (cosine similarity plus the catalog-structure signals).")
    variants: list[Variant] = Field(
        default_factory=list, description="Other sizes/colours of the same model, grouped into this result."
    )

    @classmethod
    def of(cls, document: dict[str, Any], score: float, variants: list[dict[str, Any]]) -> SearchHit:
        """The projection of a stored product."""

        def text(name: str) -> str | None:
            value = document.get(name)
            return value if isinstance(value, str) else None

        price = document.get("price")
        description = text("description")
        return cls(
            id=str(document["id"]),
            name=text("name"),
            sku=text("sku"),
            category_name=text("category_name"),
            price=float(price) if isinstance(price, int | float) and not isinstance(price, bool) else None,
            description=description[:DESCRIPTION_PREVIEW_CHARS] if description is not None else None,
            score=round(score, 6),
            variants=[Variant.model_validate(variant) for variant in variants],
        )


class SearchResponse(ResponseModel):
    """The nearest live products, best first."""

    query: str
    k: int = Field(ge=1)
    filters: SearchFiltersApplied
    mode: Annotated[str, enum_of(*SEARCH_MODES)]
    understood: dict[str, Any] = Field(
        default_factory=dict,
        description="How the question was read: price bounds, sort, category, identifiers, attributes, kind.",
    )
    no_match: bool = Field(default=False, description="Nothing in the catalog is what was asked for.")
    results: list[SearchHit]
    closest: list[SearchHit] = Field(
        default_factory=list, description="When a price bound excluded everything asked for: the nearest outside it."
    )
    timings: SearchTimings


class CategoryCount(ResponseModel):
    name: str
    count: int = Field(ge=1, description="Live (not deleted) products in the category.")


class CategoryList(ResponseModel):
    """``GET /api/categories``: the catalog's own categories, largest first."""

    categories: list[CategoryCount]
