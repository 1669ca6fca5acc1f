"""HTTP glue for products: ``GET /api/products/{id}`` for anyone; ``PUT|DELETE /api/products/{id}`` and bulk
``POST /api/products`` for operators only (a function key in Azure, and the operator role under Easy Auth).

Registration only: each function hands its request to :mod:`blueprints.handlers.products`, imported on first use."""

import azure.functions as func

from blueprints.lazy import dispatch

bp = func.Blueprint()


@bp.function_name("product")
@bp.route(route="products/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def product(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.products", "_product")


@bp.function_name("product_write")
@bp.route(route="products/{id}", methods=["PUT", "DELETE"], auth_level=func.AuthLevel.FUNCTION)
async def product_write(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.products", "_product_write")


@bp.function_name("products_bulk")
@bp.route(route="products", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def products_bulk(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.products", "_products_bulk")
