"""Exact vector search: each process keeps a container's L2-normalised vectors in one float32 matrix.

Before each search the index applies only the rows written since it last looked, by this process or any other
(:func:`sync_index`), so it is always exact without ever being rebuilt. Filters of a vector search are evaluated
on in-memory columns of the filtered fields (:class:`store.sqlite.filters.FieldColumn`), built on first use and kept
in step the same way, because evaluating them in SQL parses every document's JSON on every search.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from store.sqlite.documents import VECTOR_DTYPES, vector_bytes
from store.sqlite.filters import CheckedFilter, FieldColumn, json_path
from store.sqlite.schema import current_seq

_FETCH_CHUNK = 8192


class VectorIndex:
    """L2-normalised float32 vectors of one container, one row per document, searched exactly.

    Only the store's worker thread touches it. ``last_lsn`` is the container sequence it reflects; anything
    written later (by this process or another) is applied before the next search. Fields that searches filter on
    get a :class:`FieldColumn`, kept in step with the rows.
    """

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.reset()

    def reset(self) -> None:
        self.last_lsn = 0
        self.size = 0
        self._matrix: npt.NDArray[np.float32] = np.empty((0, self.dimensions), dtype=np.float32)
        self._keys: list[tuple[str, str]] = []
        self._rows: dict[tuple[str, str], int] = {}
        self.columns: dict[str, FieldColumn] = {}

    def key_at(self, row: int) -> tuple[str, str]:
        return self._keys[row]

    def row_of(self, key: tuple[str, str]) -> int | None:
        return self._rows.get(key)

    def add_column(self, field_name: str) -> FieldColumn:
        column = self.columns[field_name] = FieldColumn(len(self._matrix))
        return column

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` rows in total (growing geometrically, so appends stay cheap)."""
        if rows > len(self._matrix):
            capacity = max(rows, 2 * len(self._matrix), 1024)
            grown = np.empty((capacity, self.dimensions), dtype=np.float32)
            grown[: len(self._matrix)] = self._matrix
            self._matrix = grown
            for column in self.columns.values():
                column.grow(capacity)

    def put_many(
        self,
        keys: Sequence[tuple[str, str]],
        vectors: npt.NDArray[Any],
        field_values: Sequence[Sequence[tuple[str | None, Any]]] = (),
    ) -> None:
        """Insert or overwrite the vectors of ``keys`` (not necessarily normalised).

        Every vector must have a finite, non-zero float32 norm (``documents.vector_bytes`` stores no others).
        ``field_values[i]`` holds ``(json_type, json_extract)`` of each column, in :attr:`columns` order, for
        ``keys[i]``; it may be empty when there are no columns.
        """
        # float32 throughout: the index holds float32 anyway, and float64 temporaries double the load time.
        vectors = vectors.astype(np.float32, copy=False)
        norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
        targets = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            row = self._rows.get(key)
            if row is None:
                row = self.size
                self._rows[key] = row
                self._keys.append(key)
                self.size += 1
            targets[i] = row
        self.reserve(self.size)
        self._matrix[targets] = vectors / norms[:, None]
        if self.columns:
            columns = list(self.columns.values())
            for row, values in zip(targets.tolist(), field_values, strict=True):
                for column, (json_type, value) in zip(columns, values, strict=True):
                    column.set(row, json_type, value)

    def remove(self, key: tuple[str, str]) -> None:
        row = self._rows.pop(key, None)
        if row is None:
            return
        # Fill the hole with the last row so the live rows stay contiguous for one matrix-vector product.
        last = self.size - 1
        if row != last:
            moved = self._keys[last]
            self._matrix[row] = self._matrix[last]
            for column in self.columns.values():
                column.move(last, row)
            self._keys[row] = moved
            self._rows[moved] = row
        self._keys.pop()
        self.size -= 1

    def matching_rows(self, conditions: Sequence[CheckedFilter]) -> npt.NDArray[np.int64]:
        """The rows that satisfy every condition (each condition's field must have a column)."""
        mask = np.ones(self.size, dtype=bool)
        for condition in conditions:
            mask &= self.columns[condition.field].matches(condition, self.size)
        return np.flatnonzero(mask)

    def search(
        self, unit_query: npt.NDArray[np.float32], k: int, candidates: npt.NDArray[np.int64] | None
    ) -> list[tuple[int, float]]:
        """The best ``k`` rows (among ``candidates`` when given) and their cosine similarity, best first."""
        live = self._matrix[: self.size]
        if candidates is None:
            scores = live @ unit_query
        elif len(candidates) * 2 < self.size:
            scores = live[candidates] @ unit_query
        else:
            # Gathering most of the matrix costs more than scoring all of it.
            scores = (live @ unit_query)[candidates]
        count = len(scores)
        if count == 0:
            return []
        k = min(k, count)
        top = np.argpartition(-scores, k - 1)[:k] if k < count else np.arange(count)
        top = top[np.argsort(-scores[top], kind="stable")]
        rows = top if candidates is None else candidates[top]
        return [(int(row), float(scores[position])) for row, position in zip(rows, top, strict=True)]


