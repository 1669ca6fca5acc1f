"""The OpenAI wire rules embedding and chat share: which failures are worth retrying, and how long the server
asked us to wait."""

from __future__ import annotations

import openai

from transport.retry import retry_after_seconds

#: Statuses worth retrying besides 5xx: request timeout, lock conflict (as the SDK treats them) and rate limiting.
TRANSIENT_STATUSES = frozenset({408, 409, 429})


def is_transient_openai_error(error: BaseException) -> bool:
    """Whether retrying ``error`` may succeed: 408, 409, 429, 5xx, a timeout or a failed connection."""
    if isinstance(error, openai.APIStatusError):
        return error.status_code in TRANSIENT_STATUSES or error.status_code >= 500
    return isinstance(error, openai.APIConnectionError)  # APITimeoutError included


def openai_retry_after(error: BaseException) -> float | None:
    """Seconds the server asked to wait in the response behind ``error``, when it said."""
    if isinstance(error, openai.APIStatusError):
        return retry_after_seconds(error.response.headers)
    return None
