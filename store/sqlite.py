"""The embedded document store: one SQLite file with Cosmos DB semantics and exact in-memory vector search.

Layout of the file:

* ``containers`` — one row per container: its spec (checked on every open, so a process cannot silently use a
  different partition key or vector policy) and ``seq``, the container's change-feed sequence;
* ``documents`` — the latest version of every document: the JSON body *without* its vector, the vector as a
  little-endian blob (float32 when that is exact, as for vectors from float32 models, else float64), and the
  ``lsn`` of the write that produced it;
* ``tombstones`` — the ``lsn`` of each hard delete, read only to keep vector indexes in sync.

Every write bumps ``seq`` in the same ``BEGIN IMMEDIATE`` transaction as the row it writes, so ``lsn`` is strictly
increasing across every process that opens the file (a CLI bulk-loading while the server runs, say). The change
feed is then simply "rows with ``lsn`` greater than the continuation, ordered by ``lsn``".

Vectors live outside the JSON so that filters (``json_extract`` over the body) do not parse 384 numbers per row,
and so that the vector index loads from bytes instead of JSON. A vector is only detached when it is a list of
finite numbers of the container's dimensions with a non-zero norm; anything else stays in the body as written and
is never returned by vector search. Integer elements of a stored vector read back as floats (``1`` becomes
``1.0``).

Vector search is exact: each process keeps the container's L2-normalised vectors in one float32 matrix and, before
each search, applies only the rows written since it last looked (by any process). Filters of a vector search are
evaluated on in-memory columns of the filtered fields, built on first use and kept in step the same way, because
evaluating them in SQL parses every document's JSON on every search.

All SQLite work runs on one dedicated worker thread per store, so the event loop never blocks on disk and the
connection is only ever used by the thread that opened it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import operator
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from store.base import (
    SYSTEM_FIELDS,
    ChangeBatch,
    ConflictError,
    ContainerSpec,
    Document,
    DocumentContainer,
    DocumentStore,
    FieldFilter,
    NotFoundError,
    PatchOperation,
    PreconditionFailedError,
    ScoredDocument,
    rrf_fuse,
)

_T = TypeVar("_T")

#: How long a write waits for another connection's write transaction before failing with "database is locked".
DEFAULT_BUSY_TIMEOUT_MS = 30_000

_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    name TEXT PRIMARY KEY,
    spec_json TEXT NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS documents (
    container TEXT NOT NULL,
    pk_json TEXT NOT NULL,
    id TEXT NOT NULL,
    body_json TEXT NOT NULL,
    etag TEXT NOT NULL,
    ts INTEGER NOT NULL,
    lsn INTEGER NOT NULL,
    -- Last, so reading the other columns never walks a large vector's overflow pages.
    vector BLOB,
    PRIMARY KEY (container, pk_json, id)
);
CREATE INDEX IF NOT EXISTS documents_by_lsn ON documents (container, lsn);
CREATE TABLE IF NOT EXISTS tombstones (
    container TEXT NOT NULL,
    pk_json TEXT NOT NULL,
    id TEXT NOT NULL,
    lsn INTEGER NOT NULL,
    PRIMARY KEY (container, pk_json, id)
);
CREATE INDEX IF NOT EXISTS tombstones_by_lsn ON tombstones (container, lsn);
CREATE TABLE IF NOT EXISTS fulltext_rows (
    container TEXT NOT NULL,
    pk_json TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (container, pk_json, id)
);
CREATE TABLE IF NOT EXISTS fulltext_state (
    container TEXT PRIMARY KEY,
    paths_json TEXT NOT NULL,
    lsn INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS fulltext USING fts5(text, tokenize = 'porter unicode61')
"""

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_SQL_OPERATORS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
# Cosmos DB's ORDER BY puts values of different types in this order (undefined first).
_TYPE_RANK_SQL = (
    "CASE json_type(body_json, ?) WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 2 "
    "WHEN 'integer' THEN 3 WHEN 'real' THEN 3 WHEN 'text' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 6 "
    "ELSE 0 END"
)
# Vectors are stored little-endian whatever the machine, so a data file can move between hosts: as float32 when
# that is exact (vectors from float32 models, i.e. nearly all), else float64. The blob's length tells which.
_VECTOR_DTYPES = (np.dtype("<f4"), np.dtype("<f8"))
_FETCH_CHUNK = 8192
_MISSING = object()
_PLAIN_NUMBER_TYPES = frozenset({float, int})


# --------------------------------------------------------------------------------------------------------------
# Transactions
# --------------------------------------------------------------------------------------------------------------


@contextmanager
def _write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes can fail with
    # SQLITE_BUSY (without waiting) when another process wrote in between.
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        # Also after a failed COMMIT: a transaction left open would make every later BEGIN fail.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


@contextmanager
def _read_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    # Several SELECTs in one transaction see one snapshot, even while another process commits writes.
    connection.execute("BEGIN")
    try:
        yield
    finally:
        if connection.in_transaction:
            connection.execute("COMMIT")


# --------------------------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------------------------


def _json_path(field_name: str) -> str:
    """The SQLite JSON path of a top-level or dotted nested field, refusing anything but plain identifiers."""
    if not isinstance(field_name, str) or not _FIELD_NAME.fullmatch(field_name):
        raise ValueError(
            f"invalid field name {field_name!r}: use letters, digits and underscores, with dots for nested fields "
            "(e.g. 'price' or 'embedding_info.status')"
        )
    return "$." + field_name


