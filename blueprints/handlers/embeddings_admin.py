"""Glue for keeping embeddings current: the reconcile timer and the operator routes under ``/api/embeddings``.

The routes are ``AuthLevel.ADMIN`` for now (the host's master key in Azure; the local hosts ask for no key), and
under Easy Auth the caller must hold the operator role too: they count every product's stamp and can start paid
embedding work.
"""

import azure.functions as func

from api.embeddings import (
    EmbeddingStatus,
    FailedProducts,
    FailedQuery,
    MigrationStatus,
    ReembedAccepted,
    ReembedInput,
    SlotStatus,
)
from api.validation import parse
from blueprints.http import json_response, read_json, require_operator
from blueprints.invocation import measured
from composition.services import Services, get_services


async def _reconcile_embeddings(timer: func.TimerRequest) -> None:
    """Embed what the change feed left behind: missing, stale, and retryable failed vectors (a bounded run per slot
    kept current: during a model migration, the second one is the backfill of the new model's vectors)."""
    services = await get_services()
    async with measured(services, "reconcile_embeddings"):
        for reconciler in await services.reconcilers():
            await reconciler.reconcile()


async def _status(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Counts by status and by (model, dimensions), the oldest pending product, the last reconcile report, and the
    model migration's state."""
    require_operator(req, services)
    return json_response(await embedding_status(services))


async def embedding_status(services: Services) -> EmbeddingStatus:
    """The status of the active slot, with the migration's state and each slot's counts when one was ever run."""
    views = await services.embedding_statuses()
    summaries = [await view.summary() for view in views]
    state = await (await services.migrations()).state()
    migration = None
    if state.recorded:
        slots = [
            SlotStatus(slot=s.slot, model=s.model, dimensions=s.dimensions, by_status=s.by_status)  # type: ignore[arg-type]
            for s in summaries
        ]
        migration = MigrationStatus(
            phase=state.phase,
            active=state.active,  # type: ignore[arg-type]
            target=state.target,  # type: ignore[arg-type]
            recorded=True,
            started_at=state.started_at,
            switched_at=state.switched_at,
            slots=slots,
            history=state.history,
        )
    return EmbeddingStatus.of(summaries[0], migration)


async def _failed(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """One page of failed products with their reasons and dead-letter records."""
    require_operator(req, services)
    query = parse(FailedQuery, dict(req.params))
    page = await (await services.embedding_status()).failed(query.limit, query.continuation)
    return json_response(FailedProducts.model_validate(page, from_attributes=True))


async def _reembed(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Re-embed products by id (a few at once, more through the change feed), by filter, or all of them."""
    require_operator(req, services)
    body = parse(ReembedInput, read_json(req, services))
    reembedder = await services.reembedder()
    if body.ids is not None:
        result = await reembedder.reembed_ids(body.ids)
    else:
        result = await reembedder.reembed_matching(
            category=body.filter.category if body.filter else None,
            status=body.filter.status if body.filter else None,
            everything=body.all is True,
            continuation=body.continuation,
        )
    return json_response(ReembedAccepted.model_validate(result, from_attributes=True), status=202)
