"""What every route may answer besides its own body: the error shapes, and ``GET /api/health``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from api.fields import enum_of
from api.validation import ResponseModel


class Error(ResponseModel):
    """A refused request: what is wrong, with the limit broken, and the field at fault."""

    error: str = Field(description="What is wrong, with the limit broken.")
    field: str | None = Field(default=None, description="The request field at fault, e.g. `products[3].price`.")


class MethodNotAllowed(Error):
    """The path exists but not for this method; the `Allow` header lists the methods it takes."""

    allowed: list[str] | None = None


class InternalError(ResponseModel):
    """An unexpected failure: only a request id, never a traceback."""

    error: Annotated[str, enum_of("internal error")]
    request_id: str = Field(description="Find the traceback in the server log by this.")


class Unavailable(ResponseModel):
    """The app is misconfigured: the log names the setting, the response does not."""

    error: Annotated[str, enum_of("service unavailable: misconfigured")]
    request_id: str


class EmbeddingHealth(ResponseModel):
    backend: str
    model: str
    dimensions: int = Field(ge=1)
    requests_sent: int = Field(ge=0)


class ChatHealth(ResponseModel):
    backend: str
    model: str
    language_model: bool = Field(description="False: answers are written from the catalog without a language model.")


class Health(ResponseModel):
    """Alive, the store answers a read, the backends in use and the pipeline's counts since the process started."""

    status: Literal["ok"]
    store: str
    pipeline: dict[str, float] = Field(
        description="Counts since the process started: seen, skipped, embedded, failed, conflicts, truncated, "
        "embed_requests, duration_ms."
    )
    embedding: EmbeddingHealth
    chat: ChatHealth | None = None


class HealthDegraded(ResponseModel):
    """The app runs but its store cannot be read (HTTP 503)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["degraded"]
    reason: str = Field(description="What failed; the details are in the log.")
