"""``GET /api/metrics`` as the host calls it: the ledger's totals for operators, a refusal for shoppers, and spans
with the same figures when OpenTelemetry is configured (nothing when it is not)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from blueprints.identity import OPERATOR_ROLE
from composition.services import Services
from tests.conftest import FeedDriver
from tests.functions.test_metadata import bindings
from tests.unit.test_chat import CATALOG
from tests.unit.test_identity import principal_header
from transport import telemetry

Call = Callable[..., Any]


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "AUTH_TRUST_EASY_AUTH": "true"}  # as infra/ sets it with Easy Auth in front


def signed_in(*roles: str) -> dict[str, str]:
    return {"X-MS-CLIENT-PRINCIPAL-ID": "someone", "X-MS-CLIENT-PRINCIPAL": principal_header(list(roles))}


async def stock(services: Services, feed: FeedDriver) -> None:
    await (await services.catalog()).put_many(CATALOG)
    await feed.drain()


def test_the_route_needs_the_master_key(functions: dict[str, Any]) -> None:
    [trigger, _] = bindings(functions, "usage_metrics")
    assert (trigger["route"], trigger["methods"], trigger["authLevel"]) == ("metrics", ["GET"], "ADMIN")


async def test_operators_see_tokens_and_savings_per_model_and_request_charges_as_n_a_locally(
    call: Call, app_services: Services, feed: FeedDriver
) -> None:
    await stock(app_services, feed)
    chat = json.dumps({"message": "coffee mug that stays hot"}).encode()
    first = json.loads((await call("chat", "POST", "/api/chat", body=chat, headers=signed_in())).get_body())
    again = json.loads((await call("chat", "POST", "/api/chat", body=chat, headers=signed_in())).get_body())
    assert again["cached"] and again["saved"]["completion_tokens"] == first["usage"]["completion_tokens"]
    assert first["usage"]["estimated_cost"] == 0  # the offline writer is not metered

    response = await call(
        "usage_metrics", "GET", "/api/metrics", params={"days": "3"}, headers=signed_in(OPERATOR_ROLE)
    )
    assert response.status_code == 200
    body = json.loads(response.get_body())
    by_model = {row["model"]: row for row in body["models"]}
    writer = by_model[app_services.chat_model.model_id]
    assert (writer["requests"], writer["cache_hits"]) == (1, 1)
    assert writer["saved_completion_tokens"] == first["usage"]["completion_tokens"]
    embedder = by_model[app_services.embedder.model_id]
    assert embedder["role"] == "embedding" and embedder["tokens"] > 0 and embedder["requests"] >= 3
    assert body["request_charge"] is None and any(note.startswith("n/a") for note in body["notes"])
    assert "cosmos-db" not in by_model
    assert body["prices"]["estimate"] is True and body["prices"]["currency"] == "USD"
    assert [day["day"] for day in body["days"]] == [body["to_day"]]


async def test_a_signed_in_shopper_is_refused(call: Call) -> None:
    response = await call("usage_metrics", "GET", "/api/metrics", headers=signed_in())
    assert response.status_code == 403
    assert OPERATOR_ROLE in json.loads(response.get_body())["error"]


async def test_a_window_beyond_a_year_is_refused_naming_days(call: Call) -> None:
    response = await call("usage_metrics", "GET", "/api/metrics", params={"days": "400"})
    assert response.status_code == 400 and json.loads(response.get_body())["field"] == "days"


@pytest.fixture
def spans() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.install(tracer_provider.get_tracer("test"), meter_provider.get_meter("test"))
    yield exporter, reader
    telemetry.uninstall()


async def test_search_and_chat_spans_carry_the_invocations_figures(
    call: Call, app_services: Services, feed: FeedDriver, spans: tuple[InMemorySpanExporter, InMemoryMetricReader]
) -> None:
    exporter, reader = spans
    await stock(app_services, feed)
    await call("search", "GET", "/api/search", params={"q": "a tent for two"})
    body = json.dumps({"message": "coffee mug that stays hot"}).encode()
    await call("chat", "POST", "/api/chat", body=body, headers=signed_in())
    await call("chat", "POST", "/api/chat", body=body, headers=signed_in())
    finished = {span.name: span for span in exporter.get_finished_spans()}
    search = finished["search.search"].attributes or {}
    assert search["http.response.status_code"] == 200 and search["catalog.search.results"] > 0
    assert search["catalog.embedding.tokens"] > 0
    assert "catalog.cosmos.request_charge" not in search  # the embedded store has none: no attribute, not a 0
    chats = [span.attributes or {} for span in exporter.get_finished_spans() if span.name == "chat.chat"]
    assert [attributes["catalog.chat.cached"] for attributes in chats] == [False, True]
    assert chats[0]["catalog.chat.completion_tokens"] > 0 and chats[0]["catalog.cache.hits"] == 0
    assert chats[1]["catalog.cache.hits"] == 1
    assert chats[1]["catalog.cache.saved_tokens"] == chats[0]["catalog.chat.completion_tokens"]
    data = reader.get_metrics_data()
    assert data is not None
    names = {metric.name for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics}
    assert {"catalog.embedding.tokens", "catalog.chat.completion_tokens", "catalog.cache.hits"} <= names


async def test_without_telemetry_configured_spans_are_a_no_op(call: Call) -> None:
    assert not telemetry.enabled()
    with telemetry.span("anything", a=1) as span:
        span.set(b=2)
        telemetry.annotate(c=3)
        telemetry.record("catalog.x", 1)
    response = await call("search", "GET", "/api/search", params={"q": "a tent"})
    assert response.status_code == 200
