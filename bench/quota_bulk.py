"""Benchmark: a bulk backfill against a 350K TPM Azure OpenAI quota, with and without the quota governor.

20,000 products made from the Cosmic Works catalog (each of the 295 products in sizes and colours, its description
joined with a sentence of another product of its category) are written to a fresh embedded store without vectors.
Then, against one loopback Azure OpenAI server (``bench/aoai_server.py``) with a 350,000 TPM quota (Azure's default
for text-embedding-3-small) and the 2,100 RPM Azure derives from it, reset between variants:

* **governor**: the reconciler (``Services.reconciler``, the timer's bulk path) with ``OpenAIEmbedder`` built by the
  settings factory, ``EMBED_QUOTA_GOVERNOR=true`` and ``EMBED_QUOTA_TPM=0`` (the quota learned from the headers);
* **no governor**: the same with ``EMBED_QUOTA_GOVERNOR=false``: today's pipeline, which sends the next batch as
  soon as the last one is written and meets the quota as 429s, waiting what they say (within the retry policy);
* **tutorial**: a loop that embeds one product per request with the ``openai`` SDK's default retries (2) and upserts
  it with its vector, as the vector-search tutorials do. One request at a time is far below the request limit, so
  its pace is steady: it runs on the first :data:`TUTORIAL_SAMPLE` products, and its wall time for all of them is
  that sample's, scaled by the number of products (said so in the results).

Reported per variant: wall time, quota utilisation (tokens embedded / (TPM x minutes elapsed)), the share of requests
answered 429, products left without a vector, and the ratios between variants.

Time is scaled by :data:`TIME_SCALE` (5) unless ``QUOTA_BENCH_TIME_SCALE`` says otherwise (``1``: the unscaled run,
about 8 minutes per backfill): the server's windows (60 s of tokens, 10 s of requests), its latency, the governor's
windows and the retry policy's waits are divided by it, and the quota per window is unchanged, so utilisation and the
share of 429s are the same physics in a fifth of the time. The client's own CPU work (tokenizing, the store) is not
scaled, which weighs on every variant in proportion to its work (at 10 the backfill's CPU per page on this 2-core
machine came close to the page's share of the quota, so 5 keeps the quota, not the CPU, the limit).
"""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import openai

from bench.aoai_server import FakeAzureOpenAIEmbeddings, count_tokens
from bench.catalog_data import RunOptions, cosmic_works_products
from catalog.model import EMBEDDING_FIELD, STATUS_EMBEDDED, embedding_text
from composition.services import build_services
from composition.settings import Settings, load_settings
from embedding.openai_embedder import OpenAIEmbedder
from store.base import ContainerSpec, FieldFilter, VectorSpec
from store.sqlite import SqliteDocumentStore
from store.sqlite.container import SqliteDocumentContainer
from transport.quota import REQUEST_WINDOW_SECONDS, TOKEN_WINDOW_SECONDS, QuotaGovernor
from transport.retry import RetryPolicy

NAME = "quota_bulk"
TITLE = "Quota-aware bulk embedding (350K TPM)"

#: Azure's default quota for a text-embedding-3-small deployment.
TPM = 350_000
PRODUCTS = 20_000
QUICK_PRODUCTS = 1_000
#: Products the tutorial loop embeds (its pace is steady; see the module docstring).
TUTORIAL_SAMPLE = 2_000
QUICK_TUTORIAL_SAMPLE = 200
#: The server's latency per request, unscaled (network and model time of a real endpoint).
LATENCY_S = 0.1
#: Time is divided by this unless QUOTA_BENCH_TIME_SCALE says otherwise (1: the unscaled run, ~7 min per variant).
TIME_SCALE = 5.0
API_KEY = "bench-key"
API_VERSION = "2024-10-21"
DEPLOYMENT = "text-embedding-3-small"
#: Targets of the issue.
TARGET_UTILISATION = 0.85
TARGET_THROTTLED = 0.05

_SIZES = ["XS", "S", "M", "L", "XL", "42", "44", "46", "48", "50", "52", "58", "60", "62"]
_COLOURS = ["Black", "Red", "Blue", "Silver", "Yellow", "Green", "White", "Orange", "Grey", "Navy", "Olive"]


def time_scale() -> float:
    raw = os.environ.get("QUOTA_BENCH_TIME_SCALE", "")
    return float(raw) if raw else TIME_SCALE


