"""The quota governor (transport/quota.py) on a fake clock: what it sends, when, and what it learns from headers.

Every wait goes through the injected ``sleep``, which only moves the fake clock forward, so the guarantees (how many
tokens went within any window, that nothing went during a Retry-After) are asserted on the governor's own clock.
"""

from __future__ import annotations

import asyncio
import collections

import pytest

from transport.quota import QuotaGovernor

WINDOW = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


class SlidingQuota:
    """The server's side on the same fake clock: a sliding window of tokens and of requests, as Azure counts them."""

    def __init__(self, tokens: int, requests: int, clock: FakeClock) -> None:
        self.tokens, self.requests, self.clock = tokens, requests, clock
        self.spent: collections.deque[tuple[float, int]] = collections.deque()
        self.asked: collections.deque[float] = collections.deque()
        self.admitted: list[tuple[float, int]] = []
        self.refused = 0

    def _forget(self) -> None:
        now = self.clock()
        while self.spent and self.spent[0][0] <= now - WINDOW:
            self.spent.popleft()
        while self.asked and self.asked[0] <= now - 10.0:
            self.asked.popleft()

    def headers(self) -> dict[str, str]:
        self._forget()
        return {
            "x-ratelimit-remaining-tokens": str(self.tokens - sum(spent for _, spent in self.spent)),
            "x-ratelimit-remaining-requests": str(self.requests - len(self.asked)),
        }

    def admit(self, tokens: int) -> bool:
        self._forget()
        if sum(spent for _, spent in self.spent) + tokens > self.tokens or len(self.asked) >= self.requests:
            self.refused += 1
            return False
        now = self.clock()
        self.spent.append((now, tokens))
        self.asked.append(now)
        self.admitted.append((now, tokens))
        return True


def most_tokens_in_any_window(admitted: list[tuple[float, int]]) -> int:
    return max(sum(t for at, t in admitted if start <= at < start + WINDOW) for start, _ in admitted)


async def send_all(governor: QuotaGovernor, quota: SlidingQuota, costs: list[int], *, callers: int = 1) -> None:
    """``costs`` sent by ``callers`` concurrent tasks through one governor, each request retried after a 429."""
    queue = collections.deque(costs)

    async def caller() -> None:
        while queue:
            tokens = queue.popleft()
            while True:
                lease = await governor.acquire(tokens)
                if quota.admit(tokens):
                    await asyncio.sleep(0)  # other callers run while this one is "in flight"
                    governor.answered(lease, quota.headers())
                    break
                governor.throttled_by_server(lease, 1.0, quota.headers())

    await asyncio.gather(*(caller() for _ in range(callers)))


async def test_paces_to_the_quota_the_headers_announce() -> None:
    clock = FakeClock()
    quota = SlidingQuota(tokens=100_000, requests=1000, clock=clock)
    governor = QuotaGovernor(clock=clock, sleep=clock.sleep)
    started = clock()
    await send_all(governor, quota, [5_000] * 100)  # 500,000 tokens: five windows' worth
    assert quota.refused == 0
    assert governor.token_limit == 100_000  # learned from x-ratelimit-remaining-tokens alone
    assert most_tokens_in_any_window(quota.admitted) <= 100_000
    # Not idle either: 500,000 tokens at 100,000 per minute take about five minutes, not much more.
    elapsed = clock() - started
    assert 3.5 * WINDOW <= elapsed <= 5.5 * WINDOW, elapsed


async def test_a_known_quota_is_paced_before_any_answer() -> None:
    clock = FakeClock()
    quota = SlidingQuota(tokens=60_000, requests=1000, clock=clock)
    governor = QuotaGovernor(tokens_per_minute=60_000, clock=clock, sleep=clock.sleep)
    await send_all(governor, quota, [6_000] * 30)
    assert quota.refused == 0 and most_tokens_in_any_window(quota.admitted) <= 60_000


async def test_the_request_limit_is_kept_too() -> None:
    clock = FakeClock()
    quota = SlidingQuota(tokens=10_000_000, requests=20, clock=clock)  # 20 requests per 10 s binds first
    governor = QuotaGovernor(clock=clock, sleep=clock.sleep)
    await send_all(governor, quota, [10] * 200)
    assert quota.refused == 0
    assert governor.request_limit == 20
    times = [at for at, _ in quota.admitted]
    assert max(sum(1 for at in times if start <= at < start + 10.0) for start in times) <= 20


