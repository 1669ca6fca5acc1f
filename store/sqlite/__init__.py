"""The embedded document store: one SQLite file with Cosmos DB semantics and exact in-memory vector search.

Modules, by concern:

* :mod:`store.sqlite.schema` — the tables, opening the file, transactions, the change sequence;
* :mod:`store.sqlite.documents` — documents as rows (vectors detached as bytes) and back, and Cosmos DB's limits;
* :mod:`store.sqlite.patch` — partial updates;
* :mod:`store.sqlite.filters` — filters as SQL and as in-memory columns, with the same semantics;
* :mod:`store.sqlite.vector_index` — the exact cosine index kept in step with writes by any process;
* :mod:`store.sqlite.fulltext` — the FTS5 index of hybrid search, synced lazily;
* :mod:`store.sqlite.changefeed` — the latest-version change feed;
* :mod:`store.sqlite.container` and :mod:`store.sqlite.store` — the :class:`store.base.DocumentContainer` and
  :class:`store.base.DocumentStore` implementations.
"""

from store.sqlite.container import SqliteDocumentContainer
from store.sqlite.schema import DEFAULT_BUSY_TIMEOUT_MS
from store.sqlite.store import SqliteDocumentStore

__all__ = ["DEFAULT_BUSY_TIMEOUT_MS", "SqliteDocumentContainer", "SqliteDocumentStore"]
