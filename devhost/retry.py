"""A function's retry policy (``@app.retry``) read from its metadata, with the Functions host's delays.

``azure-functions`` stores the decorator's arguments unvalidated (``max_retry_count`` and the intervals are
strings); the Functions host parses the intervals as .NET ``TimeSpan`` values (``"00:00:05"``, ``"00:00:00.250"``,
``"1.00:00:00"``) and refuses the function when they are malformed. This module does the same, so a policy that
works here works in Azure.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

FOREVER = -1

# .NET TimeSpan "c" format: [-][d.]hh:mm[:ss[.fffffff]], or a bare number of days.
_TIMESPAN = re.compile(
    r"(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2})"
    r"(?::(?P<seconds>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?)?"
)

#: The host's randomisation of exponential backoff: each step is 0.8x to 1.2x of the doubled interval.
RANDOMIZATION_FACTOR = 0.2


class RetryPolicyError(ValueError):
    """A retry policy the Functions host would refuse; the message names the function and the field."""


def parse_timespan(raw: str, *, field: str = "interval") -> float:
    """Seconds in a .NET ``TimeSpan`` string such as ``"00:00:05"`` or ``"00:00:00.5"``.

    A bare integer is a number of *days*, as .NET reads it.

    Raises:
        RetryPolicyError: ``raw`` is not a non-negative TimeSpan.
    """
    text = raw.strip()
    if text.isdigit():
        return int(text) * 86_400.0
    found = _TIMESPAN.fullmatch(text)
    if found is None:
        raise RetryPolicyError(f"{field}={raw!r} is not a time span; example: {field}=00:00:05 (hh:mm:ss)")
    hours, minutes = int(found["hours"]), int(found["minutes"])
    seconds = int(found["seconds"] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise RetryPolicyError(f"{field}={raw!r} is out of range; example: {field}=00:00:05 (hh:mm:ss)")
    fraction = float(f"0.{found['fraction']}") if found["fraction"] else 0.0
    return int(found["days"] or 0) * 86_400.0 + hours * 3600.0 + minutes * 60.0 + seconds + fraction


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how far apart, a failed invocation is retried with the same input.

    Attributes:
        strategy: ``exponential_backoff`` or ``fixed_delay``.
        max_retry_count: retries after the first attempt; ``-1`` retries forever.
        minimum_interval: seconds before the first retry (exponential backoff).
        maximum_interval: the longest wait between retries (exponential backoff).
        delay_interval: seconds between retries (fixed delay).
    """

    strategy: Literal["exponential_backoff", "fixed_delay"]
    max_retry_count: int
    minimum_interval: float = 0.0
    maximum_interval: float = 0.0
    delay_interval: float = 0.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None, function_name: str) -> RetryPolicy | None:
        """The policy in ``fn.get_settings_dict("retry_policy")``, or ``None`` when the function has none.

        Raises:
            RetryPolicyError: a field is missing or malformed (the Functions host would not index the function).
        """
        if not settings:
            return None
        where = f"function {function_name}: retry policy"
        strategy = str(settings.get("strategy") or "").strip().lower()
        raw_count = str(settings.get("max_retry_count") if settings.get("max_retry_count") is not None else "")
        try:
            count = int(raw_count)
        except ValueError:
            raise RetryPolicyError(
                f"{where} max_retry_count={raw_count!r} is not an integer; example: 5 (or -1 for forever)"
            ) from None
        if count < FOREVER:
            raise RetryPolicyError(f"{where} max_retry_count={count} must be -1 (forever) or at least 0")

        def interval(name: str) -> float:
            raw = settings.get(name)
            if raw is None or str(raw).strip() == "":
                raise RetryPolicyError(f"{where} {strategy} needs {name}; example: {name}=00:00:05")
            try:
                return parse_timespan(str(raw), field=name)
            except RetryPolicyError as error:
                raise RetryPolicyError(f"{where} {error}") from None

        if strategy == "exponential_backoff":
            low, high = interval("minimum_interval"), interval("maximum_interval")
            if low > high:
                raise RetryPolicyError(f"{where} minimum_interval must not exceed maximum_interval")
            return cls("exponential_backoff", count, minimum_interval=low, maximum_interval=high)
        if strategy == "fixed_delay":
            return cls("fixed_delay", count, delay_interval=interval("delay_interval"))
        raise RetryPolicyError(f"{where} strategy={strategy!r} must be exponential_backoff or fixed_delay")

    @property
    def retries_forever(self) -> bool:
        return self.max_retry_count == FOREVER

    def allows_retry(self, retries_done: int) -> bool:
        """Whether another retry follows ``retries_done`` retries of the same input."""
        return self.retries_forever or retries_done < self.max_retry_count

    def delay_before_retry(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

        Exponential backoff follows the Functions host: the first retry waits ``minimum_interval``; each later one
        waits ``minimum_interval`` plus a randomised (x0.8 to x1.2) doubling of it, capped at
        ``maximum_interval``. A zero minimum therefore retries without waiting, in Azure too.
        """
        if self.strategy == "fixed_delay":
            return self.delay_interval
        if retry_number <= 1:
            return self.minimum_interval
        jitter = (rng or random).uniform(1 - RANDOMIZATION_FACTOR, 1 + RANDOMIZATION_FACTOR)
        exponent = min(retry_number - 2, 62)  # beyond 2**62 every wait is capped anyway
        backoff = self.minimum_interval + jitter * (2.0**exponent) * self.minimum_interval
        return min(backoff, self.maximum_interval)

    def describe(self) -> str:
        """One line for the start-up banner, e.g. ``exponential_backoff 0s..1s, forever``."""
        times = "forever" if self.retries_forever else f"{self.max_retry_count} retries"
        if self.strategy == "fixed_delay":
            return f"fixed_delay {self.delay_interval:g}s, {times}"
        return f"exponential_backoff {self.minimum_interval:g}s..{self.maximum_interval:g}s, {times}"