def bulk_products(count: int, *, seed: int = 12) -> list[dict[str, Any]]:
    """``count`` products made from the Cosmic Works catalog: each a size and colour of one of its products, its
    description followed by a sentence of another product of the same category (so texts vary in words and length)."""
    base = cosmic_works_products()
    sentences: dict[str, list[str]] = {}
    for product in base:
        parts = [part.strip() for part in re.split(r"(?<=[.!?])\s+", str(product.get("description", ""))) if part]
        sentences.setdefault(str(product.get("category_name")), []).extend(parts)
    rng = np.random.default_rng(seed)
    products = []
    for number in range(count):
        source = base[number % len(base)]
        category = str(source.get("category_name"))
        pool = sentences.get(category) or [""]
        extra = pool[int(rng.integers(len(pool)))]
        colour = _COLOURS[int(rng.integers(len(_COLOURS)))]
        size = _SIZES[int(rng.integers(len(_SIZES)))]
        products.append(
            {
                **source,
                "id": f"qb-{number:06d}",
                "sku": f"{source.get('sku', 'SKU')}-{number:06d}",
                "name": f"{source['name']} {colour} {size}",
                "description": f"{source['description']} {extra}".strip(),
                "price": round(float(source.get("price") or 10) * float(rng.uniform(0.9, 1.1)), 2),
            }
        )
    return products


async def run(options: RunOptions) -> dict[str, Any]:
    scale = time_scale()
    count = QUICK_PRODUCTS if options.quick else PRODUCTS
    products = bulk_products(count)
    fields = Settings().EMBED_FIELDS
    tokens = sum(count_tokens(embedding_text(product, fields)) for product in products)
    result: dict[str, Any] = {
        "products": count,
        "tokens": tokens,
        "tpm": TPM,
        "time_scale": scale,
        "latency_s": LATENCY_S,
        "quota_minutes_needed": round(tokens / TPM, 2),
        "variants": {},
    }
    async with FakeAzureOpenAIEmbeddings(
        latency=LATENCY_S / scale, tpm=TPM, api_key=API_KEY, time_scale=scale
    ) as server:
        result["rpm"] = server.quota.rpm
        result["requests_per_10s"] = server.quota.requests_per_window
        for variant, governed in (("governor", True), ("no_governor", False)):
            server.reset()
            result["variants"][variant] = await _run_backfill(
                server, products, options.scratch(f"quota-{variant}"), governed=governed, scale=scale
            )
        server.reset()
        sample = products[: QUICK_TUTORIAL_SAMPLE if options.quick else TUTORIAL_SAMPLE]
        tutorial = await _run_tutorial(server, sample, options.scratch("quota-tutorial"), scale)
        result["variants"]["tutorial"] = _extrapolated(tutorial, len(sample), count)
    for entry in result["variants"].values():
        _derive(entry, scale)
    variants = result["variants"]
    result["ratios"] = {
        "no_governor_over_governor_wall": _ratio(variants["no_governor"]["wall_s"], variants["governor"]["wall_s"]),
        "tutorial_over_governor_wall": _ratio(variants["tutorial"]["wall_s"], variants["governor"]["wall_s"]),
        "governor_over_no_governor_utilisation": _ratio(
            variants["governor"]["utilisation"], variants["no_governor"]["utilisation"]
        ),
        "governor_over_tutorial_utilisation": _ratio(
            variants["governor"]["utilisation"], variants["tutorial"]["utilisation"]
        ),
    }
    ours = variants["governor"]
    result["targets_met"] = {
        "utilisation": ours["utilisation"] >= TARGET_UTILISATION,
        "throttled": ours["throttled_share"] <= TARGET_THROTTLED,
        "nothing_lost": ours["lost"] == 0,
    }
    return result


def _settings(server: FakeAzureOpenAIEmbeddings, data_dir: Path, *, governed: bool) -> Settings:
    return load_settings(
        {
            "STORE_BACKEND": "local",
            "EMBEDDING_BACKEND": "azure-openai",
            "LOCAL_DATA_DIR": str(data_dir),
            "AZURE_OPENAI_ENDPOINT": server.endpoint,
            "AZURE_OPENAI_API_KEY": API_KEY,
            "AZURE_OPENAI_API_VERSION": API_VERSION,
            "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": DEPLOYMENT,
            "EMBED_QUOTA_GOVERNOR": "true" if governed else "false",
            "EMBED_QUOTA_TPM": "0",
            "RECONCILE_MAX_PRODUCTS_PER_RUN": str(PRODUCTS * 2),
        }
    )