def unit_query(vector: Sequence[float], k: int, dimensions: int, container: str) -> npt.NDArray[np.float32]:
    """``vector`` normalised, after checking it and ``k`` against the container's vector policy.

    Raises:
        ValueError: ``k`` is not positive, or ``vector`` has the wrong dimensions, is all zeros or not finite.
    """
    if k <= 0:
        raise ValueError(f"k must be at least 1, not {k}")
    query = np.asarray(vector, dtype=np.float64)
    if query.shape != (dimensions,):
        raise ValueError(
            f"the query vector has {query.size} dimensions; container {container!r} holds "
            f"{dimensions}-dimensional vectors"
        )
    norm = float(np.linalg.norm(query))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("the query vector must be finite and not all zeros")
    return (query / norm).astype(np.float32)


def sync_index(
    connection: sqlite3.Connection, container: str, index: VectorIndex, json_vector_path: str | None = None
) -> None:
    """Bring the vector index up to the container's current sequence (call inside a read transaction).

    ``json_vector_path`` (``$.embedding_b``): index the vector kept in the document body there instead of the main
    one. Only a container's main vector is stored as bytes beside the body; another path (a second slot during a
    model migration) stays in the JSON and is parsed, once per written document, by the rule the main one is
    stored by (:func:`store.sqlite.documents.vector_bytes`).
    """
    seq = current_seq(connection, container)
    if seq == index.last_lsn:
        return
    if seq < index.last_lsn:
        # The sequence went backwards: the file was replaced under us. Start over.
        index.reset()
    initial = index.last_lsn == 0
    if initial:
        # Counted from the (container, lsn) index alone; "vector IS NOT NULL" would read every row twice.
        (count,) = connection.execute("SELECT COUNT(*) FROM documents WHERE container = ?", (container,)).fetchone()
        index.reserve(count)
    paths = [json_path(name) for name in index.columns]
    columns_sql = "".join(", json_type(body_json, ?), json_extract(body_json, ?)" for _ in paths)
    source, present = "vector", "vector IS NOT NULL"
    if json_vector_path is not None:
        source, present = "json_extract(body_json, ?)", "json_type(body_json, ?) = 'array'"
    cursor = connection.execute(
        f"SELECT pk_json, id, {source}{columns_sql} FROM documents WHERE container = ? AND lsn > ?"
        + (f" AND {present}" if initial else ""),
        [
            *([json_vector_path] if json_vector_path is not None else []),
            *(path for path in paths for _ in range(2)),
            container,
            index.last_lsn,
            *([json_vector_path] if json_vector_path is not None and initial else []),
        ],
    )
    dtype_of_length = {index.dimensions * dtype.itemsize: dtype for dtype in VECTOR_DTYPES}
    while chunk := cursor.fetchmany(_FETCH_CHUNK):
        # Group by stored width so each group becomes one array with a single frombuffer over joined bytes.
        # This loop runs once per document on the first search: it stays lean on purpose.
        groups: dict[np.dtype[Any], tuple[list[tuple[str, str]], list[bytes], list[list[tuple[Any, Any]]]]] = {
            dtype: ([], [], []) for dtype in VECTOR_DTYPES
        }
        for row in chunk:
            vector = row[2] if json_vector_path is None else _json_vector_bytes(row[2], index.dimensions)
            dtype = None if vector is None else dtype_of_length.get(len(vector))
            if vector is None or dtype is None:
                index.remove((row[0], row[1]))
                continue
            keys, blobs, field_values = groups[dtype]
            keys.append((row[0], row[1]))
            blobs.append(vector)
            if paths:
                field_values.append(list(zip(row[3::2], row[4::2], strict=True)))
        for dtype, (keys, blobs, field_values) in groups.items():
            if keys:
                vectors = np.frombuffer(b"".join(blobs), dtype=dtype).reshape(len(keys), index.dimensions)
                index.put_many(keys, vectors, field_values)
    if not initial:
        for pk_json, item_id in connection.execute(
            "SELECT pk_json, id FROM tombstones WHERE container = ? AND lsn > ?", (container, index.last_lsn)
        ):
            index.remove((pk_json, item_id))
    index.last_lsn = seq


