"""Benchmark 5: change-feed lag, from a product write to its vector being searchable, under a burst of writes.

A ``python -m devhost run`` subprocess (embedded store, local MiniLM model, the binding's ``feedPollDelay`` and
``maxItemsPerInvocation``) receives a burst of ``PUT /api/products/{id}`` as fast as the client can send them.
The lag of each product is its stored ``embedding_info.embedded_at`` (written by the pipeline, milliseconds, UTC)
minus the moment its PUT response arrived at the client (same machine, same clock): how long a user who just saved
a product waits before search knows its new text.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench.app_metadata import embedding_trigger_binding
from bench.catalog_data import RunOptions, cosmic_works_products
from bench.latency import summarize_ms
from bench.subprocess_host import spawn_host, wait_until_answering

NAME = "changefeed_lag"
TITLE = "Change-feed lag (write → searchable)"

BURST = 200
#: PUTs in flight at once (aiohttp's connection pool size).
CONCURRENCY = 32


async def run(options: RunOptions) -> dict[str, Any]:
    products = cosmic_works_products()[: 30 if options.quick else BURST]
    binding = embedding_trigger_binding()
    work = options.scratch("changefeed-lag")
    host = spawn_host(work / "data", work / "host.log")
    try:
        await wait_until_answering(host)
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as session:
            answered: dict[str, float] = {}

            async def put(product: dict[str, Any]) -> None:
                async with session.put(f"{host.base_url}/api/products/{product['id']}", json=product) as response:
                    await response.read()
                    answered[product["id"]] = time.time()
                    if response.status not in (200, 201):
                        raise RuntimeError(f"PUT answered {response.status}")

            burst_started = time.time()
            await asyncio.gather(*(put(product) for product in products))
            burst_ended = time.time()
            embedded = await _wait_for_embedded(session, host.base_url, len(products))
            all_embedded = time.time()
            lags_ms = []
            for product in products:
                async with session.get(f"{host.base_url}/api/products/{product['id']}") as response:
                    document = await response.json()
                info = document.get("embedding_info") or {}
                stamped = datetime.fromisoformat(str(info["embedded_at"]).replace("Z", "+00:00")).timestamp()
                lags_ms.append((stamped - answered[product["id"]]) * 1000)
            async with session.get(f"{host.base_url}/api/health") as response:
                pipeline = (await response.json())["pipeline"]
    finally:
        exit_code = host.stop()
    lags = np.asarray(lags_ms)
    return {
        "writes": len(products),
        "concurrency": CONCURRENCY,
        "feed_poll_delay_ms": binding.get("feedPollDelay"),
        "max_items_per_invocation": binding.get("maxItemsPerInvocation"),
        "burst_s": round(burst_ended - burst_started, 3),
        "writes_per_s": round(len(products) / max(burst_ended - burst_started, 1e-9), 1),
        "all_embedded_after_burst_s": round(all_embedded - burst_ended, 3),
        "embedded": embedded,
        "lag_ms": summarize_ms(lags_ms),
        "lag_under_feed_poll_delay": int((lags < float(binding.get("feedPollDelay") or 0)).sum()),
        "pipeline": {key: pipeline.get(key) for key in ("seen", "embedded", "skipped", "embed_requests")},
        "host_exit_code": exit_code,
    }


async def _wait_for_embedded(session: aiohttp.ClientSession, base_url: str, expected: int) -> int:
    """Poll ``/api/health`` every 100 ms until the pipeline has embedded ``expected`` products (5 min at most)."""
    deadline = time.monotonic() + 300
    while True:
        async with session.get(f"{base_url}/api/health") as response:
            embedded = int((await response.json())["pipeline"]["embedded"])
        if embedded >= expected or time.monotonic() > deadline:
            return embedded
        await asyncio.sleep(0.1)


def markdown(result: dict[str, Any]) -> list[str]:
    lag = result["lag_ms"]
    return [
        f"{result['writes']} `PUT /api/products/{{id}}` ({result['concurrency']} in flight) against "
        f"`python -m devhost run` with the local model; the trigger binding polls the feed every "
        f"{result['feed_poll_delay_ms']} ms once drained and takes up to {result['max_items_per_invocation']} "
        "documents per invocation.",
        "",
        "| writes | burst | writes/s | lag p50 | lag p95 | lag max | all embedded after the burst |",
        "|---|---|---|---|---|---|---|",
        f"| {result['writes']} | {result['burst_s']:.2f} s | {result['writes_per_s']} | {lag['p50'] / 1000:.2f} s | "
        f"{lag['p95'] / 1000:.2f} s | {lag['max'] / 1000:.2f} s | {result['all_embedded_after_burst_s']:.2f} s |",
        "",
        f"Lag = stored `embedded_at` − the client's receipt of the PUT response. {result['embedded']} of "
        f"{result['writes']} embedded; pipeline counts: {result['pipeline']}.",
    ]


def charts(result: dict[str, Any], out_dir: Path) -> list[Path]:
    return []
