"""The kinds a setting can be (backends as enums) and how each raw value is parsed; :mod:`composition.settings`
declares the settings themselves."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import field
from enum import StrEnum
from typing import Any

from transport.switches import switch


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the key and an example value."""


class StoreBackend(StrEnum):
    LOCAL = "local"
    COSMOS = "cosmos"


class EmbeddingBackend(StrEnum):
    LOCAL = "local"
    AZURE_OPENAI = "azure-openai"
    OPENAI = "openai"
    DETERMINISTIC = "deterministic"


class ChatBackend(StrEnum):
    EXTRACTIVE = "extractive"
    OPENAI = "openai"
    AZURE_OPENAI = "azure-openai"


class TelemetryExporter(StrEnum):
    NONE = "none"
    CONSOLE = "console"
    OTLP = "otlp"


class VectorIndexType(StrEnum):
    QUANTIZED_FLAT = "quantizedFlat"
    DISK_ANN = "diskANN"
    FLAT = "flat"


class CosmosAuth(StrEnum):
    IDENTITY = "identity"
    KEY = "key"


def _str(raw: str) -> str:
    return raw.strip()


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _float_between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _bool(raw: str) -> bool:
    said = switch(raw)
    if said is None:
        raise ValueError("must be true or false")
    return said


def _vector_index(raw: str) -> VectorIndexType:
    for member in VectorIndexType:
        if member.value.lower() == raw.strip().lower():
            return member
    raise ValueError("must be one of " + "|".join(member.value for member in VectorIndexType))


def _search_mode(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in ("vector", "hybrid"):
        raise ValueError("must be vector or hybrid")
    return mode


def _schedule(raw: str) -> str:
    # The Functions host parses it; catch the usual mistake here: a five-field cron expression.
    text = raw.strip()
    if len(text.split()) != 6 and not re.fullmatch(r"(\d+\.)?\d{1,2}:\d{2}:\d{2}", text):
        raise ValueError("must be an NCRONTAB expression with six fields (second first) or a TimeSpan hh:mm:ss")
    return text


def _fields_list(raw: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not names:
        raise ValueError("must name at least one field")
    return names


def _enum(kind: type[StrEnum]) -> Callable[[str], StrEnum]:
    def parse(raw: str) -> StrEnum:
        try:
            return kind(raw.strip().lower())
        except ValueError:
            raise ValueError("must be one of " + "|".join(member.value for member in kind)) from None

    return parse


def _setting(default: Any, parse: Callable[[str], Any], example: str, doc: str) -> Any:
    return field(default=default, metadata={"parse": parse, "example": example, "doc": doc})
