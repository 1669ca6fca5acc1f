"""Glue for the cost and savings ledger: ``GET /api/metrics``, an operator route like ``/api/embeddings/status``.

Registration only: the handler is :mod:`blueprints.handlers.metrics`, imported on first use.
"""

import azure.functions as func

from blueprints.lazy import dispatch

bp = func.Blueprint()


@bp.function_name("usage_metrics")
@bp.route(route="metrics", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def usage_metrics(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.metrics", "_metrics")
