"""The SQLite file: its tables, opening a connection to it, and the two kinds of transaction every operation uses.

Tables:

* ``containers`` — one row per container: its spec (checked on every open, so a process cannot silently use a
  different partition key or vector policy) and ``seq``, the container's change-feed sequence;
* ``documents`` — the latest version of every document: the JSON body *without* its vector, the vector as a
  little-endian blob, and the ``lsn`` of the write that produced it;
* ``tombstones`` — the ``lsn`` of each hard delete, read only to keep vector and full-text indexes in sync;
* ``fulltext``, ``fulltext_rows``, ``fulltext_state`` — the FTS5 index of hybrid search and how far it has synced.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from store.base import ContainerSpec, StoreUnavailableError

#: How long a write waits for another connection's write transaction before failing with "database is locked".
DEFAULT_BUSY_TIMEOUT_MS = 30_000

SCHEMA_VERSION = 1

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

#: SQLite's answers for a file that is not a database, or one whose pages are damaged.
_DAMAGED = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})


def dumps(value: Any) -> str:
    """Compact JSON, refusing NaN and Infinity (they are not JSON, and Cosmos DB refuses them too)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@contextmanager
def write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """A transaction that holds the file's write lock from its first statement."""
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
def read_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """A transaction whose SELECTs all see one snapshot, even while another process commits writes."""
    connection.execute("BEGIN")
    try:
        yield
    finally:
        if connection.in_transaction:
            connection.execute("COMMIT")


def is_damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite refused because the file is not a database or is corrupt (not, say, because it is locked)."""
    return getattr(error, "sqlite_errorname", None) in _DAMAGED


def unusable(path: Path, error: sqlite3.DatabaseError) -> StoreUnavailableError:
    """The one error a damaged data file raises: which file, what SQLite said, and what to do."""
    return StoreUnavailableError(
        f"{path} is not a usable SQLite database ({error}); move it aside or delete it to start empty"
    )


def connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open the data file (creating it and its tables when new) in WAL mode.

    Raises:
        StoreUnavailableError: the file is not a SQLite database, or is damaged.
        RuntimeError: the file was written by a newer version of this store.
    """
    # isolation_level=None: no implicit transactions; every transaction here is explicit.
    connection = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # Only takes effect on a new file. 8 KiB pages hold three ~2 KiB rows (a 384-d float32 vector and a
        # typical product), where 4 KiB pages hold one and waste half the file.
        connection.execute("PRAGMA page_size = 8192")
        connection.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL loses no committed transaction on an application crash and fsyncs far less.
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA cache_size = -65536")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{path} was written by a newer version of this store (schema {version}, "
                f"this code knows {SCHEMA_VERSION})"
            )
        with write_transaction(connection):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as error:
        connection.close()
        if is_damaged(error):
            raise unusable(path, error) from None
        raise
    except BaseException:
        connection.close()
        raise
    return connection


def spec_record(spec: ContainerSpec) -> dict[str, Any]:
    """What the file records of a container's spec: what documents already stored depend on."""
    vector = spec.vector
    return {
        "partition_key_path": spec.partition_key_path,
        "vector": None
        if vector is None
        else {"path": vector.path, "dimensions": vector.dimensions, "distance": vector.distance},
    }


def register_container(connection: sqlite3.Connection, spec: ContainerSpec, path: Path) -> None:
    """Record the container in the file on first use; on later uses, check it is opened with the same spec.

    Raises:
        ValueError: the file holds this container with a different partition key path or vector policy.
    """
    wanted = spec_record(spec)
    with write_transaction(connection):
        connection.execute(
            "INSERT OR IGNORE INTO containers (name, spec_json) VALUES (?, ?)", (spec.name, dumps(wanted))
        )
        (stored_json,) = connection.execute("SELECT spec_json FROM containers WHERE name = ?", (spec.name,)).fetchone()
    stored = json.loads(stored_json)
    if stored != wanted:
        raise ValueError(
            f"container {spec.name!r} in {path} was created with partition key path "
            f"{stored['partition_key_path']!r} and vector policy {stored['vector']}, but was opened with "
            f"{wanted['partition_key_path']!r} and {wanted['vector']}: use the same ContainerSpec everywhere, "
            "or a new container name or data file (documents are not migrated)"
        )


def current_seq(connection: sqlite3.Connection, container: str) -> int:
    """The container's change-feed sequence: the ``lsn`` of its latest write."""
    return int(connection.execute("SELECT seq FROM containers WHERE name = ?", (container,)).fetchone()[0])


def allocate_lsns(connection: sqlite3.Connection, container: str, count: int) -> int:
    """Reserve ``count`` sequence numbers in the current write transaction; returns the last one."""
    rows = connection.execute(
        "UPDATE containers SET seq = seq + ? WHERE name = ? RETURNING seq", (count, container)
    ).fetchall()
    return int(rows[0][0])
