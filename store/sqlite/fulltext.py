"""Full-text search for hybrid search: an FTS5 index of each container's full-text fields, kept in sync lazily.

Like the vector index, the full-text index follows the container's change sequence: each hybrid search first
indexes what was written since the last one (by any process), so writes never pay for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Set

from store.fields import plain_path_parts, words
from store.sqlite.schema import dumps
from store.sqlite.vector_index import VectorIndex

#: How deep each ranking goes before fusion: deeper than any k asked for, shallow enough to stay fast.
HYBRID_DEPTH = 50


def fts_match(text: str) -> str:
    """An FTS5 query matching any of the words in ``text``, each quoted so no FTS5 syntax gets through."""
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words(text))


def sync_fulltext(connection: sqlite3.Connection, container: str, paths: tuple[str, ...], seq: int) -> None:
    """Index for full text what changed up to ``seq`` since the last sync (call inside a write transaction).

    Raises:
        ValueError: a full-text path is not a JSON pointer of plain names.
    """
    paths_json = dumps(list(paths))
    state = connection.execute(
        "SELECT paths_json, lsn FROM fulltext_state WHERE container = ?", (container,)
    ).fetchone()
    synced = 0
    if state is not None and state[0] == paths_json and state[1] <= seq:
        synced = int(state[1])
    elif state is not None:
        # Other fields, or a replaced file: index from scratch.
        connection.execute(
            "DELETE FROM fulltext WHERE rowid IN (SELECT rowid FROM fulltext_rows WHERE container = ?)", (container,)
        )
        connection.execute("DELETE FROM fulltext_rows WHERE container = ?", (container,))
    if synced == seq and state is not None:
        return
    json_paths = ["$." + ".".join(plain_path_parts(path, "full-text")) for path in paths]
    extract = ", ".join("json_extract(body_json, ?)" for _ in json_paths)
    cursor = connection.execute(
        f"SELECT pk_json, id, {extract} FROM documents WHERE container = ? AND lsn > ?",
        [*json_paths, container, synced],
    )
    for pk_json, item_id, *values in cursor.fetchall():
        text = "\n".join(str(value) for value in values if isinstance(value, str | int | float))
        connection.execute(
            "INSERT INTO fulltext_rows (container, pk_json, id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (container, pk_json, item_id),
        )
        (rowid,) = connection.execute(
            "SELECT rowid FROM fulltext_rows WHERE container = ? AND pk_json = ? AND id = ?",
            (container, pk_json, item_id),
        ).fetchone()
        connection.execute("DELETE FROM fulltext WHERE rowid = ?", (rowid,))
        connection.execute("INSERT INTO fulltext (rowid, text) VALUES (?, ?)", (rowid, text))
    for pk_json, item_id in connection.execute(
        "SELECT pk_json, id FROM tombstones WHERE container = ? AND lsn > ?", (container, synced)
    ).fetchall():
        found = connection.execute(
            "SELECT rowid FROM fulltext_rows WHERE container = ? AND pk_json = ? AND id = ?",
            (container, pk_json, item_id),
        ).fetchone()
        if found is not None:
            connection.execute("DELETE FROM fulltext WHERE rowid = ?", found)
            connection.execute("DELETE FROM fulltext_rows WHERE rowid = ?", found)
    connection.execute(
        "INSERT INTO fulltext_state (container, paths_json, lsn) VALUES (?, ?, ?) ON CONFLICT (container) "
        "DO UPDATE SET paths_json = excluded.paths_json, lsn = excluded.lsn",
        (container, paths_json, seq),
    )


def text_ranking(
    connection: sqlite3.Connection, container: str, match: str, depth: int, index: VectorIndex, allowed: Set[int] | None
) -> list[int]:
    """The vector-index rows of the best ``depth`` documents by ``bm25`` for ``match``, among ``allowed`` rows.

    Only documents in the vector index take part (hybrid search ranks documents that have a vector).
    """
    if not match:
        return []
    ranked: list[int] = []
    cursor = connection.execute(
        "SELECT r.pk_json, r.id FROM fulltext JOIN fulltext_rows AS r ON r.rowid = fulltext.rowid "
        "WHERE fulltext MATCH ? AND r.container = ? ORDER BY bm25(fulltext) LIMIT ?",
        (match, container, depth * 4),
    )
    for pk_json, item_id in cursor:
        row = index.row_of((pk_json, item_id))
        if row is not None and (allowed is None or row in allowed):
            ranked.append(row)
            if len(ranked) == depth:
                break
    return ranked