# The JSON types a filter value can be compared with. json_extract turns JSON true/false into 1/0, so json_type is
# what tells a boolean from a number, both in SQL and in the vector index's field columns.
_KIND_MISSING, _KIND_BOOL, _KIND_NUMBER, _KIND_TEXT, _KIND_OTHER = range(5)
_KIND_OF_JSON_TYPE = {
    None: _KIND_MISSING,
    "true": _KIND_BOOL,
    "false": _KIND_BOOL,
    "integer": _KIND_NUMBER,
    "real": _KIND_NUMBER,
    "text": _KIND_TEXT,
    "null": _KIND_OTHER,
    "array": _KIND_OTHER,
    "object": _KIND_OTHER,
}
_JSON_TYPES_OF_KIND = {_KIND_BOOL: "('true', 'false')", _KIND_NUMBER: "('integer', 'real')", _KIND_TEXT: "('text')"}
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


@dataclass(frozen=True)
class _CheckedFilter:
    """A validated :class:`FieldFilter`: its JSON path, operator, the JSON kind it compares with and SQL value."""

    field: str
    path: str
    op: str
    kind: int
    bound: str | int | float

    @classmethod
    def of(cls, condition: FieldFilter) -> _CheckedFilter:
        path = _json_path(condition.field)
        if condition.op not in _SQL_OPERATORS:
            raise ValueError(f"invalid filter operator {condition.op!r}: use one of {', '.join(_SQL_OPERATORS)}")
        value = condition.value
        if isinstance(value, bool):
            return cls(condition.field, path, condition.op, _KIND_BOOL, int(value))
        if isinstance(value, int | float):
            if isinstance(value, float) and not np.isfinite(value):
                raise ValueError(f"filter on {condition.field!r}: {value} is not a JSON number")
            return cls(condition.field, path, condition.op, _KIND_NUMBER, value)
        if isinstance(value, str):
            return cls(condition.field, path, condition.op, _KIND_TEXT, value)
        raise ValueError(
            f"filter on {condition.field!r}: value must be a string, number or boolean, not {type(value).__name__}"
        )


def _filter_sql(filters: Sequence[FieldFilter]) -> tuple[str, list[Any]]:
    """A SQL condition (with ``?`` parameters) that holds when every filter holds, with Cosmos DB semantics.

    A comparison between values of different JSON types is undefined in Cosmos DB and never matches; ``ne`` also
    matches documents that lack the field. :meth:`_FieldColumn.matches` is the same logic over numpy arrays.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for condition in map(_CheckedFilter.of, filters):
        types, operator_sql = _JSON_TYPES_OF_KIND[condition.kind], _SQL_OPERATORS[condition.op]
        same_kind_and_holds = f"(json_type(body_json, ?) IN {types} AND json_extract(body_json, ?) {operator_sql} ?)"
        if condition.op == "ne":
            clauses.append(f"(json_type(body_json, ?) IS NULL OR {same_kind_and_holds})")
            params += [condition.path, condition.path, condition.path, condition.bound]
        else:
            clauses.append(same_kind_and_holds)
            params += [condition.path, condition.path, condition.bound]
    return (" AND ".join(clauses) or "1"), params


# --------------------------------------------------------------------------------------------------------------
# Documents, partition keys, vectors
# --------------------------------------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    # allow_nan=False: NaN/Infinity are not JSON, and Cosmos DB refuses them too.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _partition_key_json(value: Any) -> str:
    """The canonical text of a partition key value (``1`` and ``1.0`` are the same partition, as in Cosmos DB)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError(f"a partition key value must be a string, number, boolean or null, not {type(value).__name__}")
    return _dumps(value)


def _parse_pointer(path: str) -> list[str]:
    """The reference tokens of a JSON pointer such as ``/embedding_info/status``."""
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise ValueError(f"invalid path {path!r}: use a JSON pointer such as '/price' or '/embedding_info/status'")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _vector_bytes(value: Any, dimensions: int) -> bytes | None:
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
    narrow = array.astype(_VECTOR_DTYPES[0])
    # The index normalises in float32: a vector whose float32 norm overflows or underflows cannot be ranked.
    norm = float(np.sqrt(np.dot(narrow, narrow)))
    if not np.isfinite(array).all() or not np.isfinite(norm) or norm == 0:
        return None
    return narrow.tobytes() if np.array_equal(narrow, array) else array.astype(_VECTOR_DTYPES[1]).tobytes()


