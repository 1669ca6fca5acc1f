"""Fixtures shared by every test layer: temporary stores, deterministic embedders, the shared data set."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from catalog.embedding_sync import BatchReport, EmbeddingPipeline
from composition.services import Services, build_services
from composition.settings import load_settings
from embedding.deterministic import DeterministicEmbedder
from store.base import DocumentContainer

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
COSMIC_WORKS = SHARED_DATA / "cosmic-works-products.json"


def cosmic_works_products() -> list[dict[str, Any]]:
    """The 295 Cosmic Works products from ../shared/data, or a clean skip where they are absent."""
    if not COSMIC_WORKS.exists():
        pytest.skip(f"{COSMIC_WORKS} is absent")
    products: list[dict[str, Any]] = json.loads(COSMIC_WORKS.read_text())
    return products


@pytest.fixture
def settings_env(tmp_path: Path) -> dict[str, str]:
    """Settings for an embedded store in a temporary folder and the deterministic embedder."""
    return {
        "STORE_BACKEND": "local",
        "EMBEDDING_BACKEND": "deterministic",
        "LOCAL_DATA_DIR": str(tmp_path / "data"),
        "RATE_LIMIT_PER_MINUTE": "0",  # handler tests send many requests; the limit has tests of its own
    }


@pytest.fixture
async def services(settings_env: dict[str, str]) -> AsyncIterator[Services]:
    built = build_services(load_settings(settings_env))
    yield built
    await built.close()


class FeedDriver:
    """Plays the Functions host for one container: reads the change feed and hands batches to the pipeline."""

    def __init__(self, products: DocumentContainer, pipeline: EmbeddingPipeline, max_items: int = 100) -> None:
        self.products = products
        self.pipeline = pipeline
        self.max_items = max_items
        self.continuation: str | None = None

    async def drain(self) -> list[BatchReport]:
        """Deliver every change made before this call (not the write-backs it causes); one report per invocation."""
        now = await self.products.read_changes(None, 1, from_beginning=False)
        end = int(now.continuation or 0)
        reports = []
        while int(self.continuation or 0) < end:
            batch = await self.products.read_changes(self.continuation, self.max_items)
            if not batch.documents:
                break
            reports.append(await self.pipeline.embed_changed_products(batch.documents))
            self.continuation = batch.continuation
        return reports


@pytest.fixture
async def feed(services: Services) -> FeedDriver:
    return FeedDriver(await services.products(), await services.embedding_pipeline())


@pytest.fixture
def embedder(services: Services) -> DeterministicEmbedder:
    assert isinstance(services.embedder, DeterministicEmbedder)
    return services.embedder