def _json_vector_bytes(text: Any, dimensions: int) -> bytes | None:
    """The stored bytes of a vector kept as JSON text, or ``None`` when it is not a searchable vector."""
    if not isinstance(text, str) or not text.startswith("["):
        return None
    try:
        return vector_bytes(json.loads(text), dimensions)
    except ValueError:
        return None


def body_vector_index(
    indexes: dict[tuple[str, int], VectorIndex], path: str, dimensions: int
) -> tuple[VectorIndex, str]:
    """The index of the vectors of ``dimensions`` kept in the body at the pointer ``path``, from ``indexes`` (made
    on first use; the newest few are kept, as slots come and go with migrations), and their JSON path."""
    key = (path, dimensions)
    if key not in indexes:
        if len(indexes) >= 4:
            indexes.pop(next(iter(indexes)))
        indexes[key] = VectorIndex(max(dimensions, 1))
    return indexes[key], json_path(path.lstrip("/").replace("/", "."))


def _add_index_column(
    connection: sqlite3.Connection, container: str, index: VectorIndex, field_name: str, *, all_rows: bool = False
) -> None:
    """Give the index a column for ``field_name`` (call in the read transaction that synced the index)."""
    column = index.add_column(field_name)
    path = json_path(field_name)
    cursor = connection.execute(
        "SELECT pk_json, id, json_type(body_json, ?), json_extract(body_json, ?) FROM documents "
        "WHERE container = ?" + ("" if all_rows else " AND vector IS NOT NULL"),
        (path, path, container),
    )
    for pk_json, item_id, json_type, value in cursor:
        row = index.row_of((pk_json, item_id))
        if row is not None:
            column.set(row, json_type, value)


def synced_candidates(
    connection: sqlite3.Connection,
    container: str,
    index: VectorIndex,
    conditions: Sequence[CheckedFilter],
    json_vector_path: str | None = None,
) -> npt.NDArray[np.int64] | None:
    """Sync the index, then the rows matching every condition (``None``: no conditions, every row).

    ``json_vector_path``: the index holds a vector kept in the body (see :func:`sync_index`), not the main one.
    """
    sync_index(connection, container, index, json_vector_path)
    if not conditions:
        return None
    # Filtering in SQL would parse every document's JSON on every search (~150 ms per 100k documents); a
    # column per filtered field, kept in step with the index, costs one scan ever.
    for name in dict.fromkeys(condition.field for condition in conditions):
        if name not in index.columns:
            _add_index_column(connection, container, index, name, all_rows=json_vector_path is not None)
    return index.matching_rows(conditions)
