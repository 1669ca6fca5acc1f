"""Running ``timerTrigger`` functions on their schedule, as the Functions host does (without its storage lock).

Schedules are NCRONTAB expressions with six fields, ``{second} {minute} {hour} {day} {month} {day-of-week}``, each
``*``, a number, a range ``a-b``, a list ``a,b,c``, or a step ``*/n`` / ``a-b/n`` (``0 */15 * * * *``: every 15
minutes; ``*/30 * * * * *``: every 30 seconds), evaluated in UTC; or a TimeSpan ``hh:mm:ss`` (an interval from
start-up). Limits: no month or day names (``MON``, ``JAN``), no ``L``/``W``/``#``/``?``; when both day and
day-of-week are restricted a time must match both (as NCrontab does); one process runs each timer (the Functions
host holds a lock so only one instance does); a run that outlasts the interval delays the next one instead of
overlapping it. ``%NAME%`` app-setting expressions are resolved as in any binding.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions.decorators.function_app import Function
from azure.functions.timer import TimerRequest

from devhost.changefeed import resolve_binding_expression
from devhost.invocation import FunctionInvoker

log = logging.getLogger(__name__)

#: ``(lowest, highest)`` of each NCRONTAB field, in order.
_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})")
_PART = re.compile(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?")
#: How far ahead a schedule is searched before it is called impossible (``0 0 0 31 2 *``: 31 February).
_SEARCH_YEARS = 5


class ScheduleError(ValueError):
    """A schedule this host cannot run; the message names the schedule and the part at fault."""


@dataclass(frozen=True)
class Schedule:
    """A parsed NCRONTAB expression, or a fixed interval (a TimeSpan)."""

    text: str
    seconds: frozenset[int] = frozenset()
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    interval: timedelta | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Parse a six-field NCRONTAB expression or a ``[d.]hh:mm:ss`` TimeSpan.

        Raises:
            ScheduleError: the expression has another number of fields, or a field this parser does not take.
        """
        timespan = _TIMESPAN.fullmatch(text.strip())
        if timespan:
            days, hours, minutes, seconds = (int(part or 0) for part in timespan.groups())
            interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            if interval <= timedelta(0):
                raise ScheduleError(f"timer schedule {text!r}: the interval must be longer than zero")
            return cls(text, interval=interval)
        parts = text.split()
        if len(parts) != len(_FIELDS):
            raise ScheduleError(
                f"timer schedule {text!r} has {len(parts)} fields; NCRONTAB has six: "
                "{second} {minute} {hour} {day} {month} {day-of-week}, e.g. '0 */15 * * * *'"
            )
        values = [_field_values(text, part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
        # Day-of-week 7 is Sunday too, as in cron.
        weekdays = frozenset(day % 7 for day in values[5])
        return cls(text, values[0], values[1], values[2], values[3], values[4], weekdays)

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after ``moment`` (a timezone-aware datetime) that the schedule fires.

        Raises:
            ScheduleError: the schedule never fires (``0 0 0 30 2 *``).
        """
        if self.interval is not None:
            return moment + self.interval
        start = moment.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        day = start.replace(hour=0, minute=0, second=0)
        for _ in range(366 * _SEARCH_YEARS):
            # Python's weekday() is Monday=0; NCRONTAB's day-of-week is Sunday=0.
            if day.month in self.months and day.day in self.days and (day.weekday() + 1) % 7 in self.weekdays:
                for hour in sorted(self.hours):
                    if day.replace(hour=hour, minute=59, second=59) < start:
                        continue  # the whole hour is behind us
                    for minute in sorted(self.minutes):
                        if day.replace(hour=hour, minute=minute, second=59) < start:
                            continue
                        for second in sorted(self.seconds):
                            candidate = day.replace(hour=hour, minute=minute, second=second)
                            if candidate >= start:
                                return candidate
            day += timedelta(days=1)
        raise ScheduleError(f"timer schedule {self.text!r} never fires")


def _field_values(text: str, part: str, name: str, low: int, high: int) -> frozenset[int]:
    high_allowed = 7 if name == "weekday" else high
    values: set[int] = set()
    for item in part.split(","):
        match = _PART.fullmatch(item)
        if match is None:
            raise ScheduleError(
                f"timer schedule {text!r}: {name} field {part!r} is not *, a number, a range a-b, a list or a step "
                "*/n (names such as MON or JAN are not supported by the local host)"
            )
        span, step_text = match.groups()
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (int(bound) for bound in span.split("-"))
        else:
            first = last = int(span)
            if step_text is not None:
                last = high  # "5/15" means from 5 on, every 15
        step = int(step_text) if step_text is not None else 1
        if not (low <= first <= last <= high_allowed) or step < 1:
            raise ScheduleError(f"timer schedule {text!r}: {name} field {part!r} must stay within {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass
class TimerStats:
    """What a timer has done since the host started."""

    runs: int = 0
    failures: int = 0
    last_run: datetime | None = None
    next_run: datetime | None = None


class TimerTrigger:
    """Calls one ``timerTrigger`` function whenever its schedule fires (and once at start with ``runOnStartup``).

    A failed run is logged and counted; the schedule goes on (the Functions host does the same without a retry
    policy).

    Args:
        name: the function's name.
        binding: its trigger binding from ``get_function_json()`` (``schedule``, ``runOnStartup``, ``name``).
        invoker: calls the function.
        environ: where ``%NAME%`` expressions are looked up (default: the process environment).
        now: the current time (tests pass a fake clock).
        sleep: waits (tests pass a fake).

    Raises:
        ScheduleError: the schedule cannot be parsed.
        SettingsError: the schedule names an app setting that is not set and has no default.
    """

    def __init__(
        self,
        name: str,
        binding: Mapping[str, Any],
        invoker: FunctionInvoker,
        *,
        environ: Mapping[str, str] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.schedule = Schedule.parse(resolve_binding_expression(str(binding.get("schedule", "")), environ))
        self.run_on_startup = bool(binding.get("runOnStartup", False))
        self.invoker = invoker
        self.now = now
        self.sleep = sleep
        self.stats = TimerStats()

    def describe(self) -> str:
        return f"{self.name}: timer {self.schedule.text!r}" + (" (and at start-up)" if self.run_on_startup else "")

    async def run(self) -> None:
        """Fire on schedule until cancelled."""
        if self.run_on_startup:
            await self.fire(past_due=False)
        while True:
            due = self.schedule.next_after(self.now())
            self.stats.next_run = due
            wait = (due - self.now()).total_seconds()
            if wait > 0:
                await self.sleep(wait)
            await self.fire(past_due=(self.now() - due).total_seconds() > 1)

    async def fire(self, *, past_due: bool = False) -> bool:
        """Call the function once now; ``True`` when it returned without raising."""
        self.stats.runs += 1
        self.stats.last_run = self.now()
        request = TimerRequest(past_due=past_due, schedule={"AdjustForDST": False})
        try:
            await self.invoker.invoke(request)
        except Exception:
            self.stats.failures += 1
            log.exception("timer function %s failed; it runs again on its schedule", self.name)
            return False
        return True


@dataclass(frozen=True)
class TimerFunction:
    """A ``timerTrigger`` function of the app and its trigger binding."""

    name: str
    function: Function
    binding: dict[str, Any]


def timer_functions(functions: Sequence[Function]) -> list[TimerFunction]:
    """The app's ``timerTrigger`` functions, named as the host knows them (``@function_name``, else the Python name)."""
    found = []
    for function in functions:
        bindings = json.loads(function.get_function_json()).get("bindings", [])
        binding = next((item for item in bindings if item.get("type") == "timerTrigger"), None)
        if binding is not None:
            name = function.get_function_name() or function.get_user_function().__name__
            found.append(TimerFunction(name, function, binding))
    return found
