"""Writing and reading products: what the HTTP API and the bulk loader call.

A write replaces the client's fields and keeps the pipeline's (``embedding``, ``embedding_info``), so re-sending an
unchanged description costs no embedding; the change feed then takes the new version to the pipeline. Writes are
conditional on the version read, so a concurrent pipeline write-back is never undone by a client write, and a
client's own ``If-Match`` gives it optimistic concurrency.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog.errors import PreconditionError, ProductNotFoundError, ValidationError
from catalog.model import (
    DELETED_AT_FIELD,
    DELETED_FIELD,
    EMBEDDING_FIELD,
    PIPELINE_FIELDS,
    SLOT_A,
    VECTOR_FIELDS,
    EmbeddingRecipe,
    VectorSlot,
    client_fields,
    utc_timestamp,
    validate_product,
)
from store.base import ConflictError, DocumentContainer, PatchOperation, PreconditionFailedError

#: Attempts at a read-then-conditional-write before giving up on a hot document.
WRITE_ATTEMPTS = 8
#: Products written at once by a bulk request.
BULK_CONCURRENCY = 16


@dataclass(frozen=True)
class WriteResult:
    """A stored product and whether this write created it, changed it, or found it unchanged.

    In a bulk write, an item that could not be written has no document, ``outcome`` ``"failed"`` and the
    ``error`` a client would have got for it alone (a stale ``If-Match``, a product that kept changing).
    """

    document: dict[str, Any]
    outcome: str  # "created" | "updated" | "unchanged" | "failed"
    error: str | None = None
    status: int = 200

    @property
    def etag(self) -> str | None:
        return content_etag(self.document) if self.document else None


@dataclass(frozen=True)
class LoadReport:
    written: int
    unchanged: int


class ProductCatalog:
    """Product reads and writes over the products container.

    Args:
        products: the products container.
        embed_fields: the fields that make up the embedded text (for the status shown on reads).
        model_id: the embedder's model id (for the status shown on reads).
        dimensions: the embedder's vector size.
    """

    def __init__(
        self,
        products: DocumentContainer,
        embed_fields: Sequence[str],
        model_id: str,
        dimensions: int,
        slot: VectorSlot = SLOT_A,
    ) -> None:
        self.products = products
        self.embed_fields = tuple(embed_fields)
        self.model_id = model_id
        self.dimensions = dimensions
        #: The slot search ranks by: ``embedding_status`` and ``include_vector`` speak of it.
        self.recipe = EmbeddingRecipe(self.embed_fields, model_id, dimensions, slot)

    async def get(self, product_id: str) -> dict[str, Any]:
        """The stored product, soft-deleted ones included.

        Raises:
            ProductNotFoundError: there is none.
        """
        document = await self.products.read(product_id, product_id)
        if document is None:
            raise ProductNotFoundError(f"product {product_id!r} not found", field="id")
        return document

    async def put(self, product_id: str, body: Any, *, if_match: str | None = None) -> WriteResult:
        """Create or replace a product from a client's JSON.

        Raises:
            ValidationError: a field is invalid (named).
            PreconditionError: ``if_match`` is not the stored ETag (or there is no stored product).
        """
        product = validate_product(body, product_id=product_id)
        return await self._write(product, if_match=if_match)

    async def put_many(self, bodies: Sequence[Any], if_match: Mapping[str, str] | None = None) -> list[WriteResult]:
        """Validate every product first (nothing is written if one is invalid), then write them all; one result per
        item, in order, saying what happened to it — an item that could not be written (its ``If-Match`` is stale,
        it kept changing) is reported, never silently skipped, and does not stop the others.

        Args:
            bodies: the products.
            if_match: ETags by product id, for the items that must still be at that version.

        Raises:
            ValidationError: naming ``products[i].field`` of the first invalid product.
        """
        products = [validate_product(body, where=f"products[{index}].") for index, body in enumerate(bodies)]
        seen: set[str] = set()
        for index, product in enumerate(products):
            if product["id"] in seen:
                raise ValidationError(
                    f"products[{index}].id {product['id']!r} appears twice", field=f"products[{index}].id"
                )
            seen.add(product["id"])
        semaphore = asyncio.Semaphore(BULK_CONCURRENCY)

        expected = dict(if_match or {})
        unknown = sorted(set(expected) - seen)
        if unknown:
            raise ValidationError(f"if_match names {unknown[0]!r}, which is not in products", field="if_match")

        async def write(product: dict[str, Any]) -> WriteResult:
            async with semaphore:
                try:
                    return await self._write(product, if_match=expected.get(product["id"]))
                except PreconditionError as error:
                    return WriteResult({}, "failed", error.message, error.status)

        return list(await asyncio.gather(*(write(product) for product in products)))

    async def soft_delete(self, product_id: str, *, if_match: str | None = None) -> dict[str, Any]:
        """Mark a product deleted: it leaves search at once and stays readable; a later PUT restores it.

        Raises:
            ProductNotFoundError: there is none.
            PreconditionError: ``if_match`` is not the stored ETag.
        """
        for _ in range(WRITE_ATTEMPTS):
            current = await self.get(product_id)
            if not _matches(if_match, current):
                raise PreconditionError("If-Match does not match the stored ETag", field="If-Match")
            if current.get(DELETED_FIELD) is True:
                return current
            operations = [
                PatchOperation("set", "/" + DELETED_FIELD, True),
                PatchOperation("set", "/" + DELETED_AT_FIELD, utc_timestamp()),
            ]
            try:
                return await self.products.patch(product_id, product_id, operations, if_match=current["_etag"])
            except PreconditionFailedError:
                continue
        raise PreconditionError("the product kept changing; try again", field="id")

    async def _write(self, product: dict[str, Any], *, if_match: str | None = None) -> WriteResult:
        product_id = product["id"]
        for _ in range(WRITE_ATTEMPTS):
            current = await self.products.read(product_id, product_id)
            if not _matches(if_match, current):
                raise PreconditionError("If-Match does not match the stored ETag", field="If-Match")
            if current is None:
                try:
                    return WriteResult(await self.products.create(product), "created")
                except ConflictError:
                    continue
            if client_fields(current) == product and current.get(DELETED_FIELD) is not True:
                return WriteResult(current, "unchanged")
            replacement = dict(product)
            # The pipeline's fields survive a client write; the hash tells whether they still fit the new text.
            for key in PIPELINE_FIELDS:
                if key in current:
                    replacement[key] = current[key]
            try:
                stored = await self.products.replace(replacement, if_match=current["_etag"])
            except PreconditionFailedError:
                # Someone wrote in between: the pipeline's write-back keeps the client's ETag (checked again on the
                # next attempt), a client's edit does not.
                continue
            return WriteResult(stored, "updated")
        raise PreconditionError("the product kept changing; try again", field="id")

    def view(self, document: Mapping[str, Any], *, include_vector: bool = False) -> dict[str, Any]:
        """What a client is shown: the product, its embedding status, the vector only when asked, and as ``_etag``
        the version of what the client wrote (:func:`content_etag`)."""
        shown = {key: value for key, value in document.items() if not key.startswith("_") or key == "_ts"}
        shown["_etag"] = content_etag(document)
        for field in VECTOR_FIELDS:
            shown.pop(field, None)
        if include_vector and self.recipe.slot.vector_field in document:
            shown[EMBEDDING_FIELD] = document[self.recipe.slot.vector_field]
        shown["embedding_status"] = self.recipe.status(document)
        return shown


async def load_products(catalog: ProductCatalog, products: Sequence[Mapping[str, Any]]) -> LoadReport:
    """Write ``products`` straight into the store (no HTTP), skipping those stored unchanged.

    Used by ``make run`` for the sample catalog and by ``python -m devhost load --direct``.
    """
    results = await catalog.put_many(list(products))
    unchanged = sum(1 for result in results if result.outcome == "unchanged")
    return LoadReport(written=len(results) - unchanged, unchanged=unchanged)


def content_etag(document: Mapping[str, Any]) -> str:
    """The ETag clients see: a hash of the fields they own plus whether the product is deleted.

    The pipeline's write-back of the vector changes the stored document (and its store ETag) but not this, so an
    ETag a client got from ``PUT``/``GET`` stays good for its next conditional write until someone changes what it
    wrote.
    """
    payload = json.dumps([client_fields(document), document.get(DELETED_FIELD) is True], sort_keys=True, default=str)
    return '"' + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32] + '"'


def _matches(if_match: str | None, current: Mapping[str, Any] | None) -> bool:
    """HTTP ``If-Match``: absent matches anything; ``*`` any stored product; else exactly its content ETag."""
    if if_match is None:
        return True
    if current is None:
        return False
    return if_match == "*" or content_etag(current) == if_match