def _vector_dtype(blob: bytes, dimensions: int) -> np.dtype[Any] | None:
    """The dtype a stored vector blob was written with, or ``None`` if it is not a vector of ``dimensions``."""
    for dtype in _VECTOR_DTYPES:
        if len(blob) == dimensions * dtype.itemsize:
            return dtype
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _array_index(token: str, length: int, *, path: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise ValueError(f"invalid array index {token!r} in path {path!r}")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise ValueError(f"array index {index} out of range in path {path!r}")
    return index


def _apply_patch_operation(document: dict[str, Any], operation: PatchOperation, protected: frozenset[str]) -> None:
    """Apply one partial-update operation to ``document`` in place, as Cosmos DB does.

    Raises:
        ValueError: an unknown op, a protected path, a missing parent, ``replace``/``remove`` of a missing field,
            or ``incr`` of a non-number (Cosmos DB answers all of these with 400 Bad Request).
    """
    path, kind, value = operation.path, operation.op, operation.value
    tokens = _parse_pointer(path)
    if tokens[0] in protected:
        raise ValueError(f"patch path {path!r} targets {tokens[0]!r}, which cannot be patched")
    if kind not in ("set", "replace", "add", "remove", "incr"):
        raise ValueError(f"invalid patch op {kind!r}: use set, replace, add, remove or incr")
    if kind == "incr" and not _is_number(value):
        raise ValueError(f"incr at {path!r} needs a number, not {value!r}")

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
            elif not _is_number(parent[leaf]):
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
            if not _is_number(parent[index]):
                raise ValueError(f"incr at {path!r}: the current value {parent[index]!r} is not a number")
            parent[index] += value
        else:
            parent[index] = value
    else:
        raise ValueError(f"patch path {path!r}: the parent is neither an object nor an array")


@dataclass
class _PreparedWrite:
    """A document ready to store: addressed, stripped of system fields, its vector detached."""

    item_id: str
    pk_json: str
    body: dict[str, Any]
    vector: bytes | None


# --------------------------------------------------------------------------------------------------------------
# Vector index
# --------------------------------------------------------------------------------------------------------------


class _FieldColumn:
    """One field's values for every row of a vector index, so filters are evaluated without parsing JSON.

    Values come from SQLite's own ``json_type``/``json_extract`` (as the SQL filters see them); only the
    comparison is done here, over numpy arrays. Numbers are held as float64, so integers beyond 2**53 compare
    approximately (SQL compares them exactly).
    """

    def __init__(self, capacity: int) -> None:
        self.kinds: npt.NDArray[np.int8] = np.zeros(capacity, dtype=np.int8)
        self.numbers: npt.NDArray[np.float64] = np.zeros(capacity, dtype=np.float64)
        self.texts: npt.NDArray[np.object_] = np.full(capacity, None, dtype=object)

    def grow(self, capacity: int) -> None:
        kinds, numbers, texts = self.kinds, self.numbers, self.texts
        self.kinds = np.zeros(capacity, dtype=np.int8)
        self.numbers = np.zeros(capacity, dtype=np.float64)
        self.texts = np.full(capacity, None, dtype=object)
        self.kinds[: len(kinds)], self.numbers[: len(numbers)], self.texts[: len(texts)] = kinds, numbers, texts

    def set(self, row: int, json_type: str | None, value: Any) -> None:
        kind = _KIND_OF_JSON_TYPE[json_type]
        self.kinds[row] = kind
        self.numbers[row] = value if kind in (_KIND_BOOL, _KIND_NUMBER) else 0.0
        self.texts[row] = value if kind == _KIND_TEXT else None

    def move(self, source: int, target: int) -> None:
        self.kinds[target], self.numbers[target], self.texts[target] = (
            self.kinds[source],
            self.numbers[source],
            self.texts[source],
        )

    def matches(self, condition: _CheckedFilter, size: int) -> npt.NDArray[np.bool_]:
        """Which of the first ``size`` rows satisfy ``condition`` (same semantics as :func:`_filter_sql`)."""
        kinds = self.kinds[:size]
        same_kind = kinds == condition.kind
        compare = _COMPARISONS[condition.op]
        if condition.kind == _KIND_TEXT:
            # Only compare actual strings: None < "a" would raise.
            holds = np.zeros(size, dtype=bool)
            rows = np.flatnonzero(same_kind)
            # The bound as a 0-d object array: compared with a plain str, numpy would turn it into np.str_, which
            # drops trailing NULs ("Tents\x00" would match "Tents").
            bound = np.empty((), dtype=object)
            bound[()] = condition.bound
            holds[rows] = np.asarray(compare(self.texts[rows], bound), dtype=bool)
        else:
            holds = same_kind & compare(self.numbers[:size], condition.bound)
        if condition.op == "ne":
            return (kinds == _KIND_MISSING) | holds
        return holds


class _VectorIndex:
    """L2-normalised float32 vectors of one container, one row per document, searched exactly.

    Only the store's worker thread touches it. ``last_lsn`` is the container sequence it reflects; anything
    written later (by this process or another) is applied before the next search. Fields that searches filter on
    get a :class:`_FieldColumn`, kept in step with the rows.
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
        self.columns: dict[str, _FieldColumn] = {}

    def key_at(self, row: int) -> tuple[str, str]:
        return self._keys[row]

    def row_of(self, key: tuple[str, str]) -> int | None:
        return self._rows.get(key)

    def add_column(self, field_name: str) -> _FieldColumn:
        column = self.columns[field_name] = _FieldColumn(len(self._matrix))
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

        Every vector must have a finite, non-zero float32 norm (:func:`_vector_bytes` stores no others).
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

    def matching_rows(self, conditions: Sequence[_CheckedFilter]) -> npt.NDArray[np.int64]:
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


# --------------------------------------------------------------------------------------------------------------
# Store and container
# --------------------------------------------------------------------------------------------------------------


#: How deep each ranking goes before fusion: deeper than any k asked for, shallow enough to stay fast.
_HYBRID_DEPTH = 50
_FTS_TOKEN = re.compile(r"\w+")


def _fts_match(text: str) -> str:
    """An FTS5 query matching any of the words in ``text``, each quoted so no FTS5 syntax gets through."""
    words = dict.fromkeys(word.lower() for word in _FTS_TOKEN.findall(text))
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)


def _spec_record(spec: ContainerSpec) -> dict[str, Any]:
    vector = spec.vector
    return {
        "partition_key_path": spec.partition_key_path,
        "vector": None
        if vector is None
        else {"path": vector.path, "dimensions": vector.dimensions, "distance": vector.distance},
    }


class SqliteDocumentStore(DocumentStore):
    """Containers of JSON documents in one SQLite file (WAL mode), safe to share between processes.

    Args:
        path: the database file; its folder is created if needed.
        busy_timeout_ms: how long a write waits for another process's write transaction to finish.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_ms = busy_timeout_ms
        # One worker thread: SQLite connections are thread-affine and one connection serialises its statements.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._connection: sqlite3.Connection | None = None
        self._containers: dict[str, SqliteDocumentContainer] = {}
        self._closed = False

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work(connection)`` on the store's worker thread and return its result."""
        if self._closed:
            raise RuntimeError(f"the document store at {self.path} is closed")
        loop = asyncio.get_running_loop()
        # A cancelled caller does not stop work already started: a write may still commit, as with a remote store.
        return await loop.run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._connection is None:
            self._connection = self._connect()
        return work(self._connection)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; every transaction here is explicit.
        connection = sqlite3.connect(self.path, timeout=self._busy_timeout_ms / 1000, isolation_level=None)
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            # Only takes effect on a new file. 8 KiB pages hold three ~2 KiB rows (a 384-d float32 vector and a
            # typical product), where 4 KiB pages hold one and waste half the file.
            connection.execute("PRAGMA page_size = 8192")
            connection.execute("PRAGMA journal_mode = WAL")
            # With WAL, NORMAL loses no committed transaction on an application crash and fsyncs far less.
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA cache_size = -65536")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer version of this store (schema {version}, "
                    f"this code knows {_SCHEMA_VERSION})"
                )
            with _write_transaction(connection):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except BaseException:
            connection.close()
            raise
        return connection

    async def container(self, spec: ContainerSpec) -> SqliteDocumentContainer:
        """The container described by ``spec``, created in the file on first use.

        Raises:
            ValueError: the file already holds this container with a different partition key path or vector
                policy.
        """
        return await self._run(functools.partial(self._open_container, spec))

    def _open_container(self, spec: ContainerSpec, connection: sqlite3.Connection) -> SqliteDocumentContainer:
        wanted = _spec_record(spec)
        with _write_transaction(connection):
            connection.execute(
                "INSERT OR IGNORE INTO containers (name, spec_json) VALUES (?, ?)", (spec.name, _dumps(wanted))
            )
            (stored_json,) = connection.execute(
                "SELECT spec_json FROM containers WHERE name = ?", (spec.name,)
            ).fetchone()
        stored = json.loads(stored_json)
        if stored != wanted:
            raise ValueError(
                f"container {spec.name!r} in {self.path} was created with partition key path "
                f"{stored['partition_key_path']!r} and vector policy {stored['vector']}, but was opened with "
                f"{wanted['partition_key_path']!r} and {wanted['vector']}: use the same ContainerSpec everywhere, "
                "or a new container name or data file (documents are not migrated)"
            )
        container = self._containers.get(spec.name)
        if container is None:
            container = SqliteDocumentContainer(self, spec)
            self._containers[spec.name] = container
        return container

    async def close(self) -> None:
        """Close the connection and stop the worker thread; the store cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class SqliteDocumentContainer(DocumentContainer):
    """One container in a :class:`SqliteDocumentStore`; obtain it with :meth:`SqliteDocumentStore.container`."""

    def __init__(self, store: SqliteDocumentStore, spec: ContainerSpec) -> None:
        self.spec = spec
        self._store = store
        self._protected = frozenset({"id", spec.partition_key_path.lstrip("/"), *SYSTEM_FIELDS})
        self._vector_tokens = _parse_pointer(spec.vector.path) if spec.vector else None
        self._index = _VectorIndex(spec.vector.dimensions) if spec.vector else None

    # ---- helpers running on the worker thread ----------------------------------------------------------------

    def _prepare(self, document: Mapping[str, Any]) -> _PreparedWrite:
        if not isinstance(document, Mapping):
            raise TypeError(f"a document must be a mapping, not {type(document).__name__}")
        item_id = document.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise ValueError(f"a document needs a non-empty string 'id', got {item_id!r}")
        pk_json = _partition_key_json(self.partition_key_of(document))
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
                vector = _vector_bytes(parent.get(leaf, _MISSING), self.spec.vector.dimensions)
                if vector is not None:
                    del parent[leaf]
        return _PreparedWrite(item_id, pk_json, body, vector)

    def _document(self, body_json: str, vector: bytes | None) -> Document:
        document: Document = json.loads(body_json)
        if vector is not None and self._vector_tokens is not None and self.spec.vector is not None:
            parent = document
            for token in self._vector_tokens[:-1]:
                parent = parent[token]
            dtype = _vector_dtype(vector, self.spec.vector.dimensions)
            parent[self._vector_tokens[-1]] = np.frombuffer(vector, dtype=dtype).tolist()
        return document

    def _allocate_lsns(self, connection: sqlite3.Connection, count: int) -> int:
        """Reserve ``count`` sequence numbers in the current write transaction; returns the last one."""
        rows = connection.execute(
            "UPDATE containers SET seq = seq + ? WHERE name = ? RETURNING seq", (count, self.name)
        ).fetchall()
        return int(rows[0][0])

    def _current_seq(self, connection: sqlite3.Connection) -> int:
        return int(connection.execute("SELECT seq FROM containers WHERE name = ?", (self.name,)).fetchone()[0])

    def _write_rows(self, connection: sqlite3.Connection, prepared: Sequence[_PreparedWrite], last_lsn: int) -> str:
        """Store prepared documents with consecutive lsns ending at ``last_lsn``; returns the last body's JSON."""
        now = int(time.time())
        rows = []
        body_json = ""
        for lsn, item in enumerate(prepared, start=last_lsn - len(prepared) + 1):
            etag = f'"{uuid.uuid4()}"'
            body = item.body
            body["_etag"], body["_ts"], body["_lsn"] = etag, now, lsn
            body_json = _dumps(body)
            rows.append((self.name, item.pk_json, item.item_id, body_json, item.vector, etag, now, lsn))
        connection.executemany(
            "INSERT INTO documents (container, pk_json, id, body_json, vector, etag, ts, lsn) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (container, pk_json, id) DO UPDATE SET "
            "body_json = excluded.body_json, vector = excluded.vector, etag = excluded.etag, ts = excluded.ts, "
            "lsn = excluded.lsn",
            rows,
        )
        # A re-created document is live again: its tombstone must not remove it from a vector index later.
        connection.executemany(
            "DELETE FROM tombstones WHERE container = ? AND pk_json = ? AND id = ?",
            [(self.name, item.pk_json, item.item_id) for item in prepared],
        )
        return body_json

    def _write_one(self, connection: sqlite3.Connection, prepared: _PreparedWrite) -> Document:
        body_json = self._write_rows(connection, [prepared], self._allocate_lsns(connection, 1))
        return self._document(body_json, prepared.vector)

    def _stored_etag(self, connection: sqlite3.Connection, pk_json: str, item_id: str) -> str | None:
        row = connection.execute(
            "SELECT etag FROM documents WHERE container = ? AND pk_json = ? AND id = ?",
            (self.name, pk_json, item_id),
        ).fetchone()
        return None if row is None else str(row[0])

    def _check_etag(self, stored: str | None, if_match: str | None, item_id: str) -> None:
        if stored is None:
            raise NotFoundError(f"no document {item_id!r} in the partition in container {self.name!r}")
        if if_match is not None and stored != if_match:
            raise PreconditionFailedError(
                f"document {item_id!r} in container {self.name!r} has changed (ETag {stored}, expected {if_match})"
            )

    def _sync_index(self, connection: sqlite3.Connection, index: _VectorIndex) -> None:
        """Bring the vector index up to the container's current sequence (call inside a read transaction)."""
        seq = self._current_seq(connection)
        if seq == index.last_lsn:
            return
        if seq < index.last_lsn:
            # The sequence went backwards: the file was replaced under us. Start over.
            index.reset()
        initial = index.last_lsn == 0
        if initial:
            # Counted from the (container, lsn) index alone; "vector IS NOT NULL" would read every row twice.
            (count,) = connection.execute("SELECT COUNT(*) FROM documents WHERE container = ?", (self.name,)).fetchone()
            index.reserve(count)
        paths = [_json_path(name) for name in index.columns]
        columns_sql = "".join(", json_type(body_json, ?), json_extract(body_json, ?)" for _ in paths)
        cursor = connection.execute(
            f"SELECT pk_json, id, vector{columns_sql} FROM documents WHERE container = ? AND lsn > ?"
            + (" AND vector IS NOT NULL" if initial else ""),
            [*(path for path in paths for _ in range(2)), self.name, index.last_lsn],
        )
        dtype_of_length = {index.dimensions * dtype.itemsize: dtype for dtype in _VECTOR_DTYPES}
        while chunk := cursor.fetchmany(_FETCH_CHUNK):
            # Group by stored width so each group becomes one array with a single frombuffer over joined bytes.
            # This loop runs once per document on the first search: it stays lean on purpose.
            groups: dict[np.dtype[Any], tuple[list[tuple[str, str]], list[bytes], list[list[tuple[Any, Any]]]]] = {
                dtype: ([], [], []) for dtype in _VECTOR_DTYPES
            }
            for row in chunk:
                vector = row[2]
                dtype = None if vector is None else dtype_of_length.get(len(vector))
                if dtype is None:
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
                "SELECT pk_json, id FROM tombstones WHERE container = ? AND lsn > ?", (self.name, index.last_lsn)
            ):
                index.remove((pk_json, item_id))
        index.last_lsn = seq

    def _add_index_column(self, connection: sqlite3.Connection, index: _VectorIndex, field_name: str) -> None:
        """Give the index a column for ``field_name`` (call in the read transaction that synced the index)."""
        column = index.add_column(field_name)
        path = _json_path(field_name)
        cursor = connection.execute(
            "SELECT pk_json, id, json_type(body_json, ?), json_extract(body_json, ?) FROM documents "
            "WHERE container = ? AND vector IS NOT NULL",
            (path, path, self.name),
        )
        for pk_json, item_id, json_type, value in cursor:
            row = index.row_of((pk_json, item_id))
            if row is not None:
                column.set(row, json_type, value)

    def _synced_candidates(
        self, connection: sqlite3.Connection, index: _VectorIndex, conditions: Sequence[_CheckedFilter]
    ) -> npt.NDArray[np.int64] | None:
        """Sync the index, then the rows matching every condition (``None``: no conditions, every row)."""
        self._sync_index(connection, index)
        if not conditions:
            return None
        # Filtering in SQL would parse every document's JSON on every search (~150 ms per 100k documents); a
        # column per filtered field, kept in step with the index, costs one scan ever.
        for name in dict.fromkeys(condition.field for condition in conditions):
            if name not in index.columns:
                self._add_index_column(connection, index, name)
        return index.matching_rows(conditions)

    def _scored_documents(
        self, connection: sqlite3.Connection, index: _VectorIndex, hits: Iterable[tuple[int, float]]
    ) -> list[ScoredDocument]:
        """The stored documents of index rows, with their scores, in the order given."""
        results = []
        for row, score in hits:
            pk_json, item_id = index.key_at(row)
            stored = connection.execute(
                "SELECT body_json, vector FROM documents WHERE container = ? AND pk_json = ? AND id = ?",
                (self.name, pk_json, item_id),
            ).fetchone()
            if stored is not None:
                results.append(ScoredDocument(self._document(stored[0], stored[1]), score))
        return results

    def _unit_query(self, vector: Sequence[float], k: int) -> npt.NDArray[np.float32]:
        """``vector`` normalised, after checking it and ``k`` against the container's vector policy."""
        assert self._index is not None
        if k <= 0:
            raise ValueError(f"k must be at least 1, not {k}")
        query = np.asarray(vector, dtype=np.float64)
        if query.shape != (self._index.dimensions,):
            raise ValueError(
                f"the query vector has {query.size} dimensions; container {self.name!r} holds "
                f"{self._index.dimensions}-dimensional vectors"
            )
        norm = float(np.linalg.norm(query))
        if not np.isfinite(norm) or norm == 0:
            raise ValueError("the query vector must be finite and not all zeros")
        return (query / norm).astype(np.float32)

    # ---- the interface ---------------------------------------------------------------------------------------

    async def read(self, item_id: str, partition_key: Any) -> Document | None:
        pk_json = _partition_key_json(partition_key)

        def work(connection: sqlite3.Connection) -> Document | None:
            row = connection.execute(
                "SELECT body_json, vector FROM documents WHERE container = ? AND pk_json = ? AND id = ?",
                (self.name, pk_json, item_id),
            ).fetchone()
            return None if row is None else self._document(row[0], row[1])

        return await self._store._run(work)

    async def create(self, document: Document) -> Document:
        def work(connection: sqlite3.Connection) -> Document:
            prepared = self._prepare(document)
            with _write_transaction(connection):
                if self._stored_etag(connection, prepared.pk_json, prepared.item_id) is not None:
                    raise ConflictError(
                        f"a document with id {prepared.item_id!r} already exists in its partition "
                        f"in container {self.name!r}"
                    )
                return self._write_one(connection, prepared)

        return await self._store._run(work)

    async def upsert(self, document: Document) -> Document:
        def work(connection: sqlite3.Connection) -> Document:
            prepared = self._prepare(document)
            with _write_transaction(connection):
                return self._write_one(connection, prepared)

        return await self._store._run(work)

    async def upsert_many(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Create or replace many documents in one transaction (bulk loading); returns how many were written.

        Not part of :class:`DocumentContainer`: a convenience for loaders and benchmarks. Later documents with the
        same id and partition key win, and each document gets its own ``_lsn``.
        """

        def work(connection: sqlite3.Connection) -> int:
            prepared = [self._prepare(document) for document in documents]
            if not prepared:
                return 0
            with _write_transaction(connection):
                self._write_rows(connection, prepared, self._allocate_lsns(connection, len(prepared)))
            return len(prepared)

        return await self._store._run(work)

    async def replace(self, document: Document, *, if_match: str | None = None) -> Document:
        def work(connection: sqlite3.Connection) -> Document:
            prepared = self._prepare(document)
            with _write_transaction(connection):
                stored = self._stored_etag(connection, prepared.pk_json, prepared.item_id)
                self._check_etag(stored, if_match, prepared.item_id)
                return self._write_one(connection, prepared)

        return await self._store._run(work)

    async def patch(
        self,
        item_id: str,
        partition_key: Any,
        operations: Sequence[PatchOperation],
        *,
        if_match: str | None = None,
        filter_predicate: Sequence[FieldFilter] = (),
    ) -> Document:
        pk_json = _partition_key_json(partition_key)
        predicate_sql, predicate_params = _filter_sql(filter_predicate)
        operations = list(operations)

        def work(connection: sqlite3.Connection) -> Document:
            with _write_transaction(connection):
                row = connection.execute(
                    "SELECT body_json, vector, etag FROM documents WHERE container = ? AND pk_json = ? AND id = ?",
                    (self.name, pk_json, item_id),
                ).fetchone()
                self._check_etag(None if row is None else row[2], if_match, item_id)
                if filter_predicate:
                    # The same SQL as query(), so a predicate means exactly what the same filters mean there.
                    holds = connection.execute(
                        "SELECT 1 FROM documents WHERE container = ? AND pk_json = ? AND id = ? AND " + predicate_sql,
                        [self.name, pk_json, item_id, *predicate_params],
                    ).fetchone()
                    if holds is None:
                        raise PreconditionFailedError(
                            f"document {item_id!r} in container {self.name!r} does not satisfy the patch's "
                            f"filter predicate {list(filter_predicate)}"
                        )
                document = self._document(row[0], row[1])
                for operation in operations:
                    _apply_patch_operation(document, operation, self._protected)
                return self._write_one(connection, self._prepare(document))

        return await self._store._run(work)

    async def delete(self, item_id: str, partition_key: Any, *, if_match: str | None = None) -> None:
        pk_json = _partition_key_json(partition_key)

        def work(connection: sqlite3.Connection) -> None:
            with _write_transaction(connection):
                self._check_etag(self._stored_etag(connection, pk_json, item_id), if_match, item_id)
                lsn = self._allocate_lsns(connection, 1)
                connection.execute(
                    "DELETE FROM documents WHERE container = ? AND pk_json = ? AND id = ?",
                    (self.name, pk_json, item_id),
                )
                connection.execute(
                    "INSERT INTO tombstones (container, pk_json, id, lsn) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (container, pk_json, id) DO UPDATE SET lsn = excluded.lsn",
                    (self.name, pk_json, item_id, lsn),
                )

        await self._store._run(work)

    async def query(
        self,
        filters: Sequence[FieldFilter] = (),
        *,
        partition_key: Any = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        """Documents matching every filter, optionally in one partition, ordered and limited.

        ``partition_key=None`` means every partition.

        Ordering follows Cosmos DB across types: missing < null < booleans < numbers < strings < arrays < objects.
        Ties are broken by id so that results are stable.

        Raises:
            ValueError: an invalid field name, operator or value, or a negative ``limit``.
        """
        where, params = _filter_sql(filters)
        sql = "SELECT body_json, vector FROM documents WHERE container = ? AND " + where
        params = [self.name, *params]
        if partition_key is not None:
            sql += " AND pk_json = ?"
            params.append(_partition_key_json(partition_key))
        if order_by is not None:
            path = _json_path(order_by)
            direction = "DESC" if descending else "ASC"
            sql += f" ORDER BY {_TYPE_RANK_SQL} {direction}, json_extract(body_json, ?) {direction}, id, pk_json"
            params += [path, path]
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must be zero or more, not {limit}")
            sql += " LIMIT ?"
            params.append(limit)

        def work(connection: sqlite3.Connection) -> list[Document]:
            return [self._document(body_json, vector) for body_json, vector in connection.execute(sql, params)]

        return await self._store._run(work)

    async def count(self, filters: Sequence[FieldFilter] = ()) -> int:
        where, params = _filter_sql(filters)
        sql = "SELECT COUNT(*) FROM documents WHERE container = ? AND " + where

        def work(connection: sqlite3.Connection) -> int:
            return int(connection.execute(sql, [self.name, *params]).fetchone()[0])

        return await self._store._run(work)

    async def vector_search(
        self,
        vector: Sequence[float],
        k: int,
        *,
        filters: Sequence[FieldFilter] = (),
        min_score: float | None = None,
    ) -> list[ScoredDocument]:
        """The ``k`` documents most similar to ``vector`` by cosine similarity, best first (exact search).

        The first search loads every vector of the container into memory; later ones first apply what was written
        since, by this process or any other.

        Raises:
            ValueError: the container has no vector policy, ``vector`` has the wrong dimensions, is all zeros or
                not finite, ``k`` is not positive, or a filter is invalid.
        """
        index = self._index
        if index is None:
            raise ValueError(f"container {self.name!r} has no vector policy, so it cannot be searched by vector")
        unit_query = self._unit_query(vector, k)
        conditions = [_CheckedFilter.of(condition) for condition in filters]

        def work(connection: sqlite3.Connection) -> list[ScoredDocument]:
            with _read_transaction(connection):
                candidates = self._synced_candidates(connection, index, conditions)
                hits = index.search(unit_query, k, candidates)
                if min_score is not None:
                    hits = [(row, score) for row, score in hits if score >= min_score]
                return self._scored_documents(connection, index, hits)

        return await self._store._run(work)

    async def hybrid_search(
        self,
        vector: Sequence[float],
        text: str,
        k: int,
        *,
        filters: Sequence[FieldFilter] = (),
    ) -> list[ScoredDocument]:
        """Reciprocal rank fusion of the exact vector ranking and an FTS5 ``bm25`` ranking (see the interface).

        The full-text index follows the container's change sequence lazily, like the vector index: each search
        first indexes what was written since the last one (by any process).

        Raises:
            ValueError: the container has no vector policy or no ``full_text_paths``, or as :meth:`vector_search`.
        """
        index = self._index
        paths = self.spec.full_text_paths
        if index is None or not paths:
            raise ValueError(f"container {self.name!r} needs a vector policy and full_text_paths for hybrid search")
        unit_query = self._unit_query(vector, k)
        conditions = [_CheckedFilter.of(condition) for condition in filters]
        match = _fts_match(text)
        depth = max(_HYBRID_DEPTH, k)

        def work(connection: sqlite3.Connection) -> list[ScoredDocument]:
            with _write_transaction(connection):
                self._sync_fulltext(connection, paths)
            with _read_transaction(connection):
                candidates = self._synced_candidates(connection, index, conditions)
                by_vector = [row for row, _ in index.search(unit_query, depth, candidates)]
                by_text: list[int] = []
                if match:
                    allowed = None if candidates is None else set(candidates.tolist())
                    cursor = connection.execute(
                        "SELECT r.pk_json, r.id FROM fulltext JOIN fulltext_rows AS r ON r.rowid = fulltext.rowid "
                        "WHERE fulltext MATCH ? AND r.container = ? ORDER BY bm25(fulltext) LIMIT ?",
                        (match, self.name, depth * 4),
                    )
                    for pk_json, item_id in cursor:
                        row = index.row_of((pk_json, item_id))
                        if row is not None and (allowed is None or row in allowed):
                            by_text.append(row)
                            if len(by_text) == depth:
                                break
                return self._scored_documents(connection, index, rrf_fuse([by_vector, by_text], k))

        return await self._store._run(work)

    def _sync_fulltext(self, connection: sqlite3.Connection, paths: tuple[str, ...]) -> None:
        """Index for full text what changed since the last sync (call inside a write transaction)."""
        paths_json = _dumps(list(paths))
        state = connection.execute(
            "SELECT paths_json, lsn FROM fulltext_state WHERE container = ?", (self.name,)
        ).fetchone()
        seq = self._current_seq(connection)
        synced = 0
        if state is not None and state[0] == paths_json and state[1] <= seq:
            synced = int(state[1])
        elif state is not None:
            # Other fields, or a replaced file: index from scratch.
            connection.execute(
                "DELETE FROM fulltext WHERE rowid IN (SELECT rowid FROM fulltext_rows WHERE container = ?)",
                (self.name,),
            )
            connection.execute("DELETE FROM fulltext_rows WHERE container = ?", (self.name,))
        if synced == seq and state is not None:
            return
        json_paths = [_json_path(path.lstrip("/")) for path in paths]
        extract = ", ".join("json_extract(body_json, ?)" for _ in json_paths)
        cursor = connection.execute(
            f"SELECT pk_json, id, {extract} FROM documents WHERE container = ? AND lsn > ?",
            [*json_paths, self.name, synced],
        )
        for pk_json, item_id, *values in cursor.fetchall():
            text = "\n".join(str(value) for value in values if isinstance(value, str | int | float))
            connection.execute(
                "INSERT INTO fulltext_rows (container, pk_json, id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (self.name, pk_json, item_id),
            )
            (rowid,) = connection.execute(
                "SELECT rowid FROM fulltext_rows WHERE container = ? AND pk_json = ? AND id = ?",
                (self.name, pk_json, item_id),
            ).fetchone()
            connection.execute("DELETE FROM fulltext WHERE rowid = ?", (rowid,))
            connection.execute("INSERT INTO fulltext (rowid, text) VALUES (?, ?)", (rowid, text))
        for pk_json, item_id in connection.execute(
            "SELECT pk_json, id FROM tombstones WHERE container = ? AND lsn > ?", (self.name, synced)
        ).fetchall():
            found = connection.execute(
                "SELECT rowid FROM fulltext_rows WHERE container = ? AND pk_json = ? AND id = ?",
                (self.name, pk_json, item_id),
            ).fetchone()
            if found is not None:
                connection.execute("DELETE FROM fulltext WHERE rowid = ?", found)
                connection.execute("DELETE FROM fulltext_rows WHERE rowid = ?", found)
        connection.execute(
            "INSERT INTO fulltext_state (container, paths_json, lsn) VALUES (?, ?, ?) ON CONFLICT (container) "
            "DO UPDATE SET paths_json = excluded.paths_json, lsn = excluded.lsn",
            (self.name, paths_json, seq),
        )

    async def read_changes(
        self, continuation: str | None, max_items: int, *, from_beginning: bool = True
    ) -> ChangeBatch:
        """Documents changed after ``continuation``, oldest change first, each once in its latest version.

        The continuation is the ``_lsn`` of the last document delivered. With no continuation, reading starts at
        the beginning, or "from now" when ``from_beginning`` is false (no documents, just the current position).
        Hard deletes do not appear.

        Raises:
            ValueError: ``max_items`` is not positive, or ``continuation`` was not issued by this container.
        """
        if max_items <= 0:
            raise ValueError(f"max_items must be at least 1, not {max_items}")
        after = 0
        if continuation is not None:
            if not isinstance(continuation, str) or not continuation.isdigit():
                raise ValueError(f"continuation {continuation!r} was not issued by this store's change feed")
            after = int(continuation)

        def work(connection: sqlite3.Connection) -> ChangeBatch:
            with _read_transaction(connection):
                seq = self._current_seq(connection)
                if continuation is None and not from_beginning:
                    return ChangeBatch([], str(seq), False)
                if after > seq:
                    raise ValueError(
                        f"continuation {continuation!r} is ahead of container {self.name!r}'s change feed (at {seq}) "
                        f"in {self._store.path}: it belongs to another data file, or this one was replaced"
                    )
                rows = connection.execute(
                    "SELECT body_json, vector, lsn FROM documents WHERE container = ? AND lsn > ? ORDER BY lsn LIMIT ?",
                    (self.name, after, max_items),
                ).fetchall()
                if not rows:
                    return ChangeBatch([], continuation, False)
                last = int(rows[-1][2])
                has_more = connection.execute(
                    "SELECT EXISTS (SELECT 1 FROM documents WHERE container = ? AND lsn > ?)", (self.name, last)
                ).fetchone()[0]
                documents = [self._document(body_json, vector) for body_json, vector, _ in rows]
                return ChangeBatch(documents, str(last), bool(has_more))

        return await self._store._run(work)
