"""``make eval`` (``python -m evaluation``): retrieval quality and semantic-cache safety on the team's labelled sets.

Writes ``docs/quality.md`` / ``docs/quality.json`` and ``docs/cache.md`` / ``docs/cache.json``. Catalogs whose data
is absent (Cosmic Works lives in ``../shared/data``) are skipped with a printed reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from embedding.local_onnx import OnnxEmbedder
from evaluation.cache_pairs import evaluate_pairs, pairs_markdown
from evaluation.catalogs import CATALOG_FILES, REPO, available, embed_catalog
from evaluation.metrics import markdown_table
from evaluation.retrieval import failures, overall, score_catalog

DOCS = REPO / "docs"


async def run(show_failures: bool, only: str | None) -> dict[str, Any]:
    embedder = OnnxEmbedder()
    present = available()
    for name in sorted(set(CATALOG_FILES) - set(present)):
        print(f"skipped {name}: {CATALOG_FILES[name]} is absent", file=sys.stderr)
    report: dict[str, Any] = {"model": embedder.model_id, "retrieval": {}, "cache": {}}
    with tempfile.TemporaryDirectory() as folder:
        catalogs = {name: await embed_catalog(name, Path(folder), embedder) for name in sorted(present)}
        try:
            if only in (None, "retrieval"):
                for name, catalog in catalogs.items():
                    scores = await score_catalog(catalog)
                    report["retrieval"][name] = overall(scores)
                    if show_failures:
                        print("\n".join(failures(catalog, scores)), file=sys.stderr)
            if only in (None, "cache"):
                report["cache"] = await evaluate_pairs(catalogs, embedder, show_failures=show_failures)
        finally:
            for catalog in catalogs.values():
                await catalog.store.close()
    return report


def write(report: dict[str, Any]) -> None:
    DOCS.mkdir(exist_ok=True)
    if report["retrieval"]:
        lines = [
            "# Retrieval quality (measured)",
            "",
            f"The team's labelled questions (`evaluation/data/`), asked through the product's own finder "
            f"(`catalog/retrieval.py`: reading, retrieval, ranking); model `{report['model']}`. "
            "Produced by `make eval`.",
        ]
        for name, summary in report["retrieval"].items():
            lines += ["", f"## {name.replace('_', ' ').title()}", "", markdown_table(summary)]
        (DOCS / "quality.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (DOCS / "quality.json").write_text(json.dumps(report["retrieval"], indent=2) + "\n", encoding="utf-8")
    if report["cache"]:
        (DOCS / "cache.md").write_text(pairs_markdown(report["cache"], report["model"]), encoding="utf-8")
        (DOCS / "cache.json").write_text(json.dumps(report["cache"], indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__)
    parser.add_argument("--failures", action="store_true", help="print every question or pair scored wrong")
    parser.add_argument("--only", choices=("retrieval", "cache"), help="run one of the two evaluations")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ as it is")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.failures, args.only))
    for name, summary in report["retrieval"].items():
        print(f"\n{name}\n{markdown_table(summary)}")
    if report["cache"]:
        print("\n" + pairs_markdown(report["cache"], report["model"]))
    if not args.no_write:
        write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
