"""Create the Cosmos DB database and every container the app uses, if missing: ``python -m store.cosmos_bootstrap``.

Idempotent: existing containers are left alone, but checked. A vector embedding policy and vector indexes cannot be
changed on an existing container, so a container whose partition key or vector policy differs from what the
settings ask for fails the command with both policies and what to do, instead of the app later mixing vectors.

The containers come from :meth:`catalog.services.Services.container_specs` (names from settings, partition keys,
the vector path), so the app, this command and ``infra/`` cannot disagree; :func:`container_definitions` is the
full definition (policies and TTL included) that ``infra/`` Bicep is checked against.

Creating containers is a management operation: it needs key auth (``COSMOS_AUTH=key``) or Azure Resource Manager
(``azd up``, ``az cosmosdb sql container create``). With Entra ID (``COSMOS_AUTH=identity``) the data-plane roles
can read container properties, so the command still verifies existing containers but cannot create missing ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal, cast

from azure.cosmos import PartitionKey
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceExistsError, CosmosResourceNotFoundError

from store.base import ContainerSpec, VectorSpec

if TYPE_CHECKING:
    from azure.cosmos.aio import CosmosClient

    from catalog.settings import Settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

#: The vector element type written by the app (Python floats, stored as float32 by the vector index).
VECTOR_DATA_TYPE = "float32"

#: Paths every container leaves out of the range index (as Cosmos DB's default policy does).
_ETAG_PATH = '/"_etag"/?'


class ContainerMismatchError(ValueError):
    """An existing container differs from its definition in something Cosmos DB cannot change in place."""


@dataclass(frozen=True)
class ContainerDefinition:
    """Everything Cosmos DB needs to create one container the way the app expects it.

    ``indexing_policy``, ``vector_embedding_policy`` and ``default_ttl`` are exactly what is sent to Cosmos DB
    (``None``: not sent). ``setting`` names the setting that chooses the container's name, for messages.
    """

    name: str
    partition_key_path: str
    indexing_policy: Mapping[str, Any]
    vector_embedding_policy: Mapping[str, Any] | None = None
    default_ttl: int | None = None
    setting: str | None = field(default=None, compare=False)

    def resource(self) -> dict[str, Any]:
        """The container as the Cosmos DB REST API / ARM ``resource`` describes it (what ``--dry-run`` prints)."""
        resource: dict[str, Any] = {
            "id": self.name,
            "partitionKey": {"paths": [self.partition_key_path], "kind": "Hash", "version": 2},
            "indexingPolicy": self.indexing_policy,
        }
        if self.vector_embedding_policy is not None:
            resource["vectorEmbeddingPolicy"] = self.vector_embedding_policy
        if self.default_ttl is not None:
            resource["defaultTtl"] = self.default_ttl
        return resource


# --------------------------------------------------------------------------------------------------------------
# Definitions (pure)
# --------------------------------------------------------------------------------------------------------------


def vector_embedding_policy(vector: VectorSpec) -> dict[str, Any]:
    """``{"vectorEmbeddings": [{path, dataType, distanceFunction, dimensions}]}`` for ``vector``."""
    return {
        "vectorEmbeddings": [
            {
                "path": vector.path,
                "dataType": VECTOR_DATA_TYPE,
                "distanceFunction": vector.distance,
                "dimensions": vector.dimensions,
            }
        ]
    }


def indexing_policy(vector: VectorSpec | None, vector_index_type: str) -> dict[str, Any]:
    """Consistent indexing of every path; a vector is left out of the range index and gets a vector index."""
    policy: dict[str, Any] = {
        "indexingMode": "consistent",
        "automatic": True,
        "includedPaths": [{"path": "/*"}],
        "excludedPaths": [{"path": _ETAG_PATH}],
    }
    if vector is not None:
        # Range-indexing every number of every vector would cost RUs on each write and serve no query.
        policy["excludedPaths"].append({"path": vector.path + "/*"})
        policy["vectorIndexes"] = [{"path": vector.path, "type": vector_index_type}]
    return policy


def definition_for_spec(
    spec: ContainerSpec, vector_index_type: str, *, default_ttl: int | None = None, setting: str | None = None
) -> ContainerDefinition:
    """The container definition of ``spec`` with the given vector index type (``quantizedFlat``, ``diskANN``,
    ``flat``) and default TTL (``-1``: TTL on, items expire by their own ``ttl``)."""
    return ContainerDefinition(
        name=spec.name,
        partition_key_path=spec.partition_key_path,
        indexing_policy=indexing_policy(spec.vector, vector_index_type),
        vector_embedding_policy=None if spec.vector is None else vector_embedding_policy(spec.vector),
        default_ttl=default_ttl,
        setting=setting,
    )


def app_container_specs(settings: Settings, dimensions: int) -> dict[str, ContainerSpec]:
    """The app's own container specs (:meth:`Services.container_specs`) for vectors of ``dimensions``."""
    from catalog.services import Services

    # container_specs reads only the settings and the embedder's dimensions; building real services here would
    # load the embedding model and open clients for nothing.
    source = SimpleNamespace(settings=settings, embedder=SimpleNamespace(dimensions=dimensions))
    return Services.container_specs(cast(Services, source))


