"""Glue for keeping embeddings current: the reconcile timer and the operator routes under ``/api/embeddings``.

The routes are ``AuthLevel.ADMIN`` for now (the host's master key in Azure; the local hosts ask for no key), and
under Easy Auth the caller must hold the operator role too: they count every product's stamp and can start paid
embedding work.


Registration only: each function hands its input to :mod:`blueprints.handlers.embeddings_admin`, imported on first
use."""

import azure.functions as func

from blueprints.lazy import direct, dispatch
from composition.settings_text import binding_flag

bp = func.Blueprint()


@bp.function_name("reconcile_embeddings")
# Off in Azure (every new instance would run it); the local host turns it on: a catalog is reconciled as it starts.
@bp.timer_trigger(
    schedule="%RECONCILE_SCHEDULE%", arg_name="timer", run_on_startup=binding_flag("RECONCILE_ON_STARTUP", False)
)
async def reconcile_embeddings(timer: func.TimerRequest) -> None:
    return await direct(timer, "blueprints.handlers.embeddings_admin", "_reconcile_embeddings")


@bp.function_name("embeddings_status")
@bp.route(route="embeddings/status", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def embeddings_status(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.embeddings_admin", "_status")


@bp.function_name("embeddings_failed")
@bp.route(route="embeddings/failed", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def embeddings_failed(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.embeddings_admin", "_failed")


@bp.function_name("embeddings_reembed")
@bp.route(route="embeddings/reembed", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def embeddings_reembed(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.embeddings_admin", "_reembed")
