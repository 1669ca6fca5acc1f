"""From pydantic's validation errors to the app's 400 (or 413): one function, one wording.

A refusal names the first field at fault as a path (``filters.max_price``, ``messages[2].content``,
``products[3].price``) and says what the field must be, with the limit it broke. Validators raise :func:`rule` with
that predicate ("must be a whole number"); pydantic's own errors get theirs from :data:`_PREDICATES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from catalog.errors import ClientError, PayloadTooLargeError, ValidationError

#: The error type of a :func:`rule` that is a 413 (a list over its item limit), not a 400.
TOO_LARGE = "too_large"
_RULE = "rule"

#: What a field must be, by pydantic error type; ``{...}`` are filled from the error's context.
_PREDICATES = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most {max_length} characters",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "literal_error": "must be one of {expected}",
    "list_type": "must be a list",
    "too_short": "must not be empty",
    "too_long": "has {actual_length} items; the limit is {max_length}",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
}

Model = TypeVar("Model", bound=BaseModel)


class RequestModel(BaseModel):
    """A request body or query: strict types (``"5"`` is not a number, ``1`` is not ``true``); unknown fields are
    ignored, as they always were."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class ResponseModel(BaseModel):
    """A response body: :meth:`body` is the JSON sent, without the optional fields the handler did not set."""

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def rule(predicate: str, *, field: str | None = None, too_large: bool = False) -> PydanticCustomError:
    """The error a validator raises: ``predicate`` is what follows the field path in the message.

    Args:
        predicate: e.g. ``"must be a whole number"``.
        field: a field below the one validated, when a check on a whole object blames one of its fields
            (``min_price`` for "min_price must not exceed max_price").
        too_large: answer 413 rather than 400.
    """
    context = {"field": field} if field else None
    return PydanticCustomError(TOO_LARGE if too_large else _RULE, predicate, context)


def parse(model: type[Model], raw: Any, *, context: dict[str, Any] | None = None) -> Model:
    """``raw`` validated as ``model``.

    Raises:
        ValidationError: naming the first field at fault (PayloadTooLargeError for a list over its item limit).
            Domain rules checked inside a model (``catalog.model.validate_product``) raise their own
            :class:`catalog.errors.ClientError`, which pydantic lets through unchanged.
    """
    try:
        return model.model_validate(raw, context=context)
    except PydanticValidationError as error:
        raise client_error(error) from None


def client_error(error: PydanticValidationError) -> ClientError:
    """The app's error for pydantic's first error: its field path and what the field must be."""
    first = error.errors(include_url=False, include_input=False)[0]
    path = field_path(first)
    message = f"{path} {predicate(first)}"
    if first["type"] == TOO_LARGE:
        return PayloadTooLargeError(message, field=path)
    return ValidationError(message, field=path)


def field_path(error: ErrorDetails) -> str:
    """Where pydantic's error is, as :func:`dotted` names it (a :func:`rule` may point one field further)."""
    context = error.get("ctx") or {}
    return dotted([*error["loc"], *([context["field"]] if "field" in context else [])])


def dotted(location: Sequence[int | str]) -> str:
    """A field path as clients see it: ``filters.min_price``, ``messages[0].role``; ``body`` for the whole body
    and ``body[1].name`` inside a top-level list."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return "body" + path if not path or path.startswith("[") else path


def predicate(error: ErrorDetails) -> str:
    """What the field must be, for one of pydantic's errors (a :func:`rule`'s own words as they are)."""
    if error["type"] in (_RULE, TOO_LARGE):
        return error["msg"]
    template = _PREDICATES.get(error["type"])
    if template is None:
        return f"is invalid: {error['msg']}"
    context = {key: _plain(value) for key, value in (error.get("ctx") or {}).items()}
    return template.format(**context)


def _plain(value: Any) -> Any:
    """``0`` rather than ``0.0`` for a whole float bound."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
