"""``POST /api/v1/chat/completions``: OpenAI's chat-completions wire format over the same chat, errors included.

Stateless like OpenAI's API: the history is the ``messages`` sent; client ``system`` messages are dropped (the
service's rules stand); the last remaining message is the question and must come from the user.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, model_validator
from pydantic import ValidationError as PydanticValidationError

from api.chat import Citation, Usage
from api.fields import Text, enum_of
from api.validation import RequestModel, ResponseModel, predicate, rule
from catalog.search import SearchFilters
from chat.service import ChatRequest


class ContentPart(BaseModel):
    """A part of a message's content; the `text` of `type: text` parts is used, the others are skipped."""

    type: str
    text: str | None = None


def _content_text(value: Any) -> Any:
    """The text of a content given as parts (``[{"type": "text", "text": "..."}]``), or the content as it is."""
    if not isinstance(value, list):
        return value
    texts = [part.get("text", "") for part in value if isinstance(part, dict) and part.get("type") == "text"]
    if not all(isinstance(text, str) for text in texts):
        raise rule("must be a string, or a list of parts whose text is a string")
    return "".join(texts)


class ChatMessage(RequestModel):
    """One message of the conversation."""

    role: Literal["system", "user", "assistant"]
    content: Annotated[str, BeforeValidator(_content_text, json_schema_input_type=str | list[ContentPart])]

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, value: Any) -> Any:
        # Something that is not an object has no role: the error names messages[i].role, where a client looks first.
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Conversation(GroupedMetadata):
    """On the `messages` list: 1 to `max_messages` of them, ending (system messages aside) with the user's
    question, which must be a valid chat `message` (at most `max_question_chars`, not blank)."""

    max_messages: int
    max_question_chars: int

    def __iter__(self) -> Iterator[Any]:
        yield Field(min_length=1, max_length=self.max_messages)
        yield AfterValidator(self._ends_with_a_question)

    def _ends_with_a_question(self, messages: list[ChatMessage]) -> list[ChatMessage]:
        spoken = [message for message in messages if message.role != "system"]
        if not spoken or spoken[-1].role != "user":
            raise rule("must end with a message from the user (system messages are dropped)")
        try:
            question = _question(self.max_question_chars).validate_python(spoken[-1].content)
        except PydanticValidationError as error:
            raise rule(f"must end with a user message; it {predicate(error.errors()[0])}") from None
        return [spoken[-1].model_copy(update={"content": question}) if m is spoken[-1] else m for m in messages]


@functools.cache
def _question(max_chars: int) -> TypeAdapter[str]:
    """A chat ``message``'s rules (the same as ``POST /api/chat``'s)."""
    return TypeAdapter(Annotated[str, Text(max_chars)])


class ChatCompletionInput(RequestModel):
    """An OpenAI chat-completions request (`model` is echoed back; the configured chat model answers)."""

    # `messages` is bounded by the settings (Conversation): validate with api_models(limits).chat_completion.
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"messages": [{"role": "user", "content": "a stove for boiling water"}]}]}
    )

    messages: list[ChatMessage]
    stream: bool = False
    model: Any = Field(default=None, description="Echoed back; the configured chat model answers.")
    user: Any = Field(
        default=None,
        description="Accepted and ignored: it is whatever the client typed; the caller is verified from Easy Auth or "
        "the visitor cookie.",
    )

    def to_request(self, user: str, *, k: int) -> ChatRequest:
        """The chat service's request: the last message is the question, the others (system aside) its history."""
        spoken = [message for message in self.messages if message.role != "system"]
        history = [{"role": message.role, "content": message.content} for message in spoken[:-1]]
        return ChatRequest(spoken[-1].content, "", user, SearchFilters(), k, history)


class CompletionMessage(ResponseModel):
    role: Literal["assistant"]
    content: str


class CompletionChoice(ResponseModel):
    index: int
    message: CompletionMessage
    finish_reason: str


class ChatCompletion(ResponseModel):
    """A `chat.completion`, with the cited products and whether the answer came from the cache."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
    citations: list[Citation]
    cached: bool
    understood: dict[str, Any] = Field(default_factory=dict, description="How the question was read.")


class ChunkDelta(ResponseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(ResponseModel):
    index: int
    delta: ChunkDelta
    finish_reason: str | None


class ChatCompletionChunk(ResponseModel):
    """One `chat.completion.chunk` of a stream; the last one has no choices and carries the usage."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    citations: list[Citation] | None = None
    cached: bool | None = None
    understood: dict[str, Any] | None = None


class CompletionEvent(ResponseModel):
    """One server-sent event: a ChatCompletionChunk as JSON, `[DONE]` after the last one; an OpenAIError as JSON
    (and no `[DONE]`) when the answer fails part way."""

    event: Annotated[str, enum_of("message")] = "message"
    data: str


class OpenAIErrorDetail(ResponseModel):
    message: str
    type: Annotated[str, enum_of("invalid_request_error", "server_error")]
    param: str | None = Field(default=None, description="The request field at fault, e.g. `messages[0].content`.")
    code: str | None = None
    request_id: str | None = Field(default=None, description="For a server_error: find the traceback by this.")


class OpenAIError(ResponseModel):
    """An error in OpenAI's shape, so SDKs show the message and the parameter."""

    error: OpenAIErrorDetail


class ModelCard(ResponseModel):
    """One model, as OpenAI's ``GET /v1/models`` lists it."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(ResponseModel):
    """``GET /api/v1/models``: the catalog answers as one model."""

    object: Literal["list"]
    data: list[ModelCard]
