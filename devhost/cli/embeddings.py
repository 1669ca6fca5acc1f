"""``catalog reconcile`` and ``catalog embeddings status``: keep embeddings current from the terminal.

Both work on the configured store directly (no running host needed, and safe beside one: reconcile's write-backs
are conditional, as the change feed's are), with the settings of ``local.settings.json`` and the environment.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, TextIO

from catalog.embedding_status import StatusSummary
from catalog.reconcile import ReconcileReport
from composition.services import Services, build_services
from composition.settings import load_settings
from devhost.cli.common import open_store, run_command


def format_report(report: ReconcileReport) -> str:
    """One reconcile run as a few lines a person reads."""
    lines = [
        f"read {report.seen} products in {report.pages} pages ({report.duration_ms:.0f} ms): {report.current} current, "
        f"{report.missing} missing, {report.stale} stale, {report.failed_retried} failed and retried, "
        f"{report.failed_left} failed for good",
        f"embedded {report.embedded} with {report.embed_requests} embedding requests; {report.failed} failed, "
        f"{report.conflicts} changed meanwhile (the change feed has them)",
        "went round the whole catalog"
        if report.complete
        else f"stopped at the per-run limit; the next run goes on after {report.continuation!r}",
    ]
    return "\n".join(lines)


def format_status(summary: StatusSummary) -> str:
    """The status view as a few lines and a small table."""
    status = summary.by_status
    lines = [
        f"{summary.products} live products for {summary.model} ({summary.dimensions} dimensions): "
        f"{status['embedded']} embedded, {status['pending']} pending, {status['failed']} failed",
    ]
    if summary.oldest_pending_id is not None:
        lines.append(f"oldest pending: {summary.oldest_pending_id} ({summary.oldest_pending_age_seconds:.0f} s)")
    lines.append("stamps by model:")
    for row in summary.by_recipe:
        marker = " (current)" if row.current else ""
        lines.append(f"  {row.model} {row.dimensions}d{marker}: {row.embedded} embedded, {row.failed} failed")
    last = summary.last_reconcile
    if last is None:
        lines.append("no reconcile run yet")
    else:
        lines.append(
            f"last reconcile {last.get('started_at')}: {last.get('seen')} read, {last.get('embedded')} embedded, "
            f"{last.get('embed_requests')} requests" + (f", error: {last['error']}" if last.get("error") else "")
        )
    return "\n".join(lines)


async def reconcile_direct(*, from_start: bool, services: Services | None = None, out: TextIO | None = None) -> int:
    """One reconcile run against the configured store; prints the report."""
    own = services is None
    services = services or build_services(load_settings())
    try:
        await open_store(services)
        reconcilers = await services.reconcilers()
        reports = [await reconciler.reconcile(from_start=from_start) for reconciler in reconcilers]
    finally:
        if own:
            await services.close()
    for reconciler, report in zip(reconcilers, reports, strict=True):
        slot = reconciler.recipe.slot.name
        prefix = "" if len(reports) == 1 else f"slot {slot} ({reconciler.recipe.model_id}): "
        print(prefix + format_report(report), file=out or sys.stdout)
    return 0


async def status_direct(*, services: Services | None = None, out: TextIO | None = None) -> int:
    """Print the embedding status of the configured store."""
    own = services is None
    services = services or build_services(load_settings())
    try:
        await open_store(services)
        summary = await (await services.embedding_status()).summary()
    finally:
        if own:
            await services.close()
    print(format_status(summary), file=out or sys.stdout)
    return 0


def command_reconcile(args: argparse.Namespace) -> int:
    return run_command(lambda: reconcile_direct(from_start=args.from_start))


def command_status(args: argparse.Namespace) -> int:
    return run_command(status_direct)


def add_embeddings_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """``reconcile`` and ``embeddings status``, under the ``catalog`` parser's sub-commands."""
    reconcile = commands.add_parser(
        "reconcile",
        parents=[common],
        help="embed what the change feed missed, now",
        description="One reconcile run against the configured store: embed products whose vector is missing, "
        "stale or failed for a reason that may pass (at most RECONCILE_MAX_PRODUCTS_PER_RUN; the next run goes on).",
    )
    reconcile.add_argument(
        "--from-start", action="store_true", help="start at the first product, not where the last run stopped"
    )
    reconcile.set_defaults(handler=command_reconcile, log_level=logging.WARNING)

    embeddings = commands.add_parser(
        "embeddings", parents=[common], help="embedding status", description="Embedding status of the catalog."
    )
    what = embeddings.add_subparsers(dest="what", required=True, metavar="WHAT")
    status = what.add_parser(
        "status",
        parents=[common],
        help="counts by status and model, the oldest pending product, the last reconcile",
        description="Counts by status and by model, the oldest pending product and the last reconcile run.",
    )
    status.set_defaults(handler=command_status, log_level=logging.WARNING)
