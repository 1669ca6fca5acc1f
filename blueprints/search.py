"""HTTP glue for ``GET|POST /api/search`` and ``GET /api/categories``.

Registration only: each function hands its request to :mod:`blueprints.handlers.search`, imported on first use."""

import azure.functions as func

from blueprints.lazy import dispatch

bp = func.Blueprint()


@bp.function_name("search")
@bp.route(route="search", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def search(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.search", "_search")


@bp.function_name("categories")
@bp.route(route="categories", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def categories(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.search", "_categories")
