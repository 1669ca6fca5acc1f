"""``/api/products``: a product as a client writes it, as it reads it back, and the bulk request.

The product rules have one owner, :func:`catalog.model.validate_product` (the bulk loader uses it too): the request
models call it, and its :class:`catalog.errors.ValidationError` (not a ``ValueError``, so pydantic lets it through)
reaches the client with its own field path. :class:`ProductInput` only documents those rules for the OpenAPI
document, from the same constants.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, RootModel, ValidationInfo, create_model

from api.body import MAX_JSON_DEPTH
from api.fields import DOT_SEGMENTS, NOT_BLANK_PATTERN, Flag, enum_of
from api.validation import RequestModel, ResponseModel, rule
from catalog.model import (
    MAX_CATEGORY_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    SERVER_FIELDS,
    STATUS_EMBEDDED,
    STATUS_FAILED,
    STATUS_PENDING,
    validate_product,
)

_NOT_BLANK = {"minLength": 1, "pattern": NOT_BLANK_PATTERN}
#: What validate_product's id check allows, as JSON Schema: no / \ ? #, no surrounding whitespace, not . or ..
ProductId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        pattern=r"^[^/\\?#\s]([^/\\?#]*[^/\\?#\s])?$",
        json_schema_extra={"not": {"enum": list(DOT_SEGMENTS)}},
        description="No `/ \\ ? #`, no leading or trailing whitespace, not `.` or `..`.",
    ),
]


def _product_rules(schema: dict[str, Any]) -> None:
    """What a JSON schema property cannot say by itself: the fields a client may not write."""
    schema["description"] = (
        "Any other fields of yours are kept, except names starting with `_` and the service's fields "
        f"({', '.join(sorted(SERVER_FIELDS))}). Nested at most {MAX_JSON_DEPTH} levels."
    )
    schema["properties"].update(
        {name: {"not": {}, "description": "Written by the service only."} for name in sorted(SERVER_FIELDS)}
    )


class ProductInput(BaseModel):
    """A product as a client writes it (documentation of `catalog.model.validate_product`, which enforces it)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_product_rules)

    id: ProductId | None = Field(default=None, description="Optional; when present it must equal the id in the URL.")
    name: Annotated[str, Field(max_length=MAX_NAME_LENGTH, json_schema_extra=_NOT_BLANK)]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH, json_schema_extra=_NOT_BLANK)]
    category_name: Annotated[str, Field(max_length=MAX_CATEGORY_LENGTH)] | None = None
    price: Annotated[float, Field(ge=0)] | None = None
    tags: list[str] | None = None


class BulkProductInput(ProductInput):
    """A product with its `id`."""

    id: ProductId


def _product_for_url(body: Any, info: ValidationInfo) -> dict[str, Any]:
    return validate_product(body, product_id=(info.context or {}).get("product_id"))


_EXAMPLE: dict[str, Any] = {
    "name": "Camp Kettle",
    "description": "A 1 L aluminium kettle for camp stoves.",
    "price": 24.5,
}


class ProductBody(RootModel[dict[str, Any]]):
    """A product's fields; an `id` in the body must equal the one in the URL."""

    # Validate with context={"product_id": <the URL's id>}.
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    root: Annotated[dict[str, Any], PlainValidator(_product_for_url, json_schema_input_type=ProductInput)]


class BulkProductsBody(RootModel[list[dict[str, Any]]]):
    """Products with their ids: a list, or `{"products": [...]}`; every one is validated before any is written."""

    # Bounded by MAX_BULK_PRODUCTS: validate with api_models(limits).bulk_products.
    model_config = ConfigDict(json_schema_extra={"examples": [[{"id": "kettle-2", **_EXAMPLE}]]})


