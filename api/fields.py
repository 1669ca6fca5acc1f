"""Field types the request models share: text that must say something, numbers that may arrive as text (query
strings carry nothing else), query-string switches, session ids.

Each type validates and documents itself: the JSON schema it shows (``json_schema_input_type``) is what a client
may send, the Python type is what a handler gets. The parametrised ones (:class:`Text`, :class:`WholeNumber`) are
metadata for ``Annotated[str, Text(1000)]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, BeforeValidator, Field

from api.validation import rule
from catalog.model import is_finite_number
from transport.switches import SWITCH_PATTERN, switch

#: URL paths cannot carry these as a segment (clients and proxies collapse them), so ids refuse them.
DOT_SEGMENTS = (".", "..")
#: JSON Schema (ECMA-262) for "not blank"; Python's str.strip() is what decides (it also strips \x1c-\x1f).
NOT_BLANK_PATTERN = r"\S"

# ------------------------------------------------------------------------------------------------------ text


def enum_of(*values: str) -> Any:
    """Documents a string as one of ``values`` (responses: the values are the domain's own constants)."""
    return Field(json_schema_extra={"enum": list(values)})


def _stripped(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise rule("must not be blank")
    return stripped


@dataclass(frozen=True)
class Text(GroupedMetadata):
    """On a ``str``: at most ``max_length`` characters (counted as sent), not blank; the handler gets it stripped."""

    max_length: int

    def __iter__(self) -> Iterator[Any]:
        yield Field(max_length=self.max_length, json_schema_extra={"minLength": 1, "pattern": NOT_BLANK_PATTERN})
        yield AfterValidator(_stripped)


# --------------------------------------------------------------------------------------------- numbers as text

#: Plain ASCII decimals: int()/float() would also take "1_0", " 5 " and "١".
WHOLE_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+")
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _whole_number(value: Any) -> Any:
    """An int from a whole number or its decimal text; anything else is left for the int check to refuse."""
    if isinstance(value, bool):
        raise rule("must be a whole number")
    if isinstance(value, str):
        if not WHOLE_NUMBER_TEXT.fullmatch(value):
            raise rule("must be a whole number")
        try:
            return int(value)
        except ValueError:  # beyond Python's 4300-digit limit for int("...")
            raise rule("must be a whole number of at most 4300 digits") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise rule("must be a whole number")
        return int(value)
    return value


@dataclass(frozen=True)
class Between(GroupedMetadata):
    """On an ``int``: ``low..high``, refused naming both bounds ("k must be between 1 and 50")."""

    low: int
    high: int

    def _check(self, value: int) -> int:
        if not self.low <= value <= self.high:
            raise rule(f"must be between {self.low} and {self.high}")
        return value

    def __iter__(self) -> Iterator[Any]:
        yield Field(json_schema_extra={"minimum": self.low, "maximum": self.high})
        yield AfterValidator(self._check)


@dataclass(frozen=True)
class WholeNumber(GroupedMetadata):
    """On an ``int``: ``low..high``, also as decimal text (``"5"``) or a whole float (``5.0``)."""

    low: int
    high: int

    def __iter__(self) -> Iterator[Any]:
        bounded = Annotated[int, Between(self.low, self.high)]
        as_text = Annotated[str, Field(pattern=f"^{WHOLE_NUMBER_TEXT.pattern}$", description="The same, as text.")]
        yield BeforeValidator(_whole_number, json_schema_input_type=bounded | as_text)
        yield from Between(self.low, self.high)


def _number_or_nothing(value: Any) -> Any:
    """``None`` for null or ``""``; a float from a finite number or its decimal text."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise rule("must be a number")
    if isinstance(value, str):
        if not NUMBER_TEXT.fullmatch(value):
            raise rule("must be a number")
        value = float(value)
    if isinstance(value, int | float):
        if not is_finite_number(value):
            raise rule("must be a finite number")
        return float(value)
    return value


_NOT_NEGATIVE = Annotated[float, Field(ge=0)]
_OPTIONAL_NUMBER_TEXT = Annotated[str, Field(pattern=f"^({NUMBER_TEXT.pattern})?$")]
#: A price bound: a finite number >= 0, also as decimal text; null or "" means no bound.
Price = Annotated[
    _NOT_NEGATIVE | None,
    BeforeValidator(_number_or_nothing, json_schema_input_type=_NOT_NEGATIVE | _OPTIONAL_NUMBER_TEXT | None),
    Field(description="A finite number >= 0 (also as text); empty or null means no bound."),
]

# ------------------------------------------------------------------------------------------------- switches

#: A switch, or nothing (empty is false).
_FLAG_PATTERN = f"{SWITCH_PATTERN}|^[ \\t]*$"


def query_flag(value: Any) -> bool:
    """A query-string switch (:func:`transport.switches.switch`); empty is false.

    Raises:
        PydanticCustomError: anything else ("must be true or false").
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        said = False if value.strip(" \t") == "" else switch(value)
        if said is not None:
            return said
    raise rule("must be true or false")


Flag = Annotated[
    bool,
    BeforeValidator(query_flag, json_schema_input_type=Annotated[str, Field(pattern=_FLAG_PATTERN)]),
    Field(description="true/false, yes/no, on/off or 1/0 (any case); empty is false."),
]

# ----------------------------------------------------------------------------------------------- session ids

SESSION_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
_SESSION_ID = re.compile(SESSION_ID_PATTERN)


def _session_id(value: str) -> str:
    # fullmatch: "$" would let a trailing newline through; "." and ".." cannot be sent in a URL path.
    if _SESSION_ID.fullmatch(value) is None or value in DOT_SEGMENTS:
        raise rule("must be 1-128 characters of letters, digits, '_', '-', '.', ':' (and not . or ..)")
    return value


SessionId = Annotated[
    str,
    AfterValidator(_session_id),
    Field(json_schema_extra={"pattern": SESSION_ID_PATTERN, "not": {"enum": list(DOT_SEGMENTS)}}),
]
