"""The latest-version change feed: rows whose ``lsn`` is greater than the continuation, ordered by ``lsn``.

Every write bumps the container's ``seq`` in the same ``BEGIN IMMEDIATE`` transaction as the row it writes, so
``lsn`` is strictly increasing across every process that opens the file (a CLI bulk-loading while the server runs,
say), and a continuation is simply the ``lsn`` of the last document delivered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from store.base import ChangeBatch, Document
from store.sqlite.schema import current_seq, read_transaction


def continuation_position(continuation: str | None) -> int:
    """The ``lsn`` a continuation stands for (0: the beginning).

    Raises:
        ValueError: ``continuation`` was not issued by this store's change feed.
    """
    if continuation is None:
        return 0
    if not isinstance(continuation, str) or not continuation.isdigit():
        raise ValueError(f"continuation {continuation!r} was not issued by this store's change feed")
    return int(continuation)


def read_change_batch(
    connection: sqlite3.Connection,
    container: str,
    continuation: str | None,
    max_items: int,
    *,
    from_beginning: bool,
    path: Path,
    to_document: Callable[[str, bytes | None], Document],
) -> ChangeBatch:
    """Up to ``max_items`` documents changed after ``continuation``, oldest change first, in their latest version.

    Raises:
        ValueError: ``continuation`` is ahead of the container's sequence (another data file's, or this one was
            replaced).
    """
    after = continuation_position(continuation)
    with read_transaction(connection):
        seq = current_seq(connection, container)
        if continuation is None and not from_beginning:
            return ChangeBatch([], str(seq), False)
        if after > seq:
            raise ValueError(
                f"continuation {continuation!r} is ahead of container {container!r}'s change feed (at {seq}) "
                f"in {path}: it belongs to another data file, or this one was replaced"
            )
        rows = connection.execute(
            "SELECT body_json, vector, lsn FROM documents WHERE container = ? AND lsn > ? ORDER BY lsn LIMIT ?",
            (container, after, max_items),
        ).fetchall()
        if not rows:
            return ChangeBatch([], continuation, False)
        last = int(rows[-1][2])
        has_more = connection.execute(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE container = ? AND lsn > ?)", (container, last)
        ).fetchone()[0]
        documents = [to_document(body_json, vector) for body_json, vector, _ in rows]
        return ChangeBatch(documents, str(last), bool(has_more))
