"""Quota-aware pacing of the requests to a metered endpoint (Azure OpenAI's tokens-per-minute and requests limits).

A :class:`QuotaGovernor` is shared by every request one client makes (every invocation in a process). Before a
request it is asked for a :class:`Lease` with the request's token cost (known before sending: the batch's counted
tokens); after the answer it is told what the server said. It learns the quota from what Azure OpenAI and OpenAI
send on every response — ``x-ratelimit-remaining-tokens`` (left in the current minute), ``x-ratelimit-remaining-
requests`` (left in the current short request window), and ``x-ratelimit-limit-*`` when sent — and from 429s, and:

* **paces** tokens at the rate the quota allows (a token bucket of half a window, refilled at ``limit / window``),
  so a bulk run keeps the endpoint busy without a burst that ends in 429s, and a small batch is not delayed;
* **never sends a request it knows will not fit**: what the server last said was left, less what this process sent
  since, plus what of its own has left the window since, must cover the request (and its own sliding-window
  ledger must too);
* **backs off multiplicatively** on a 429 (the rate is halved and nothing is sent before the server's
  ``Retry-After``) and **recovers additively** with every answered request;
* **bounds the requests in flight**: one until the first answer says what the quota is, then enough to cover the
  pacing rate over the observed latency, at most ``max_in_flight``.

Without rate-limit headers or a configured quota (an OpenAI-compatible server that meters nothing) it paces
nothing; a 429 still pauses every request until its ``Retry-After``.

Pure logic: the clock and the sleep are injected, so tests assert the guarantees without waiting.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from transport.rate_limits import (
    REQUEST_WINDOW_SECONDS,
    RPM_PER_1000_TPM,
    TOKEN_WINDOW_SECONDS,
    LearnedLimit,
    QuotaSnapshot,
    RateLimitHeaders,
)

#: The rate is multiplied by this on a 429 ...
BACKOFF_FACTOR = 0.5
#: ... never below this share of the quota ...
MIN_RATE_SHARE = 0.05
#: ... and every answered request adds this share back, up to the whole quota.
RECOVERY_STEP = 0.05
#: The token bucket holds this share of a window's tokens: a change-feed batch goes at once while the quota has room
#: (pacing it would only delay it), and a bulk run is paced from its second half-window on.
BURST_SHARE = 0.5
#: The share of the quota the governor plans to use: the rest absorbs the difference between our clock and the
#: server's (a request is counted when it arrives there, a little after we sent it).
PLANNED_SHARE = 0.98
DEFAULT_MAX_IN_FLIGHT = 16
#: A request of at most this share of the quota does not queue behind a waiting one when it fits now.
SMALL_SHARE = 0.005
#: Shorter waits are not worth a sleep (and a float clock may not even move by them).
MIN_WAIT_SECONDS = 1e-4
#: No quota known: the governor does not limit concurrency (what the caller sends goes).
DEFAULT_UNMETERED_IN_FLIGHT = 1_000_000


@dataclass
class Lease:
    """One request's permission to go: its token cost and when it was sent (on the governor's clock)."""

    tokens: int
    sent_at: float
    #: Leases are numbered in the order they were given (clock readings can tie).
    number: int = 0
    _done: bool = field(default=False, repr=False)


class QuotaGovernor:
    """Paces one client's requests to the quota the endpoint announces; share one instance per client.

    Args:
        tokens_per_minute: a known quota; 0 learns it from the response headers.
        requests_per_minute: a known request limit; 0 derives it from ``tokens_per_minute`` as Azure does (6 per
            1000), or learns it from the headers.
        token_window: seconds the token quota is counted over (60 for Azure OpenAI).
        request_window: seconds the request limit is counted over (10 for Azure OpenAI).
        max_in_flight: the most requests in flight at once, whatever the pacing would allow.
        clock: monotonic seconds.
        sleep: waits that many seconds.
    """

    def __init__(
        self,
        *,
        tokens_per_minute: int = 0,
        requests_per_minute: int = 0,
        token_window: float = TOKEN_WINDOW_SECONDS,
        request_window: float = REQUEST_WINDOW_SECONDS,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if tokens_per_minute < 0 or requests_per_minute < 0 or max_in_flight < 1:
            raise ValueError("quotas must be 0 (learn) or positive, and max_in_flight at least 1")
        if token_window <= 0 or request_window <= 0:
            raise ValueError("windows must be positive")
        self.token_window = token_window
        self.request_window = request_window
        self.max_in_flight = max_in_flight
        self.clock = clock
        self.sleep = sleep
        rpm = requests_per_minute or tokens_per_minute * RPM_PER_1000_TPM // 1000
        self._tokens = LearnedLimit(tokens_per_minute * token_window / 60)
        self._requests = LearnedLimit(rpm * request_window / 60)
        #: The newest answer's word: (its request's sent_at and number, tokens left, requests left).
        self._remaining: tuple[float, int, float, float | None] | None = None
        #: Our own requests of the last two token windows: (sent_at, tokens, number).
        self._sent: collections.deque[tuple[float, int, int]] = collections.deque()
        self._rate_share = 1.0
        self._bucket = 0.0
        self._bucket_started = False
        self._bucket_at = clock()
        self._paused_until = 0.0
        self._in_flight = 0
        self._latency: float | None = None
        self._answers = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._turn = asyncio.Lock()
        self._returned = asyncio.Event()
        self.requests = 0
        self.throttled = 0
        self.waited_seconds = 0.0

    # What is known

    @property
    def token_limit(self) -> float | None:
        """Tokens per token window: announced by the server, else configured, else learned."""
        return self._tokens.value

    @property
    def _budget(self) -> float | None:
        limit = self.token_limit
        return None if limit is None else limit * PLANNED_SHARE

    @property
    def request_limit(self) -> float | None:
        """Requests per request window: announced, else configured, else learned."""
        return self._requests.value

    def in_flight_limit(self) -> int:
        """Requests that may be in flight: one until the first answer (it may say what the quota is); then, with a
        quota, enough to keep the pace over the observed latency (one more for slack), at most ``max_in_flight``;
        without one (nothing metered), any number."""
        if not self._answers:
            return 1
        if self.token_limit is None or self._latency is None:
            return DEFAULT_UNMETERED_IN_FLIGHT
        requests_per_second = self._request_rate()
        if requests_per_second is None:
            return self.max_in_flight
        return max(1, min(self.max_in_flight, math.ceil(requests_per_second * self._latency) + 1))

    def snapshot(self) -> QuotaSnapshot:
        tokens, requests = self.token_limit, self.request_limit
        return QuotaSnapshot(
            token_limit=None if tokens is None else round(tokens),
            request_limit=None if requests is None else round(requests),
            rate_share=round(self._rate_share, 3),
            requests=self.requests,
            throttled=self.throttled,
            waited_seconds=round(self.waited_seconds, 3),
            in_flight_limit=self.in_flight_limit(),
        )

    # Asking and telling

    async def acquire(self, tokens: int) -> Lease:
        """Wait until a request costing ``tokens`` may be sent, and count it as sent.

        Requests are let through in the order they asked (one waits at the head, the others behind it), except that
        a small request (a search's question) that fits now goes now instead of queueing behind a bulk batch.
        """
        tokens = max(int(tokens), 0)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # asyncio's primitives belong to one event loop; a process may run more than one in turn (a CLI).
            self._loop, self._turn, self._returned = loop, asyncio.Lock(), asyncio.Event()
        budget = self._budget
        if self._turn.locked() and budget is not None and tokens <= budget * SMALL_SHARE:
            if self._wait_for(tokens) <= MIN_WAIT_SECONDS:
                return self._grant(tokens, self.clock())
        async with self._turn:
            asked = self.clock()
            while True:
                wait = self._wait_for(tokens)
                if wait <= MIN_WAIT_SECONDS:
                    break
                await self._pause(wait)
            now = self.clock()
            self.waited_seconds += now - asked
            return self._grant(tokens, now)

    def _grant(self, tokens: int, now: float) -> Lease:
        if self.token_limit is not None:
            self._refill(now)
            self._bucket -= tokens
        self._sent.append((now, tokens, self.requests + 1))
        self._in_flight += 1
        self.requests += 1
        return Lease(tokens, now, self.requests)

    async def _pause(self, wait: float) -> None:
        """Sleep ``wait`` seconds, or less when a request in flight returns first (its answer may say more)."""
        self._returned.clear()
        returned = asyncio.ensure_future(self._returned.wait())
        if math.isinf(wait):
            await returned
            return
        slept = asyncio.ensure_future(self.sleep(wait))
        try:
            await asyncio.wait({returned, slept}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            returned.cancel()
            slept.cancel()

    def answered(self, lease: Lease, headers: Mapping[str, str] | None) -> None:
        """The request was answered (2xx): read the quota headers; the rate recovers a step."""
        if not self._finish(lease):
            return
        now = self.clock()
        latency = now - lease.sent_at
        self._latency = latency if self._latency is None else 0.8 * self._latency + 0.2 * latency
        self._answers += 1
        self._observe(lease, headers)
        self._rate_share = min(1.0, self._rate_share + RECOVERY_STEP)

    def throttled_by_server(
        self, lease: Lease, retry_after: float | None, headers: Mapping[str, str] | None = None
    ) -> None:
        """The request was answered 429: nothing is sent before ``retry_after``; the rate is halved."""
        if not self._finish(lease):
            return
        self.throttled += 1
        self._answers += 1
        self._forget(lease)  # a refused request costs no quota
        self._observe(lease, headers, refused=True)
        self._rate_share = max(MIN_RATE_SHARE, self._rate_share * BACKOFF_FACTOR)
        now = self.clock()
        pause = retry_after if retry_after is not None else self.request_window / 10
        self._paused_until = max(self._paused_until, now + max(pause, 0.0))
        self._bucket = min(self._bucket, 0.0)

    def abandoned(self, lease: Lease) -> None:
        """The request failed without a quota answer (timeout, 5xx, connection): free its place.

        Its tokens stay counted: the server may have admitted it."""
        self._finish(lease)

    # The rules

    def _finish(self, lease: Lease) -> bool:
        if lease._done:
            return False
        lease._done = True
        self._in_flight -= 1
        self._returned.set()
        return True

    def _forget(self, lease: Lease) -> None:
        try:
            self._sent.remove((lease.sent_at, lease.tokens, lease.number))
        except ValueError:
            pass

    def _observe(self, lease: Lease, headers: Mapping[str, str] | None, *, refused: bool = False) -> None:
        said = RateLimitHeaders.read(headers)
        if said.tokens_left is None and said.requests_left is None:
            return
        if not refused:  # a refusal's count may be of a window we are not in
            own_tokens = sum(
                spent
                for at, spent, number in self._sent
                if lease.sent_at - self.token_window < at and number <= lease.number
            )
            own_requests = sum(
                1 for at, _, number in self._sent if lease.sent_at - self.request_window < at and number <= lease.number
            )
            self._tokens.observe(said.tokens_left, own_tokens, said.token_limit)
            self._requests.observe(said.requests_left, own_requests, said.request_limit)
        tokens_left, requests_left = said.tokens_left, said.requests_left
        if self._remaining is None or lease.number >= self._remaining[1]:
            left = tokens_left if tokens_left is not None else math.inf
            self._remaining = (lease.sent_at, lease.number, left, requests_left)

    def _request_rate(self) -> float | None:
        requests = self.request_limit
        limit = self.token_limit
        rates = []
        if requests:
            rates.append(requests / self.request_window)
        if limit and self._sent:
            average = sum(spent for _, spent, _ in self._sent) / len(self._sent)
            if average > 0:
                rates.append(limit / self.token_window / average)
        return min(rates) * self._rate_share if rates else None

    def _refill(self, now: float) -> None:
        budget = self._budget
        if budget is None:
            self._bucket_at = now
            return
        capacity = max(budget * BURST_SHARE, 1.0)
        if not self._bucket_started:
            # Known from now on: the bucket starts full (no one has been paced yet).
            self._bucket_started, self._bucket = True, capacity
        rate = budget / self.token_window * self._rate_share
        self._bucket = min(capacity, self._bucket + (now - self._bucket_at) * rate)
        self._bucket_at = now

    def _wait_for(self, tokens: int) -> float:
        """Seconds until a request of ``tokens`` may go (0: now; ``inf``: when a request in flight returns)."""
        now = self.clock()
        waits = [self._paused_until - now]
        if self._in_flight >= self.in_flight_limit():
            waits.append(math.inf)
        # Two windows are kept: what left the window since the server last spoke is added back to what it said.
        while self._sent and self._sent[0][0] <= now - 2 * self.token_window:
            self._sent.popleft()
        budget = self._budget
        if budget is not None:
            self._refill(now)
            rate = budget / self.token_window * self._rate_share
            # A request larger than the bucket goes when the bucket is full (it is paid back before the next).
            needed = min(float(tokens), max(budget * BURST_SHARE, 1.0))
            if self._bucket < needed:
                waits.append((needed - self._bucket) / rate)
            waits.append(self._window_wait(now, tokens, budget))
            waits.append(self._announced_wait(now, tokens + (self.token_limit or budget) - budget))
        requests = self.request_limit
        if requests is not None:
            waits.append(self._request_wait(now, max(1.0, math.floor(requests * max(self._rate_share, 0.5)))))
        return max(waits)

    @property
    def _held_for(self) -> float:
        """How long the server counts a request of ours: the window from when it arrived there, which is later than
        when we sent it by up to the latency we observe (so it is counted that much longer than our clock says)."""
        return self.token_window + (self._latency or 0.0)

    def _window_wait(self, now: float, tokens: int, budget: float) -> float:
        """Until our own tokens in the window leave room for ``tokens`` under ``budget``."""
        since = now - self._held_for
        used = self._own_tokens(since, now)
        excess = used + tokens - max(budget, float(tokens))
        if excess <= 0:
            return 0.0
        for at, spent, _ in self._sent:
            if at <= since:
                continue
            excess -= spent
            if excess <= 0:
                return at + self._held_for - now
        return 0.0

    def _announced_wait(self, now: float, tokens: float) -> float:
        """Until what the server last said was left, updated by what we did since, covers ``tokens``."""
        if self._remaining is None:
            return 0.0
        base_at, base_number, tokens_left, _ = self._remaining
        if math.isinf(tokens_left) or now - base_at >= self.token_window:
            return 0.0  # nothing counted in that answer is still in the window
        sent_since = sum(spent for _, spent, number in self._sent if number > base_number)
        # Our own tokens that were in the window when that answer was made and have left it since.
        expired_events = [
            (at + self._held_for, spent)
            for at, spent, number in self._sent
            if base_at - self.token_window < at and number <= base_number
        ]
        left = tokens_left - sent_since + sum(spent for at, spent in expired_events if at <= now)
        if left >= tokens:
            return 0.0
        for leaves_at, spent in sorted(expired_events):
            if leaves_at <= now:
                continue
            left += spent
            if left >= tokens:
                return leaves_at - now
        # Nothing of ours frees enough: the rest is someone else's, gone a window after that answer at the latest
        # (or an answer in flight says more sooner: acquire looks again when one returns).
        return base_at + self.token_window - now

    def _own_tokens(self, after: float, until: float) -> int:
        return sum(spent for at, spent, _ in self._sent if after < at <= until)

    def _request_wait(self, now: float, per_window: float) -> float:
        recent = [at for at, _, _ in self._sent if at > now - self.request_window]
        if len(recent) < per_window:
            return 0.0
        return recent[len(recent) - int(per_window)] + self.request_window + (self._latency or 0.0) - now
