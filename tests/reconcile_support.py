"""Products, writes and a change feed that loses batches: what the reconcile and embedding-status tests share."""

from __future__ import annotations

from typing import Any

from composition.services import Services
from tests.conftest import FeedDriver


def product(number: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"p{number:03d}",
        "name": f"Trail item {number}",
        "category_name": "Camping",
        "description": f"A sturdy piece of camping gear, model {number}, for cold nights.",
        **extra,
    }


async def write(services: Services, *documents: dict[str, Any]) -> None:
    products = await services.products()
    for document in documents:
        await products.upsert(document)


async def stored(services: Services) -> dict[str, dict[str, Any]]:
    return {document["id"]: document for document in await (await services.products()).query()}


async def lose_pending_changes(feed: FeedDriver) -> int:
    """The trigger loses batches: it reads them and moves its lease past them without calling the pipeline."""
    now = await feed.products.read_changes(None, 1, from_beginning=False)
    lost = 0
    while int(feed.continuation or 0) < int(now.continuation or 0):
        batch = await feed.products.read_changes(feed.continuation, feed.max_items)
        if not batch.documents:
            break
        lost += len(batch.documents)
        feed.continuation = batch.continuation
    return lost
