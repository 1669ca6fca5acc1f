"""HTTP glue for products: ``PUT|GET|DELETE /api/products/{id}`` and bulk ``POST /api/products``."""

import azure.functions as func

from api.products import BulkResult, Product, ProductBody, ProductQuery, ProductWritten
from api.validation import parse
from blueprints.http import handle, json_response, read_json, request_models, route_param
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
        query = parse(ProductQuery, dict(req.params))
        document = await catalog.get(product_id)
        return _product_response(Product.model_validate(catalog.view(document, include_vector=query.include_vector)))
    if req.method == "DELETE":
        document = await catalog.soft_delete(product_id, if_match=if_match)
        return _product_response(Product.model_validate(catalog.view(document)))
    body = parse(ProductBody, read_json(req, services), context={"product_id": product_id})
    result = await catalog.put(product_id, body.root, if_match=if_match)
    written = ProductWritten.model_validate({**catalog.view(result.document), "outcome": result.outcome})
    return _product_response(written, 201 if result.outcome == "created" else 200)


@bp.function_name("products_bulk")
@bp.route(route="products", methods=["POST"])
async def products_bulk(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req, _products_bulk)


async def _products_bulk(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Create or replace many products at once: a JSON list, or ``{"products": [...]}``."""
    body = parse(request_models(services).bulk_products, read_json(req, services))
    results = await (await services.catalog()).put_many(body.root)
    outcomes = [result.outcome for result in results]
    return json_response(
        BulkResult(
            created=outcomes.count("created"),
            updated=outcomes.count("updated"),
            unchanged=outcomes.count("unchanged"),
            ids=[result.document["id"] for result in results],
        )
    )


def _product_response(product: Product, status: int = 200) -> func.HttpResponse:
    return json_response(product, status, headers={"ETag": product.etag} if product.etag is not None else None)
