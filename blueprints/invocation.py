"""Every invocation in a span: its figures from the usage ledger as attributes and metrics, then a ledger flush.

The span is OpenTelemetry's (:mod:`transport.telemetry`, a no-op unless the composition root configured an
exporter); the figures are what this invocation recorded in the ledger: embedding tokens, chat tokens, Cosmos DB
request units (only where the store reports them), cache hits and what they saved.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from transport import telemetry

if TYPE_CHECKING:
    from composition.services import Services
    from ledger import Tally


@contextlib.asynccontextmanager
async def measured(
    services: Services, name: str, **attributes: telemetry.AttributeValue | None
) -> AsyncIterator[telemetry.Span]:
    """A span ``name`` around the block, with the invocation's ledger figures; the ledger is flushed when due."""
    try:
        with telemetry.span(name, **attributes) as span, services.ledger.invocation() as figures:
            try:
                yield span
            finally:
                _report(span, name, figures, request_charges=services.request_charges)
    finally:
        await services.flush_usage()


def _report(span: telemetry.Span, name: str, figures: Tally, *, request_charges: bool) -> None:
    measured_figures = {
        "catalog.embedding.tokens": figures.tokens,
        "catalog.chat.prompt_tokens": figures.prompt_tokens,
        "catalog.chat.completion_tokens": figures.completion_tokens,
        "catalog.cache.hits": figures.cache_hits,
        "catalog.cache.saved_tokens": figures.saved_prompt_tokens + figures.saved_completion_tokens,
        "catalog.cache.saved_ms": round(figures.saved_ms, 3),
    }
    if request_charges:  # the embedded store has none: no attribute rather than a 0
        measured_figures["catalog.cosmos.request_charge"] = round(figures.request_charge, 3)
    span.set(**measured_figures)
    for metric, value in measured_figures.items():
        telemetry.record(metric, value, invocation=name)
