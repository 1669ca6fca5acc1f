"""The one interface the product needs from a document container.

Every backend (the embedded SQLite store, Cosmos DB for NoSQL) implements :class:`DocumentContainer` and passes
the same contract test suite (``tests/contract``), so code above this layer never knows which one it talks to.

Semantics follow Cosmos DB for NoSQL:

* every write gives the document a new ``_etag`` (an opaque string) and ``_ts`` (epoch seconds);
* documents are addressed by ``(id, partition_key)``; the partition key value is read from the document at the
  container's ``partition_key_path`` (a top-level field such as ``/id`` or ``/session_id``);
* conditional writes take ``if_match`` (an ``_etag``) and raise :class:`PreconditionFailedError` when the stored
  document has a different one;
* the change feed is "latest version": a changed document appears once, in its newest version, ordered by a
  monotonic sequence; hard deletes do not appear.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Document = dict[str, Any]

#: Fields the store owns. Callers may read them; writes ignore what a caller puts there.
SYSTEM_FIELDS = ("_etag", "_ts", "_lsn", "_rid", "_self", "_attachments")

FilterOp = Literal["eq", "ne", "lt", "le", "gt", "ge"]


class StoreError(Exception):
    """Base class of the store's errors."""


class NotFoundError(StoreError):
    """The document (or container) does not exist."""


class ConflictError(StoreError):
    """A create found a document with the same id in the same partition."""


class PreconditionFailedError(StoreError):
    """A conditional write found a different ``_etag`` (HTTP 412 in Cosmos DB) or its filter predicate failed."""


class RejectedDocumentError(StoreError, ValueError):
    """The store refused a write for the document's own sake: it would be too large (HTTP 413 in Cosmos DB, e.g. once
    its vector is added), or the service refused it as a bad request (HTTP 400, e.g. an id too long).

    Writing the same document again fails the same way: a caller should record the failure, not retry. A
    ``ValueError`` too, as Cosmos DB's other 400 answers are.
    """


class StoreUnavailableError(StoreError):
    """The store cannot be used at all (a damaged data file, say); the message says what to do."""


@dataclass(frozen=True)
class FieldFilter:
    """One condition on a top-level (or dotted nested) field.

    ``ne`` matches documents where the field is missing too: ``FieldFilter("deleted", "ne", True)`` keeps every
    document that has not been soft-deleted. Every other operator matches only documents that have the field.
    """

    field: str
    op: FilterOp
    value: str | int | float | bool


@dataclass(frozen=True)
class PatchOperation:
    """One JSON-patch-like operation, as Cosmos DB's partial document update takes them.

    ``op`` is ``set`` (create or replace), ``replace`` (must exist), ``add``, ``remove`` or ``incr``; ``path`` is a
    JSON pointer such as ``/embedding`` or ``/embedding_info/status``.
    """

    op: Literal["set", "replace", "add", "remove", "incr"]
    path: str
    value: Any = None


@dataclass(frozen=True)
class ScoredDocument:
    """A vector search hit: the document and its cosine similarity to the query (1.0 is identical)."""

    document: Document
    score: float


@dataclass
class ChangeBatch:
    """Documents read from the change feed and the checkpoint to resume after them."""

    documents: list[Document]
    continuation: str | None = None
    has_more: bool = False


@dataclass(frozen=True)
class VectorSpec:
    """Where a container keeps its vectors and how many dimensions they have."""

    path: str = "/embedding"
    dimensions: int = 384
    distance: Literal["cosine"] = "cosine"


@dataclass(frozen=True)
class ContainerSpec:
    """What a container is: its name, partition key path and optional vector policy."""

    name: str
    partition_key_path: str = "/id"
    vector: VectorSpec | None = None
    #: Top-level string fields indexed for full-text search (``/name``, ``/description``), for hybrid search.
    full_text_paths: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: More vector paths, searched by naming them (``vector_search(path=...)``): a second slot for a model migration.
    #: Cosmos DB fixes every path's dimensions at creation; the embedded store indexes whatever size a query has.
    extra_vectors: tuple[VectorSpec, ...] = ()

    def vector_at(self, path: str | None) -> VectorSpec:
        """The vector policy of ``path`` (``None``: the main one).

        Raises:
            ValueError: the container has no vector policy at ``path``.
        """
        if self.vector is not None and path in (None, self.vector.path):
            return self.vector
        for extra in self.extra_vectors:
            if extra.path == path:
                return extra
        where = "" if path is None else f" at {path}"
        raise ValueError(f"container {self.name!r} has no vector policy{where}, so it cannot be searched by vector")


#: The constant of reciprocal rank fusion (Cormack et al., 2009; also what Cosmos DB's RRF uses).
RRF_K = 60


def rrf_fuse(rankings: Sequence[Sequence[Any]], k: int) -> list[tuple[Any, float]]:
    """Fuse ranked lists of keys: each key scores ``sum(1 / (RRF_K + rank))``; the best ``k``, best first."""
    scores: dict[Any, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: -item[1])[:k]


