"""``/api/chat`` and ``/api/chat/{session_id}``: a question about the catalog, its answer, and a session's turns."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from api.fields import SessionId, enum_of
from api.search import SearchFiltersInput
from api.validation import RequestModel, ResponseModel
from catalog.search import SearchFilters
from chat.service import ChatRequest


class ChatInput(RequestModel):
    """A question about the catalog, answered from the products it retrieves."""

    # `message` and `k` are bounded by the settings: validate with api_models(limits).chat.
    model_config = ConfigDict(json_schema_extra={"examples": [{"message": "what should I cook dinner on at camp?"}]})

    message: str
    session_id: SessionId | None = Field(
        default=None, description="Continue this conversation; a new one when absent or null."
    )
    filters: SearchFiltersInput | None = None
    k: int
    stream: bool = Field(
        default=False, description="Answer as server-sent events: `start`, `token`..., then `done` or `error`."
    )

    def to_request(self, user: str) -> ChatRequest:
        """The chat service's request; an empty ``session_id`` asks the service to start a conversation."""
        filters = self.filters.to_filters() if self.filters is not None else SearchFilters()
        return ChatRequest(self.message, self.session_id or "", user, filters, self.k)


class ChatSessionPath(RequestModel):
    """The path of `/api/chat/{session_id}`."""

    session_id: SessionId


class Citation(ResponseModel):
    """A product the answer cites."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    score: float


class ChatTimings(ResponseModel):
    model_config = ConfigDict(extra="allow")

    embed_ms: float = Field(ge=0)
    cache_ms: float = Field(ge=0)
    search_ms: float = Field(ge=0)
    llm_ms: float = Field(ge=0)
    total_ms: float = Field(ge=0)


class Usage(ResponseModel):
    """Tokens the chat model read and wrote for this answer (0 for a cached one; the offline writer's are counted
    with gpt-4o's tokenizer and cost nothing)."""

    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int | None = Field(default=None, ge=0)
    estimated_cost: float | None = Field(
        default=None, ge=0, description="At the PRICE_* settings: an estimate, not a bill; 0 for a local model."
    )
    currency: str | None = Field(default=None, description="PRICE_CURRENCY.")


class Saved(ResponseModel):
    """A cached answer: what writing it once cost, and so what serving it again saved."""

    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    ms: float = Field(ge=0, description="Milliseconds the model took to write it.")
    estimated_cost: float | None = Field(default=None, ge=0, description="An estimate, as `usage.estimated_cost`.")


class ChatAnswer(ResponseModel):
    """The answer to one question (with `"stream": true`, the data of the `done` event)."""

    model_config = ConfigDict(extra="allow")

    session_id: str
    answer: str
    citations: list[Citation]
    cached: bool
    cache_score: float | None = Field(default=None, description="Only when served from the semantic cache.")
    timings: ChatTimings
    usage: Usage
    saved: Saved | None = Field(default=None, description="Only when served from the semantic cache.")


class ChatEvent(ResponseModel):
    """One server-sent event of `POST /api/chat` with `"stream": true` (without an `event:` line, `message`).

    `data` is JSON: `start` `{session_id}`, `token` `{text}`, `done` the ChatAnswer, `error`
    `{error, request_id}`.
    """

    event: Annotated[str, enum_of("start", "token", "done", "error")]
    data: str


class ChatTurn(ResponseModel):
    """One question and its answer."""

    message: str
    question: str = Field(description="The standalone question searched for.")
    answer: str
    citations: list[Citation]
    cached: bool
    created_at: str


class ChatSession(ResponseModel):
    """A session's turns, oldest first."""

    session_id: str
    turns: list[ChatTurn] = Field(min_length=1)


class ChatSessionDeleted(ResponseModel):
    session_id: str
    deleted_turns: int = Field(ge=1)
