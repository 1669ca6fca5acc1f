"""Benchmark 2: the local MiniLM ONNX model's throughput over the Cosmic Works texts, and single-query latency.

The embedder is built by the app's factory (``EMBEDDING_BACKEND=local``), so the batch size is the configured one
(``EMBED_BATCH_SIZE`` capped by the model's own limit). Throughput embeds exactly the text the pipeline embeds
(``catalog.model.embedding_text``) for every product; single-query latency embeds shopper questions one at a time,
as a search does.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.catalog_data import RunOptions, cosmic_works_products, shopper_questions
from bench.latency import Stopwatch, elapsed_ms, summarize_ms
from catalog.model import embedding_text
from composition.backends import build_embedder
from composition.settings import load_settings

NAME = "local_embedding"
TITLE = "Local embedding (MiniLM ONNX)"


async def run(options: RunOptions) -> dict[str, Any]:
    products = cosmic_works_products()
    if options.quick:
        products = products[:48]
    settings = load_settings({"EMBEDDING_BACKEND": "local", "LOCAL_DATA_DIR": str(options.scratch("local-embedding"))})
    embedder = build_embedder(settings)
    try:
        with Stopwatch() as load:
            embedder.warm_up()
        texts = [embedding_text(product, settings.EMBED_FIELDS) for product in products]
        tokens = [embedder.count_tokens(text) for text in texts]
        await embedder.embed(texts[:8])  # the first inference allocates onnxruntime's buffers
        seconds = []
        for _ in range(1 if options.quick else 3):
            with Stopwatch() as watch:
                vectors = await embedder.embed(texts)
            seconds.append(watch.seconds)
        assert len(vectors) == len(texts)
        query_ms: list[float] = []
        for question in shopper_questions(30 if options.quick else 300):
            with elapsed_ms(query_ms):
                await embedder.embed([question])
    finally:
        await embedder.close()
    best, median = min(seconds), statistics.median(seconds)
    return {
        "model": embedder.model_id,
        "dimensions": embedder.dimensions,
        "batch_size": embedder.max_batch_size,
        "texts": len(texts),
        "tokens_mean": round(statistics.fmean(tokens), 1),
        "tokens_max": max(tokens),
        "model_load_s": round(load.seconds, 3),
        "runs_s": [round(value, 3) for value in seconds],
        "products_per_s_median": round(len(texts) / median, 1),
        "products_per_s_best": round(len(texts) / best, 1),
        "tokens_per_s_median": round(sum(tokens) / median),
        "query_latency_ms": summarize_ms(query_ms),
    }


def markdown(result: dict[str, Any]) -> list[str]:
    query = result["query_latency_ms"]
    return [
        f"`{result['model']}` ({result['dimensions']}-d), batch size {result['batch_size']}; "
        f"{result['texts']} texts of {result['tokens_mean']} tokens on average (max {result['tokens_max']}).",
        "",
        "| model load | products/s (median of runs) | products/s (best) | tokens/s | query p50 | query p99 |",
        "|---|---|---|---|---|---|",
        f"| {result['model_load_s']:.2f} s | {result['products_per_s_median']} | {result['products_per_s_best']} | "
        f"{result['tokens_per_s_median']:,} | {query['p50']:.1f} ms | {query['p99']:.1f} ms |",
        "",
        f"Runs over all texts: {', '.join(f'{value:.2f} s' for value in result['runs_s'])}; "
        f"{query['n']} single-question embeddings.",
    ]
