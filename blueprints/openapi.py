"""``GET /api/openapi.json``: the document :mod:`api.openapi` generates from the models, with this app's limits.

Registration only: each function hands its request to :mod:`blueprints.handlers.openapi`, imported on first use."""

import azure.functions as func

from blueprints.lazy import dispatch

bp = func.Blueprint()


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.openapi", "_openapi")
