"""Cosmos DB container definitions and how an existing container is compared with them (pure, no I/O).

A vector embedding policy and vector indexes cannot be changed on an existing container, so a container whose
partition key or vector policy differs from its definition is refused with both policies and what to do, instead of
the app later mixing vectors. A full-text policy and full-text indexes (hybrid search) can be changed in place
(:func:`store.cosmos.provision.update_full_text`).

Which containers the app uses is decided by the composition root (``composition/containers.py``), so the app, the
``python -m composition.cosmos_bootstrap`` command and ``infra/`` cannot disagree; this module knows only Cosmos DB.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from store.base import ContainerSpec, VectorSpec
from store.fields import plain_path_parts

#: The vector element type written by the app (Python floats, stored as float32 by the vector index).
VECTOR_DATA_TYPE = "float32"

#: Paths every container leaves out of the range index (as Cosmos DB's default policy does).
_ETAG_PATH = '/"_etag"/?'

#: The language of the full-text paths (tokenizing, stemming and stop words; en-US is the generally available one).
FULL_TEXT_LANGUAGE = "en-US"

#: What a difference is about, by the start of its text (see :func:`container_differences`).
_FULL_TEXT_DIFFERENCES = ("full-text policy", "full-text indexes")
_TTL_DIFFERENCE = "default TTL"


class ContainerMismatchError(ValueError):
    """An existing container differs from its definition in something Cosmos DB cannot change in place."""


@dataclass(frozen=True)
class ContainerDefinition:
    """Everything Cosmos DB needs to create one container the way the app expects it.

    ``indexing_policy``, ``vector_embedding_policy``, ``full_text_policy`` and ``default_ttl`` are exactly what is
    sent to Cosmos DB (``None``: not sent). ``setting`` names the setting that chooses the container's name, for
    messages.
    """

    name: str
    partition_key_path: str
    indexing_policy: Mapping[str, Any]
    vector_embedding_policy: Mapping[str, Any] | None = None
    default_ttl: int | None = None
    setting: str | None = field(default=None, compare=False)
    full_text_policy: Mapping[str, Any] | None = None

    def resource(self) -> dict[str, Any]:
        """The container as the Cosmos DB REST API / ARM ``resource`` describes it (what ``--dry-run`` prints)."""
        resource: dict[str, Any] = {
            "id": self.name,
            "partitionKey": {"paths": [self.partition_key_path], "kind": "Hash", "version": 2},
            "indexingPolicy": self.indexing_policy,
        }
        if self.vector_embedding_policy is not None:
            resource["vectorEmbeddingPolicy"] = self.vector_embedding_policy
        if self.full_text_policy is not None:
            resource["fullTextPolicy"] = self.full_text_policy
        if self.default_ttl is not None:
            resource["defaultTtl"] = self.default_ttl
        return resource


# --------------------------------------------------------------------------------------------------------------
# Definitions (pure)
# --------------------------------------------------------------------------------------------------------------


def vector_embedding_policy(*vectors: VectorSpec) -> dict[str, Any]:
    """``{"vectorEmbeddings": [{path, dataType, distanceFunction, dimensions}, ...]}`` for ``vectors``."""
    return {
        "vectorEmbeddings": [
            {
                "path": vector.path,
                "dataType": VECTOR_DATA_TYPE,
                "distanceFunction": vector.distance,
                "dimensions": vector.dimensions,
            }
            for vector in vectors
        ]
    }


def full_text_policy(paths: Sequence[str]) -> dict[str, Any]:
    """``{"defaultLanguage": "en-US", "fullTextPaths": [{path, language}]}`` for the full-text ``paths``.

    Raises:
        ValueError: a path is not a JSON pointer of plain names (``/description``).
    """
    for path in paths:
        try:
            plain_path_parts(path, "full-text")
        except ValueError:
            raise ValueError(
                f"invalid full-text path {path!r}: use a JSON pointer of plain names such as /description "
                "(Cosmos DB allows no wildcards in full-text paths)"
            ) from None
    return {
        "defaultLanguage": FULL_TEXT_LANGUAGE,
        "fullTextPaths": [{"path": path, "language": FULL_TEXT_LANGUAGE} for path in paths],
    }


def indexing_policy(
    vector: VectorSpec | None,
    vector_index_type: str,
    full_text_paths: Sequence[str] = (),
    extra_vectors: Sequence[VectorSpec] = (),
) -> dict[str, Any]:
    """Consistent indexing of every path; each vector is left out of the range index and gets a vector index; each
    full-text path gets a full-text index (they stay in the range index too: filters and ORDER BY use it)."""
    policy: dict[str, Any] = {
        "indexingMode": "consistent",
        "automatic": True,
        "includedPaths": [{"path": "/*"}],
        "excludedPaths": [{"path": _ETAG_PATH}],
    }
    vectors = ([vector] if vector is not None else []) + list(extra_vectors)
    if vectors:
        # Range-indexing every number of every vector would cost RUs on each write and serve no query.
        policy["excludedPaths"] += [{"path": each.path + "/*"} for each in vectors]
        policy["vectorIndexes"] = [{"path": each.path, "type": vector_index_type} for each in vectors]
    if full_text_paths:
        policy["fullTextIndexes"] = [{"path": path} for path in full_text_paths]
    return policy


def definition_for_spec(
    spec: ContainerSpec, vector_index_type: str, *, default_ttl: int | None = None, setting: str | None = None
) -> ContainerDefinition:
    """The container definition of ``spec`` with the given vector index type (``quantizedFlat``, ``diskANN``,
    ``flat``) and default TTL (``-1``: TTL on, items expire by their own ``ttl``); a spec with ``full_text_paths``
    gets a full-text policy and full-text indexes on them."""
    paths = tuple(spec.full_text_paths)
    return ContainerDefinition(
        name=spec.name,
        partition_key_path=spec.partition_key_path,
        indexing_policy=indexing_policy(spec.vector, vector_index_type, paths, spec.extra_vectors),
        vector_embedding_policy=None
        if spec.vector is None
        else vector_embedding_policy(spec.vector, *spec.extra_vectors),
        default_ttl=default_ttl,
        setting=setting,
        full_text_policy=full_text_policy(paths) if paths else None,
    )


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


def _normalised_full_text_policy(policy: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The full-text paths of a policy with the language each gets (its own, else the default), sorted by path."""
    if not policy:
        return []
    default = str(policy.get("defaultLanguage") or "").lower()
    return sorted(
        (
            {"path": entry.get("path"), "language": str(entry.get("language") or default).lower()}
            for entry in policy.get("fullTextPaths") or []
        ),
        key=lambda entry: str(entry["path"]),
    )


