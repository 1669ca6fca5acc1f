"""The one retry loop of every outbound client (embeddings and chat): bounded attempts and total wait, exponential
backoff with jitter, or the server's ``Retry-After`` when it asked for longer."""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_before_delay
from tenacity.wait import wait_base, wait_exponential_jitter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard :meth:`Embedder.embed` tries before giving up on a batch.

    Attributes:
        max_attempts: attempts per batch, the first one included.
        initial_wait: seconds before the first retry (doubled each time, with jitter).
        max_wait: the longest single wait, also the cap on a server's ``Retry-After``.
        max_total_wait: give up once this many seconds have passed since the first attempt.
    """

    max_attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    max_total_wait: float = 120.0


class _wait_retry_after(wait_base):
    """Wait the exponential backoff, or longer when the server asked for longer (its ``Retry-After``, capped)."""

    def __init__(self, policy: RetryPolicy, retry_after: Callable[[BaseException], float | None]) -> None:
        self.policy = policy
        self.retry_after = retry_after
        self.backoff = wait_exponential_jitter(
            multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait
        )

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = float(self.backoff(retry_state))
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        asked = self.retry_after(error) if error is not None else None
        if asked is None:
            return backoff
        return max(backoff, min(max(float(asked), 0.0), self.policy.max_wait))


def retrying(
    policy: RetryPolicy,
    *,
    transient: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None],
    what: str,
) -> AsyncRetrying:
    """The one retry loop of the outbound clients: bounded attempts and total wait, backoff or ``Retry-After``.

    Args:
        policy: attempts and waits.
        transient: whether an error is worth another attempt.
        retry_after: the seconds the server asked for with the error, if it did.
        what: names the operation in the warning logged before each wait.
    """

    def log_retry(retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.warning("%s attempt %d failed (%s); retrying in %.2fs", what, retry_state.attempt_number, error, wait)

    return AsyncRetrying(
        retry=retry_if_exception(transient),
        # stop_before_delay: never start a wait that would end past the total budget.
        stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.max_total_wait),
        wait=_wait_retry_after(policy, retry_after),
        before_sleep=log_retry,
        reraise=True,
    )


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds a response asks the client to wait before retrying, or ``None`` when it does not say (readably).

    ``retry-after-ms`` (sent by Azure OpenAI and OpenAI) wins over ``Retry-After``, which is either seconds or an
    HTTP date. Negative waits and dates in the past read as 0; unreadable or non-finite values are ignored.

    Args:
        headers: response headers (looked up case-insensitively).
        now: the current Unix time, for HTTP dates; defaults to ``time.time()``.
    """
    if not headers:
        return None
    lowered = {name.lower(): value for name, value in headers.items()}
    milliseconds = finite_number(lowered.get("retry-after-ms"))
    if milliseconds is not None:
        return max(milliseconds / 1000, 0.0)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = finite_number(raw)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are in GMT
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def finite_number(raw: str | None) -> float | None:
    """A header's number, or ``None`` when it is missing or not a finite number."""
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
