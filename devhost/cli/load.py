"""``catalog load``: bulk-load a JSON list of products over HTTP into a running host, or ``--direct`` into the store."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from catalog.errors import ClientError
from composition.services import Services, get_services
from devhost.cli.common import (
    CATALOG_URL,
    EXIT_CONFIG,
    START_HINT,
    StartupError,
    catalog_url,
    fail,
    open_store,
    prepare_settings,
    read_local_file,
    user_error_message,
)
from devhost.cli.run import LoadProducts, default_load_products

_ITEM = re.compile(r"products\[(\d+)\]")


class InvalidProductError(StartupError):
    """An item of the file is not a valid product; the message names it as ``products[i]``."""


def read_products(path: Path) -> list[dict[str, Any]]:
    """The JSON list of products in ``path``.

    Raises:
        ValueError: with a one-line reason.
    """
    try:
        products = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a JSON file ({error})") from None
    if not isinstance(products, list) or not all(isinstance(item, dict) for item in products):
        raise ValueError(f"{path} must hold a JSON list of product objects")
    return products


def _chunks(items: list[dict[str, Any]], size: int) -> list[tuple[int, list[dict[str, Any]]]]:
    return [(start, items[start : start + size]) for start in range(0, len(items), size)]


def _progress(total: int) -> Any:
    from tqdm import tqdm

    # disable=None hides the bar when stderr is not a terminal (CI logs, pipes).
    return tqdm(total=total, unit="product", disable=None)


class _Counts:
    def __init__(self) -> None:
        self.sent = 0
        self.written = 0
        self.unchanged = 0
        self.reported = False

    def add(self, sent: int, report: Any) -> None:
        """Count a chunk; ``report`` is a ``LoadReport`` or the bulk API's ``{"created", "updated", "unchanged"}``."""
        self.sent += sent
        if isinstance(report, dict):
            written = report.get("written")
            if written is None and isinstance(report.get("created"), int) and isinstance(report.get("updated"), int):
                written = report["created"] + report["updated"]
            unchanged = report.get("unchanged")
        else:
            written, unchanged = getattr(report, "written", None), getattr(report, "unchanged", None)
        if isinstance(written, int) and isinstance(unchanged, int):
            self.written += written
            self.unchanged += unchanged
            self.reported = True

    def summary(self, where: str) -> str:
        counts = f" ({self.written} written, {self.unchanged} unchanged)" if self.reported else ""
        return f"loaded {self.sent} products into {where}{counts}"


async def load_over_http(url: str, products: list[dict[str, Any]], chunk: int, out: TextIO = sys.stdout) -> int:
    """POST ``products`` to ``{url}/api/products`` in chunks; return the exit code."""
    endpoint = f"{url.rstrip('/')}/api/products"
    counts = _Counts()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        with _progress(len(products)) as bar:
            for _, part in _chunks(products, chunk):
                try:
                    async with session.post(endpoint, json=part) as response:
                        text = await response.text()
                        status = response.status
                except aiohttp.ClientConnectorError:
                    return fail(f"cannot reach {url}: {START_HINT}")
                try:
                    payload: Any = json.loads(text) if text else {}
                except json.JSONDecodeError:
                    payload = text
                if status >= 400:
                    shown = json.dumps(payload) if not isinstance(payload, str) else payload[:500]
                    return fail(f"POST {endpoint} answered {status} after {counts.sent} products were loaded: {shown}")
                counts.add(len(part), payload)
                bar.update(len(part))
    print(counts.summary(endpoint), file=out)
    return 0


def _in_the_whole_file(error: ClientError, start: int) -> str:
    """The loader's message with ``products[i]`` counted from the file's start, not the chunk's."""
    message = _ITEM.sub(lambda found: f"products[{int(found.group(1)) + start}]", error.message)
    written = f"products[{start}] and later were not written" if start else "nothing was written"
    return f"{message}; {written}"


async def load_direct(
    products: list[dict[str, Any]],
    chunk: int,
    *,
    services: Services | None = None,
    load_products: LoadProducts | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Write ``products`` straight into the configured store; return the exit code.

    Raises:
        InvalidProductError: an item is invalid (named as ``products[i]`` of the whole list).
        StartupError: the store cannot serve these settings.
    """
    loader = load_products or default_load_products()
    own_services = services is None
    services = services or await get_services()
    counts = _Counts()
    try:
        await open_store(services)
        with _progress(len(products)) as bar:
            for start, part in _chunks(products, chunk):
                try:
                    report = await loader(services, part)
                except ClientError as error:
                    raise InvalidProductError(_in_the_whole_file(error, start)) from None
                counts.add(len(part), report)
                bar.update(len(part))
    finally:
        if own_services:
            await services.close()
    print(counts.summary(f"the {services.settings.STORE_BACKEND} store"), file=out)
    return 0


def command_load(args: argparse.Namespace) -> int:
    try:
        products = read_products(Path(args.file))
    except ValueError as error:
        return fail(str(error))
    if not args.direct:
        try:
            url = args.url or catalog_url(read_local_file(Path.cwd()))
        except StartupError as error:
            return fail(str(error), EXIT_CONFIG)
        return asyncio.run(load_over_http(url, products, args.chunk))
    prepared = prepare_settings(Path.cwd())
    if isinstance(prepared, int):
        return prepared
    try:
        return asyncio.run(load_direct(products, args.chunk))
    except Exception as error:
        message = user_error_message(error)
        if message is None:
            raise
        return fail(f"{args.file}: {message}" if isinstance(error, InvalidProductError) else message, EXIT_CONFIG)


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_load_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """``load``, under the ``catalog`` parser's sub-commands."""
    load = commands.add_parser(
        "load",
        parents=[common],
        help="bulk-load a JSON list of products",
        description="Bulk-load a JSON list of products: POST them in chunks to a running host, or with --direct "
        "write them straight into the configured store (the trigger embeds them when the host next runs).",
    )
    load.add_argument("file", metavar="FILE", help="JSON file holding a list of products")
    load.add_argument(
        "--url",
        default=None,
        help=f"base URL of the running host (default: ${CATALOG_URL}, else http://127.0.0.1:$PORT, else the "
        "local.settings.json Host.LocalHttpPort, else port 7071)",
    )
    load.add_argument("--direct", action="store_true", help="write into the configured store instead of over HTTP")
    load.add_argument("--chunk", type=positive_int, default=100, help="products per request (default: %(default)s)")
    load.set_defaults(handler=command_load, log_level=logging.WARNING)
