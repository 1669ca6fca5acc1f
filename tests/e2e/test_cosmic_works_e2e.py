"""The 295 Cosmic Works products loaded through the HTTP API, embedded by the local MiniLM model, searched."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import cosmic_works_products
from tests.e2e.hosting import REPO, RunningHost, host_env, start_host, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.model]


@pytest.fixture(scope="module")
def model_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    data = tmp_path_factory.mktemp("cosmic-works")
    host = start_host(REPO, env=host_env(EMBEDDING_BACKEND="local", LOCAL_DATA_DIR=str(data)))
    yield host
    assert host.stop() == 0


def test_every_product_is_embedded_and_a_saddle_question_finds_a_saddle(model_host: RunningHost) -> None:
    products = cosmic_works_products()
    for start in range(0, len(products), 100):
        response = httpx.post(f"{model_host.base_url}/api/products", json=products[start : start + 100], timeout=60)
        assert response.status_code == 200, response.text

    def embedded() -> int:
        return int(model_host.get("/api/health").json()["pipeline"]["embedded"])

    wait_for(lambda: embedded() >= len(products), timeout=240, interval=1, message="all 295 products embedded")
    assert embedded() == len(products)
    statuses = {model_host.get(f"/api/products/{p['id']}").json()["embedding_status"] for p in products[::37]}
    assert statuses == {"embedded"}

    found = model_host.get("/api/search", params={"q": "a comfortable saddle for long rides", "k": 3}).json()
    categories = [hit["category_name"] for hit in found["results"]]
    assert "Components, Saddles" in categories, categories