_CONTAINER_SETTINGS = (
    "COSMOS_PRODUCTS_CONTAINER",
    "COSMOS_LEASES_CONTAINER",
    "COSMOS_DEADLETTER_CONTAINER",
    "COSMOS_CACHE_CONTAINER",
    "COSMOS_HISTORY_CONTAINER",
)


def container_definitions(settings: Settings, dimensions: int) -> list[ContainerDefinition]:
    """Every container the app uses, fully defined: name, partition key, vector policy, indexing policy, TTL.

    The chat cache container has TTL on without a default (``default_ttl=-1``), so each entry expires by its own
    ``ttl``. Vector containers get ``COSMOS_VECTOR_INDEX_TYPE``.
    """
    if dimensions < 1:
        raise ValueError(f"dimensions must be at least 1, not {dimensions}")
    setting_of = {getattr(settings, key): key for key in _CONTAINER_SETTINGS}
    index_type = str(settings.COSMOS_VECTOR_INDEX_TYPE)
    return [
        definition_for_spec(
            spec,
            index_type,
            default_ttl=-1 if name == settings.COSMOS_CACHE_CONTAINER else None,
            setting=setting_of.get(name),
        )
        for name, spec in app_container_specs(settings, dimensions).items()
    ]


# --------------------------------------------------------------------------------------------------------------
# Comparing an existing container with its definition (pure)
# --------------------------------------------------------------------------------------------------------------


