"""``catalog search``: search a running host's catalog by meaning and print the best matches as a table."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from devhost.cli.common import CATALOG_URL, EXIT_CONFIG, START_HINT, StartupError, catalog_url, fail, read_local_file
from devhost.cli.load import positive_int


def _result_rows(payload: Any) -> list[tuple[str, str, str, str]]:
    """``(score, name, category, price)`` per hit, from ``{"results": [...]}`` or a bare list."""
    results = payload.get("results", []) if isinstance(payload, dict) else payload
    rows = []
    for item in results if isinstance(results, list) else []:
        if not isinstance(item, dict):
            continue
        product = item.get("product") or item.get("document") or item
        score = item.get("score")
        price = product.get("price")
        rows.append(
            (
                f"{score:.3f}" if isinstance(score, int | float) else "",
                str(product.get("name", "")),
                str(product.get("category_name") or product.get("category") or ""),
                f"{price:.2f}" if isinstance(price, int | float) else str(price or ""),
            )
        )
    return rows


def format_results(payload: Any) -> str:
    """The search answer as a small table: rank, score, name, category, price."""
    rows = _result_rows(payload)
    if not rows:
        return "no results"
    table = [("rank", "score", "name", "category", "price")]
    table += [(str(rank), *row) for rank, row in enumerate(rows, start=1)]
    clipped = [tuple(cell if len(cell) <= 48 else cell[:47] + "…" for cell in row) for row in table]
    widths = [max(len(row[column]) for row in clipped) for column in range(5)]
    right = {0, 1, 4}  # numbers line up on the right
    lines = [
        "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in clipped
    ]
    return "\n".join(lines)


async def search_over_http(url: str, params: dict[str, str], out: TextIO = sys.stdout) -> int:
    """GET ``{url}/api/search`` and print the hits; return the exit code."""
    endpoint = f"{url.rstrip('/')}/api/search"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            async with session.get(endpoint, params=params) as response:
                text = await response.text()
                status = response.status
    except aiohttp.ClientConnectorError:
        return fail(f"cannot reach {url}: {START_HINT}")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return fail(f"GET {endpoint} answered {status} with a body that is not JSON: {text[:200]}")
    if status >= 400:
        return fail(f"GET {endpoint} answered {status}: {json.dumps(payload)}")
    print(format_results(payload), file=out)
    return 0


def command_search(args: argparse.Namespace) -> int:
    try:
        url = args.url or catalog_url(read_local_file(Path.cwd()))
    except StartupError as error:
        return fail(str(error), EXIT_CONFIG)
    params = {"q": args.query, "k": str(args.k)}
    if args.category:
        params["category"] = args.category
    if args.min_price is not None:
        params["min_price"] = f"{args.min_price:g}"
    if args.max_price is not None:
        params["max_price"] = f"{args.max_price:g}"
    return asyncio.run(search_over_http(url, params))


def add_search_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """``search``, under the ``catalog`` parser's sub-commands."""
    search = commands.add_parser(
        "search",
        parents=[common],
        help="search the catalog by meaning",
        description="Search a running host's catalog by meaning and print the best matches.",
    )
    search.add_argument("query", metavar="QUERY", help="what you are looking for, in plain words")
    search.add_argument(
        "--url",
        default=None,
        help=f"base URL of the running host (default: ${CATALOG_URL}, else http://127.0.0.1:$PORT, else the "
        "local.settings.json Host.LocalHttpPort, else port 7071)",
    )
    search.add_argument("-k", type=positive_int, default=5, help="how many results (default: %(default)s)")
    search.add_argument("--category", help="only this category_name")
    search.add_argument("--min-price", type=float, help="lowest price")
    search.add_argument("--max-price", type=float, help="highest price")
    search.set_defaults(handler=command_search, log_level=logging.WARNING)