def scale_embedder_time(embedder: OpenAIEmbedder, scale: float, *, governed: bool) -> None:
    """The embedder's clocks in the server's scaled time: the retry policy's waits divided by ``scale``, and (when
    ``governed``) a governor whose windows are the server's; otherwise none."""
    policy = embedder.retry_policy
    embedder.retry_policy = RetryPolicy(
        max_attempts=policy.max_attempts,
        initial_wait=policy.initial_wait / scale,
        max_wait=policy.max_wait / scale,
        max_total_wait=policy.max_total_wait / scale,
    )
    embedder.governor = (
        QuotaGovernor(token_window=TOKEN_WINDOW_SECONDS / scale, request_window=REQUEST_WINDOW_SECONDS / scale)
        if governed
        else None
    )


async def _run_backfill(
    server: FakeAzureOpenAIEmbeddings, products: list[dict[str, Any]], data_dir: Path, *, governed: bool, scale: float
) -> dict[str, Any]:
    services = build_services(_settings(server, data_dir, governed=governed))
    try:
        assert isinstance(services.embedder, OpenAIEmbedder)
        scale_embedder_time(services.embedder, scale, governed=governed)
        container = await services.products()
        assert isinstance(container, SqliteDocumentContainer)  # STORE_BACKEND=local
        await container.upsert_many([dict(product) for product in products])
        reconciler = await services.reconciler()
        error = None
        started = time.perf_counter()
        try:
            report = await reconciler.reconcile(from_start=True)
            error = report.error
        except Exception as failure:  # the run stops; what it embedded so far stays embedded
            error = f"{type(failure).__name__}: {failure}"
        wall = time.perf_counter() - started
        embedded = await container.count([FieldFilter("embedding_info.status", "eq", STATUS_EMBEDDED)])
        embedder = services.embedder
        governor = embedder.governor if isinstance(embedder, OpenAIEmbedder) else None
    finally:
        await services.close()
    counters = server.counters.as_dict()
    entry: dict[str, Any] = {
        "wall_s": round(wall, 2),
        "requests": counters["requests"],
        "throttled_429": counters["throttled_429"],
        "tokens_embedded": counters["tokens"],
        "embedded": embedded,
        "lost": len(products) - embedded,
        "error": error,
    }
    if governor is not None:
        snapshot = governor.snapshot()
        entry["governor"] = {
            "learned_token_limit": snapshot.token_limit,
            "learned_request_limit": snapshot.request_limit,
            "waited_s": snapshot.waited_seconds,
        }
    return entry


async def _run_tutorial(
    server: FakeAzureOpenAIEmbeddings, products: list[dict[str, Any]], data_dir: Path, scale: float
) -> dict[str, Any]:
    fields = Settings().EMBED_FIELDS
    store = SqliteDocumentStore(data_dir / "tutorial.sqlite3")
    container = await store.container(ContainerSpec("products", "/id", VectorSpec("/embedding", 1536)))
    lost = 0
    # One client for the loop (kinder than the tutorials' client per call), the SDK's default retries (2).
    client = openai.AsyncAzureOpenAI(azure_endpoint=server.endpoint, api_key=API_KEY, api_version=API_VERSION)
    started = time.perf_counter()
    try:
        for product in products:
            try:
                response = await client.embeddings.create(input=embedding_text(product, fields), model=DEPLOYMENT)
            except openai.RateLimitError:
                lost += 1
                continue
            await container.upsert({**product, EMBEDDING_FIELD: list(response.data[0].embedding)})
        wall = time.perf_counter() - started
        embedded = await container.count()
    finally:
        await client.close()
        await store.close()
    counters = server.counters.as_dict()
    return {
        "wall_s": round(wall, 2),
        "requests": counters["requests"],
        "throttled_429": counters["throttled_429"],
        "tokens_embedded": counters["tokens"],
        "embedded": embedded,
        "lost": len(products) - embedded,
        "error": None,
    }


def _extrapolated(entry: dict[str, Any], sample: int, count: int) -> dict[str, Any]:
    """The tutorial's sample run as the whole run: wall time scaled by products; the rates are the sample's."""
    factor = count / sample
    return {
        **entry,
        "sample_products": sample,
        "sample_wall_s": entry["wall_s"],
        "wall_s": round(entry["wall_s"] * factor, 2),
        "requests": round(entry["requests"] * factor),
        "throttled_429": round(entry["throttled_429"] * factor),
        "tokens_embedded": round(entry["tokens_embedded"] * factor),
        "lost_in_sample": entry["lost"],
        "embedded_in_sample": entry["embedded"],
        "embedded": round(entry["embedded"] * factor),
        "lost": round(entry["lost"] * factor),
    }