def _normalised_full_text_indexes(policy: Mapping[str, Any] | None) -> list[str]:
    return sorted(str(entry.get("path")) for entry in (policy or {}).get("fullTextIndexes") or [])


def container_differences(existing: Mapping[str, Any], wanted: ContainerDefinition) -> list[str]:
    """What differs between an existing container (its properties, as ``read()`` returns them) and ``wanted``.

    Compares what cannot be changed in place (partition key, vector embedding policy, vector indexes), what can (the
    full-text policy and full-text indexes, see :func:`update_full_text`) and the default TTL. Each difference starts
    with what it is about (``"full-text policy: ..."``). An empty list means the container is fit for the app.
    """
    differences = []
    paths = list((existing.get("partitionKey") or {}).get("paths") or [])
    if paths != [wanted.partition_key_path]:
        differences.append(f"partition key: existing {paths}, wanted {[wanted.partition_key_path]}")
    existing_vectors = _normalised_vector_policy(existing.get("vectorEmbeddingPolicy"))
    wanted_vectors = _normalised_vector_policy(wanted.vector_embedding_policy)
    existing_indexes = _normalised_vector_indexes(existing.get("indexingPolicy"))
    wanted_indexes = _normalised_vector_indexes(wanted.indexing_policy)
    if lacks_only_migration_slot(existing, wanted):
        # Made before containers had a second vector slot: fit for the app, not for a model migration.
        wanted_vectors, wanted_indexes = existing_vectors, existing_indexes
    if existing_vectors != wanted_vectors:
        differences.append(
            f"vector embedding policy: existing {json.dumps(existing_vectors)}, wanted {json.dumps(wanted_vectors)}"
        )
    if existing_indexes != wanted_indexes:
        differences.append(
            f"vector indexes: existing {json.dumps(existing_indexes)}, wanted {json.dumps(wanted_indexes)}"
        )
    existing_text = _normalised_full_text_policy(existing.get("fullTextPolicy"))
    wanted_text = _normalised_full_text_policy(wanted.full_text_policy)
    if existing_text != wanted_text:
        differences.append(f"full-text policy: existing {json.dumps(existing_text)}, wanted {json.dumps(wanted_text)}")
    existing_text_indexes = _normalised_full_text_indexes(existing.get("indexingPolicy"))
    wanted_text_indexes = _normalised_full_text_indexes(wanted.indexing_policy)
    if existing_text_indexes != wanted_text_indexes:
        differences.append(
            f"full-text indexes: existing {json.dumps(existing_text_indexes)}, wanted {json.dumps(wanted_text_indexes)}"
        )
    if wanted.default_ttl is not None and existing.get("defaultTtl") != wanted.default_ttl:
        differences.append(f"{_TTL_DIFFERENCE}: existing {existing.get('defaultTtl')}, wanted {wanted.default_ttl}")
    return differences


