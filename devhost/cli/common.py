"""What every ``catalog`` command shares: exit codes, one-line errors, settings, the host's URL, opening the store."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError

from catalog.errors import ClientError
from composition.local_settings import LOCAL_SETTINGS_FILE, read_local_settings
from composition.services import Services
from composition.settings import Settings, SettingsError, load_settings
from devhost.metadata import HostError, apply_local_settings
from store.base import StoreError

# Exit codes: 0 success, 1 a failure while working, 2 something the user must fix first (argparse uses 2 too).
EXIT_FAILURE = 1
EXIT_CONFIG = 2

DEFAULT_PORT = 7071
#: Where ``search`` and ``load`` find the running host, e.g. ``http://127.0.0.1:8080`` (environment or
#: ``local.settings.json`` Values); without it, ``http://127.0.0.1:$PORT``.
CATALOG_URL = "CATALOG_URL"
#: The port ``run`` listens on when ``--port`` is not given (before ``Host.LocalHttpPort``); ``search`` and
#: ``load`` use it too.
PORT = "PORT"
START_HINT = "start the host with `make run` (or pass --url)"
# An example value to replace, such as https://<your-account>.documents.azure.com:443/.
_PLACEHOLDER = re.compile(r"<[A-Za-z][\w-]*>")


class StartupError(Exception):
    """Something the user must fix before the command can work (a setting, a file, an item); one line."""


def fail(message: str, code: int = EXIT_FAILURE) -> int:
    """Print ``error: message`` on stderr; return ``code``."""
    print(f"error: {message}", file=sys.stderr)
    return code


def configure_logging(verbose: bool, level: int) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not verbose:
        # The Azure SDKs log every HTTP request at INFO.
        logging.getLogger("azure").setLevel(logging.WARNING)


def user_error_message(error: BaseException) -> str | None:
    """The one line for an error the user fixes outside the code (a setting, a file, an item), else ``None``."""
    if isinstance(error, SettingsError | NotImplementedError | StartupError | StoreError | ClientError):
        return str(error)
    if isinstance(error, sqlite3.DatabaseError):
        return f"the local store's file in LOCAL_DATA_DIR cannot be used ({error}); move it aside to start empty"
    if isinstance(error, AzureError):
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"Azure refused or could not be reached ({first_line}); check the COSMOS_* and AZURE_OPENAI_* settings"
    return None


def placeholder_problem(settings: Settings) -> str | None:
    """Why ``settings`` still hold a placeholder of ``local.settings.json.example`` the chosen backends need."""
    held = {
        item.name: value
        for item in dataclasses.fields(settings)
        if isinstance(value := getattr(settings, item.name), str) and _PLACEHOLDER.search(value)
    }
    if not held:
        return None
    try:
        # The settings object knows which keys its backends need: ask it with the placeholders left out.
        blanks: dict[str, Any] = dict.fromkeys(held, "")
        dataclasses.replace(settings, **blanks).check_backends()
    except SettingsError as error:
        key = next((name for name in held if name in str(error)), next(iter(held)))
        return (
            f"{key}={held[key]!r} is still the example's placeholder (local.settings.json): set your own value, "
            f"or delete {LOCAL_SETTINGS_FILE} to run offline on the defaults"
        )
    return None


def prepare_settings(app_dir: Path) -> dict[str, Any] | int:
    """``local.settings.json`` applied and settings validated; an exit code when they are not usable."""
    try:
        local = apply_local_settings(app_dir)
        problem = placeholder_problem(load_settings())
    except (SettingsError, HostError) as error:
        return fail(str(error), EXIT_CONFIG)
    if problem is not None:
        return fail(problem, EXIT_CONFIG)
    return local


def read_local_file(app_dir: Path) -> dict[str, Any]:
    """``local.settings.json`` as written (``{}`` when absent), without touching the environment.

    Raises:
        StartupError: the file is not valid JSON.
    """
    try:
        return read_local_settings(app_dir / LOCAL_SETTINGS_FILE)
    except SettingsError as error:
        raise StartupError(str(error)) from None


def run_port(local: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> int:
    """The port ``run`` listens on without ``--port``: ``PORT``, else ``Host.LocalHttpPort`` (as ``func start``
    reads it), else 7071.

    Raises:
        StartupError: the value is not a port number.
    """
    env = os.environ if environ is None else environ
    name, raw = (PORT, env[PORT]) if env.get(PORT, "").strip() else ("Host.LocalHttpPort", None)
    if raw is None:
        raw = str((local.get("Host") or {}).get("LocalHttpPort") or DEFAULT_PORT)
    if not raw.strip().isdigit() or not 0 <= int(raw) <= 65535:
        raise StartupError(f"{name}={raw!r} is not a port number; example: {name}={DEFAULT_PORT}")
    return int(raw)


def catalog_url(local: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """The running host's base URL for ``search`` and ``load``: ``CATALOG_URL``, else ``http://127.0.0.1:<port>``.

    Raises:
        StartupError: ``CATALOG_URL`` is not an http(s) URL, or the port is not a number.
    """
    env = os.environ if environ is None else environ
    url = (env.get(CATALOG_URL) or str((local.get("Values") or {}).get(CATALOG_URL) or "")).strip()
    if not url:
        return f"http://127.0.0.1:{run_port(local, env)}"
    if not re.match(r"https?://[^/\s]+", url):
        raise StartupError(f"{CATALOG_URL}={url!r} is not an http URL; example: {CATALOG_URL}=http://127.0.0.1:7071")
    return url.rstrip("/")


async def open_store(services: Services) -> None:
    """Open every container the app uses, so a store that cannot serve these settings fails now, in one line.

    Raises:
        StartupError: the data file is damaged, a container is missing, or the store holds vectors of another
            embedding model or size.
    """
    settings = services.settings
    try:
        for name in services.container_specs():
            await services.container_named(name)
    except sqlite3.DatabaseError as error:
        where = getattr(services.store, "path", f"the store in LOCAL_DATA_DIR={settings.LOCAL_DATA_DIR}")
        raise StartupError(f"{where} is not a usable SQLite database ({error}); move it aside to start empty") from None
    except ValueError as error:
        # A container made for other vectors: the embedding model or its dimensions changed since it was filled.
        raise StartupError(
            f"{error}; these settings make {services.embedder.dimensions}-dimension vectors "
            f"(EMBEDDING_BACKEND={settings.EMBEDDING_BACKEND}, {services.embedder.model_id}): set EMBEDDING_BACKEND "
            "and EMBEDDING_DIMENSIONS back to what filled the store and move to the new model with `catalog migrate "
            "start --to KEY=VALUE` (search keeps working meanwhile), or point LOCAL_DATA_DIR at a new folder"
        ) from None
    except StoreError as error:  # a damaged data file, a missing container: the store's message says which
        raise StartupError(str(error)) from None


def run_command(work: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a command's coroutine with the settings of ``local.settings.json`` and the environment; an error the user
    fixes outside the code is one ``error:`` line and exit 2, never a traceback."""
    prepared = prepare_settings(Path.cwd())
    if isinstance(prepared, int):
        return prepared
    try:
        return asyncio.run(work())
    except Exception as error:
        message = user_error_message(error)
        if message is None:
            raise
        return fail(message, EXIT_CONFIG)
