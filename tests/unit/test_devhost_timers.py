"""The local host's timer triggers: NCRONTAB schedules as the Functions host reads them, and firing on them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from devhost.invocation import FunctionInvoker
from devhost.timers import Schedule, ScheduleError, TimerTrigger


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        ("0 */15 * * * *", "2026-11-30T16:07:03", "2026-11-30T16:15:00"),
        ("0 */15 * * * *", "2026-11-30T16:15:00", "2026-11-30T16:30:00"),  # strictly after
        ("0 */15 * * * *", "2026-12-31T23:59:00", "2027-01-01T00:00:00"),
        ("*/10 * * * * *", "2026-11-30T16:07:03", "2026-11-30T16:07:10"),
        ("*/10 * * * * *", "2026-11-30T16:07:55", "2026-11-30T16:08:00"),
        ("30 5 * * * *", "2026-11-30T16:07:00", "2026-11-30T17:05:30"),
        ("0 30 9 * * 1-5", "2026-11-28T10:00:00", "2026-11-30T09:30:00"),  # Saturday → Monday
        ("0 0 12 * * 0", "2026-11-30T10:00:00", "2026-12-06T12:00:00"),  # Sunday is 0
        ("0 0 12 * * 7", "2026-11-30T10:00:00", "2026-12-06T12:00:00"),  # and 7
        ("0 0 0 1 1,7 *", "2026-11-30T10:00:00", "2027-01-01T00:00:00"),
        ("0 5-10/5 * * * *", "2026-11-30T10:06:00", "2026-11-30T10:10:00"),
        ("00:00:30", "2026-11-30T10:06:00", "2026-11-30T10:06:30"),  # a TimeSpan: from now
    ],
)
def test_the_next_time_a_schedule_fires(schedule: str, now: str, expected: str) -> None:
    assert Schedule.parse(schedule).next_after(at(now)) == at(expected)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("0 */15 * * *", "has 5 fields; NCRONTAB has six"),
        ("0 */0 * * * *", "minute field '\\*/0'"),
        ("61 * * * * *", "second field '61' must stay within 0-59"),
        ("0 0 0 * * MON", "names such as MON"),
        ("0 0 0 30 2 *", "never fires"),
        ("00:00:00", "longer than zero"),
    ],
)
def test_schedules_it_cannot_run_are_refused_by_name(schedule: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule.parse(schedule).next_after(at("2026-11-30T10:00:00"))


class FakeClock:
    """Time that moves only when the trigger sleeps."""

    def __init__(self, start: datetime) -> None:
        self.current = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def test_a_timer_fires_on_its_schedule_with_a_timer_request_and_survives_a_failing_run() -> None:
    calls: list[Any] = []

    async def reconcile(timer: func.TimerRequest) -> None:
        calls.append(timer)
        if len(calls) == 2:
            raise RuntimeError("one bad run")

    clock = FakeClock(at("2026-11-30T16:07:00"))
    invoker = FunctionInvoker("reconcile", reconcile, "timer", None, ".")
    binding = {"type": "timerTrigger", "name": "timer", "schedule": "%TEST_SCHEDULE%", "runOnStartup": True}
    trigger = TimerTrigger(
        "reconcile", binding, invoker, environ={"TEST_SCHEDULE": "0 */15 * * * *"}, now=clock.now, sleep=clock.sleep
    )

    task = asyncio.create_task(trigger.run())
    while len(calls) < 4:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert clock.sleeps[:3] == [8 * 60, 15 * 60, 15 * 60]  # start-up run, then 16:15, 16:30, 16:45
    assert all(isinstance(call, func.TimerRequest) and not call.past_due for call in calls)
    assert (trigger.stats.runs, trigger.stats.failures) == (4, 1)
    assert trigger.describe() == "reconcile: timer '0 */15 * * * *' (and at start-up)"
