"""One container of the SQLite store: CRUD with ETags, partial updates, queries, searches and the change feed."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from store.base import (
    SYSTEM_FIELDS,
    ChangeBatch,
    ConflictError,
    ContainerSpec,
    Document,
    DocumentContainer,
    FieldFilter,
    NotFoundError,
    PatchOperation,
    PreconditionFailedError,
    ScoredDocument,
    rrf_fuse,
)
from store.sqlite.changefeed import continuation_position, read_change_batch
from store.sqlite.documents import DocumentCodec, PreparedWrite, partition_key_json
from store.sqlite.filters import TYPE_RANK_SQL, CheckedFilter, filter_sql, json_path
from store.sqlite.fulltext import HYBRID_DEPTH, fts_match, sync_fulltext, text_ranking
from store.sqlite.patch import apply_patch_operation
from store.sqlite.schema import allocate_lsns, current_seq, dumps, read_transaction, write_transaction
from store.sqlite.vector_index import VectorIndex, body_vector_index, synced_candidates, unit_query

if TYPE_CHECKING:
    from store.sqlite.store import SqliteDocumentStore

_SELECT_ONE = "SELECT body_json, vector FROM documents WHERE container = ? AND pk_json = ? AND id = ?"


class SqliteDocumentContainer(DocumentContainer):
    """One container in a :class:`SqliteDocumentStore`; obtain it with :meth:`SqliteDocumentStore.container`."""

    def __init__(self, store: SqliteDocumentStore, spec: ContainerSpec) -> None:
        self.spec = spec
        self._store = store
        self._protected = frozenset({"id", spec.partition_key_path.lstrip("/"), *SYSTEM_FIELDS})
        self._codec = DocumentCodec(spec)
        self._index = VectorIndex(spec.vector.dimensions) if spec.vector else None
        #: Indexes of the spec's other vector paths, by (path, dimensions).
        self._extra_indexes: dict[tuple[str, int], VectorIndex] = {}

    # ---- helpers running on the worker thread ----------------------------------------------------------------

    def _prepare(self, document: Mapping[str, Any]) -> PreparedWrite:
        return self._codec.prepare(document, self.partition_key_of)

    def _write_rows(self, connection: sqlite3.Connection, prepared: Sequence[PreparedWrite], last_lsn: int) -> str:
        """Store prepared documents with consecutive lsns ending at ``last_lsn``; returns the last body's JSON.

        Raises:
            RejectedDocumentError: a document would be larger than Cosmos DB stores (nothing is written).
        """
        now = int(time.time())
        rows = []
        body_json = ""
        for lsn, item in enumerate(prepared, start=last_lsn - len(prepared) + 1):
            etag = f'"{uuid.uuid4()}"'
            body = item.body
            body["_etag"], body["_ts"], body["_lsn"] = etag, now, lsn
            body_json = dumps(body)
            self._codec.check_size(item.item_id, body_json, item.vector)
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

    def _write_one(self, connection: sqlite3.Connection, prepared: PreparedWrite) -> Document:
        body_json = self._write_rows(connection, [prepared], allocate_lsns(connection, self.name, 1))
        return self._codec.document(body_json, prepared.vector)

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

    def _scored_documents(
        self, connection: sqlite3.Connection, index: VectorIndex, hits: Iterable[tuple[int, float]]
    ) -> list[ScoredDocument]:
        """The stored documents of index rows, with their scores, in the order given."""
        results = []
        for row, score in hits:
            pk_json, item_id = index.key_at(row)
            stored = connection.execute(_SELECT_ONE, (self.name, pk_json, item_id)).fetchone()
            if stored is not None:
                results.append(ScoredDocument(self._codec.document(stored[0], stored[1]), score))
        return results

    # ---- the interface ---------------------------------------------------------------------------------------

    async def read(self, item_id: str, partition_key: Any) -> Document | None:
        pk_json = partition_key_json(partition_key)

        def work(connection: sqlite3.Connection) -> Document | None:
            row = connection.execute(_SELECT_ONE, (self.name, pk_json, item_id)).fetchone()
            return None if row is None else self._codec.document(row[0], row[1])

        return await self._store.run(work)

    async def create(self, document: Document) -> Document:
        def work(connection: sqlite3.Connection) -> Document:
            prepared = self._prepare(document)
            with write_transaction(connection):
                if self._stored_etag(connection, prepared.pk_json, prepared.item_id) is not None:
                    raise ConflictError(
                        f"a document with id {prepared.item_id!r} already exists in its partition "
                        f"in container {self.name!r}"
                    )
                return self._write_one(connection, prepared)

        return await self._store.run(work)

    async def upsert(self, document: Document) -> Document:
        def work(connection: sqlite3.Connection) -> Document:
            prepared = self._prepare(document)
            with write_transaction(connection):
                return self._write_one(connection, prepared)

        return await self._store.run(work)

    async def upsert_many(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Create or replace many documents in one transaction (bulk loading); returns how many were written.

        Not part of :class:`DocumentContainer`: a convenience for loaders and benchmarks. Later documents with the
        same id and partition key win, and each document gets its own ``_lsn``.
        """

        def work(connection: sqlite3.Connection) -> int:
            prepared = [self._prepare(document) for document in documents]
            if not prepared:
                return 0
            with write_transaction(connection):
                self._write_rows(connection, prepared, allocate_lsns(connection, self.name, len(prepared)))
            return len(prepared)

        return await self._store.run(work)

    async def replace(self, document: Document, *, if_match: str | None = None) -> Document:
        def work(connection: sqlite3.Connection) -> Document:
            prepared = self._prepare(document)
            with write_transaction(connection):
                stored = self._stored_etag(connection, prepared.pk_json, prepared.item_id)
                self._check_etag(stored, if_match, prepared.item_id)
                return self._write_one(connection, prepared)

        return await self._store.run(work)

    async def patch(
        self,
        item_id: str,
        partition_key: Any,
        operations: Sequence[PatchOperation],
        *,
        if_match: str | None = None,
        filter_predicate: Sequence[FieldFilter] = (),
    ) -> Document:
        """Apply the operations atomically (see the interface).

        Raises:
            NotFoundError: no such document.
            PreconditionFailedError: the ``_etag`` differs from ``if_match`` or a filter condition is false.
            RejectedDocumentError: the patched document would be larger than Cosmos DB stores (nothing changes).
            ValueError: an invalid operation or filter.
        """
        pk_json = partition_key_json(partition_key)
        predicate_sql, predicate_params = filter_sql(filter_predicate)
        operations = list(operations)

        def work(connection: sqlite3.Connection) -> Document:
            with write_transaction(connection):
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
                document = self._codec.document(row[0], row[1])
                for operation in operations:
                    apply_patch_operation(document, operation, self._protected)
                return self._write_one(connection, self._prepare(document))

        return await self._store.run(work)

    async def delete(self, item_id: str, partition_key: Any, *, if_match: str | None = None) -> None:
        pk_json = partition_key_json(partition_key)

        def work(connection: sqlite3.Connection) -> None:
            with write_transaction(connection):
                self._check_etag(self._stored_etag(connection, pk_json, item_id), if_match, item_id)
                lsn = allocate_lsns(connection, self.name, 1)
                connection.execute(
                    "DELETE FROM documents WHERE container = ? AND pk_json = ? AND id = ?",
                    (self.name, pk_json, item_id),
                )
                connection.execute(
                    "INSERT INTO tombstones (container, pk_json, id, lsn) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (container, pk_json, id) DO UPDATE SET lsn = excluded.lsn",
                    (self.name, pk_json, item_id, lsn),
                )

        await self._store.run(work)

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
        where, params = filter_sql(filters)
        sql = "SELECT body_json, vector FROM documents WHERE container = ? AND " + where
        params = [self.name, *params]
        if partition_key is not None:
            sql += " AND pk_json = ?"
            params.append(partition_key_json(partition_key))
        if order_by is not None:
            path = json_path(order_by)
            direction = "DESC" if descending else "ASC"
            sql += f" ORDER BY {TYPE_RANK_SQL} {direction}, json_extract(body_json, ?) {direction}, id, pk_json"
            params += [path, path]
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must be zero or more, not {limit}")
            sql += " LIMIT ?"
            params.append(limit)

        def work(connection: sqlite3.Connection) -> list[Document]:
            return [self._codec.document(body_json, vector) for body_json, vector in connection.execute(sql, params)]

        return await self._store.run(work)

    async def count(self, filters: Sequence[FieldFilter] = ()) -> int:
        where, params = filter_sql(filters)
        sql = "SELECT COUNT(*) FROM documents WHERE container = ? AND " + where

        def work(connection: sqlite3.Connection) -> int:
            return int(connection.execute(sql, [self.name, *params]).fetchone()[0])

        return await self._store.run(work)

    def _searchable_index(self, path: str | None, vector: Sequence[float]) -> tuple[VectorIndex, str | None]:
        """The index searched for ``path``, and the JSON path its vectors are read from (``None``: the main one)."""
        spec = self.spec.vector_at(path)
        dimensions = len(vector) if isinstance(vector, Sequence) else 0
        if spec is self.spec.vector and self._index is not None and (path is None or dimensions == spec.dimensions):
            return self._index, None
        # A path named explicitly is searched at the query's size: vectors of another size than the spec's stay in
        # the body (a slot refilled by a migration to another size) and get an index of their own.
        return body_vector_index(self._extra_indexes, spec.path, dimensions)

    async def vector_search(
        self,
        vector: Sequence[float],
        k: int,
        *,
        filters: Sequence[FieldFilter] = (),
        min_score: float | None = None,
        path: str | None = None,
    ) -> list[ScoredDocument]:
        """The ``k`` documents most similar to ``vector`` by cosine similarity, best first (exact search).

        The first search loads every vector of the container into memory; later ones first apply what was written
        since, by this process or any other. A vector at another ``path`` (one of the spec's ``extra_vectors``) is
        indexed at the query's dimensions: documents holding another size there are left out.

        Raises:
            ValueError: the container has no vector policy (at ``path``), ``vector`` has the wrong dimensions, is
                all zeros or not finite, ``k`` is not positive, or a filter is invalid.
        """
        index, json_vector = self._searchable_index(path, vector)
        query = unit_query(vector, k, index.dimensions, self.name)
        conditions = [CheckedFilter.of(condition) for condition in filters]

        def work(connection: sqlite3.Connection) -> list[ScoredDocument]:
            with read_transaction(connection):
                candidates = synced_candidates(connection, self.name, index, conditions, json_vector)
                hits = index.search(query, k, candidates)
                if min_score is not None:
                    hits = [(row, score) for row, score in hits if score >= min_score]
                return self._scored_documents(connection, index, hits)

        return await self._store.run(work)

    async def hybrid_search(
        self,
        vector: Sequence[float],
        text: str,
        k: int,
        *,
        filters: Sequence[FieldFilter] = (),
        path: str | None = None,
    ) -> list[ScoredDocument]:
        """Reciprocal rank fusion of the exact vector ranking and an FTS5 ``bm25`` ranking (see the interface).

        The full-text index follows the container's change sequence lazily, like the vector index: each search
        first indexes what was written since the last one (by any process).

        Raises:
            ValueError: the container has no vector policy (at ``path``) or no ``full_text_paths``, or as
                :meth:`vector_search`.
        """
        paths = self.spec.full_text_paths
        if self._index is None or not paths:
            raise ValueError(f"container {self.name!r} needs a vector policy and full_text_paths for hybrid search")
        index, json_vector = self._searchable_index(path, vector)
        query = unit_query(vector, k, index.dimensions, self.name)
        conditions = [CheckedFilter.of(condition) for condition in filters]
        match = fts_match(text)
        depth = max(HYBRID_DEPTH, k)

        def work(connection: sqlite3.Connection) -> list[ScoredDocument]:
            with write_transaction(connection):
                sync_fulltext(connection, self.name, paths, current_seq(connection, self.name))
            with read_transaction(connection):
                candidates = synced_candidates(connection, self.name, index, conditions, json_vector)
                by_vector = [row for row, _ in index.search(query, depth, candidates)]
                allowed = None if candidates is None or not match else set(candidates.tolist())
                by_text = text_ranking(connection, self.name, match, depth, index, allowed)
                return self._scored_documents(connection, index, rrf_fuse([by_vector, by_text], k))

        return await self._store.run(work)

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
        continuation_position(continuation)  # refused here, before the worker thread is asked

        def work(connection: sqlite3.Connection) -> ChangeBatch:
            return read_change_batch(
                connection,
                self.name,
                continuation,
                max_items,
                from_beginning=from_beginning,
                path=self._store.path,
                to_document=self._codec.document,
            )

        return await self._store.run(work)
