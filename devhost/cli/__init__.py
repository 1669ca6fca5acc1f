"""``catalog`` / ``python -m devhost``: run the app locally, bulk-load products, search from the terminal.

One module per command: :mod:`devhost.cli.run` (``func start`` where Core Tools is not installed),
:mod:`devhost.cli.load`, :mod:`devhost.cli.search`, :mod:`devhost.cli.embeddings` (``reconcile``, ``embeddings
status``) and :mod:`devhost.cli.migrate` (``migrate plan|start|status|evaluate|switch|rollback|finish``);
:mod:`devhost.cli.common` holds what they share.

``search`` and ``load`` find the running host at ``CATALOG_URL`` (environment or ``local.settings.json`` Values),
else at ``http://127.0.0.1:$PORT``, else on the ``Host.LocalHttpPort`` of ``local.settings.json``, else on 7071.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from devhost.cli.common import configure_logging
from devhost.cli.embeddings import add_embeddings_commands
from devhost.cli.load import add_load_command, load_direct, load_over_http
from devhost.cli.migrate import add_migrate_command
from devhost.cli.run import add_run_command, serve
from devhost.cli.search import add_search_command, format_results, search_over_http

__all__ = ["build_parser", "format_results", "load_direct", "load_over_http", "main", "search_over_http", "serve"]


def build_parser() -> argparse.ArgumentParser:
    """The ``catalog`` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser = argparse.ArgumentParser(
        prog="catalog",
        description="Run the product catalog Functions app locally, load products into it and search it.",
        epilog="With Azure Functions Core Tools installed, `func start` runs the same function_app.py.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run_command(commands, common)
    add_load_command(commands, common)
    add_search_command(commands, common)
    add_embeddings_commands(commands, common)
    add_migrate_command(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``catalog`` and ``python -m devhost``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.log_level)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 0
    return code
