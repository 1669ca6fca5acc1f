"""OpenTelemetry behind two calls, a no-op until the composition root installs a tracer and a meter.

Feature code writes ``with span("search", k=5) as current: ... current.set(results=3)`` and
``record("catalog.tokens", 120, model="...")`` without importing OpenTelemetry: this module imports nothing of it, so
importing the app (the part of a cold start the app controls) never loads an exporter. :func:`install` takes the
tracer and meter the composition root built (Azure Monitor, console or OTLP; see ``composition/telemetry.py``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

AttributeValue = str | bool | int | float

_tracer: Any = None
_meter: Any = None
_counters: dict[str, Any] = {}
_current: contextvars.ContextVar[Span | None] = contextvars.ContextVar("telemetry_span", default=None)


class Span:
    """The span of the current piece of work; :meth:`set` adds attributes (nothing happens when not configured)."""

    def __init__(self, span: Any = None) -> None:
        self._span = span

    def set(self, **attributes: AttributeValue | None) -> None:
        """Add attributes; ``None`` values are left out (OpenTelemetry has no null)."""
        if self._span is None:
            return
        for name, value in attributes.items():
            if value is not None:
                self._span.set_attribute(name, value)

    def failed(self, error: BaseException) -> None:
        if self._span is not None:
            self._span.record_exception(error)


def install(tracer: Any, meter: Any) -> None:
    """Send spans to ``tracer`` and measurements to ``meter`` (OpenTelemetry API objects) from now on."""
    global _tracer, _meter
    _tracer, _meter = tracer, meter
    _counters.clear()


def uninstall() -> None:
    """Back to doing nothing (tests)."""
    install(None, None)


def enabled() -> bool:
    return _tracer is not None


@contextlib.contextmanager
def span(name: str, **attributes: AttributeValue | None) -> Iterator[Span]:
    """A span named ``name`` around the block (a child of the current one), or nothing when not configured.

    An exception leaving the block is recorded on the span and re-raised.
    """
    if _tracer is None:
        current = Span()
        token = _current.set(current)
        try:
            yield current
        finally:
            _current.reset(token)
        return
    with _tracer.start_as_current_span(name) as otel_span:
        current = Span(otel_span)
        current.set(**attributes)
        token = _current.set(current)
        try:
            yield current
        finally:
            _current.reset(token)


def annotate(**attributes: AttributeValue | None) -> None:
    """Add attributes to the innermost :func:`span` of this task (none open, or not configured: nothing)."""
    current = _current.get()
    if current is not None:
        current.set(**attributes)


def record(metric: str, value: float, **attributes: AttributeValue) -> None:
    """Add ``value`` to the counter ``metric`` (created on first use) with ``attributes``; nothing unconfigured.

    Metric names come from code, never from input, so the counters stay a handful.
    """
    if _meter is None or value == 0:
        return
    counter = _counters.get(metric)
    if counter is None:
        counter = _counters[metric] = _meter.create_counter(metric)
    counter.add(value, attributes)
