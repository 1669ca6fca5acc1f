"""``GET /api/metrics``: the cost and savings ledger, per model and per day, priced as estimates."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from api.fields import WholeNumber
from api.validation import RequestModel, ResponseModel

#: The longest window one request may ask for (days, ending today).
MAX_METRICS_DAYS = 366
DEFAULT_METRICS_DAYS = 7


class MetricsQuery(RequestModel):
    """The query string of `GET /api/metrics`."""

    days: Annotated[
        int, WholeNumber(1, MAX_METRICS_DAYS), Field(json_schema_extra={"default": DEFAULT_METRICS_DAYS})
    ] = DEFAULT_METRICS_DAYS


class ModelUsage(ResponseModel):
    """One model's counts (a day's, or the window's), with what they cost and saved at the configured prices."""

    model: str = Field(description="The model (`cosmos-db` for the store's request units).")
    role: str = Field(description="`embedding`, `chat` or `store`.")
    metered: bool = Field(description="Someone bills it; a model that runs here costs 0.")
    requests: int = Field(ge=0, description="Embedding requests, completions, or Cosmos DB responses.")
    tokens: int = Field(ge=0, description="Embedding input tokens (counted with the model's tokenizer).")
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    request_charge: float | None = Field(default=None, ge=0, description="Request units (store rows only).")
    cache_hits: int = Field(ge=0, description="Answers served from the semantic cache.")
    saved_prompt_tokens: int = Field(ge=0, description="What writing the served answers had cost.")
    saved_completion_tokens: int = Field(ge=0)
    saved_ms: float = Field(ge=0, description="Model milliseconds the served answers had taken to write.")
    estimated_cost: float = Field(ge=0, description="An estimate from the PRICE_* settings, not a bill.")
    estimated_saving: float = Field(ge=0, description="What the cache hits would have cost again (estimate).")


class DayUsage(ResponseModel):
    day: str = Field(description="UTC date, ISO 8601.")
    models: list[ModelUsage]


class Prices(ResponseModel):
    """The list prices the estimates use (settings `PRICE_*`)."""

    embedding_per_1m_tokens: float
    chat_input_per_1m_tokens: float
    chat_output_per_1m_tokens: float
    per_1m_request_units: float
    currency: str
    estimate: bool = Field(description="Always true: these are estimates, not a bill.")


class UsageMetrics(ResponseModel):
    """What the app used and what the cache saved over the last `days` days (UTC), persisted across restarts."""

    from_day: str
    to_day: str
    prices: Prices
    estimated_cost: float = Field(ge=0, description="Estimate, in `prices.currency`.")
    estimated_saving: float = Field(ge=0, description="Estimate of what the cache hits saved.")
    request_charge: float | None = Field(
        ge=0, description="Cosmos DB request units; null (n/a) with the embedded store, which has none."
    )
    cache_hits: int = Field(ge=0)
    saved_ms: float = Field(ge=0)
    models: list[ModelUsage] = Field(description="The window's totals per model.")
    days: list[DayUsage] = Field(description="Per day, newest first.")
    notes: list[str]
