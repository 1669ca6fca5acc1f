"""What an Azure OpenAI / OpenAI response says about the quota, and the limit learned from many such answers."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass

from transport.retry import finite_number

#: Azure OpenAI evaluates tokens per minute over the minute, and requests over short windows (1 or 10 s).
TOKEN_WINDOW_SECONDS = 60.0
REQUEST_WINDOW_SECONDS = 10.0
#: Azure grants 6 requests per minute per 1000 tokens per minute.
RPM_PER_1000_TPM = 6
#: The limit learned is the median of the estimates of this many recent answers: one answer can overestimate it (a
#: request of ours the server had already let out of its window when it counted), and one underestimate it (someone
#: else's burst); the median follows neither.
ESTIMATES_KEPT = 15


@dataclass
class QuotaSnapshot:
    """What the governor knows and did, for reports and tests."""

    token_limit: int | None
    request_limit: int | None
    rate_share: float
    requests: int
    throttled: int
    waited_seconds: float
    in_flight_limit: int


@dataclass(frozen=True)
class RateLimitHeaders:
    """The ``x-ratelimit-*`` headers of one response (``None``: not sent, or unreadable).

    Azure OpenAI sends ``x-ratelimit-remaining-tokens`` (left in the current minute) and
    ``x-ratelimit-remaining-requests`` (left in the current short request window) on its responses; OpenAI, and Azure
    on some newer APIs, also send ``x-ratelimit-limit-tokens`` and ``x-ratelimit-limit-requests``.
    """

    tokens_left: float | None = None
    requests_left: float | None = None
    token_limit: float | None = None
    request_limit: float | None = None

    @classmethod
    def read(cls, headers: Mapping[str, str] | None) -> RateLimitHeaders:
        lowered = {name.lower(): value for name, value in (headers or {}).items()}
        return cls(
            tokens_left=_number(lowered.get("x-ratelimit-remaining-tokens")),
            requests_left=_number(lowered.get("x-ratelimit-remaining-requests")),
            token_limit=_number(lowered.get("x-ratelimit-limit-tokens")) or None,
            request_limit=_number(lowered.get("x-ratelimit-limit-requests")) or None,
        )


class LearnedLimit:
    """One limit per window: announced by the server, else configured, else the median of recent estimates.

    Args:
        configured: the limit per window when known in advance.
    """

    def __init__(self, configured: float | None = None) -> None:
        self.configured = configured or None
        self.announced: float | None = None
        self._estimates: collections.deque[float] = collections.deque(maxlen=ESTIMATES_KEPT)

    @property
    def value(self) -> float | None:
        if self.announced or self.configured:
            return self.announced or self.configured
        if not self._estimates:
            return None
        ordered = sorted(self._estimates)
        return ordered[len(ordered) // 2]

    def observe(self, left: float | None, own_in_window: float, announced: float | None) -> None:
        """One answer: what it said was left, what of ours its window held, and the limit if it said."""
        if announced:
            self.announced = announced
        if left is not None:
            # Alone on the deployment, what is left plus what we had in the window is the limit; with other callers
            # it is less, which only makes us more careful.
            self._estimates.append(left + own_in_window)


def _number(raw: str | None) -> float | None:
    value = finite_number(raw)
    return value if value is not None and value >= 0 else None
