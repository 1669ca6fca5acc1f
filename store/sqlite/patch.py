"""Partial document updates applied in memory, with Cosmos DB's semantics for each operation."""

from __future__ import annotations

from typing import Any

from store.base import PatchOperation
from store.fields import check_patch_operation, is_number


def _array_index(token: str, length: int, *, path: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise ValueError(f"invalid array index {token!r} in path {path!r}")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise ValueError(f"array index {index} out of range in path {path!r}")
    return index


def apply_patch_operation(document: dict[str, Any], operation: PatchOperation, protected: frozenset[str]) -> None:
    """Apply one partial-update operation to ``document`` in place, as Cosmos DB does.

    Raises:
        ValueError: an unknown op, a protected path, a missing parent, ``replace``/``remove`` of a missing field,
            or ``incr`` of a non-number (Cosmos DB answers all of these with 400 Bad Request).
    """
    path, kind, value = operation.path, operation.op, operation.value
    tokens = check_patch_operation(operation, protected)

    parent: Any = document
    for depth, token in enumerate(tokens[:-1]):
        if isinstance(parent, dict) and token in parent:
            parent = parent[token]
        elif isinstance(parent, list):
            parent = parent[_array_index(token, len(parent), path=path, allow_end=False)]
        else:
            missing = "/" + "/".join(tokens[: depth + 1])
            raise ValueError(f"patch path {path!r}: {missing!r} does not exist")
    leaf = tokens[-1]

    if isinstance(parent, dict):
        exists = leaf in parent
        if kind in ("replace", "remove") and not exists:
            raise ValueError(f"{kind} at {path!r}: the field does not exist")
        if kind == "remove":
            del parent[leaf]
        elif kind == "incr":
            if not exists:
                parent[leaf] = value
            elif not is_number(parent[leaf]):
                raise ValueError(f"incr at {path!r}: the current value {parent[leaf]!r} is not a number")
            else:
                parent[leaf] += value
        else:
            parent[leaf] = value
    elif isinstance(parent, list):
        index = _array_index(leaf, len(parent), path=path, allow_end=kind == "add")
        if kind == "add":
            parent.insert(index, value)
        elif kind == "remove":
            del parent[index]
        elif kind == "incr":
            if not is_number(parent[index]):
                raise ValueError(f"incr at {path!r}: the current value {parent[index]!r} is not a number")
            parent[index] += value
        else:
            parent[index] = value
    else:
        raise ValueError(f"patch path {path!r}: the parent is neither an object nor an array")
