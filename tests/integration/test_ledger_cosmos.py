"""Request charges through the real ``azure.cosmos.aio`` SDK: every response's ``x-ms-request-charge`` reaches the
ledger, and the ledger's day documents are added to with Cosmos DB patch ``incr`` (against the protocol test server,
which charges 1 RU for every response)."""

from __future__ import annotations

import uuid

from ledger import UsageLedger
from ledger.report import usage_summary
from ledger.usage import document_id, today
from store.base import ContainerSpec
from store.cosmos import CosmosDocumentStore
from tests.integration.cosmos_test_server import CosmosTestServer, cosmos_test_server  # noqa: F401 (a fixture)


async def test_each_cosmos_response_charges_the_ledger_and_the_day_totals_add_up(
    cosmos_test_server: CosmosTestServer,  # noqa: F811
) -> None:
    ledger = UsageLedger()
    charges: list[float] = []

    def charged(charge: float) -> None:
        charges.append(charge)
        ledger.record_request_charge(charge)

    store = CosmosDocumentStore(
        cosmos_test_server.endpoint,
        f"ledger-{uuid.uuid4().hex[:8]}",
        credential=cosmos_test_server.key,
        create_containers=True,
        on_request_charge=charged,
    )
    try:
        book = await store.container(ContainerSpec("leases", "/id"))
        before = len(charges)
        await book.create({"id": "a", "value": 1})
        assert await book.read("a", "a") is not None
        assert len(charges) == before + 2 and charges[-2:] == [1.0, 1.0]

        ledger.record_embedding("text-embedding-3-small", 40)
        counted = len(charges)
        await ledger.flush(book)  # what this flush is charged counts toward the next one
        stored = await book.read(document_id(today(), "cosmos-db"), document_id(today(), "cosmos-db"))
        assert stored is not None and (stored["requests"], stored["request_charge"]) == (counted, float(counted))

        ledger.record_embedding("text-embedding-3-small", 2)
        counted = len(charges)
        summary = await usage_summary(ledger, book, days=1, request_charges=True)
    finally:
        await store.close()
    rows = {row["model"]: row for row in summary["models"]}
    assert (rows["text-embedding-3-small"]["requests"], rows["text-embedding-3-small"]["tokens"]) == (2, 42)
    # Everything charged before the summary's flush was added to the same document with incr.
    assert rows["cosmos-db"]["request_charge"] == counted and rows["cosmos-db"]["role"] == "store"
    assert summary["request_charge"] == rows["cosmos-db"]["request_charge"]
