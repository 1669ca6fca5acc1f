"""One container of the Cosmos DB store: the :class:`store.base.DocumentContainer` interface on ``azure.cosmos.aio``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from azure.cosmos.exceptions import CosmosResourceNotFoundError

from store.base import (
    SYSTEM_FIELDS,
    ChangeBatch,
    ContainerSpec,
    Document,
    DocumentContainer,
    FieldFilter,
    PatchOperation,
    ScoredDocument,
)
from store.cosmos.documents import (
    check_continuation,
    cosmos_errors,
    document_body,
    hybrid_hits,
    is_missing_item,
    match_conditions,
    scored_documents,
)
from store.cosmos.queries import (
    Parameters,
    build_count_query,
    build_filter_predicate,
    build_hybrid_query,
    build_patch_operations,
    build_query,
    build_vector_query,
)

if TYPE_CHECKING:
    from azure.cosmos.aio import ContainerProxy


class CosmosDocumentContainer(DocumentContainer):
    """One container of a :class:`store.cosmos.CosmosDocumentStore`; obtain it with its ``container()``."""

    def __init__(self, spec: ContainerSpec, proxy: ContainerProxy) -> None:
        self.spec = spec
        self._proxy = proxy
        self._protected = frozenset({"id", spec.partition_key_path.lstrip("/"), *SYSTEM_FIELDS})

    def _what(self, item_id: Any = None) -> str:
        where = f"container {self.name!r}"
        return where if item_id is None else f"document {item_id!r} in {where}"

    async def _query(self, text: str, parameters: Parameters, partition_key: Any = None) -> list[Any]:
        options: dict[str, Any] = {} if partition_key is None else {"partition_key": partition_key}
        with cosmos_errors(f"query on {self._what()}"):
            return [row async for row in self._proxy.query_items(text, parameters=parameters, **options)]

    # ---- the interface ---------------------------------------------------------------------------------------

    async def read(self, item_id: str, partition_key: Any) -> Document | None:
        """The stored document, or ``None``: a point read (1 RU for a 1 KB item).

        Raises:
            NotFoundError: the container itself does not exist (any more).
        """
        with cosmos_errors(f"read of {self._what(item_id)}"):
            try:
                return dict(await self._proxy.read_item(item_id, partition_key))
            except CosmosResourceNotFoundError as error:
                if is_missing_item(error):
                    return None
                raise

    async def create(self, document: Document) -> Document:
        body = document_body(document, self.spec)
        with cosmos_errors(f"create of {self._what(body['id'])}", write=True):
            return await self._proxy.create_item(body)

    async def upsert(self, document: Document) -> Document:
        body = document_body(document, self.spec)
        with cosmos_errors(f"upsert of {self._what(body['id'])}", write=True):
            return await self._proxy.upsert_item(body)

    async def replace(self, document: Document, *, if_match: str | None = None) -> Document:
        body = document_body(document, self.spec)
        with cosmos_errors(f"replace of {self._what(body['id'])}", write=True):
            return await self._proxy.replace_item(body["id"], body, **match_conditions(if_match))

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
            RejectedDocumentError: Cosmos DB refused the patched document (413: too large; 400: bad request).
            ValueError: an invalid operation or filter, refused before sending.
        """
        patch_operations = build_patch_operations(list(operations), self._protected)
        predicate = build_filter_predicate(filter_predicate)
        options = match_conditions(if_match)
        if predicate is not None:
            options["filter_predicate"] = predicate
        with cosmos_errors(f"patch of {self._what(item_id)}", write=True):
            return await self._proxy.patch_item(item_id, partition_key, patch_operations, **options)

    async def delete(self, item_id: str, partition_key: Any, *, if_match: str | None = None) -> None:
        with cosmos_errors(f"delete of {self._what(item_id)}"):
            await self._proxy.delete_item(item_id, partition_key, **match_conditions(if_match))

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

        Ordering is Cosmos DB's (undefined first, then null, booleans, numbers, strings); unlike the SQLite store,
        documents with equal values come in no particular order (a tie-breaker would need a composite index).

        Raises:
            ValueError: an invalid field name, operator or value, or a negative ``limit``.
        """
        text, parameters = build_query(
            filters,
            partition_key_path=self.spec.partition_key_path,
            partition_key=partition_key,
            order_by=order_by,
            descending=descending,
            limit=limit,
        )
        if limit == 0:
            return []
        return await self._query(text, parameters, partition_key)

    async def count(self, filters: Sequence[FieldFilter] = ()) -> int:
        text, parameters = build_count_query(filters)
        # A cross-partition aggregate may come back as one partial count per partition.
        return int(sum(await self._query(text, parameters)))

    async def stored_vector_sizes(self) -> dict[str, int] | None:
        """The container's vector embedding policy as Cosmos DB holds it: ``{path: dimensions}``."""
        with cosmos_errors(f"read of {self._what()}"):
            properties = await self._proxy.read()
        embeddings = (properties.get("vectorEmbeddingPolicy") or {}).get("vectorEmbeddings") or []
        return {str(entry.get("path")): int(entry.get("dimensions") or 0) for entry in embeddings}

    async def vector_search(
        self,
        vector: Sequence[float],
        k: int,
        *,
        filters: Sequence[FieldFilter] = (),
        min_score: float | None = None,
        path: str | None = None,
    ) -> list[ScoredDocument]:
        """The ``k`` documents most similar to ``vector`` (Cosmos DB's vector index), best first.

        ``min_score`` drops the weaker of those ``k``; rows whose document has no vector of the container's
        dimensions are dropped too (Cosmos DB gives them no meaningful distance).

        Raises:
            ValueError: the container has no vector policy, ``vector`` has the wrong dimensions, is all zeros or not
                finite, ``k`` is not positive, or a filter is invalid.
        """
        text, parameters = build_vector_query(self.spec, vector, k, filters, path)
        return scored_documents(await self._query(text, parameters), self.spec, min_score, path)

    async def hybrid_search(
        self,
        vector: Sequence[float],
        text: str,
        k: int,
        *,
        filters: Sequence[FieldFilter] = (),
        path: str | None = None,
    ) -> list[ScoredDocument]:
        """The ``k`` best documents by Cosmos DB's reciprocal rank fusion of vector and BM25 rankings, best first.

        The query is :func:`store.cosmos.queries.build_hybrid_query`'s: ``ORDER BY RANK RRF(VectorDistance(...),
        FullTextScore(<path>, <terms>)...)`` with one ``FullTextScore`` per full-text path. Cosmos DB returns the
        fused order but not the fused scores (``RRF`` and ``FullTextScore`` cannot be projected), so each hit's
        ``score`` is ``1 / (RRF_K + rank)`` for its 1-based rank in that order: it decreases as the SQLite store's
        fused score does, but is not the same number. When ``text`` has no words, the ranking is the vector ranking
        alone, scored the same way. Documents without a vector of the container's dimensions are dropped, so fewer
        than ``k`` may come back.

        Needs the account capability ``EnableNoSQLFullTextSearch`` and, for the full-text index to be used, the
        container's full-text policy and indexes (``python -m composition.cosmos_bootstrap`` or ``azd up``).

        Raises:
            ValueError: the container has no vector policy or no ``full_text_paths``, or as :meth:`vector_search`.
        """
        query, parameters = build_hybrid_query(self.spec, vector, text, k, filters, path)
        return hybrid_hits(await self._query(query, parameters), self.spec, text, path)

    async def read_changes(
        self, continuation: str | None, max_items: int, *, from_beginning: bool = True
    ) -> ChangeBatch:
        """One page of the latest-version change feed after ``continuation`` (the SDK's token).

        With no continuation, reading starts at the beginning, or "from now" when ``from_beginning`` is false.
        ``has_more`` is true when the page is full: the feed does not say whether more changes are waiting, so a
        full page may be followed by an empty one. Hard deletes do not appear.

        Raises:
            ValueError: ``max_items`` is not positive, or ``continuation`` was not issued by a Cosmos DB change feed.
        """
        if max_items <= 0:
            raise ValueError(f"max_items must be at least 1, not {max_items}")
        options: dict[str, Any] = {"max_item_count": max_items}
        if continuation is not None:
            check_continuation(continuation)
            options["continuation"] = continuation
        else:
            options["start_time"] = "Beginning" if from_beginning else "Now"
        documents: list[Document] = []
        token: str | None = None
        with cosmos_errors(f"change feed of {self._what()}"):
            pages: Any = self._proxy.query_items_change_feed(**options).by_page()  # an AsyncPageIterator
            async for page in pages:
                documents = [document async for document in page]
                token = pages.continuation_token
                break
            else:
                # An empty response ends the iteration before the SDK hands out a page continuation; the token it
                # computed is in the response headers, read here before any other await could replace them.
                token = self._proxy.client_connection.last_response_headers.get("etag")
        return ChangeBatch(documents, token or continuation, len(documents) >= max_items)
