"""The metadata in a GGUF file's header (name, architecture, license, context length): provenance without llama.cpp."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"
#: value type -> struct format of the fixed-size scalar types (GGUF spec, versions 2 and 3).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class NotGgufError(ValueError):
    """The file is not a GGUF model (wrong magic or an unsupported version)."""


def is_gguf(path: Path) -> bool:
    """Whether ``path`` starts with the GGUF magic bytes."""
    try:
        with path.open("rb") as file:
            return file.read(4) == GGUF_MAGIC
    except OSError:
        return False


def read_metadata(path: Path) -> dict[str, Any]:
    """Every scalar and string key of the header; arrays (the tokenizer's vocabulary) are skipped.

    Raises:
        NotGgufError: the file is not GGUF version 2 or 3.
    """
    with path.open("rb") as file:
        if file.read(4) != GGUF_MAGIC:
            raise NotGgufError(f"{path} is not a GGUF file (no GGUF magic bytes)")
        (version,) = struct.unpack("<I", file.read(4))
        if version not in (2, 3):
            raise NotGgufError(f"{path}: GGUF version {version} is not supported (2 or 3)")
        _tensors, kv_count = struct.unpack("<QQ", file.read(16))
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = _string(file)
            (kind,) = struct.unpack("<I", file.read(4))
            value = _value(file, kind)
            if value is not _SKIPPED:
                metadata[key] = value
        return metadata


def describe(metadata: dict[str, Any]) -> dict[str, Any]:
    """The few keys a reader wants to see: name, architecture, size, quantisation, license, context length."""
    architecture = metadata.get("general.architecture")
    return {
        "name": metadata.get("general.name"),
        "architecture": architecture,
        "size_label": metadata.get("general.size_label"),
        "file_type": metadata.get("general.file_type"),
        "license": metadata.get("general.license"),
        "context_length": metadata.get(f"{architecture}.context_length") if architecture else None,
        "has_chat_template": "tokenizer.chat_template" in metadata,
    }


_SKIPPED = object()


def _string(file: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", file.read(8))
    return file.read(length).decode("utf-8", errors="replace")


def _value(file: BinaryIO, kind: int) -> Any:
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, file.read(struct.calcsize(fmt)))[0]
    if kind == _STRING:
        return _string(file)
    if kind == _ARRAY:
        item_kind, count = struct.unpack("<IQ", file.read(12))
        if item_kind in _SCALARS:
            file.seek(struct.calcsize(_SCALARS[item_kind]) * count, 1)
        else:
            for _ in range(count):
                _value(file, item_kind)
        return _SKIPPED
    raise NotGgufError(f"unknown GGUF value type {kind}")
