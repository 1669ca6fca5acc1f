"""Benchmark 3: search latency at 1k, 10k and 100k products, before and after the finder, in one run.

Each size gets a fresh embedded store filled with synthetic products (realistic names, categories, descriptions and
prices) whose vectors are random 384-d unit vectors written with the SQLite container's ``upsert_many``; exact
search costs the same whatever the vectors say. Queries are shopper questions embedded by the real MiniLM model, so
every measured search includes embedding its question, as a user's does.

Two ways of finding products, on the same store and the same questions:

* **before** (the raw path search used until the finder): ``ProductSearch.search`` (embed, one vector search);
* **after** (what search and chat use now): ``ProductFinder.find`` (read the question, embed, retrieve a pool of
  ~40 plus the named categories' products, SKU and price-ordered store queries, rank, group variants, no-match).

Each is timed in-process and over HTTP on :class:`devhost.host.LocalFunctionsHost` (HTTP only: the change-feed
trigger would re-embed the synthetic catalog): after is the real ``GET /api/search``, before the same glue around
the raw path (:mod:`bench.search_baseline`). The four alternate question by question, in a rotating order, so a
change in the machine's load (or onnxruntime's threads still busy after the previous call) affects all alike.
Filtered: the same with ``category`` and ``max_price``.

The index warm-up (the first search loads every vector into memory), the first filtered search (filter columns) and
the finder's first category read are timed separately and are not in the percentiles.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench.catalog_data import RunOptions, shopper_questions, synthetic_products, with_synthetic_vectors
from bench.latency import Stopwatch, elapsed_ms, summarize_ms
from bench.search_baseline import RAW_ROUTE, search_app
from catalog.search import SearchFilters
from composition.services import Services, build_services, set_services
from composition.settings import load_settings

NAME = "search"
TITLE = "Search latency"

SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (300, 2_000)
QUERIES = 300
FILTERED_QUERIES = 100
K = 5
_LOAD_CHUNK = 5_000
#: Filtered variant: a category holding about 1/15 of the products, and a price cap.
FILTER = SearchFilters(category="Components, Saddles", max_price=80.0)
#: The issue's constraint: at this catalog size, the finder may cost at most this much more than the raw path (p50).
CONSTRAINT_PRODUCTS = 10_000
CONSTRAINT_MS = 2.0
#: (result key, what it is); "after" keys keep the names earlier runs used for search latency.
VARIANTS = {
    "raw_in_process_ms": "before: ProductSearch.search, in-process",
    "in_process_ms": "after: ProductFinder.find, in-process",
    "raw_http_ms": f"before: GET /api/{RAW_ROUTE}",
    "http_ms": "after: GET /api/search",
}


async def run(options: RunOptions) -> dict[str, Any]:
    sizes = QUICK_SIZES if options.quick else SIZES
    queries = shopper_questions(20 if options.quick else QUERIES)
    filtered_queries = queries[: 10 if options.quick else FILTERED_QUERIES]  # the first ones, also asked unfiltered
    result: dict[str, Any] = {
        "k": K,
        "queries": len(queries),
        "filtered_queries": len(filtered_queries),
        "filter": FILTER.as_dict(),
        "sizes": [],
    }
    for size in sizes:
        result["sizes"].append(await _run_size(size, queries, filtered_queries, options.scratch(f"search-{size}")))
    result["constraint"] = constraint(result["sizes"])
    return result


def constraint(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the finder's p50 is within :data:`CONSTRAINT_MS` of the raw path's at :data:`CONSTRAINT_PRODUCTS`."""
    measured = next((size for size in sizes if size["products"] == CONSTRAINT_PRODUCTS), None)
    verdict: dict[str, Any] = {"products": CONSTRAINT_PRODUCTS, "limit_ms": CONSTRAINT_MS, "measured": bool(measured)}
    if measured is None:
        return verdict
    deltas = measured["after_minus_before_p50_ms"]
    verdict.update(
        {
            "in_process_ms": deltas["in_process"],
            "http_ms": deltas["http"],
            "holds_in_process": deltas["in_process"] <= CONSTRAINT_MS,
            "holds_http": deltas["http"] <= CONSTRAINT_MS,
        }
    )
    verdict["holds"] = verdict["holds_in_process"] and verdict["holds_http"]
    return verdict