def _normalised_vector_policy(policy: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    entries = (policy or {}).get("vectorEmbeddings") or []
    return sorted(
        (
            {
                "path": entry.get("path"),
                "dataType": str(entry.get("dataType", "")).lower(),
                "distanceFunction": str(entry.get("distanceFunction", "")).lower(),
                "dimensions": entry.get("dimensions"),
            }
            for entry in entries
        ),
        key=lambda entry: str(entry["path"]),
    )


def _normalised_vector_indexes(policy: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    entries = (policy or {}).get("vectorIndexes") or []
    return sorted(
        ({"path": entry.get("path"), "type": str(entry.get("type", "")).lower()} for entry in entries),
        key=lambda entry: str(entry["path"]),
    )


def container_differences(existing: Mapping[str, Any], wanted: ContainerDefinition) -> list[str]:
    """What differs between an existing container (its properties, as ``read()`` returns them) and ``wanted``.

    Compares what cannot be changed in place (partition key, vector embedding policy, vector indexes) and the
    default TTL. An empty list means the container is fit for the app.
    """
    differences = []
    paths = list((existing.get("partitionKey") or {}).get("paths") or [])
    if paths != [wanted.partition_key_path]:
        differences.append(f"partition key: existing {paths}, wanted {[wanted.partition_key_path]}")
    existing_vectors = _normalised_vector_policy(existing.get("vectorEmbeddingPolicy"))
    wanted_vectors = _normalised_vector_policy(wanted.vector_embedding_policy)
    if existing_vectors != wanted_vectors:
        differences.append(
            f"vector embedding policy: existing {json.dumps(existing_vectors)}, wanted {json.dumps(wanted_vectors)}"
        )
    existing_indexes = _normalised_vector_indexes(existing.get("indexingPolicy"))
    wanted_indexes = _normalised_vector_indexes(wanted.indexing_policy)
    if existing_indexes != wanted_indexes:
        differences.append(
            f"vector indexes: existing {json.dumps(existing_indexes)}, wanted {json.dumps(wanted_indexes)}"
        )
    if wanted.default_ttl is not None and existing.get("defaultTtl") != wanted.default_ttl:
        differences.append(f"default TTL: existing {existing.get('defaultTtl')}, wanted {wanted.default_ttl}")
    return differences


def mismatch_message(database: str, wanted: ContainerDefinition, differences: Sequence[str]) -> str:
    """Why an existing container cannot be used, and what to do about it."""
    setting = wanted.setting or "the container's name setting"
    lines = [f"Cosmos DB container {wanted.name!r} in database {database!r} differs from what the app needs:"]
    lines += [f"  - {difference}" for difference in differences]
    only_ttl = all(difference.startswith("default TTL") for difference in differences)
    if only_ttl:
        lines.append(
            "The default TTL can be changed in place: "
            f"az cosmosdb sql container update --name {wanted.name} --ttl {wanted.default_ttl} ... "
            "(or delete the container and run this command again)."
        )
    else:
        lines.append(
            "Vector embedding policies, vector indexes and partition keys are immutable in Cosmos DB. Either create "
            f"a new container with the new policy and point the app at it (set {setting} to a new name, run this "
            "command again, then copy the products into it: the change-feed pipeline re-embeds each one), or "
            "delete this container and run this command again (its documents are lost)."
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Creating (I/O)
# --------------------------------------------------------------------------------------------------------------


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


async def ensure_container(
    client: CosmosClient, database: str, definition: ContainerDefinition
) -> Literal["created", "exists"]:
    """Create the container (and its database) unless it exists; check an existing one against ``definition``.

    Raises:
        ContainerMismatchError: the container exists with another partition key, vector policy or default TTL.
        RuntimeError: Cosmos DB refused to create it (the message says why and what to do).
    """
    proxy = client.get_database_client(database).get_container_client(definition.name)
    status: Literal["created", "exists"] = "exists"
    try:
        existing = await proxy.read()
    except CosmosResourceNotFoundError:
        await ensure_database(client, database)
        options: dict[str, Any] = {"indexing_policy": dict(definition.indexing_policy)}
        if definition.vector_embedding_policy is not None:
            options["vector_embedding_policy"] = dict(definition.vector_embedding_policy)
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
            raise RuntimeError(
                f"could not create Cosmos DB container {definition.name!r} with "
                f"{json.dumps(definition.resource())}: {error.status_code} "
                f"{str(error.message).splitlines()[0] if error.message else error.reason}.{hint}"
            ) from error
        existing = await proxy.read()
    differences = container_differences(existing, definition)
    if differences:
        raise ContainerMismatchError(mismatch_message(database, definition, differences))
    return status


@dataclass
class BootstrapReport:
    """What :func:`bootstrap` did: ``(container name, "created" | "exists")`` and the problems it found."""

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


# --------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------


def _environment(local_settings: Path | None) -> dict[str, str]:
    """The process environment plus ``local.settings.json`` Values it lacks (as ``func start`` does)."""
    environ = dict(os.environ)
    if local_settings is None or not local_settings.is_file():
        return environ
    try:
        values = json.loads(local_settings.read_text(encoding="utf-8")).get("Values") or {}
    except (OSError, ValueError, AttributeError) as error:
        raise ValueError(f"{local_settings} is not a JSON object with Values ({error})") from None
    for key, value in values.items():
        if key not in environ and value is not None:
            environ[key] = json.dumps(value) if isinstance(value, bool) else str(value)
    return environ


async def _embedder_dimensions(settings: Settings) -> int:
    from catalog.services import build_embedder

    embedder = build_embedder(settings)
    try:
        return embedder.dimensions
    finally:
        await embedder.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m store.cosmos_bootstrap",
        description=(
            "Create the Cosmos DB database and containers the app uses, if missing, and check existing ones "
            "(partition keys, vector policies, TTL). Reads the app settings from the environment and "
            "local.settings.json Values."
        ),
    )
    parser.add_argument(
        "--dimensions",
        type=int,
        help="vector dimensions of the products and cache containers (default: those of the configured embedder)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the container definitions as JSON and change nothing"
    )
    parser.add_argument(
        "--local-settings",
        type=Path,
        default=Path("local.settings.json"),
        help="settings file whose Values fill in what the environment lacks (default: ./local.settings.json)",
    )
    return parser


async def _run(args: argparse.Namespace, out: Any, err: Any) -> int:
    from catalog.settings import SettingsError, load_settings
    from store.cosmos import CosmosDocumentStore

    try:
        settings = load_settings(_environment(args.local_settings))
    except (SettingsError, ValueError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    if args.dimensions is not None:
        dimensions = args.dimensions
    else:
        try:
            dimensions = await _embedder_dimensions(settings)
        except (NotImplementedError, SettingsError, ValueError, OSError) as error:
            print(
                f"error: cannot build the configured embedder to learn its dimensions ({error}); pass --dimensions",
                file=err,
            )
            return EXIT_USAGE
    try:
        definitions = container_definitions(settings, dimensions)
    except ValueError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    if args.dry_run:
        document = {"database": settings.COSMOS_DATABASE, "containers": [d.resource() for d in definitions]}
        print(json.dumps(document, indent=2), file=out)
        return EXIT_OK
    if not settings.COSMOS_CONNECTION__accountEndpoint:
        print(
            "error: COSMOS_CONNECTION__accountEndpoint is not set; "
            "example: COSMOS_CONNECTION__accountEndpoint=https://myaccount.documents.azure.com:443/",
            file=err,
        )
        return EXIT_USAGE
    store = CosmosDocumentStore.from_settings(settings)
    try:
        report = await bootstrap(store.client(), settings.COSMOS_DATABASE, definitions)
    except (RuntimeError, CosmosHttpResponseError) as error:
        print(f"error: {error}", file=err)
        return EXIT_FAILURE
    finally:
        await store.close()
    print(f"database {settings.COSMOS_DATABASE!r}: {report.database}", file=out)
    for name, status in report.containers:
        print(f"container {name!r}: {status}", file=out)
    for problem in report.problems:
        print(f"\nerror: {problem}", file=err)
    return EXIT_OK if report.ok else EXIT_FAILURE


def main(argv: Sequence[str] | None = None, *, out: Any = None, err: Any = None) -> int:
    """Run the command; returns the exit code (0 done, 1 a container differs or could not be made, 2 bad input)."""
    args = build_parser().parse_args(argv)
    return asyncio.run(_run(args, out or sys.stdout, err or sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
