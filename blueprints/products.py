"""HTTP glue for products: ``PUT|GET|DELETE /api/products/{id}`` and bulk ``POST /api/products``."""

import azure.functions as func

from blueprints.http import flag, handle, json_response, read_json, route_param
from catalog.errors import PayloadTooLargeError, ValidationError
from composition.services import Services

bp = func.Blueprint()


@bp.function_name("product")
@bp.route(route="products/{id}", methods=["GET", "PUT", "DELETE"])
async def product(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req, _product)


async def _product(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Read (with its embedding status), create or replace, or soft-delete one product."""
    product_id = route_param(req, "id")
    catalog = await services.catalog()
    if_match = req.headers.get("If-Match")
    if req.method == "GET":
        document = await catalog.get(product_id)
        return _document_response(catalog.view(document, include_vector=flag(req, "include_vector")))
    if req.method == "DELETE":
        document = await catalog.soft_delete(product_id, if_match=if_match)
        return _document_response(catalog.view(document))
    result = await catalog.put(product_id, read_json(req, services), if_match=if_match)
    status = 201 if result.outcome == "created" else 200
    return _document_response({**catalog.view(result.document), "outcome": result.outcome}, status)


@bp.function_name("products_bulk")
@bp.route(route="products", methods=["POST"])
async def products_bulk(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req, _products_bulk)


async def _products_bulk(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Create or replace many products at once: a JSON list, or ``{"products": [...]}``."""
    body = read_json(req, services)
    products = body.get("products") if isinstance(body, dict) else body
    if not isinstance(products, list):
        raise ValidationError('body must be a JSON list of products or {"products": [...]}', field="products")
    limit = services.settings.MAX_BULK_PRODUCTS
    if len(products) > limit:
        raise PayloadTooLargeError(f"products has {len(products)} items; the limit is {limit}", field="products")
    if not products:
        raise ValidationError("products must not be empty", field="products")
    catalog = await services.catalog()
    results = await catalog.put_many(products)
    counts = {
        outcome: sum(1 for r in results if r.outcome == outcome) for outcome in ("created", "updated", "unchanged")
    }
    return json_response({**counts, "ids": [r.document["id"] for r in results]})


def _document_response(document: dict[str, object], status: int = 200) -> func.HttpResponse:
    etag = document.get("_etag")
    return json_response(document, status, headers={"ETag": etag} if isinstance(etag, str) else None)
