"""HTTP glue for products: ``GET /api/products/{id}`` for anyone; ``PUT|DELETE /api/products/{id}`` and bulk
``POST /api/products`` for operators only (a function key in Azure, and the operator role under Easy Auth)."""

from typing import Any

import azure.functions as func

from api.products import BulkItem, BulkResult, Product, ProductBody, ProductQuery, ProductWritten
from api.validation import parse
from blueprints.http import json_response, read_json, request_models, require_operator, route_param
from catalog.errors import ValidationError
from composition.services import Services


async def _product(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Read one product with its embedding status (a shopper may; writing is another door)."""
    product_id = route_param(req, "id")
    catalog = await services.catalog()
    query = parse(ProductQuery, dict(req.params))
    document = await catalog.get(product_id)
    return _product_response(Product.model_validate(catalog.view(document, include_vector=query.include_vector)))


async def _product_write(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Create or replace, or soft-delete, one product (operators only)."""
    require_operator(req, services)
    product_id = route_param(req, "id")
    catalog = await services.catalog()
    if_match = req.headers.get("If-Match")
    if req.method == "DELETE":
        document = await catalog.soft_delete(product_id, if_match=if_match)
        (await services.categories()).forget()
        return _product_response(Product.model_validate(catalog.view(document)))
    body = parse(ProductBody, read_json(req, services), context={"product_id": product_id})
    result = await catalog.put(product_id, body.root, if_match=if_match)
    (await services.categories()).forget()  # a new category is searchable at once
    written = ProductWritten.model_validate({**catalog.view(result.document), "outcome": result.outcome})
    return _product_response(written, 201 if result.outcome == "created" else 200)


async def _products_bulk(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Create or replace many products at once: a JSON list, or ``{"products": [...]}`` (operators only)."""
    require_operator(req, services)
    raw = read_json(req, services)
    body = parse(request_models(services).bulk_products, raw)
    results = await (await services.catalog()).put_many(body.root, if_match=_if_match_map(raw))
    (await services.categories()).forget()
    outcomes = [result.outcome for result in results]
    items = [
        BulkItem(id=product["id"], outcome=result.outcome, etag=result.etag, error=result.error)
        if result.outcome != "failed"
        else BulkItem(id=product["id"], outcome="failed", error=result.error, status=result.status)
        for product, result in zip(body.root, results, strict=True)
    ]
    summary = BulkResult(
        created=outcomes.count("created"),
        updated=outcomes.count("updated"),
        unchanged=outcomes.count("unchanged"),
        failed=outcomes.count("failed"),
        ids=[item.id for item in items if item.outcome != "failed"],
        items=items,
    )
    return json_response(summary, 207 if summary.failed else 200)


def _if_match_map(raw: Any) -> dict[str, str] | None:
    """``{"products": [...], "if_match": {id: etag}}``: the ETags some items must still have."""
    wanted = raw.get("if_match") if isinstance(raw, dict) else None
    if wanted is None:
        return None
    if not isinstance(wanted, dict) or not all(isinstance(v, str) and v for v in wanted.values()):
        raise ValidationError("if_match must be an object of product id to ETag", field="if_match")
    return {str(key): value for key, value in wanted.items()}


def _product_response(product: Product, status: int = 200) -> func.HttpResponse:
    return json_response(product, status, headers={"ETag": product.etag} if product.etag is not None else None)
