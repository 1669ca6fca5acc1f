"""HTTP glue for ``GET /api/health``.

Registration only: each function hands its request to :mod:`blueprints.handlers.health`, imported on first use."""

import azure.functions as func

from blueprints.lazy import dispatch

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.health", "_health")
