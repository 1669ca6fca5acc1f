"""The Cosmos DB for NoSQL document store (``STORE_BACKEND=cosmos``), on ``azure.cosmos.aio``.

One :class:`CosmosDocumentStore` holds one ``CosmosClient`` (created on first use, closed by ``close()``); every
container it opens shares it. Authentication is Entra ID through ``DefaultAzureCredential`` unless
``COSMOS_AUTH=key``.

The store never creates containers in normal operation: their vector and indexing policies are decided once, by
``python -m composition.cosmos_bootstrap`` or ``azd up`` (``infra/``), because a vector policy cannot be changed later.
:meth:`CosmosDocumentStore.container` checks that the container exists with the partition key and vector policy
the app expects, and fails with a message saying what to run when it does not.

Modules: :mod:`~store.cosmos.store` (the client, opening containers), :mod:`~store.cosmos.container` (the
:class:`store.base.DocumentContainer` interface), :mod:`~store.cosmos.queries` (query text, pure),
:mod:`~store.cosmos.documents` (request bodies, search hits, error mapping), :mod:`~store.cosmos.definitions` and
:mod:`~store.cosmos.provision` (container definitions; creating and checking containers).

Choices worth knowing (each is covered by ``tests/unit/test_cosmos_store.py`` or the contract suite):

* **Reads are point reads** (``read_item(id, partition_key)``, 1 RU for a 1 KB item); a missing item is ``None``,
  a missing container :class:`store.base.NotFoundError`.
* **Every value is a query parameter**, field names are checked by the rule both stores share, ``ne`` matches
  documents without the field; see :mod:`store.cosmos.queries` for the exact query text of queries, vector search
  and hybrid search.
* **``min_score``** of a vector search is applied to the top ``k`` rows here, not in the WHERE clause, so the
  vector index still picks the top ``k`` (the result is the SQLite store's: the best ``k``, then the weak ones
  dropped).
* **Hybrid search** scores hits by rank, ``1 / (RRF_K + rank)``: Cosmos DB returns the fused order of ``ORDER BY RANK
  RRF(...)`` but cannot project the fused score.
* **Writes refused for the document's sake** (413: too large; 400 on a write: e.g. an id too long) raise
  :class:`store.base.RejectedDocumentError`, so a caller can record the failure instead of retrying it forever;
  throttling and outages are raised unchanged, for the caller's retry policy.
* **The change feed** is the SDK's latest-version change feed (``query_items_change_feed``); continuations are the
  SDK's own tokens. In Azure the Functions host's Cosmos DB trigger reads the feed (with leases), so the app itself
  only calls :meth:`CosmosDocumentContainer.read_changes` from tools and the local host.
"""

from store.cosmos.container import CosmosDocumentContainer
from store.cosmos.store import CosmosDocumentStore

__all__ = ["CosmosDocumentContainer", "CosmosDocumentStore"]
