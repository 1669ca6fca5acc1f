"""The store: one SQLite file, one connection on one worker thread, and the containers opened in it."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from store.base import ContainerSpec, DocumentStore
from store.sqlite.container import SqliteDocumentContainer
from store.sqlite.schema import DEFAULT_BUSY_TIMEOUT_MS, connect, is_damaged, register_container, unusable

_T = TypeVar("_T")


class SqliteDocumentStore(DocumentStore):
    """Containers of JSON documents in one SQLite file (WAL mode), safe to share between processes.

    All SQLite work runs on one dedicated worker thread per store, so the event loop never blocks on disk and the
    connection is only ever used by the thread that opened it.

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

    async def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work(connection)`` on the store's worker thread and return its result.

        Raises:
            RuntimeError: the store is closed.
            StoreUnavailableError: the data file is not a SQLite database, or is damaged.
        """
        if self._closed:
            raise RuntimeError(f"the document store at {self.path} is closed")
        loop = asyncio.get_running_loop()
        # A cancelled caller does not stop work already started: a write may still commit, as with a remote store.
        return await loop.run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._connection is None:
            self._connection = connect(self.path, self._busy_timeout_ms)
        try:
            return work(self._connection)
        except sqlite3.DatabaseError as error:
            # Damage past the first pages only shows when those pages are read: the same one error, not a traceback.
            if is_damaged(error):
                raise unusable(self.path, error) from None
            raise

    async def container(self, spec: ContainerSpec) -> SqliteDocumentContainer:
        """The container described by ``spec``, created in the file on first use.

        Raises:
            ValueError: the file already holds this container with a different partition key path or vector
                policy.
            StoreUnavailableError: the data file is not a SQLite database, or is damaged.
        """
        return await self.run(functools.partial(self._open_container, spec))

    def _open_container(self, spec: ContainerSpec, connection: sqlite3.Connection) -> SqliteDocumentContainer:
        register_container(connection, spec, self.path)
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
