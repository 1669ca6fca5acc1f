"""The quota governor on the wire: ``OpenAIEmbedder`` against the loopback Azure OpenAI server of the benchmarks
(``bench/aoai_server.py``: a sliding-window TPM quota and the request limit Azure derives, ``x-ratelimit-*`` headers
on every response, 429 with ``retry-after-ms``), through the real ``openai`` SDK.

Counts are asserted, never times: the server's windows are scaled down (``time_scale``) so a bulk run over several
windows takes seconds, and the governor and the retry policy are given the same time unit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bench.aoai_server import FakeAzureOpenAIEmbeddings
from bench.catalog_data import synthetic_products
from bench.quota_bulk import scale_embedder_time
from catalog.model import STATUS_EMBEDDED
from composition.backends import build_embedder
from composition.services import Services, build_services
from composition.settings import load_settings
from embedding.openai_embedder import OpenAIEmbedder
from store.base import FieldFilter

API_KEY = "quota-key"


def azure_values(server: FakeAzureOpenAIEmbeddings, **values: str) -> dict[str, str]:
    return {
        "EMBEDDING_BACKEND": "azure-openai",
        "AZURE_OPENAI_ENDPOINT": server.endpoint,
        "AZURE_OPENAI_API_KEY": API_KEY,
        "AZURE_OPENAI_API_VERSION": "2024-10-21",
        **values,
    }


@pytest.fixture
async def server() -> AsyncIterator[FakeAzureOpenAIEmbeddings]:
    async with FakeAzureOpenAIEmbeddings(latency=0, tpm=120_000, api_key=API_KEY) as fake:
        yield fake


@pytest.mark.parametrize("limit_headers", [False, True])
async def test_the_embedder_learns_the_quota_from_the_response_headers(limit_headers: bool) -> None:
    async with FakeAzureOpenAIEmbeddings(latency=0, tpm=120_000, api_key=API_KEY, limit_headers=limit_headers) as fake:
        embedder = build_embedder(load_settings(azure_values(fake)))
        assert isinstance(embedder, OpenAIEmbedder) and embedder.governor is not None
        try:
            await embedder.embed([f"product {number}" for number in range(5)])
            await embedder.embed(["one more"])
        finally:
            await embedder.close()
    # 120,000 TPM: Azure's 720 RPM, 120 per 10 s; learned from remaining + what this client had in the window.
    assert embedder.governor.token_limit == 120_000
    assert embedder.governor.request_limit == 120
    assert embedder.governor.requests == fake.counters.requests == 2


async def test_the_governor_is_off_when_the_setting_says_so(server: FakeAzureOpenAIEmbeddings) -> None:
    embedder = build_embedder(load_settings(azure_values(server, EMBED_QUOTA_GOVERNOR="false")))
    assert isinstance(embedder, OpenAIEmbedder) and embedder.governor is None
    try:
        assert len(await embedder.embed(["a kettle"])) == 1
    finally:
        await embedder.close()


async def test_a_known_quota_setting_is_the_governors_before_any_answer(server: FakeAzureOpenAIEmbeddings) -> None:
    embedder = build_embedder(load_settings(azure_values(server, EMBED_QUOTA_TPM="350000")))
    assert isinstance(embedder, OpenAIEmbedder) and embedder.governor is not None
    try:
        assert embedder.governor.token_limit == 350_000 and embedder.governor.request_limit == 350
    finally:
        await embedder.close()


async def test_a_429_reaches_the_governor_and_the_retry_still_succeeds() -> None:
    # One request per 10 s (6 RPM): the second request is refused with Retry-After, then retried and answered.
    async with FakeAzureOpenAIEmbeddings(latency=0, tpm=None, rpm=6, api_key=API_KEY, time_scale=50) as fake:
        embedder = build_embedder(load_settings(azure_values(fake, EMBED_QUOTA_GOVERNOR="false")))
        assert isinstance(embedder, OpenAIEmbedder)
        scale_embedder_time(embedder, 50, governed=True)
        assert embedder.governor is not None
        embedder.governor.max_in_flight = 1
        try:
            await embedder.embed(["first"])
            # The governor learned one request per window from the headers, so it waits instead of being refused.
            await embedder.embed(["second"])
            assert fake.counters.throttled == 0
            # Forget what it learned: the next request is refused, the governor is told, the retry is answered.
            embedder.governor = type(embedder.governor)(token_window=60 / 50, request_window=10 / 50)
            await embedder.embed(["third"])
        finally:
            await embedder.close()
    assert fake.counters.throttled == 1 and embedder.governor.throttled == 1
    assert fake.counters.requests == 4 and fake.counters.embedded_inputs == 3


async def bulk_run(tmp_path: Path, *, governed: bool) -> tuple[int, dict[str, Any]]:
    """120 products (about 5,600 tokens) reconciled through a 2,000-token-per-window quota: almost three windows."""
    scale = 60.0  # windows of 1 s (tokens) and 1/6 s (requests)
    products = synthetic_products(120)
    async with FakeAzureOpenAIEmbeddings(latency=0.005, tpm=2_000, rpm=600, api_key=API_KEY, time_scale=scale) as fake:
        settings = load_settings(
            azure_values(
                fake,
                STORE_BACKEND="local",
                LOCAL_DATA_DIR=str(tmp_path / ("governed" if governed else "ungoverned")),
                EMBED_BATCH_SIZE="10",
                EMBED_QUOTA_GOVERNOR="true" if governed else "false",
                EMBED_MAX_ATTEMPTS="20",
            )
        )
        services: Services = build_services(settings)
        try:
            assert isinstance(services.embedder, OpenAIEmbedder)
            scale_embedder_time(services.embedder, scale, governed=governed)
            products_container = await services.products()
            for product in products:
                await products_container.upsert(product)
            report = await (await services.reconciler()).reconcile(from_start=True)
            assert report.error is None
            embedded = await products_container.count([FieldFilter("embedding_info.status", "eq", STATUS_EMBEDDED)])
        finally:
            await services.close()
    return len(products) - embedded, fake.counters.as_dict()


async def test_a_bulk_run_against_a_small_quota_loses_nothing_and_meets_few_429s(tmp_path: Path) -> None:
    lost, counters = await bulk_run(tmp_path, governed=True)
    assert lost == 0
    assert counters["successful_requests"] == 12  # 120 products in batches of 10
    # Paced to the quota it learned from the first answer: at most one refusal (a clock hiccup), not one per window.
    assert counters["throttled_429"] <= 1, counters


async def test_without_the_governor_the_same_run_meets_the_quota_as_429s(tmp_path: Path) -> None:
    lost, counters = await bulk_run(tmp_path, governed=False)
    assert lost == 0  # the retries wait what the 429s say
    assert counters["throttled_429"] >= 2, counters  # ... after being refused, window after window
