"""Summaries of measured durations: percentiles in milliseconds, rounded for reports."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np


def summarize_ms(samples_ms: Sequence[float]) -> dict[str, Any]:
    """``n``, ``p50``, ``p95``, ``p99``, ``mean``, ``min`` and ``max`` of durations in milliseconds."""
    if not samples_ms:
        return {"n": 0}
    values = np.asarray(samples_ms, dtype=np.float64)
    return {
        "n": int(values.size),
        "p50": _round(np.percentile(values, 50)),
        "p95": _round(np.percentile(values, 95)),
        "p99": _round(np.percentile(values, 99)),
        "mean": _round(values.mean()),
        "min": _round(values.min()),
        "max": _round(values.max()),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded to two decimals, or ``None`` when it is undefined."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, 2)


def _round(value: Any) -> float:
    return round(float(value), 2)


class Stopwatch:
    """Elapsed wall time of a block, in seconds (``with Stopwatch() as watch: ...; watch.seconds``)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started

    @property
    def ms(self) -> float:
        return round(self.seconds * 1000, 2)


@contextmanager
def elapsed_ms(into: list[float]) -> Any:
    """Append the block's wall time in milliseconds to ``into``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        into.append((time.perf_counter() - started) * 1000)