def bulk_products_body(limit: int) -> type[BulkProductsBody]:
    """:class:`BulkProductsBody` for at most ``limit`` products (more is a 413 naming ``products``)."""

    def validate(raw: Any) -> list[dict[str, Any]]:
        products = raw.get("products") if isinstance(raw, dict) else raw
        if not isinstance(products, list):
            raise rule('must be a JSON list of products or {"products": [...]}', field="products")
        if len(products) > limit:
            raise rule(f"has {len(products)} items; the limit is {limit}", field="products", too_large=True)
        if not products:
            raise rule("must not be empty", field="products")
        return [validate_product(body, where=f"products[{index}].") for index, body in enumerate(products)]

    listed = Annotated[list[BulkProductInput], Field(min_length=1, max_length=limit)]
    etags = Annotated[
        dict[str, str] | None,
        Field(description="ETags by product id: those items are written only if still at that version."),
    ]
    wrapped = create_model(
        "BulkProducts", __doc__='`{"products": [...], "if_match"?: {id: etag}}`', products=(listed, ...),
        if_match=(etags, None),
    )  # fmt: skip
    sent = listed | wrapped
    root = Annotated[list[dict[str, Any]], PlainValidator(validate, json_schema_input_type=sent)]
    return create_model(
        "BulkProductsBody", __base__=BulkProductsBody, __doc__=BulkProductsBody.__doc__, root=(root, ...)
    )


class ProductPath(RequestModel):
    """The path of `/api/products/{id}`."""

    id: Annotated[ProductId, Field(examples=["kettle-1"])]


class ProductQuery(RequestModel):
    """The query string of `GET /api/products/{id}`."""

    # The documented default is the text a query string would carry.
    include_vector: Annotated[
        Flag, Field(description="Add the vector (`embedding`).", json_schema_extra={"default": "false"})
    ] = False


class EmbeddingInfo(ResponseModel):
    """What the pipeline wrote about the product's vector."""

    model_config = ConfigDict(extra="allow")

    status: Annotated[str, enum_of(STATUS_EMBEDDED, STATUS_FAILED, STATUS_PENDING)] | None = Field(
        default=None, description="`pending` only after a re-embed request (`requested_at`), until it is embedded."
    )
    model: str | None = None
    dimensions: int | None = None
    fields: list[str] | None = Field(default=None, description="The product fields the embedded text was made of.")
    content_hash: str | None = None
    embedded_at: str | None = None
    truncated: bool | None = None
    error: str | None = Field(default=None, description="Why it failed (failed only).")
    retryable: bool | None = Field(default=None, description="A later try may pass (failed only).")
    attempts: int | None = Field(default=None, description="Tries of this text so far (failed only).")
    requested_at: str | None = Field(default=None, description="When a re-embed was asked for (pending only).")


class Product(ResponseModel):
    """A stored product as a client sees it: every field the client wrote, and the service's."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str
    embedding_status: Annotated[str, enum_of(STATUS_PENDING, STATUS_EMBEDDED, STATUS_FAILED)]
    etag: str | None = Field(default=None, alias="_etag", description="The stored version (for `If-Match`).")
    ts: int | None = Field(default=None, alias="_ts")
    deleted: bool | None = None
    deleted_at: str | None = None
    embedding_info: EmbeddingInfo | None = None
    embedding: list[float] | None = Field(default=None, description="Only with `?include_vector=true`.")


class ProductWritten(Product):
    """The stored product and what the write did."""

    outcome: Annotated[str, enum_of("created", "updated", "unchanged")]


class BulkItem(ResponseModel):
    """What happened to one item of a bulk write."""

    id: str
    outcome: Annotated[str, enum_of("created", "updated", "unchanged", "failed")]
    etag: str | None = Field(default=None, description="The stored version (for `If-Match`), when written.")
    error: str | None = Field(default=None, description="Why it was not written (failed only).")
    status: int | None = Field(default=None, description="The status the item alone would have had (failed only).")


class BulkResult(ResponseModel):
    """How many products were created, updated, found unchanged or not written, and each item's outcome (in the
    order sent). HTTP 207 when any item failed: the others were written."""

    created: int = Field(ge=0)
    updated: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    failed: int = Field(default=0, ge=0)
    ids: list[str]
    items: list[BulkItem] = Field(default_factory=list)
