"""The cost and savings ledger: tokens, request charges and cache savings per day and model, persisted and priced.

Imports only :mod:`store` (the book is a container). Backends get plain callables (``Embedder.usage_sink``, the
Cosmos DB store's ``on_request_charge``); the chat service and the composition root use :class:`UsageLedger`;
``GET /api/metrics`` prices the day documents with :mod:`ledger.report` (imported where it is used).
"""

from ledger.usage import Meter, Prices, Role, Tally, UsageLedger

__all__ = ["Meter", "Prices", "Role", "Tally", "UsageLedger"]
