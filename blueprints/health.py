"""HTTP glue for ``GET /api/health``."""

import azure.functions as func

from blueprints.http import handle, json_response
from composition.services import Services

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req, _health)


async def _health(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Liveness plus the backends in use, so a user can see which store and model answer."""
    settings = services.settings
    return json_response(
        {
            "status": "ok",
            "store": str(settings.STORE_BACKEND),
            "pipeline": services.pipeline_totals.counts(),
            "embedding": {
                "backend": str(settings.EMBEDDING_BACKEND),
                "model": services.embedder.model_id,
                "dimensions": services.embedder.dimensions,
                "requests_sent": services.embedder.requests_sent,
            },
        }
    )
