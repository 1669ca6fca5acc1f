"""Cosmos DB provisioning: create the database and containers when missing, check and update existing ones.

Idempotent: existing containers are checked against their definitions (:mod:`store.cosmos.definitions`), and left
alone when they fit. A container that differs only in its full-text policy or full-text indexes is updated in place
(``replace_container``, keeping everything else it has), which starts an online index transformation; hybrid search
uses the new index once it completes. Any other difference fails with what to do.

Creating containers is a management operation: it needs key auth (``COSMOS_AUTH=key``) or Azure Resource Manager
(``azd up``, ``az cosmosdb sql container create``). With Entra ID (``COSMOS_AUTH=identity``) the data-plane roles
can read container properties, so the command still verifies existing containers but cannot create missing ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from azure.cosmos import PartitionKey
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceExistsError, CosmosResourceNotFoundError

from store.cosmos.definitions import (
    ContainerDefinition,
    ContainerMismatchError,
    container_differences,
    is_immutable,
    is_updatable_in_place,
    mismatch_message,
)

if TYPE_CHECKING:
    from azure.cosmos.aio import CosmosClient


def _management_hint(error: CosmosHttpResponseError) -> str:
    if error.status_code == 403:
        return (
            " Entra ID data-plane roles cannot create databases or containers: run this command with "
            "COSMOS_AUTH=key and COSMOS_KEY, or create them with `azd up` (infra/)."
        )
    return ""


async def ensure_database(client: CosmosClient, database: str) -> Literal["created", "exists"]:
    """Create the database unless it exists."""
    try:
        await client.get_database_client(database).read()
        return "exists"
    except CosmosResourceNotFoundError:
        pass
    try:
        await client.create_database(database)
    except CosmosResourceExistsError:
        return "exists"  # created meanwhile by another process
    except CosmosHttpResponseError as error:
        raise RuntimeError(
            f"could not create Cosmos DB database {database!r}: {error.status_code} {error.reason}."
            + _management_hint(error)
        ) from error
    return "created"


def full_text_update(existing: Mapping[str, Any], wanted: ContainerDefinition) -> dict[str, Any]:
    """The ``replace_container`` keyword arguments that give an existing container ``wanted``'s full-text policy and
    full-text indexes and keep everything else it has (a replace is a full PUT: what is not sent is reset)."""
    indexing = {key: value for key, value in (existing.get("indexingPolicy") or {}).items() if key != "fullTextIndexes"}
    if "fullTextIndexes" in wanted.indexing_policy:
        indexing["fullTextIndexes"] = [dict(entry) for entry in wanted.indexing_policy["fullTextIndexes"]]
    partition_key = existing.get("partitionKey") or {"paths": [wanted.partition_key_path]}
    paths = list(partition_key.get("paths") or [wanted.partition_key_path])
    update: dict[str, Any] = {
        "partition_key": PartitionKey(
            path=paths[0] if len(paths) == 1 else paths,
            kind=partition_key.get("kind", "Hash"),
            version=partition_key.get("version", 2),
        ),
        "indexing_policy": indexing,
    }
    if wanted.full_text_policy is not None:
        update["full_text_policy"] = dict(wanted.full_text_policy)
    kept = {
        "defaultTtl": "default_ttl",
        "vectorEmbeddingPolicy": "vector_embedding_policy",
        "conflictResolutionPolicy": "conflict_resolution_policy",
        "computedProperties": "computed_properties",
        "analyticalStorageTtl": "analytical_storage_ttl",
    }
    for key, keyword in kept.items():
        if existing.get(key) is not None:
            update[keyword] = existing[key]
    return update


async def update_full_text(
    client: CosmosClient, database: str, existing: Mapping[str, Any], wanted: ContainerDefinition
) -> dict[str, Any]:
    """Give an existing container ``wanted``'s full-text policy and indexes in place; returns its new properties.

    Cosmos DB transforms the index online (reads and writes go on); full-text queries use the new index once the
    transformation completes.

    Raises:
        RuntimeError: Cosmos DB refused (with Entra ID data-plane roles: a management operation, see the message).
    """
    try:
        await client.get_database_client(database).replace_container(wanted.name, **full_text_update(existing, wanted))
    except CosmosHttpResponseError as error:
        hint = _management_hint(error)
        if error.status_code == 400:
            hint += " Full-text policies need the account capability EnableNoSQLFullTextSearch."
        raise RuntimeError(
            f"could not update the full-text policy of Cosmos DB container {wanted.name!r} to "
            f"{json.dumps(wanted.full_text_policy)}: {error.status_code} "
            f"{str(error.message).splitlines()[0] if error.message else error.reason}.{hint}"
        ) from error
    return dict(await client.get_database_client(database).get_container_client(wanted.name).read())


async def ensure_container(
    client: CosmosClient, database: str, definition: ContainerDefinition
) -> Literal["created", "exists", "updated"]:
    """Create the container (and its database) unless it exists; check an existing one against ``definition``.

    An existing container that differs only in its full-text policy or full-text indexes (and perhaps the default
    TTL) gets ``definition``'s in place (:func:`update_full_text`): ``"updated"``.

    Raises:
        ContainerMismatchError: the container exists with another partition key, vector policy or default TTL.
        RuntimeError: Cosmos DB refused to create or update it (the message says why and what to do).
    """
    proxy = client.get_database_client(database).get_container_client(definition.name)
    status: Literal["created", "exists", "updated"] = "exists"
    try:
        existing: Mapping[str, Any] = await proxy.read()
    except CosmosResourceNotFoundError:
        await ensure_database(client, database)
        options: dict[str, Any] = {"indexing_policy": dict(definition.indexing_policy)}
        if definition.vector_embedding_policy is not None:
            options["vector_embedding_policy"] = dict(definition.vector_embedding_policy)
        if definition.full_text_policy is not None:
            options["full_text_policy"] = dict(definition.full_text_policy)
        if definition.default_ttl is not None:
            options["default_ttl"] = definition.default_ttl
        try:
            await client.get_database_client(database).create_container(
                definition.name, PartitionKey(path=definition.partition_key_path), **options
            )
            status = "created"
        except CosmosResourceExistsError:
            pass  # created meanwhile by another process: check it below
        except CosmosHttpResponseError as error:
            hint = _management_hint(error)
            if error.status_code == 400 and definition.vector_embedding_policy is not None:
                hint += (
                    " Vector containers need the account capability EnableNoSQLVectorSearch; the flat vector index "
                    "holds at most 505 dimensions (use quantizedFlat or diskANN: COSMOS_VECTOR_INDEX_TYPE)."
                )
            if error.status_code == 400 and definition.full_text_policy is not None:
                hint += " Full-text policies need the account capability EnableNoSQLFullTextSearch."
            raise RuntimeError(
                f"could not create Cosmos DB container {definition.name!r} with "
                f"{json.dumps(definition.resource())}: {error.status_code} "
                f"{str(error.message).splitlines()[0] if error.message else error.reason}.{hint}"
            ) from error
        existing = await proxy.read()
    differences = container_differences(existing, definition)
    if any(map(is_updatable_in_place, differences)) and not any(map(is_immutable, differences)):
        existing = await update_full_text(client, database, existing, definition)
        status = "updated" if status == "exists" else status
        differences = container_differences(existing, definition)
    if differences:
        raise ContainerMismatchError(mismatch_message(database, definition, differences))
    return status


@dataclass
class BootstrapReport:
    """What :func:`bootstrap` did: ``(container name, "created" | "exists" | "updated" | "failed")`` and the problems
    it found."""

    database: Literal["created", "exists"]
    containers: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def bootstrap(client: CosmosClient, database: str, definitions: Sequence[ContainerDefinition]) -> BootstrapReport:
    """Ensure the database and every container; a container that differs is reported, the others still ensured."""
    report = BootstrapReport(await ensure_database(client, database))
    for definition in definitions:
        try:
            report.containers.append((definition.name, await ensure_container(client, database, definition)))
        except (ContainerMismatchError, RuntimeError) as error:
            report.containers.append((definition.name, "failed"))
            report.problems.append(str(error))
    return report
