"""``local.settings.json``: its ``Values`` fill in what the environment lacks, as ``func start`` does."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from composition.settings import SettingsError

LOCAL_SETTINGS_FILE = "local.settings.json"


def read_local_settings(path: Path) -> dict[str, Any]:
    """The parsed ``local.settings.json`` at ``path`` (``{}`` when there is none).

    Raises:
        SettingsError: the file is not a JSON object, or its ``Values`` is not an object.
    """
    if not path.is_file():
        return {}
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SettingsError(
            f"{path} is not valid JSON ({error}); compare it with local.settings.json.example"
        ) from None
    if not isinstance(content, dict) or not isinstance(content.get("Values") or {}, dict):
        raise SettingsError(f"{path} must be a JSON object with a Values object")
    return content


def apply_local_settings_values(content: Mapping[str, Any], environ: MutableMapping[str, str]) -> None:
    """Copy ``Values`` into ``environ`` for keys it lacks, as ``func start`` does (true/false become strings)."""
    for key, value in (content.get("Values") or {}).items():
        if key in environ or value is None:
            continue
        environ[key] = json.dumps(value) if isinstance(value, bool) else str(value)


def environment_with_local_settings(path: Path | None) -> dict[str, str]:
    """The process environment plus the ``local.settings.json`` Values it lacks.

    Raises:
        SettingsError: the file exists but is not valid.
    """
    environ = dict(os.environ)
    if path is not None:
        apply_local_settings_values(read_local_settings(path), environ)
    return environ
