"""``python -m composition.cosmos_bootstrap``: create the Cosmos DB database and every container the app uses.

What is created and how existing containers are checked is :mod:`store.cosmos.provision`; this command reads the
settings (environment plus ``local.settings.json`` Values), builds the definitions from them
(:func:`composition.containers.container_definitions`) and reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from azure.cosmos.exceptions import CosmosHttpResponseError

from composition.backends import build_embedder, cosmos_store
from composition.containers import container_definitions
from composition.local_settings import environment_with_local_settings
from composition.settings import Settings, SettingsError, load_settings
from store.cosmos.provision import bootstrap

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


async def _embedder_dimensions(settings: Settings) -> int:
    embedder = build_embedder(settings)
    try:
        return embedder.dimensions
    finally:
        await embedder.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m composition.cosmos_bootstrap",
        description=(
            "Create the Cosmos DB database and containers the app uses, if missing, and check existing ones "
            "(partition keys, vector policies, TTL; full-text policies are updated in place). Reads the app "
            "settings from the environment and local.settings.json Values."
        ),
    )
    parser.add_argument(
        "--dimensions",
        type=int,
        help="vector dimensions of the products and cache containers (default: those of the configured embedder)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the container definitions as JSON and change nothing"
    )
    parser.add_argument(
        "--local-settings",
        type=Path,
        default=Path("local.settings.json"),
        help="settings file whose Values fill in what the environment lacks (default: ./local.settings.json)",
    )
    return parser


async def _run(args: argparse.Namespace, out: Any, err: Any) -> int:
    try:
        settings = load_settings(environment_with_local_settings(args.local_settings))
    except (SettingsError, ValueError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    if args.dimensions is not None:
        dimensions = args.dimensions
    else:
        try:
            dimensions = await _embedder_dimensions(settings)
        except (NotImplementedError, SettingsError, ValueError, OSError) as error:
            print(
                f"error: cannot build the configured embedder to learn its dimensions ({error}); pass --dimensions",
                file=err,
            )
            return EXIT_USAGE
    try:
        definitions = container_definitions(settings, dimensions)
    except ValueError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    if args.dry_run:
        document = {"database": settings.COSMOS_DATABASE, "containers": [d.resource() for d in definitions]}
        print(json.dumps(document, indent=2), file=out)
        return EXIT_OK
    if not settings.COSMOS_CONNECTION__accountEndpoint:
        print(
            "error: COSMOS_CONNECTION__accountEndpoint is not set; "
            "example: COSMOS_CONNECTION__accountEndpoint=https://myaccount.documents.azure.com:443/",
            file=err,
        )
        return EXIT_USAGE
    store = cosmos_store(settings)
    try:
        report = await bootstrap(store.client(), settings.COSMOS_DATABASE, definitions)
    except (RuntimeError, CosmosHttpResponseError) as error:
        print(f"error: {error}", file=err)
        return EXIT_FAILURE
    finally:
        await store.close()
    print(f"database {settings.COSMOS_DATABASE!r}: {report.database}", file=out)
    for name, status in report.containers:
        print(f"container {name!r}: {status}", file=out)
    for problem in report.problems:
        print(f"\nerror: {problem}", file=err)
    return EXIT_OK if report.ok else EXIT_FAILURE


def main(argv: Sequence[str] | None = None, *, out: Any = None, err: Any = None) -> int:
    """Run the command; returns the exit code (0 done, 1 a container differs or could not be made, 2 bad input)."""
    args = build_parser().parse_args(argv)
    return asyncio.run(_run(args, out or sys.stdout, err or sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