async def test_a_429_stops_everything_until_retry_after_then_halves_the_rate_and_recovers() -> None:
    clock = FakeClock()
    governor = QuotaGovernor(tokens_per_minute=60_000, clock=clock, sleep=clock.sleep)
    lease = await governor.acquire(1_000)
    governor.throttled_by_server(lease, 7.0)
    assert governor.snapshot().rate_share == 0.5 and governor.throttled == 1
    refused_at = clock()
    lease = await governor.acquire(1_000)
    assert lease.sent_at >= refused_at + 7.0  # nothing goes before the server's Retry-After
    for _ in range(10):
        governor.answered(lease, None)
        lease = await governor.acquire(1_000)
    governor.answered(lease, None)
    assert governor.snapshot().rate_share == 1.0  # recovered additively, one step per answered request


async def test_halving_the_rate_halves_the_pace() -> None:
    async def seconds_for(throttles: int) -> float:
        clock = FakeClock()
        governor = QuotaGovernor(tokens_per_minute=60_000, clock=clock, sleep=clock.sleep)
        for _ in range(throttles):
            governor.throttled_by_server(await governor.acquire(0), 0.0)
        started = clock()
        for _ in range(5):  # too few answers to recover: each is answered without headers
            lease = await governor.acquire(12_000)
            governor.answered(lease, None)
        return clock() - started

    assert await seconds_for(1) > 1.5 * await seconds_for(0)


async def test_never_sends_what_the_server_said_does_not_fit() -> None:
    clock = FakeClock()
    governor = QuotaGovernor(clock=clock, sleep=clock.sleep)
    lease = await governor.acquire(1_000)
    # Someone else uses the deployment: 10,000 tokens are left of a 100,000 quota this caller barely used.
    governor.answered(lease, {"x-ratelimit-remaining-tokens": "10000", "x-ratelimit-limit-tokens": "100000"})
    small = await governor.acquire(5_000)
    governor.answered(small, None)
    assert small.sent_at == lease.sent_at  # it fitted (with the 2% kept for clock differences)
    big = await governor.acquire(5_000)
    # 5,000 left is not 5,000 plus the margin: it waits until what that answer counted has left the window.
    assert big.sent_at >= lease.sent_at + WINDOW


async def test_one_governor_is_shared_by_concurrent_callers() -> None:
    clock = FakeClock()
    quota = SlidingQuota(tokens=50_000, requests=1000, clock=clock)
    governor = QuotaGovernor(clock=clock, sleep=clock.sleep)
    await send_all(governor, quota, [2_500] * 120, callers=6)
    assert len(quota.admitted) == 120
    assert quota.refused <= 1  # at most the first burst, before any answer said what the quota is
    assert most_tokens_in_any_window(quota.admitted) <= 50_000
    assert governor.requests == 120 + quota.refused


async def test_one_request_in_flight_until_the_first_answer() -> None:
    clock = FakeClock()
    governor = QuotaGovernor(clock=clock, sleep=clock.sleep)
    first = await governor.acquire(100)
    second = asyncio.create_task(governor.acquire(100))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not second.done()  # the first answer may say what the quota is
    governor.answered(first, None)
    lease = await asyncio.wait_for(second, 1)
    governor.answered(lease, None)
    # No headers: nothing is metered, so nothing is paced or bounded.
    leases = [await governor.acquire(100) for _ in range(50)]
    assert clock() == first.sent_at and len(leases) == 50


@pytest.mark.parametrize(
    "headers",
    [{"x-ratelimit-remaining-tokens": "not a number"}, {"x-ratelimit-remaining-tokens": "-5"}, {}],
)
async def test_unreadable_headers_teach_nothing(headers: dict[str, str]) -> None:
    clock = FakeClock()
    governor = QuotaGovernor(clock=clock, sleep=clock.sleep)
    governor.answered(await governor.acquire(100), headers)
    assert governor.token_limit is None


async def test_a_small_request_that_fits_does_not_queue_behind_a_waiting_batch() -> None:
    clock = FakeClock()
    governor = QuotaGovernor(tokens_per_minute=100_000, clock=clock, sleep=clock.sleep)
    governor.answered(await governor.acquire(40_000), None)
    # A batch that must wait for the bucket to refill is at the head of the queue ...
    stalled = asyncio.Event()

    async def never(_: float) -> None:
        stalled.set()
        await asyncio.Event().wait()

    governor.sleep = never
    batch = asyncio.create_task(governor.acquire(20_000))
    await stalled.wait()
    # ... and a search's question (a few tokens, room for it now) goes at once, not after the batch.
    question = await asyncio.wait_for(governor.acquire(12), 1)
    assert question.sent_at == clock() and not batch.done()
    batch.cancel()