async def fill_synthetic(services: Services, size: int) -> float:
    """Fill the products container with ``size`` synthetic products carrying random vectors; seconds taken."""
    products = await services.products()
    upsert_many = getattr(products, "upsert_many", None)
    with Stopwatch() as watch:
        for start in range(0, size, _LOAD_CHUNK):
            chunk = synthetic_products(min(_LOAD_CHUNK, size - start), start=start)
            with_synthetic_vectors(chunk, services.embedder.dimensions, services.embedder.model_id)
            if upsert_many is not None:
                await upsert_many(chunk)
            else:
                for product in chunk:
                    await products.upsert(product)
    return watch.seconds


async def _run_size(size: int, queries: list[str], filtered_queries: list[str], data_dir: Path) -> dict[str, Any]:
    from devhost.host import LocalFunctionsHost

    settings = {"EMBEDDING_BACKEND": "local", "LOCAL_DATA_DIR": str(data_dir), "RATE_LIMIT_PER_MINUTE": "0"}
    services = build_services(load_settings(settings))
    set_services(services)
    host = LocalFunctionsHost(search_app(), services=services, port=0, run_triggers=False)
    samples: dict[str, list[float]] = {key: [] for key in VARIANTS}
    filtered: dict[str, list[float]] = {key: [] for key in VARIANTS}
    parts: dict[str, list[float]] = {key: [] for key in ("raw_embed", "raw_store", "embed", "retrieve_rank", "read")}
    no_match = 0
    try:
        load_s = await fill_synthetic(services, size)
        await host.start()  # loads the model
        raw = await services.search()
        finder = await services.finder()
        products = await services.products()
        probe = np.ones(services.embedder.dimensions, dtype=np.float32).tolist()
        with Stopwatch() as warmup:
            await products.vector_search(probe, K)
        with Stopwatch() as filtered_warmup:
            await products.vector_search(probe, K, filters=FILTER.to_field_filters())
        # The finder reads the question against the catalog's categories, read from every live product and kept
        # for REFRESH_SECONDS: a request pays this read again whenever it has expired.
        with Stopwatch() as categories_read:
            await (await services.categories()).counted()

        params = {"k": str(K)}
        filter_params = {"category": str(FILTER.category), "max_price": str(FILTER.max_price)}
        # One client keeping its visitor cookie, as a browser does (aiohttp keeps cookies from an IP only if unsafe).
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            url, raw_url = f"{host.base_url}/api/search", f"{host.base_url}/api/{RAW_ROUTE}"
            for query in queries[:3]:  # connection set-up, cookie and first-request costs, untimed
                await _get(session, url, {"q": query, **params})
                await _get(session, raw_url, {"q": query, **params})
                await finder.find(query, K)
                await raw.search(query, K)

            async def step(key: str, query: str, filters: SearchFilters | None) -> Any:
                """One way of searching; returns what the in-process ones found."""
                http_params = {"q": query, **params, **(filter_params if filters else {})}
                if key == "raw_in_process_ms":
                    return await raw.search(query, K, filters)
                if key == "in_process_ms":
                    return await finder.find(query, K, filters)
                await _get(session, raw_url if key == "raw_http_ms" else url, http_params)
                return None

            for number, query in enumerate(queries):
                found: dict[str, Any] = {}
                for key in _rotated(list(VARIANTS), number):
                    with elapsed_ms(samples[key]):
                        found[key] = await step(key, query, None)
                raw_found, finder_found = found["raw_in_process_ms"], found["in_process_ms"]
                parts["raw_embed"].append(raw_found.embed_ms)
                parts["raw_store"].append(raw_found.search_ms)
                parts["embed"].append(finder_found.embed_ms)
                parts["retrieve_rank"].append(finder_found.search_ms)
                no_match += int(finder_found.no_match)
                if number < len(filtered_queries):
                    for key in _rotated(list(VARIANTS), number):
                        with elapsed_ms(filtered[key]):
                            await step(key, query, FILTER)

        # Without the model: the questions read and embedded beforehand, so these show how each way of finding
        # scales with the catalog, free of the model's CPU use just before (onnxruntime's threads keep the cores
        # busy for a while after each call).
        readings = []
        for query in queries:
            with elapsed_ms(parts["read"]):
                readings.append(await finder.read(query))
        vectors = await services.embedder.embed([reading.text for reading in readings])
        raw_vectors = await services.embedder.embed(queries)
        store_only: list[float] = []
        finder_store_only: list[float] = []
        for number, (reading, vector, raw_vector) in enumerate(zip(readings, vectors, raw_vectors, strict=True)):
            order = [0, 1] if number % 2 == 0 else [1, 0]
            for which in order:
                if which == 0:
                    with elapsed_ms(store_only):
                        await raw.search_vector(raw_vector, K)
                else:
                    with elapsed_ms(finder_store_only):
                        await finder.find_embedded(reading, vector, K)
    finally:
        await host.stop()
        await services.close()
        set_services(None)

    measured: dict[str, Any] = {
        "products": size,
        "load_s": round(load_s, 2),
        "index_warmup_ms": warmup.ms,
        "filter_columns_warmup_ms": filtered_warmup.ms,
        "categories_read_ms": categories_read.ms,
        **{key: summarize_ms(values) for key, values in samples.items()},
        **{key.replace("_ms", "_filtered_ms"): summarize_ms(values) for key, values in filtered.items()},
        "raw_in_process_embed_ms": summarize_ms(parts["raw_embed"]),
        "raw_in_process_store_ms": summarize_ms(parts["raw_store"]),
        "in_process_embed_ms": summarize_ms(parts["embed"]),
        "in_process_retrieve_rank_ms": summarize_ms(parts["retrieve_rank"]),
        "read_question_ms": summarize_ms(parts["read"]),
        "store_only_ms": summarize_ms(store_only),
        "finder_store_only_ms": summarize_ms(finder_store_only),
        "finder_no_match": no_match,
    }
    measured["after_minus_before_p50_ms"] = {
        "in_process": _delta(measured["in_process_ms"], measured["raw_in_process_ms"]),
        "http": _delta(measured["http_ms"], measured["raw_http_ms"]),
        "in_process_filtered": _delta(measured["in_process_filtered_ms"], measured["raw_in_process_filtered_ms"]),
        "http_filtered": _delta(measured["http_filtered_ms"], measured["raw_http_filtered_ms"]),
        "store_only": _delta(measured["finder_store_only_ms"], measured["store_only_ms"]),
    }
    # The same difference question by question (both timed back to back), less sensitive to drift in load.
    measured["paired_difference_median_ms"] = {
        "in_process": _paired_median(samples["in_process_ms"], samples["raw_in_process_ms"]),
        "http": _paired_median(samples["http_ms"], samples["raw_http_ms"]),
    }
    return measured


