"""Per-caller rate limits on the expensive shopper routes (chat, search, the OpenAI-compatible surface).

A token bucket per caller: ``RATE_LIMIT_PER_MINUTE`` requests a minute, bursts up to the same number; over it, 429
with ``Retry-After`` (whole seconds until a token is back). A signed-in caller (Easy Auth) is keyed by principal;
an anonymous one by client address, because a fresh visitor cookie costs an attacker nothing.

The buckets live in this process: in Azure each instance limits on its own, so a caller spread over N instances
gets up to N times the limit. For one limit across the fleet, put Azure API Management (``rate-limit-by-key``) in
front. Memory is bounded: at most :data:`MAX_CALLERS` buckets, the least recently used dropped first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import azure.functions as func

from blueprints.identity import Caller
from catalog.errors import ClientError

MAX_CALLERS = 50_000


class RateLimitedError(ClientError):
    """Too many requests from one caller (HTTP 429); ``retry_after`` is in whole seconds."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests: try again in {retry_after} s", field=None)
        self.retry_after = retry_after


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by caller.

    Args:
        per_minute: requests a minute (and the burst size); 0 turns limiting off.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket.

        Raises:
            RateLimitedError: the bucket is empty.
        """
        if self.per_minute <= 0:
            return
        now = self.clock()
        rate = self.per_minute / 60.0
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.per_minute), now)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        self._buckets[key] = bucket
        while len(self._buckets) > MAX_CALLERS:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            raise RateLimitedError(max(1, math.ceil((1.0 - bucket.tokens) / rate)))
        bucket.tokens -= 1.0


def rate_key(req: func.HttpRequest, caller: Caller) -> str:
    """A signed-in caller's principal; otherwise the client address the platform saw (the last
    ``X-Forwarded-For`` entry: the front end appends it, a client can only prepend)."""
    if caller.principal.startswith(("aad:", "dev:")):
        return caller.principal
    forwarded = [part.strip() for part in (req.headers.get("X-Forwarded-For") or "").split(",") if part.strip()]
    return "addr:" + (forwarded[-1] if forwarded else "unknown")
