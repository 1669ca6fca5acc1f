"""Where ``ProductFinder.find`` spends its time over the raw path, at 10k products: stages by wall clock, and cProfile.

``python -m bench.finder_profile`` (``--products``, ``--questions``, ``--out``) builds the search benchmark's
synthetic catalog (:func:`bench.search_latency.fill_synthetic`), warms it (vector index, filter columns, categories),
reads and embeds the questions beforehand (embedding costs both paths the same), and then measures, on one store:

1. **wall clock**, question by question alternating: the raw path's store step (``ProductSearch.search_vector``)
   against ``ProductFinder.find_embedded`` (retrieve, rank, group, no-match), and reading the question;
2. **store calls** of the finder: how many vector searches and queries one find makes, their time and the documents
   they return (counted by wrapping this run's objects, nothing in ``catalog/`` changes);
3. **the category read** the finder repeats every ``REFRESH_SECONDS``: reading every product, then its vocabulary;
4. **cProfile** of the finder over the same questions, on the event-loop thread and on the store's worker thread
   (SQLite and numpy run there), merged; waiting (``epoll``, the executor queue) is left out. The category read is
   kept out of this part (its refresh is pushed back), since (3) measures it whole.

Writes ``finder_profile.json`` and ``finder_profile.md`` (default ``docs/bench``; a run with other sizes writes to
``.data/bench`` unless ``--out`` says otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.catalog_data import shopper_questions
from bench.latency import Stopwatch, elapsed_ms, summarize_ms
from bench.machine import REPO, machine_info
from bench.search_latency import QUERIES, K, fill_synthetic
from catalog.model import DELETED_FIELD
from composition.services import Services, build_services
from composition.settings import load_settings
from store.base import FieldFilter

PRODUCTS = 10_000
FULL_OUT_DIR = REPO / "docs" / "bench"
PARTIAL_OUT_DIR = REPO / ".data" / "bench"
#: Profiler entries that are a thread waiting for the other, not work: the event loop waiting for the store thread,
#: the store thread waiting for work, and the store thread's wake-up write to the loop's self-pipe
#: (``call_soon_threadsafe``), where it waits to take the GIL back from the busy, profiled event-loop thread.
_WAITING = (
    "<method 'poll' of 'select.epoll' objects>",
    "<method 'get' of '_queue.SimpleQueue' objects>",
    "<method 'send' of '_socket.socket' objects>",
)
TOP = 25


class _CallLog:
    """Counts and times the calls made through one wrapped coroutine method."""

    def __init__(self) -> None:
        self.calls = 0
        self.ms = 0.0
        self.documents = 0

    def wrap(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = await method(*args, **kwargs)
            self.ms += (time.perf_counter() - started) * 1000
            self.calls += 1
            found = result[0] if isinstance(result, tuple) else result
            self.documents += len(found) if isinstance(found, list) else 0
            return result

        return timed

    def per_find(self, finds: int) -> dict[str, float]:
        return {
            "calls": round(self.calls / finds, 2),
            "ms": round(self.ms / finds, 2),
            "documents": round(self.documents / finds, 1),
        }


async def profile(products: int, questions: int, work_dir: Path) -> dict[str, Any]:
    """Measure (see the module docstring); the raw numbers as a dict."""
    services = build_services(load_settings({"EMBEDDING_BACKEND": "local", "LOCAL_DATA_DIR": str(work_dir)}))
    try:
        return await _profile(services, products, questions)
    finally:
        await services.close()


async def _profile(services: Services, size: int, count: int) -> dict[str, Any]:
    load_s = await fill_synthetic(services, size)
    await asyncio.to_thread(services.embedder.warm_up)
    raw, finder, categories = await services.search(), await services.finder(), await services.categories()
    queries = shopper_questions(count)
    for query in queries[:3]:  # index, filter columns, categories: loaded once, not measured here
        await finder.find(query, K)
        await raw.search(query, K)

    read_ms: list[float] = []
    readings = []
    for query in queries:
        with elapsed_ms(read_ms):
            readings.append(await finder.read(query))
    vectors = await services.embedder.embed([reading.text for reading in readings])
    raw_vectors = await services.embedder.embed(queries)

    # 1. Wall clock, alternating (the category read is refreshed first, so none falls inside the loop at 10k).
    await _fresh_categories(services)
    raw_ms: list[float] = []
    finder_ms: list[float] = []
    for number, (reading, vector, raw_vector) in enumerate(zip(readings, vectors, raw_vectors, strict=True)):
        for which in (0, 1) if number % 2 == 0 else (1, 0):
            if which == 0:
                with elapsed_ms(raw_ms):
                    await raw.search_vector(raw_vector, K)
            else:
                with elapsed_ms(finder_ms):
                    await finder.find_embedded(reading, vector, K)

    # Finding the product models a question names scans every model name of the catalog (public method, timed alone).
    models_ms: list[float] = []
    models_named_in = getattr(categories, "models_named_in", None)
    if models_named_in is not None:
        for reading in readings:
            with elapsed_ms(models_ms):
                await models_named_in(reading.text)

    # 2. The finder's store calls, counted on this run's objects.
    await _fresh_categories(services)
    searches, queries_log = _CallLog(), _CallLog()
    # Instance attributes shadow the methods for this pass only (deleted below): nothing in catalog/ changes.
    setattr(finder.search, "search_vector", searches.wrap(finder.search.search_vector))  # noqa: B010
    setattr(finder.search.products, "query", queries_log.wrap(finder.search.products.query))  # noqa: B010
    try:
        with Stopwatch() as counted:
            for reading, vector in zip(readings, vectors, strict=True):
                await finder.find_embedded(reading, vector, K)
    finally:
        del finder.search.search_vector
        del finder.search.products.query

    # 3. The category read, whole and in its two parts.
    reread_ms: list[float] = []
    for _ in range(3):
        categories.forget()
        with elapsed_ms(reread_ms):
            await categories.counted()
    with Stopwatch() as read_all:
        await (await services.products()).query([FieldFilter(DELETED_FIELD, "ne", True)])

    # 4. cProfile on both threads, the category refresh pushed back so the profile holds the finder's own work.
    await _fresh_categories(services)
    refresh = categories.refresh_seconds
    categories.refresh_seconds = float("inf")
    main, worker = cProfile.Profile(), cProfile.Profile()
    try:
        await services.store.run(lambda _connection: worker.enable())  # type: ignore[attr-defined]
        main.enable()
        with Stopwatch() as profiled:
            for reading, vector in zip(readings, vectors, strict=True):
                await finder.find_embedded(reading, vector, K)
        main.disable()
        await services.store.run(lambda _connection: worker.disable())  # type: ignore[attr-defined]
    finally:
        categories.refresh_seconds = refresh
    stats = pstats.Stats(main)
    stats.add(worker)

    finds = len(readings)
    raw_summary, finder_summary = summarize_ms(raw_ms), summarize_ms(finder_ms)
    return {
        "products": size,
        "questions": finds,
        "k": K,
        "load_s": round(load_s, 2),
        "wall": {
            "raw_store_ms": raw_summary,
            "finder_find_embedded_ms": finder_summary,
            "read_question_ms": summarize_ms(read_ms),
            "models_named_in_ms": summarize_ms(models_ms),
            "difference_p50_ms": round(finder_summary["p50"] - raw_summary["p50"], 2),
            "paired_difference_median_ms": round(float(np.median(np.subtract(finder_ms, raw_ms))), 2),
        },
        "store_calls_per_find": {
            "search_vector": searches.per_find(finds),
            "query": queries_log.per_find(finds),
            "whole_find_ms": round(counted.seconds * 1000 / finds, 2),
        },
        "category_read": {
            "refresh_seconds": refresh,
            "whole_ms": [round(value, 1) for value in reread_ms],
            "whole_median_ms": round(statistics.median(reread_ms), 1),
            "read_every_product_ms": read_all.ms,
        },
        "profile": {
            "profiled_ms_per_find": round(profiled.seconds * 1000 / finds, 2),
            "top_own_time": _top(stats, "tottime", finds),
            "top_cumulative_project": _top(stats, "cumtime", finds, project_only=True),
        },
    }


async def _fresh_categories(services: Services) -> None:
    categories = await services.categories()
    categories.forget()
    await categories.counted()


def _top(stats: pstats.Stats, key: str, finds: int, *, project_only: bool = False) -> list[dict[str, Any]]:
    """The heaviest functions by own (``tottime``) or cumulative time, in ms per find."""
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if function in _WAITING:
            continue
        where = _short(filename)
        if where.startswith("bench/") or (
            project_only and not where.startswith(("catalog/", "store/", "embedding/", "chat/"))
        ):
            continue
        rows.append(
            {
                "function": function if filename == "~" else f"{where}:{line}({function})",
                "calls_per_find": round(calls / finds, 2),
                "own_ms_per_find": round(own * 1000 / finds, 3),
                "cumulative_ms_per_find": round(cumulative * 1000 / finds, 3),
            }
        )
    rows.sort(key=lambda row: -row["own_ms_per_find" if key == "tottime" else "cumulative_ms_per_find"])
    return rows[:TOP]


def _short(filename: str) -> str:
    path = Path(filename)
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        parts = path.parts
        return "/".join(parts[-2:]) if len(parts) >= 2 else filename


def markdown(report: dict[str, Any]) -> str:
    result, machine = report["result"], report["machine"]
    wall, calls, categories, prof = (
        result["wall"],
        result["store_calls_per_find"],
        result["category_read"],
        result["profile"],
    )
    raw, finder = wall["raw_store_ms"], wall["finder_find_embedded_ms"]
    lines = [
        "# Where the finder's time goes",
        "",
        f"`python -m bench.finder_profile` on {machine['date']} (commit {machine['git_commit']}"
        f"{_dirty(machine)}), {machine['cpu_model']}, "
        f"{machine['cores']} cores, load average {machine['load_average_at_start']} at start / "
        f"{machine['load_average_at_end']} at end. {result['products']:,} synthetic products (the search "
        f"benchmark's), {result['questions']} questions, k={result['k']}. Each question read and embedded beforehand: "
        "embedding costs the raw path and the finder the same, so what is left is what the finder adds.",
        "",
        "## Wall clock, question by question (ms)",
        "",
        "| | p50 | p99 | max |",
        "|---|---|---|---|",
        f"| raw path's store step (`ProductSearch.search_vector`, k={result['k']}) | {raw['p50']:.2f} | "
        f"{raw['p99']:.2f} | {raw['max']:.2f} |",
        f"| finder (`ProductFinder.find_embedded`: retrieve, rank, group, no-match) | {finder['p50']:.2f} | "
        f"{finder['p99']:.2f} | {finder['max']:.2f} |",
        f"| reading the question (`ProductFinder.read`) | {wall['read_question_ms']['p50']:.2f} | "
        f"{wall['read_question_ms']['p99']:.2f} | {wall['read_question_ms']['max']:.2f} |",
    ]
    models = wall.get("models_named_in_ms") or {}
    if models.get("n"):
        lines.append(
            f"| of the finder: `CategoryIndex.models_named_in` (scans every model name the catalog has) | "
            f"{models['p50']:.2f} | {models['p99']:.2f} | {models['max']:.2f} |"
        )
    lines += [
        "",
        f"The finder adds **{wall['difference_p50_ms']:+.2f} ms** at p50 over the raw path's store step (paired "
        f"median {wall['paired_difference_median_ms']:+.2f} ms), plus reading the question.",
        "",
        "## Store calls per find",
        "",
        "| call | calls | ms | documents returned |",
        "|---|---|---|---|",
        f"| `ProductSearch.search_vector` (the pool of 40; 10 per named category or model) | "
        f"{calls['search_vector']['calls']} | "
        f"{calls['search_vector']['ms']} | {calls['search_vector']['documents']} |",
        f"| `products.query` (SKU lookups, price-ordered superlatives) | {calls['query']['calls']} | "
        f"{calls['query']['ms']} | {calls['query']['documents']} |",
        f"| the whole find, same pass | | {calls['whole_find_ms']} | |",
        "",
        "The raw path makes one vector search returning k documents.",
        "",
        "## The category read",
        "",
        f"`CategoryIndex.counted()` reads every live product and builds the vocabulary; it is reused for "
        f"{categories['refresh_seconds']:.0f} s, then the next request pays it again (a p99/max cost at this size). "
        f"Whole read: {', '.join(f'{value:.0f}' for value in categories['whole_ms'])} ms (median "
        f"{categories['whole_median_ms']:.0f} ms), of which reading every product (`products.query`, vectors "
        f"included): {categories['read_every_product_ms']:.0f} ms; the rest is building the vocabulary.",
        "",
        f"## cProfile, both threads ({prof['profiled_ms_per_find']:.1f} ms per find under the profiler)",
        "",
        "Under the profiler a find takes about "
        f"{prof['profiled_ms_per_find'] / finder['p50']:.1f}× its unprofiled p50 (pure-Python code slows most), so "
        "read these as shares, and the wall-clock tables above as the milliseconds.",
        "",
        "Own time per find (event-loop thread and the store's worker thread; waiting left out: `epoll`, the "
        "executor queue, and the store thread's wake-up write to the loop, where it waits for the GIL):",
        "",
        "| function | calls per find | own ms per find | cumulative ms per find |",
        "|---|---|---|---|",
    ]
    for row in prof["top_own_time"]:
        lines.append(
            f"| `{row['function']}` | {row['calls_per_find']} | {row['own_ms_per_find']:.3f} | "
            f"{row['cumulative_ms_per_find']:.3f} |"
        )
    lines += [
        "",
        "Cumulative time per find, project functions (an `async` function's cumulative time counts only its own "
        "thread's work between awaits; store work shows under the store's functions):",
        "",
        "| function | calls per find | own ms per find | cumulative ms per find |",
        "|---|---|---|---|",
    ]
    for row in prof["top_cumulative_project"]:
        lines.append(
            f"| `{row['function']}` | {row['calls_per_find']} | {row['own_ms_per_find']:.3f} | "
            f"{row['cumulative_ms_per_find']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def _dirty(machine: dict[str, Any]) -> str:
    if not machine.get("git_dirty"):
        return ""
    paths = machine.get("git_dirty_paths")
    return f", with uncommitted changes in {', '.join(paths)}" if paths else ", with uncommitted changes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.finder_profile", description=__doc__)
    parser.add_argument("--products", type=int, default=PRODUCTS)
    parser.add_argument("--questions", type=int, default=QUERIES)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    default = args.products == PRODUCTS and args.questions == QUERIES
    out_dir: Path = args.out or (FULL_OUT_DIR if default else PARTIAL_OUT_DIR)
    machine = machine_info()
    machine["load_average_at_start"] = _load_average()
    with tempfile.TemporaryDirectory(prefix="finder-profile-") as scratch:
        result = asyncio.run(profile(args.products, args.questions, Path(scratch)))
    machine["load_average_at_end"] = _load_average()
    report = {"machine": machine, "command": "python -m bench.finder_profile", "result": result}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "finder_profile.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    text = markdown(report)
    (out_dir / "finder_profile.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {out_dir}", file=sys.stderr)
    return 0


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
