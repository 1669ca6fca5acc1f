"""Runs every benchmark in one process and one run, and writes what was measured.

``python -m bench`` (``make bench``) writes ``docs/bench/results.json`` (raw numbers and the machine),
``docs/bench/results.md`` (tables) and PNG charts, and prints the markdown. ``--quick`` runs smaller sizes for a
smoke run and ``--only NAME`` a subset; both write to ``.data/bench`` unless ``--out`` says otherwise, so a partial
run never overwrites the committed full results. ``--only NAME --merge`` writes the benchmarks it ran into the
committed results and keeps every other benchmark's entry as the run that measured it left it; each section then
names its run (date, commit, machine), so no table mixes two runs.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import importlib
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.catalog_data import BenchmarkSkipped, RunOptions
from bench.machine import REPO, machine_info

#: The benchmark modules, in the order they run. Each has NAME, TITLE, ``async run(options) -> dict``,
#: ``markdown(result) -> list[str]`` and optionally ``charts(result, out_dir) -> list[Path]``.
MODULES = (
    "bench.pipeline_vs_tutorial",
    "bench.quota_bulk",
    "bench.local_embedding",
    "bench.search_latency",
    "bench.chat_latency",
    "bench.cache_latency",
    "bench.changefeed_lag",
    "bench.cold_start",
    "bench.quality",
)
#: Benchmarks whose --quick run takes seconds (the smoke test runs these).
CHEAP = ("pipeline", "search", "cold_start")
FULL_OUT_DIR = REPO / "docs" / "bench"
PARTIAL_OUT_DIR = REPO / ".data" / "bench"

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    module: ModuleType


def benchmarks() -> list[Benchmark]:
    """Every benchmark, in run order."""
    found = []
    for path in MODULES:
        module = importlib.import_module(path)
        found.append(Benchmark(module.NAME, module.TITLE, module))
    return found


def select(names: Sequence[str] | None) -> list[Benchmark]:
    """The benchmarks named (all when ``names`` is empty), in run order.

    Raises:
        ValueError: a name is not a benchmark's.
    """
    every = benchmarks()
    if not names:
        return every
    known = {benchmark.name for benchmark in every}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    return [benchmark for benchmark in every if benchmark.name in names]


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


async def run_benchmarks(selected: Sequence[Benchmark], *, quick: bool) -> dict[str, Any]:
    """Run ``selected`` one after another; a benchmark that fails or is skipped says so in its entry."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    machine = machine_info()
    machine["load_average_at_start"] = _load_average()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as scratch:
        options = RunOptions(quick=quick, work_dir=Path(scratch))
        for number, benchmark in enumerate(selected, start=1):
            print(f"[{number}/{len(selected)}] {benchmark.name}: {benchmark.title} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            try:
                result = await benchmark.module.run(options)
            except BenchmarkSkipped as skipped:
                result = {"skipped": str(skipped)}
            except Exception as error:
                log.error("benchmark %s failed", benchmark.name, exc_info=True)
                result = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
            result["duration_s"] = round(time.perf_counter() - began, 1)
            results[benchmark.name] = result
            print(f"    done in {result['duration_s']} s", file=sys.stderr, flush=True)
    machine["load_average_at_end"] = _load_average()
    return {
        "machine": machine,
        "run": {
            "quick": quick,
            "benchmarks": [benchmark.name for benchmark in selected],
            "started_at": started_at,
            "duration_s": round(time.perf_counter() - started, 1),
            "command": "python -m bench" + (" --quick" if quick else ""),
        },
        "benchmarks": results,
    }


def render_markdown(report: dict[str, Any], selected: Sequence[Benchmark], charts: dict[str, list[str]]) -> str:
    machine, run = report["machine"], report["run"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items() if version)
    earlier = [entry for entry in report.get("runs", []) if entry["started_at"] != run["started_at"]]
    measured_here = [b.title for b in selected if _measured_in(report, b.name) == run["started_at"]]
    scope = (
        f"Measured by `{run['command']}` on {run['started_at']} in one run of {run['duration_s']:.0f} s "
        f"(commit {machine['git_commit']}{_dirty(machine)})."
    )
    if earlier:
        scope += (
            f" This run measured {', '.join(measured_here)}; every other section keeps the numbers of the run that "
            "measured it, named in the section (its machine is listed below)."
        )
    lines = [
        "# Benchmarks",
        "",
        scope + " What each benchmark measures, and how to run it: [README.md](README.md).",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {machine['cpu_model']}, {machine['cores']} cores |",
        f"| memory | {machine['memory_gib']} GiB |",
        f"| OS | {machine['os']} |",
        f"| Python | {machine['python']} |",
        f"| libraries | {versions} |",
        f"| load average (1/5/15 min) at start / end | {machine['load_average_at_start']} / "
        f"{machine['load_average_at_end']} |",
        "",
    ]
    for entry in earlier:
        lines += [f"Earlier run: {_describe_run(entry)}.", ""]
    for benchmark in selected:
        result = report["benchmarks"][benchmark.name]
        lines += [f"## {benchmark.title}", ""]
        measured_in = _measured_in(report, benchmark.name)
        if earlier and measured_in != run["started_at"]:
            lines += [f"*From the earlier run of {measured_in}, not re-measured by this one.*", ""]
        if "skipped" in result:
            lines += [f"Skipped: {result['skipped']}", ""]
            continue
        if "error" in result:
            lines += [f"Failed: `{result['error']}` (traceback in results.json)", ""]
            continue
        lines += benchmark.module.markdown(result)
        lines.append("")
        for chart in charts.get(benchmark.name, []):
            lines += [f"![{benchmark.title}]({chart})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _dirty(machine: dict[str, Any]) -> str:
    if not machine.get("git_dirty"):
        return ""
    paths = machine.get("git_dirty_paths")
    return f", with uncommitted changes in {', '.join(paths)}" if paths else ", with uncommitted changes"


def _describe_run(entry: dict[str, Any]) -> str:
    machine = entry["machine"]
    return (
        f"`{entry['command']}` on {entry['started_at']} (commit {machine['git_commit']}{_dirty(machine)}): "
        f"{machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}, load average "
        f"{machine.get('load_average_at_start')} / {machine.get('load_average_at_end')}"
    )


def _measured_in(report: dict[str, Any], name: str) -> str:
    measured: str = report["benchmarks"][name].get("measured_in", report["run"]["started_at"])
    return measured


def _run_entry(report: dict[str, Any]) -> dict[str, Any]:
    """How a report's run is remembered once other runs' benchmarks sit beside its own."""
    return {
        "started_at": report["run"]["started_at"],
        "command": report["run"]["command"],
        "duration_s": report["run"]["duration_s"],
        "quick": report["run"]["quick"],
        "machine": report["machine"],
    }


def merge_reports(previous: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """``report``'s benchmarks written over ``previous``'s, in run order; every other entry kept with the run that
    measured it (``measured_in`` names it; ``runs`` describes each run still represented), and its charts.

    Raises:
        ValueError: either report is a ``--quick`` run (its numbers never go into the committed results).
    """
    if previous["run"].get("quick") or report["run"].get("quick"):
        raise ValueError("a --quick run is never merged into full results")
    merged = copy.deepcopy(report)
    runs = {entry["started_at"]: entry for entry in previous.get("runs") or [_run_entry(previous)]}
    runs[report["run"]["started_at"]] = _run_entry(report)
    order = [benchmark.name for benchmark in benchmarks()]
    kept: dict[str, Any] = {}
    for name in sorted(set(previous["benchmarks"]) | set(report["benchmarks"]), key=_position(order)):
        if name in report["benchmarks"]:
            kept[name] = {**report["benchmarks"][name], "measured_in": report["run"]["started_at"]}
        else:
            kept[name] = {"measured_in": previous["run"]["started_at"], **previous["benchmarks"][name]}
    merged["benchmarks"] = kept
    used = {entry["measured_in"] for entry in kept.values()}
    merged["runs"] = sorted((entry for key, entry in runs.items() if key in used), key=lambda e: e["started_at"])
    merged["run"]["benchmarks"] = list(kept)
    merged["run"]["merged"] = True
    merged["charts"] = {
        name: charts for name, charts in (previous.get("charts") or {}).items() if name not in report["benchmarks"]
    }
    return merged


def _position(order: list[str]) -> Any:
    return lambda name: order.index(name) if name in order else len(order)


def draw_charts(report: dict[str, Any], selected: Sequence[Benchmark], out_dir: Path) -> dict[str, list[str]]:
    """PNG charts of the benchmarks that have them (none, with a note, when matplotlib is not installed)."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no charts", file=sys.stderr)
        return {}
    matplotlib.use("Agg")
    drawn: dict[str, list[str]] = {}
    for benchmark in selected:
        result = report["benchmarks"][benchmark.name]
        draw = getattr(benchmark.module, "charts", None)
        if draw is None or "skipped" in result or "error" in result:
            continue
        drawn[benchmark.name] = [path.name for path in draw(result, out_dir)]
    return drawn


def write_report(report: dict[str, Any], selected: Sequence[Benchmark], out_dir: Path) -> str:
    """Write results.json, the charts and results.md into ``out_dir``; returns the markdown.

    ``selected`` are the benchmarks of the report (all of a merged report's); charts are drawn for those this run
    measured, and a merged report's ``charts`` already lists the earlier runs' charts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fresh = [b for b in selected if _measured_in(report, b.name) == report["run"]["started_at"]]
    charts = {**(report.get("charts") or {}), **draw_charts(report, fresh, out_dir)}
    report["charts"] = {b.name: charts[b.name] for b in selected if b.name in charts}
    (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown = render_markdown(report, selected, charts)
    (out_dir / "results.md").write_text(markdown, encoding="utf-8")
    return markdown


def render_again(out_dir: Path) -> int:
    """Write ``out_dir``'s results.md and charts again from its results.json (numbers unchanged)."""
    path = out_dir / "results.json"
    if not path.is_file():
        print(f"error: no results to render at {path}", file=sys.stderr)
        return 2
    report = json.loads(path.read_text(encoding="utf-8"))
    selected = [benchmark for benchmark in benchmarks() if benchmark.name in report["benchmarks"]]
    # The charts of this file's own run are drawn again; an earlier run's (after a --merge) are kept as they are.
    fresh = [b for b in selected if _measured_in(report, b.name) == report["run"]["started_at"]]
    charts = {**(report.get("charts") or {}), **draw_charts(report, fresh, out_dir)}
    report["charts"] = {b.name: charts[b.name] for b in selected if b.name in charts}
    (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "results.md").write_text(render_markdown(report, selected, report["charts"]), encoding="utf-8")
    print(f"rendered {out_dir / 'results.md'} from {path}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions (a smoke run)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this benchmark (repeat, or separate names with commas); --list shows the names",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"where to write the results (default: {FULL_OUT_DIR.relative_to(REPO)} for a full run, "
        f"{PARTIAL_OUT_DIR.relative_to(REPO)} with --quick or --only)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only: write the benchmarks run into the full results (default "
        f"{FULL_OUT_DIR.relative_to(REPO)}), keeping every other benchmark's entry from the run that measured it",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: write results.md and the charts again from results.json in the output folder "
        f"(default {FULL_OUT_DIR.relative_to(REPO)}), e.g. after a change to a benchmark's tables",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    if args.list:
        for benchmark in benchmarks():
            print(f"{benchmark.name:16} {benchmark.title}")
        return 0
    if args.render:
        return render_again(args.out or FULL_OUT_DIR)
    names = [name.strip() for item in args.only or [] for name in item.split(",") if name.strip()]
    try:
        selected = select(names)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.merge and (args.quick or not names):
        print(
            "error: --merge takes --only NAME and no --quick (quick numbers never go into full results)",
            file=sys.stderr,
        )
        return 2
    partial = (args.quick or bool(names)) and not args.merge
    out_dir: Path = args.out or (PARTIAL_OUT_DIR if partial else FULL_OUT_DIR)
    previous_path = out_dir / "results.json"
    if args.merge and not previous_path.is_file():
        print(f"error: --merge needs earlier full results at {previous_path}", file=sys.stderr)
        return 2
    report = asyncio.run(run_benchmarks(selected, quick=args.quick))
    if names:
        report["run"]["command"] += " --only " + ",".join(b.name for b in selected) + (" --merge" if args.merge else "")
    if args.merge:
        report = merge_reports(json.loads(previous_path.read_text(encoding="utf-8")), report)
        selected = [b for b in benchmarks() if b.name in report["benchmarks"]]
    markdown = write_report(report, selected, out_dir)
    print(markdown)
    print(f"written to {out_dir}", file=sys.stderr)
    ran = {
        benchmark.name for benchmark in selected if _measured_in(report, benchmark.name) == report["run"]["started_at"]
    }
    failed = [name for name in ran if "error" in report["benchmarks"][name]]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
