"""Settings as text and back: a setting's value as written (what a model migration records, :mod:`catalog.migration`),
new values applied over the settings in force, ``%NAME%`` binding expressions, and the README's settings table."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from composition.setting_kinds import _bool
from composition.settings import Settings, SettingsError, parse_setting


def setting_text(settings: Settings, name: str) -> str:
    """The value of setting ``name`` as it would be written in the environment (``a,b`` for a list)."""
    value = getattr(settings, name)
    if isinstance(value, tuple):
        return ",".join(str(part) for part in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def with_values(settings: Settings, values: Mapping[str, str]) -> Settings:
    """``settings`` with some settings set to new values (as written in the environment), validated.

    Raises:
        SettingsError: a name is not a setting, or a value is invalid.
    """
    known = {item.name: item for item in fields(Settings)}
    changed: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in known:
            raise SettingsError(f"{name} is not a setting")
        item = known[name]
        changed[name] = parse_setting(item, raw) if raw.strip() else item.default
    updated = dataclasses.replace(settings, **changed)
    updated.check_backends()
    return updated


def resolve_app_setting(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of a ``%NAME%`` binding expression: the environment's, else the setting's default.

    Raises:
        SettingsError: the name is neither set nor a known setting with a default.
    """
    env = os.environ if environ is None else environ
    if env.get(name):
        return env[name]
    for item in fields(Settings):
        if item.name == name and item.default not in ("", None):
            return str(item.default)
    raise SettingsError(f"app setting {name} is not set; add it to local.settings.json Values or the environment")


def binding_flag(name: str, default: bool) -> bool:
    """A boolean read when the Functions host indexes the app (binding metadata cannot hold ``%EXPRESSIONS%``)."""
    raw = os.environ.get(name)
    return default if raw is None or raw == "" else _bool(raw)


def settings_table() -> str:
    """Every setting as the markdown table in the README (``python -m composition.settings_text`` prints it)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, meaning in describe():
        rows.append(f"| `{key}` | {f'`{default}`' if default else '(empty)'} | {meaning} |")
    return "\n".join(rows)


def describe() -> list[tuple[str, str, str]]:
    """``(key, default, meaning)`` for every setting, for the README and ``--help``."""
    rows = []
    for item in fields(Settings):
        default = item.default
        shown = (
            ",".join(default)
            if isinstance(default, tuple)
            else str(default).lower()
            if isinstance(default, bool)
            else str(default)
        )
        rows.append((item.name, shown, item.metadata["doc"]))
    return rows


if __name__ == "__main__":
    print(settings_table())
