"""Every container the app uses: names from settings, partition keys, the product vector path, and the full
definitions (policies, TTL) that the bootstrap creates and ``infra/`` Bicep is checked against."""

from __future__ import annotations

from typing import TYPE_CHECKING

from catalog.model import SLOT_A, SLOT_B
from composition.settings import Settings
from store.base import ContainerSpec, VectorSpec

if TYPE_CHECKING:
    from store.cosmos.definitions import ContainerDefinition

#: Where the vector lives on a product document (a Cosmos DB vector embedding policy path).
VECTOR_PATH = SLOT_A.vector_path


def container_specs(settings: Settings, dimensions: int) -> dict[str, ContainerSpec]:
    """Every container the app uses, by name, with partition keys and the vector policy for ``dimensions``."""
    s = settings
    vector = VectorSpec(path=VECTOR_PATH, dimensions=dimensions)
    # The second slot a model migration fills (catalog.migration). Cosmos DB fixes a vector path's dimensions when
    # the container is made, so it is provisioned up front at the same size; the embedded store takes any size.
    migration_slot = VectorSpec(path=SLOT_B.vector_path, dimensions=dimensions)
    specs = [
        ContainerSpec(
            s.COSMOS_PRODUCTS_CONTAINER,
            "/id",
            vector,
            full_text_paths=tuple("/" + f for f in s.EMBED_FIELDS),
            extra_vectors=(migration_slot,),
        ),
        ContainerSpec(s.COSMOS_LEASES_CONTAINER, "/id"),
        ContainerSpec(s.COSMOS_DEADLETTER_CONTAINER, "/product_id"),
        # Cache entries keep their question's vector in the slot search uses (a switch may change its size).
        ContainerSpec(s.COSMOS_CACHE_CONTAINER, "/scope", vector, extra_vectors=(migration_slot,)),
        ContainerSpec(s.COSMOS_HISTORY_CONTAINER, "/session_id"),
    ]
    return {spec.name: spec for spec in specs}


_CONTAINER_SETTINGS = (
    "COSMOS_PRODUCTS_CONTAINER",
    "COSMOS_LEASES_CONTAINER",
    "COSMOS_DEADLETTER_CONTAINER",
    "COSMOS_CACHE_CONTAINER",
    "COSMOS_HISTORY_CONTAINER",
)


def container_definitions(settings: Settings, dimensions: int) -> list[ContainerDefinition]:
    """Every container the app uses, fully defined: name, partition key, vector and full-text policies, indexing
    policy, TTL.

    The chat cache and history containers have TTL on without a default (``default_ttl=-1``), so each entry and turn
    expires by its own ``ttl`` (CHAT_CACHE_TTL_SECONDS, CHAT_HISTORY_TTL_SECONDS). Vector containers get
    ``COSMOS_VECTOR_INDEX_TYPE``; the products container gets a full-text policy and indexes on the fields it embeds
    (``EMBED_FIELDS``), for hybrid search.
    """
    # Imported here: the Cosmos DB SDK costs the function app's cold start ~0.3 s, and only provisioning needs it.
    from store.cosmos.definitions import definition_for_spec

    if dimensions < 1:
        raise ValueError(f"dimensions must be at least 1, not {dimensions}")
    setting_of = {getattr(settings, key): key for key in _CONTAINER_SETTINGS}
    index_type = str(settings.COSMOS_VECTOR_INDEX_TYPE)
    return [
        definition_for_spec(
            spec,
            index_type,
            default_ttl=-1 if name in (settings.COSMOS_CACHE_CONTAINER, settings.COSMOS_HISTORY_CONTAINER) else None,
            setting=setting_of.get(name),
        )
        for name, spec in container_specs(settings, dimensions).items()
    ]
