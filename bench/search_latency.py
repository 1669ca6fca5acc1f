"""Benchmark 3: search latency at 1k, 10k and 100k products, in-process and over HTTP on the local host.

Each size gets a fresh embedded store filled with synthetic products (realistic names, categories, descriptions and
prices) whose vectors are random 384-d unit vectors written with the SQLite container's ``upsert_many``; exact
search costs the same whatever the vectors say. Queries are shopper questions embedded by the real MiniLM model, so
every measured search includes embedding its question, as a user's does.

* in-process: ``ProductSearch.search`` from the app's services;
* HTTP: ``GET /api/search`` on :class:`devhost.host.LocalFunctionsHost` running the real ``function_app`` (HTTP only:
  the change-feed trigger would re-embed the synthetic catalog), one request at a time on a kept-alive connection;
* filtered: the same with ``category`` and ``max_price``.

The index warm-up (the first search loads every vector into memory) is timed separately and not in the percentiles.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench.catalog_data import RunOptions, shopper_questions, synthetic_products, with_synthetic_vectors
from bench.latency import Stopwatch, elapsed_ms, summarize_ms
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
    return result


async def _fill(services: Services, size: int) -> float:
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
    import function_app
    from devhost.host import LocalFunctionsHost

    services = build_services(load_settings({"EMBEDDING_BACKEND": "local", "LOCAL_DATA_DIR": str(data_dir)}))
    set_services(services)
    host = LocalFunctionsHost(function_app.app, services=services, port=0, run_triggers=False)
    try:
        load_s = await _fill(services, size)
        await host.start()  # loads the model
        search = await services.search()
        products = await services.products()
        probe = np.ones(services.embedder.dimensions, dtype=np.float32).tolist()
        with Stopwatch() as warmup:
            await products.vector_search(probe, K)
        with Stopwatch() as filtered_warmup:
            await products.vector_search(probe, K, filters=FILTER.to_field_filters())

        in_process: list[float] = []
        embed_ms: list[float] = []
        store_ms: list[float] = []
        in_process_filtered: list[float] = []
        http: list[float] = []
        http_filtered: list[float] = []
        url = f"{host.base_url}/api/search"
        filter_params = {"category": str(FILTER.category), "max_price": str(FILTER.max_price)}
        async with aiohttp.ClientSession() as session:
            for query in queries[:3]:  # connection set-up and first-request costs, untimed
                await _get(session, url, {"q": query, "k": str(K)})
            # In-process and HTTP alternate question by question, so a change in the machine's load during the run
            # affects both alike.
            for number, query in enumerate(queries):
                with elapsed_ms(in_process):
                    found = await search.search(query, K)
                embed_ms.append(found.embed_ms)
                store_ms.append(found.search_ms)
                with elapsed_ms(http):
                    await _get(session, url, {"q": query, "k": str(K)})
                if number < len(filtered_queries):
                    with elapsed_ms(in_process_filtered):
                        await search.search(query, K, FILTER)
                    with elapsed_ms(http_filtered):
                        await _get(session, url, {"q": query, "k": str(K), **filter_params})
        # The store alone, questions embedded beforehand: how exact search scales with the catalog, free of the
        # model's CPU use just before (onnxruntime's threads keep the cores busy for a while after each call).
        store_only: list[float] = []
        for vector in await services.embedder.embed(queries):
            with elapsed_ms(store_only):
                await search.search_vector(vector, K)
    finally:
        await host.stop()
        await services.close()
        set_services(None)
    return {
        "products": size,
        "load_s": round(load_s, 2),
        "index_warmup_ms": warmup.ms,
        "filter_columns_warmup_ms": filtered_warmup.ms,
        "in_process_ms": summarize_ms(in_process),
        "in_process_embed_ms": summarize_ms(embed_ms),
        "in_process_store_ms": summarize_ms(store_ms),
        "store_only_ms": summarize_ms(store_only),
        "in_process_filtered_ms": summarize_ms(in_process_filtered),
        "http_ms": summarize_ms(http),
        "http_filtered_ms": summarize_ms(http_filtered),
    }


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
        "question embedding included.",
        "",
        "| products | index warm-up | in-process p50 / p99 | of which embed p50 | of which store p50 | "
        "HTTP p50 / p99 | filtered in-process p50 / p99 | filtered HTTP p50 / p99 | HTTP / in-process (p50) | "
        "store only p50 / p99 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in result["sizes"]:
        ratio = size["http_ms"]["p50"] / size["in_process_ms"]["p50"] if size["in_process_ms"]["p50"] else None
        lines.append(
            f"| {size['products']:,} | {size['index_warmup_ms']:.0f} ms | {_pair(size['in_process_ms'])} | "
            f"{size['in_process_embed_ms']['p50']:.1f} | {size['in_process_store_ms']['p50']:.1f} | "
            f"{_pair(size['http_ms'])} | {_pair(size['in_process_filtered_ms'])} | {_pair(size['http_filtered_ms'])} | "
            f"{'n/a' if ratio is None else f'{ratio:.2f}×'} | {_pair(size['store_only_ms'])} |"
        )
    lines += [
        "",
        "*Store only*: `ProductSearch.search_vector` with the questions embedded beforehand (how exact search scales "
        "with the catalog); *of which store* is the same step measured inside `search`, right after the model ran.",
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


def charts(result: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    sizes = [size["products"] for size in result["sizes"]]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    series = [
        ("in_process_ms", "in-process", "tab:blue"),
        ("http_ms", "HTTP GET /api/search", "tab:orange"),
        ("in_process_filtered_ms", "in-process, filtered", "tab:green"),
        ("http_filtered_ms", "HTTP, filtered", "tab:red"),
        ("store_only_ms", "store only (question embedded beforehand)", "tab:gray"),
    ]
    for key, label, colour in series:
        ax.plot(sizes, [size[key]["p50"] for size in result["sizes"]], "o-", color=colour, label=f"{label} p50")
        ax.plot(sizes, [size[key]["p99"] for size in result["sizes"]], "x--", color=colour, alpha=0.6, label="p99")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
    ax.set_xlabel("products in the catalog")
    ax.set_ylabel("latency per search (ms)")
    ax.set_title(f"Search latency, k={result['k']} (question embedding included)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out_dir / "search_latency.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
