"""Glue for the Cosmos DB change-feed trigger that keeps product vectors current."""

import azure.functions as func

from blueprints.invocation import measured
from composition.services import get_services
from composition.settings_text import binding_flag

bp = func.Blueprint()


@bp.function_name("embed_changed_products")
# Retry forever with backoff: a batch only fails when the embedder keeps failing, and dropping it would lose changes.
@bp.retry(
    strategy="exponential_backoff", max_retry_count="-1", minimum_interval="00:00:02", maximum_interval="00:02:00"
)
@bp.cosmos_db_trigger(
    arg_name="documents",
    connection="COSMOS_CONNECTION",
    database_name="%COSMOS_DATABASE%",
    container_name="%COSMOS_PRODUCTS_CONTAINER%",
    lease_container_name="%COSMOS_LEASES_CONTAINER%",
    # Off by default: lease auto-creation needs account keys, which Entra-only accounts refuse.
    create_lease_container_if_not_exists=binding_flag("COSMOS_CREATE_LEASE_CONTAINER", False),
    max_items_per_invocation=100,
    feed_poll_delay=1000,
    start_from_beginning=True,  # type: ignore[arg-type]  # azure-functions 1.26 annotates it as a time
)
async def embed_changed_products(documents: func.DocumentList) -> None:
    """Embed the changed products of one change-feed batch and write the vectors back, into each slot kept current
    (both while a model migration fills the second)."""
    from catalog.embedding_sync import embed_into_slots  # on first use: importing the app stays cheap

    services = await get_services()
    changed = [document.to_dict() for document in documents]
    async with measured(services, "embed_changed_products", **{"catalog.documents": len(documents)}) as span:
        pipelines = await services.embedding_pipelines()
        for pipeline, report in zip(pipelines, await embed_into_slots(pipelines, changed), strict=True):
            slot = pipeline.recipe.slot.name
            span.set(**{f"catalog.pipeline.{slot}.{name}": count for name, count in report.counts().items()})
