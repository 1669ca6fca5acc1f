"""End to end: the real ``function_app`` under the local host as a subprocess, over real HTTP.

A product written through the API travels the change feed, is embedded, written back and found by search; an edit
costs exactly one more embedding call and the write-back none; a concurrent edit survives the write-back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.hosting import REPO, RunningHost, host_env, start_host, wait_for

pytestmark = pytest.mark.slow


def health(host: RunningHost) -> dict[str, Any]:
    response = host.get("/api/health")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def put(host: RunningHost, product_id: str, **fields: Any) -> httpx.Response:
    body = {"name": f"Product {product_id}", "price": 10.0, **fields}
    return httpx.put(f"{host.base_url}/api/products/{product_id}", json=body, timeout=30)


def product(host: RunningHost, product_id: str) -> dict[str, Any]:
    response = host.get(f"/api/products/{product_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def pipeline_seen(host: RunningHost, count: int) -> bool:
    return int(health(host)["pipeline"]["seen"]) >= count


@pytest.fixture
def slow_host(tmp_path: Path) -> Iterator[RunningHost]:
    """The app with the deterministic model taking 3 s per call, so a write can land during an embedding."""
    env = host_env(EMBEDDING_BACKEND="deterministic", TEST_EMBED_DELAY_MS="3000", LOCAL_DATA_DIR=str(tmp_path / "data"))
    host = start_host(REPO, env=env)
    yield host
    assert host.stop() == 0


@pytest.fixture
def fast_host(tmp_path: Path) -> Iterator[RunningHost]:
    host = start_host(REPO, env=host_env(EMBEDDING_BACKEND="deterministic", LOCAL_DATA_DIR=str(tmp_path / "data")))
    yield host
    assert host.stop() == 0


def test_put_is_embedded_through_the_change_feed_and_found_by_search(fast_host: RunningHost) -> None:
    assert put(fast_host, "kettle", description="A one litre aluminium kettle for camp stoves.").status_code == 201
    assert put(fast_host, "lamp", description="A rechargeable lantern that lights a whole tent.").status_code == 201

    wait_for(lambda: product(fast_host, "kettle")["embedding_status"] == "embedded", message="kettle embedded")
    wait_for(lambda: product(fast_host, "lamp")["embedding_status"] == "embedded", message="lamp embedded")
    found = fast_host.get("/api/search", params={"q": "kettle for camp stoves", "k": 1}).json()
    assert [hit["id"] for hit in found["results"]] == ["kettle"]


def test_an_edit_costs_exactly_one_embedding_call_and_the_write_back_none(fast_host: RunningHost) -> None:
    put(fast_host, "kettle", description="A one litre aluminium kettle for camp stoves.")
    # Seen twice: the write, then the echo of the write-back (skipped by the hash guard).
    wait_for(lambda: pipeline_seen(fast_host, 2), message="the write and its echo")
    before = health(fast_host)
    assert before["pipeline"]["embedded"] == 1 and before["pipeline"]["skipped"] == 1

    put(fast_host, "kettle", description="A two litre titanium kettle for camp stoves.")
    wait_for(lambda: pipeline_seen(fast_host, 4), message="the edit and its echo")
    time.sleep(2.5)  # more than two poll delays: a write-back loop would show up as more work
    after = health(fast_host)
    assert after["embedding"]["requests_sent"] == before["embedding"]["requests_sent"] + 1
    assert after["pipeline"]["embedded"] == 2
    assert after["pipeline"]["seen"] == 4  # nothing more arrived: the second write-back triggered nothing
    assert (
        "titanium"
        in fast_host.get("/api/search", params={"q": "titanium kettle", "k": 1}).json()["results"][0]["description"]
    )


def test_a_concurrent_edit_during_embedding_is_not_overwritten(slow_host: RunningHost) -> None:
    put(slow_host, "tent", description="A heavy canvas family tent.")
    time.sleep(1.6)  # the trigger (polling every second) has read the write and is inside the 3 s embedding call
    assert put(slow_host, "tent", description="An ultralight solo tent made of silnylon.").status_code == 200

    final = wait_for(
        lambda: (doc := product(slow_host, "tent"))["embedding_status"] == "embedded" and doc,
        timeout=60,
        message="the edited text embedded",
    )
    assert final["description"] == "An ultralight solo tent made of silnylon."
    assert health(slow_host)["pipeline"]["conflicts"] == 1  # the stale write-back was refused, not applied
