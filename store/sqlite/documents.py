"""How a document becomes a row and back: its address, its body without system fields, its vector as bytes.

Vectors live outside the JSON so that filters (``json_extract`` over the body) do not parse 384 numbers per row,
and so that the vector index loads from bytes instead of JSON. A vector is only detached when it is a list of
finite numbers of the container's dimensions with a non-zero norm; anything else stays in the body as written and
is never returned by vector search. Integer elements of a stored vector read back as floats (``1`` becomes
``1.0``). Vectors are stored little-endian whatever the machine, so a data file can move between hosts: as float32
when that is exact (vectors from float32 models, i.e. nearly all), else float64; the blob's length tells which.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from store.base import SYSTEM_FIELDS, ContainerSpec, Document, RejectedDocumentError
from store.fields import MAX_DOCUMENT_BYTES, MAX_ID_LENGTH, check_item_id, parse_pointer
from store.sqlite.schema import dumps

VECTOR_DTYPES = (np.dtype("<f4"), np.dtype("<f8"))
_MISSING = object()
#: Reads the partition key value of a document (``DocumentContainer.partition_key_of``).
PartitionKeyOf = Callable[[Mapping[str, Any]], Any]
_PLAIN_NUMBER_TYPES = frozenset({float, int})
# The most characters one vector element takes as JSON ("-1.2345678901234567e-123" and a comma): a bound that spares
# serialising the vector of every write just to measure it.
_MAX_ELEMENT_JSON_CHARS = 26


def partition_key_json(value: Any) -> str:
    """The canonical text of a partition key value (``1`` and ``1.0`` are the same partition, as in Cosmos DB)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError(f"a partition key value must be a string, number, boolean or null, not {type(value).__name__}")
    return dumps(value)


def vector_bytes(value: Any, dimensions: int) -> bytes | None:
    """The bytes to store for ``value`` when it is a searchable vector of ``dimensions``, else ``None``."""
    if not isinstance(value, list | tuple) or len(value) != dimensions:
        return None
    # Strings such as "0.5" would be converted by numpy and booleans are numbers to it; neither is a vector.
    # The set of exact types is the fast path (a few microseconds for 384 floats); numpy scalars take the slow one.
    if not set(map(type, value)) <= _PLAIN_NUMBER_TYPES and not all(
        isinstance(x, int | float | np.number) and not isinstance(x, bool | np.bool_) for x in value
    ):
        return None
    array = np.fromiter(value, dtype=np.float64, count=dimensions)
    narrow = array.astype(VECTOR_DTYPES[0])
    # The index normalises in float32: a vector whose float32 norm overflows or underflows cannot be ranked.
    norm = float(np.sqrt(np.dot(narrow, narrow)))
    if not np.isfinite(array).all() or not np.isfinite(norm) or norm == 0:
        return None
    return narrow.tobytes() if np.array_equal(narrow, array) else array.astype(VECTOR_DTYPES[1]).tobytes()


def vector_dtype(blob: bytes, dimensions: int) -> np.dtype[Any] | None:
    """The dtype a stored vector blob was written with, or ``None`` if it is not a vector of ``dimensions``."""
    for dtype in VECTOR_DTYPES:
        if len(blob) == dimensions * dtype.itemsize:
            return dtype
    return None


@dataclass
class PreparedWrite:
    """A document ready to store: addressed, stripped of system fields, its vector detached."""

    item_id: str
    pk_json: str
    body: dict[str, Any]
    vector: bytes | None


class DocumentCodec:
    """Turns one container's documents into rows and rows back into documents."""

    def __init__(self, spec: ContainerSpec) -> None:
        self.spec = spec
        self._vector_tokens = parse_pointer(spec.vector.path) if spec.vector else None

    def prepare(self, document: Mapping[str, Any], partition_key_of: PartitionKeyOf) -> PreparedWrite:
        """The row of ``document``, whose partition key ``partition_key_of`` reads; the caller's dict is untouched.

        Raises:
            TypeError: ``document`` is not a mapping.
            ValueError: its id is not a non-empty string or holds a character Cosmos DB does not allow, or it has no
                partition key field.
            RejectedDocumentError: its id is longer than Cosmos DB takes.
        """
        if not isinstance(document, Mapping):
            raise TypeError(f"a document must be a mapping, not {type(document).__name__}")
        item_id = check_item_id(document.get("id"))
        if len(item_id) > MAX_ID_LENGTH:
            raise RejectedDocumentError(
                f"document id {item_id[:40]!r}... is {len(item_id)} characters; Cosmos DB takes at most {MAX_ID_LENGTH}"
            )
        pk_json = partition_key_json(partition_key_of(document))
        # Shallow copy: the caller's dict is never modified, and nested values are only read (serialised).
        body = {key: value for key, value in document.items() if key not in SYSTEM_FIELDS}
        vector = None
        if self._vector_tokens is not None and self.spec.vector is not None:
            parent: dict[str, Any] = body
            for token in self._vector_tokens[:-1]:
                child = parent.get(token)
                if not isinstance(child, dict):
                    break
                parent[token] = child = dict(child)
                parent = child
            else:
                leaf = self._vector_tokens[-1]
                vector = vector_bytes(parent.get(leaf, _MISSING), self.spec.vector.dimensions)
                if vector is not None:
                    del parent[leaf]
        return PreparedWrite(item_id, pk_json, body, vector)

    def document(self, body_json: str, vector: bytes | None) -> Document:
        """The stored document of a row: its body with the vector put back where it was."""
        document: Document = json.loads(body_json)
        if vector is not None and self._vector_tokens is not None and self.spec.vector is not None:
            parent = document
            for token in self._vector_tokens[:-1]:
                parent = parent[token]
            dtype = vector_dtype(vector, self.spec.vector.dimensions)
            parent[self._vector_tokens[-1]] = np.frombuffer(vector, dtype=dtype).tolist()
        return document

    def check_size(self, item_id: str, body_json: str, vector: bytes | None) -> None:
        """Refuse a row whose document, as Cosmos DB would measure it (UTF-8 JSON, vector included), is too large.

        Raises:
            RejectedDocumentError: the document is larger than :data:`store.fields.MAX_DOCUMENT_BYTES`.
        """
        elements = 0 if vector is None or self.spec.vector is None else self.spec.vector.dimensions
        # A character is at most 4 UTF-8 bytes: most bodies are cleared by their length, without encoding them.
        if len(body_json) * 4 + elements * _MAX_ELEMENT_JSON_CHARS <= MAX_DOCUMENT_BYTES:
            return
        size = len(body_json.encode("utf-8"))
        if vector is not None and self._vector_tokens is not None:
            # The vector and its key, as they would sit in the document's JSON.
            size += len(dumps({self._vector_tokens[-1]: _vector_list(vector, elements)}).encode("utf-8"))
        if size > MAX_DOCUMENT_BYTES:
            raise RejectedDocumentError(
                f"document {item_id!r} would be {size} bytes as JSON (its vector included); "
                f"Cosmos DB stores at most {MAX_DOCUMENT_BYTES}"
            )


def _vector_list(blob: bytes, dimensions: int) -> list[float]:
    return np.frombuffer(blob, dtype=vector_dtype(blob, dimensions)).tolist()