def lacks_only_migration_slot(existing: Mapping[str, Any], wanted: ContainerDefinition) -> bool:
    """Whether ``existing`` has ``wanted``'s main vector path and index exactly, and none of its other (migration
    slot) paths: a container made before the second slot existed. Its policy cannot gain the slot in place."""
    entries = list((wanted.vector_embedding_policy or {}).get("vectorEmbeddings") or [])
    if len(entries) < 2:
        return False
    main = entries[0]["path"]
    main_only = {"vectorEmbeddings": entries[:1]}
    indexes = [entry for entry in wanted.indexing_policy.get("vectorIndexes") or [] if entry.get("path") == main]
    return _normalised_vector_policy(existing.get("vectorEmbeddingPolicy")) == _normalised_vector_policy(
        main_only
    ) and _normalised_vector_indexes(existing.get("indexingPolicy")) == _normalised_vector_indexes(
        {"vectorIndexes": indexes}
    )


def is_updatable_in_place(difference: str) -> bool:
    """Whether a difference of :func:`container_differences` is one :func:`update_full_text` fixes in place."""
    return difference.startswith(_FULL_TEXT_DIFFERENCES)


def is_immutable(difference: str) -> bool:
    """Whether a difference of :func:`container_differences` can only be fixed with a new container."""
    return not is_updatable_in_place(difference) and not difference.startswith(_TTL_DIFFERENCE)


def mismatch_message(database: str, wanted: ContainerDefinition, differences: Sequence[str]) -> str:
    """Why an existing container cannot be used, and what to do about it."""
    setting = wanted.setting or "the container's name setting"
    lines = [f"Cosmos DB container {wanted.name!r} in database {database!r} differs from what the app needs:"]
    lines += [f"  - {difference}" for difference in differences]
    if any(is_immutable(difference) for difference in differences):
        lines.append(
            "Vector embedding policies, vector indexes and partition keys are immutable in Cosmos DB. Either create "
            f"a new container with the new policy and point the app at it (set {setting} to a new name, run this "
            "command again, then copy the products into it: the change-feed pipeline re-embeds each one), or "
            "delete this container and run this command again (its documents are lost)."
        )
        return "\n".join(lines)
    if any(is_updatable_in_place(difference) for difference in differences):
        lines.append(
            "The full-text policy and full-text indexes can be changed in place: run this command with "
            "COSMOS_AUTH=key and COSMOS_KEY (it updates them, keeping the rest of the container), or `azd provision` "
            "(infra/ defines them)."
        )
    if any(difference.startswith(_TTL_DIFFERENCE) for difference in differences):
        lines.append(
            "The default TTL can be changed in place: "
            f"az cosmosdb sql container update --name {wanted.name} --ttl {wanted.default_ttl} ... "
            "(or delete the container and run this command again)."
        )
    return "\n".join(lines)


def spec_mismatch(spec: ContainerSpec, properties: Mapping[str, Any]) -> str | None:
    """What makes an existing container (its ``read()`` properties) unfit for ``spec``, or ``None``.

    The app's own check when it opens a container: only what documents already stored depend on (the partition key
    and the vector policy); :func:`container_differences` is the bootstrap's fuller one.
    """
    paths = list((properties.get("partitionKey") or {}).get("paths") or [])
    if paths != [spec.partition_key_path]:
        return f"its partition key is {paths} where the app needs [{spec.partition_key_path!r}]"
    if spec.vector is None:
        return None
    embeddings = (properties.get("vectorEmbeddingPolicy") or {}).get("vectorEmbeddings") or []
    match = next((entry for entry in embeddings if entry.get("path") == spec.vector.path), None)
    if match is None:
        return f"it has no vector embedding policy for {spec.vector.path} (it has {embeddings})"
    if match.get("dimensions") != spec.vector.dimensions:
        return (
            f"its vector policy holds {match.get('dimensions')}-dimensional vectors at {spec.vector.path} where the "
            f"embedding model makes {spec.vector.dimensions}"
        )
    if str(match.get("distanceFunction", "")).lower() != spec.vector.distance:
        return f"its vector policy uses {match.get('distanceFunction')!r} distance where the app needs cosine"
    return None