def _derive(entry: dict[str, Any], scale: float) -> None:
    """Utilisation and the 429 share; wall time also in unscaled minutes (what the same run takes at 1x)."""
    quota_minutes = entry["wall_s"] * scale / 60
    entry["utilisation"] = round(entry["tokens_embedded"] / (TPM * quota_minutes), 3) if quota_minutes else 0.0
    entry["throttled_share"] = round(entry["throttled_429"] / entry["requests"], 4) if entry["requests"] else 0.0
    entry["quota_minutes"] = round(quota_minutes, 2)


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 2) if denominator else None


def markdown(result: dict[str, Any]) -> list[str]:
    scale = result["time_scale"]
    scaled = (
        f"Time scaled by {scale:g}: the server's windows ({60 / scale:g} s of tokens, {10 / scale:g} s of requests) "
        f"and latency ({result['latency_s'] * 1000 / scale:g} ms), the governor's windows and the retry policy's waits "
        "are divided by it and the quota per window is the same, so utilisation and 429s are the physics of the "
        "unscaled run; the client's CPU work is not scaled. `QUOTA_BENCH_TIME_SCALE=1` runs it unscaled."
        if scale != 1
        else "Unscaled: real windows and latency."
    )
    lines = [
        f"{result['products']:,} products from Cosmic Works ({result['tokens']:,} tokens: "
        f"{result['quota_minutes_needed']:.1f} minutes of quota). Loopback Azure OpenAI: {result['tpm']:,} TPM over a "
        f"sliding minute, {result['rpm']:,} RPM evaluated as {result['requests_per_10s']} requests per sliding 10 s, "
        f"{result['latency_s'] * 1000:.0f} ms per request, `x-ratelimit-remaining-*` on every response. {scaled}",
        "",
        "Utilisation is tokens embedded / (TPM × minutes elapsed, in unscaled minutes). On a sliding minute the "
        "first minute's tokens are all available at once, so a run can exceed 100% (the shorter the run, the more).",
        "",
        "| variant | wall (s) | quota minutes | utilisation | requests | 429s | 429 share | products lost |",
        "|---|---|---|---|---|---|---|---|",
    ]
    labels = {
        "governor": "ours, with the governor (reconciler)",
        "no_governor": "ours, governor off (today's pipeline)",
        "tutorial": "tutorial loop (one request per product)",
    }
    for name, label in labels.items():
        entry = result["variants"][name]
        lines.append(
            f"| {label} | {entry['wall_s']:.1f} | {entry['quota_minutes']:.2f} | {entry['utilisation']:.1%} | "
            f"{entry['requests']:,} | {entry['throttled_429']:,} | {entry['throttled_share']:.1%} | {entry['lost']:,} |"
        )
    ratios = result["ratios"]
    met = result["targets_met"]
    lines += [
        "",
        f"Same run, same server: governor off / on wall time {_x(ratios['no_governor_over_governor_wall'])}, "
        f"tutorial / governor {_x(ratios['tutorial_over_governor_wall'])}; utilisation governor / off "
        f"{_x(ratios['governor_over_no_governor_utilisation'])}, governor / tutorial "
        f"{_x(ratios['governor_over_tutorial_utilisation'])}. Targets (governor): utilisation ≥ 85% "
        f"{_held(met['utilisation'])}, ≤ 5% of requests 429 {_held(met['throttled'])}, nothing lost "
        f"{_held(met['nothing_lost'])}.",
    ]
    errors = [f"{name}: {entry['error']}" for name, entry in result["variants"].items() if entry.get("error")]
    if errors:
        lines.append(f"Runs that stopped on an error: {'; '.join(errors)}.")
    tutorial = result["variants"]["tutorial"]
    lines.append(
        f"The tutorial ran on the first {tutorial['sample_products']:,} products ({tutorial['sample_wall_s']:.1f} s, "
        f"{tutorial['lost_in_sample']} lost); its row is that run scaled to {result['products']:,} products (one "
        "request at a time never nears the request limit, so its pace is steady)."
    )
    governor = result["variants"]["governor"].get("governor")
    if governor:
        lines.append(
            f"The governor learned {governor['learned_token_limit']} tokens per minute-window and "
            f"{governor['learned_request_limit']} requests per 10 s-window from the headers, and waited "
            f"{governor['waited_s']:.1f} s in all before requests."
        )
    return lines


def _x(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}×"


def _held(value: bool) -> str:
    return "holds" if value else "**does not hold**"
