"""HTTP glue for ``GET /api/health``."""

import asyncio
import logging

import azure.functions as func

from api.status import ChatHealth, EmbeddingHealth, Health, HealthDegraded
from blueprints.http import json_response
from composition.services import Services

log = logging.getLogger(__name__)


#: Read from the products container on every health check; a product of that id need not exist.
PROBE_ID = "health-probe"
#: A store that has not answered a point read by then is not healthy (the SDK's own retries can take longer).
PROBE_TIMEOUT_SECONDS = 5.0


async def _health(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Alive and able to read the store (else 503 degraded), plus the backends in use, so a user can see which store
    and model answer."""
    settings = services.settings
    try:
        products = await services.products()
        await asyncio.wait_for(products.read(PROBE_ID, PROBE_ID), PROBE_TIMEOUT_SECONDS)  # not found is healthy
    except Exception:
        log.exception("health: the products container cannot be read (store %s)", settings.STORE_BACKEND)
        reason = f"the products store ({settings.STORE_BACKEND}) cannot be read; the server log has the details"
        return json_response(HealthDegraded(status="degraded", reason=reason), status=503)
    return json_response(
        Health(
            status="ok",
            store=str(settings.STORE_BACKEND),
            pipeline=services.pipeline_totals.counts(),
            embedding=EmbeddingHealth(
                backend=str(settings.EMBEDDING_BACKEND),
                model=services.embedder.model_id,
                dimensions=services.embedder.dimensions,
                requests_sent=services.embedder.requests_sent,
            ),
            chat=ChatHealth(
                backend=str(settings.CHAT_BACKEND),
                model=services.chat_model.model_id,
                language_model=services.chat_model.is_language_model,
            ),
        )
    )