def _rotated(keys: list[str], number: int) -> list[str]:
    start = number % len(keys)
    return keys[start:] + keys[:start]


def _delta(after: dict[str, Any], before: dict[str, Any]) -> float:
    return round(float(after["p50"]) - float(before["p50"]), 2)


def _paired_median(after: list[float], before: list[float]) -> float:
    return round(float(np.median(np.asarray(after) - np.asarray(before))), 2)


async def _get(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> None:
    started = time.perf_counter()
    async with session.get(url, params=params) as response:
        body = await response.json()
        if response.status != 200 or not isinstance(body.get("results"), list):
            raise RuntimeError(f"GET {url} answered {response.status} after {time.perf_counter() - started:.2f}s")


def markdown(result: dict[str, Any]) -> list[str]:
    lines = [
        f"k={result['k']}; {result['queries']} questions per size ({result['filtered_queries']} filtered: "
        f"category {result['filter']['category']!r}, max_price {result['filter']['max_price']}). Milliseconds, "
        "question embedding included. **Before**: the raw path (`ProductSearch.search`: embed, one vector search); "
        "**after**: `ProductFinder.find` (read, embed, pool + named categories + SKU/price-ordered queries, rank, "
        f"group). HTTP after is `GET /api/search`; HTTP before is `GET /api/{RAW_ROUTE}`, the same glue around the "
        "raw path (`bench/search_baseline.py`). All four alternate question by question on one store.",
        "",
        "| products | before in-process p50 / p99 | after in-process p50 / p99 | Δ p50 | before HTTP p50 / p99 | "
        "after HTTP p50 / p99 | Δ p50 | filtered in-process before → after p50 | filtered HTTP before → after p50 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in result["sizes"]:
        delta = size["after_minus_before_p50_ms"]
        lines.append(
            f"| {size['products']:,} | {_pair(size['raw_in_process_ms'])} | {_pair(size['in_process_ms'])} | "
            f"{_signed(delta['in_process'])} | {_pair(size['raw_http_ms'])} | {_pair(size['http_ms'])} | "
            f"{_signed(delta['http'])} | {size['raw_in_process_filtered_ms']['p50']:.1f} → "
            f"{size['in_process_filtered_ms']['p50']:.1f} ({_signed(delta['in_process_filtered'])}) | "
            f"{size['raw_http_filtered_ms']['p50']:.1f} → {size['http_filtered_ms']['p50']:.1f} "
            f"({_signed(delta['http_filtered'])}) |"
        )
    verdict = result.get("constraint") or {}
    if verdict.get("measured"):
        lines += [
            "",
            f"**Constraint** (p50 may grow by at most {verdict['limit_ms']:.0f} ms at {verdict['products']:,} "
            f"products): in-process {_signed(verdict['in_process_ms'])} ms, HTTP {_signed(verdict['http_ms'])} ms — "
            + ("**holds**." if verdict["holds"] else "**does not hold**."),
        ]
    lines += [
        "",
        "Where the time goes (p50, ms):",
        "",
        "| products | index warm-up | first category read | before: embed + store | after: embed + retrieve & rank "
        "| reading the question | store only p50, before / after (question read and embedded beforehand) | "
        "paired Δ in-process / HTTP (median) | after, max in-process / HTTP | no-match answers |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in result["sizes"]:
        paired = size["paired_difference_median_ms"]
        lines.append(
            f"| {size['products']:,} | {size['index_warmup_ms']:.0f} | {size['categories_read_ms']:.0f} | "
            f"{size['raw_in_process_embed_ms']['p50']:.1f} + {size['raw_in_process_store_ms']['p50']:.1f} | "
            f"{size['in_process_embed_ms']['p50']:.1f} + {size['in_process_retrieve_rank_ms']['p50']:.1f} | "
            f"{size['read_question_ms']['p50']:.2f} | {size['store_only_ms']['p50']:.1f} / "
            f"{size['finder_store_only_ms']['p50']:.1f} | "
            f"{_signed(paired['in_process'])} / {_signed(paired['http'])} | "
            f"{size['in_process_ms']['max']:.0f} / {size['http_ms']['max']:.0f} | "
            f"{size['finder_no_match']} of {result['queries']} |"
        )
    lines += [
        "",
        "*First category read*: the finder reads the questions against the catalog's categories and vocabulary, "
        "read from every live product and reused for 30 s (`catalog.categories.REFRESH_SECONDS`); the request that "
        "finds it expired pays this again, so it shows in p99 and max (the *after, max* column) rather than p50. "
        "*Paired Δ*: after minus before for the same question, timed back to back.",
        "",
        "Loading the synthetic catalog (`upsert_many`, 5,000 per transaction): "
        + ", ".join(f"{size['products']:,} in {size['load_s']:.1f} s" for size in result["sizes"])
        + ". First filtered search (builds the filter columns): "
        + ", ".join(f"{size['filter_columns_warmup_ms']:.0f} ms" for size in result["sizes"])
        + ".",
    ]
    return lines


def _pair(summary: dict[str, Any]) -> str:
    return f"{summary['p50']:.1f} / {summary['p99']:.1f}"


def _signed(value: float) -> str:
    return f"{value:+.1f}"


def charts(result: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    sizes = [size["products"] for size in result["sizes"]]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    series = [
        ("raw_in_process_ms", "before, in-process", "tab:blue", "--"),
        ("in_process_ms", "after (finder), in-process", "tab:blue", "-"),
        ("raw_http_ms", "before, HTTP", "tab:orange", "--"),
        ("http_ms", "after, HTTP GET /api/search", "tab:orange", "-"),
        ("store_only_ms", "before, store only", "tab:gray", "--"),
        ("finder_store_only_ms", "after, store only (read + embedded beforehand)", "tab:gray", "-"),
    ]
    for key, label, colour, style in series:
        ax.plot(sizes, [size[key]["p50"] for size in result["sizes"]], "o" + style, color=colour, label=f"{label} p50")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
    ax.set_xlabel("products in the catalog")
    ax.set_ylabel("latency per search, p50 (ms)")
    ax.set_title(f"Search latency before/after the finder, k={result['k']}")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out_dir / "search_latency.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