class DocumentContainer(abc.ABC):
    """One container of JSON documents. All methods are coroutines; documents are plain dicts."""

    spec: ContainerSpec

    @property
    def name(self) -> str:
        return self.spec.name

    def partition_key_of(self, document: Mapping[str, Any]) -> Any:
        """The partition key value of ``document`` (the field at the container's partition key path)."""
        key = self.spec.partition_key_path.lstrip("/")
        if key not in document:
            raise ValueError(f"document has no partition key field {key!r}")
        return document[key]

    @abc.abstractmethod
    async def read(self, item_id: str, partition_key: Any) -> Document | None:
        """The stored document, or ``None`` when there is none."""

    @abc.abstractmethod
    async def create(self, document: Document) -> Document:
        """Store a new document and return it as stored (with ``_etag``, ``_ts``).

        Raises:
            ConflictError: a document with this id already exists in the partition.
        """

    @abc.abstractmethod
    async def upsert(self, document: Document) -> Document:
        """Create or fully replace a document; returns it as stored."""

    @abc.abstractmethod
    async def replace(self, document: Document, *, if_match: str | None = None) -> Document:
        """Fully replace an existing document.

        Raises:
            NotFoundError: no such document.
            PreconditionFailedError: ``if_match`` was given and the stored ``_etag`` differs.
        """

    @abc.abstractmethod
    async def patch(
        self,
        item_id: str,
        partition_key: Any,
        operations: Sequence[PatchOperation],
        *,
        if_match: str | None = None,
        filter_predicate: Sequence[FieldFilter] = (),
    ) -> Document:
        """Apply partial-update operations atomically; returns the updated document.

        Raises:
            NotFoundError: no such document.
            PreconditionFailedError: the ``_etag`` differs from ``if_match`` or a filter condition is false.
        """

    @abc.abstractmethod
    async def delete(self, item_id: str, partition_key: Any, *, if_match: str | None = None) -> None:
        """Hard-delete a document.

        Raises:
            NotFoundError: no such document.
            PreconditionFailedError: ``if_match`` was given and the stored ``_etag`` differs.
        """

    @abc.abstractmethod
    async def query(
        self,
        filters: Sequence[FieldFilter] = (),
        *,
        partition_key: Any = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        """Documents matching every filter (all of them when there are none), optionally ordered and limited."""

    @abc.abstractmethod
    async def vector_search(
        self,
        vector: Sequence[float],
        k: int,
        *,
        filters: Sequence[FieldFilter] = (),
        min_score: float | None = None,
        path: str | None = None,
    ) -> list[ScoredDocument]:
        """The ``k`` documents most similar to ``vector`` (cosine), best first, among those matching ``filters``.

        ``path`` names the vector compared (the main one or one of the spec's ``extra_vectors``); ``None`` is the main
        one. Documents without a vector of that path's dimensions are never returned. (The embedded store searches a
        path named explicitly at the query's size, which a migration to another size needs; Cosmos DB holds each
        path at the size of its policy.)

        Raises:
            ValueError: the container has no vector policy at ``path``, or ``vector`` has the wrong number of
                dimensions.
        """

    async def hybrid_search(
        self,
        vector: Sequence[float],
        text: str,
        k: int,
        *,
        filters: Sequence[FieldFilter] = (),
        path: str | None = None,
    ) -> list[ScoredDocument]:
        """The ``k`` best documents by reciprocal rank fusion of vector similarity and full-text relevance.

        ``score`` is the fused score, ``sum(1 / (RRF_K + rank))`` over the two rankings, not a cosine similarity.
        Only documents with a vector take part. Requires ``full_text_paths`` on the container spec.

        Raises:
            NotImplementedError: the backend has no full-text search.
        """
        raise NotImplementedError(f"{type(self).__name__} has no full-text search")

    @abc.abstractmethod
    async def read_changes(
        self, continuation: str | None, max_items: int, *, from_beginning: bool = True
    ) -> ChangeBatch:
        """Read the change feed after ``continuation`` (from the start, or from now, when it is ``None``).

        Each changed document appears once, in its latest version. Pass the returned ``continuation`` to the next
        call to resume after these documents.
        """

    async def count(self, filters: Sequence[FieldFilter] = ()) -> int:
        """How many documents match ``filters``."""
        return len(await self.query(filters))

    async def stored_vector_sizes(self) -> dict[str, int] | None:
        """The vector paths the stored container was made with and their sizes, where the backend fixes them when a
        container is made (Cosmos DB); ``None`` where any path takes any size (the embedded store)."""
        return None


class DocumentStore(abc.ABC):
    """A database: a set of named containers, opened on demand and closed together."""

    @abc.abstractmethod
    async def container(self, spec: ContainerSpec) -> DocumentContainer:
        """The container described by ``spec``, created if the backend creates containers on demand."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and threads."""
