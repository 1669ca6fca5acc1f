"""What the ledger's day documents add up to, priced: the body of ``GET /api/metrics``.

Prices are settings (``PRICE_*``), so every cost here is an estimate from list prices, never a bill. A model that
runs here (the MiniLM ONNX embedder, the offline answer writer) is not metered: its tokens are counted, its cost is
0. The embedded store has no request units: its charges are ``None`` ("n/a"), never 0.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ledger.usage import Prices, Role, Tally, UsageLedger, today
from store.base import DocumentContainer

ESTIMATE_NOTE = (
    "Costs are estimates: counted tokens and request units times the PRICE_* settings (list prices you set), "
    "not your bill."
)
NO_REQUEST_UNITS_NOTE = "n/a: the embedded store has no request units (Cosmos DB reports them as x-ms-request-charge)."


@dataclass
class ModelUsage:
    """One model's counts over a day or the whole window, with their estimated cost and saving."""

    model: str
    role: str
    metered: bool
    tally: Tally = field(default_factory=Tally)

    def as_json(self, prices: Prices) -> dict[str, Any]:
        counts = asdict(self.tally)
        if self.role != Role.STORE:
            del counts["request_charge"]
        return {
            "model": self.model,
            "role": self.role,
            "metered": self.metered,
            **{name: round(value, 3) if isinstance(value, float) else value for name, value in counts.items()},
            "estimated_cost": round(prices.cost(self.role, self.metered, self.tally), 6),
            "estimated_saving": round(prices.saving(self.role, self.metered, self.tally), 6),
        }


def first_day(days: int, today: str) -> str:
    """The first day of a window of ``days`` days ending ``today`` (ISO dates)."""
    return (datetime.date.fromisoformat(today) - datetime.timedelta(days=days - 1)).isoformat()


def usage_report(
    documents: Sequence[dict[str, Any]],
    prices: Prices,
    *,
    days: int,
    today: str,
    request_charges: bool,
) -> dict[str, Any]:
    """The window's totals per model and per day, priced.

    Args:
        documents: the ledger's day documents of the window.
        prices: the list prices.
        days: the window's length, ending ``today``.
        today: ISO date.
        request_charges: the store reports request units (Cosmos DB); else they are "n/a".
    """
    totals: dict[str, ModelUsage] = {}
    by_day: dict[str, dict[str, ModelUsage]] = {}
    for document in documents:
        model, role, metered = str(document["model"]), str(document["role"]), bool(document.get("metered", True))
        tally = Tally.from_document(document)
        by_day.setdefault(str(document["day"]), {})[model] = ModelUsage(model, role, metered, tally)
        total = totals.setdefault(model, ModelUsage(model, role, metered))
        total.tally.merge(tally)
    rows = [usage.as_json(prices) for usage in totals.values()]
    request_charge = sum(usage.tally.request_charge for usage in totals.values()) if request_charges else None
    notes = [ESTIMATE_NOTE]
    if not request_charges:
        notes.append(NO_REQUEST_UNITS_NOTE)
    return {
        "from_day": first_day(days, today),
        "to_day": today,
        "prices": {**asdict(prices), "estimate": True},
        "estimated_cost": round(sum(row["estimated_cost"] for row in rows), 6),
        "estimated_saving": round(sum(row["estimated_saving"] for row in rows), 6),
        "request_charge": None if request_charge is None else round(request_charge, 3),
        "cache_hits": sum(usage.tally.cache_hits for usage in totals.values()),
        "saved_ms": round(sum(usage.tally.saved_ms for usage in totals.values()), 3),
        "models": rows,
        "days": [
            {"day": day, "models": [usage.as_json(prices) for usage in models.values()]}
            for day, models in sorted(by_day.items(), reverse=True)
        ],
        "notes": notes,
    }


async def usage_summary(
    ledger: UsageLedger, book: DocumentContainer, *, days: int, request_charges: bool
) -> dict[str, Any]:
    """:func:`usage_report` of the last ``days`` days, after adding this process's pending counts to the book."""
    await ledger.flush(book)
    day = today()
    documents = await ledger.days(book, first_day(days, day))
    return usage_report(documents, ledger.prices, days=days, today=day, request_charges=request_charges)
