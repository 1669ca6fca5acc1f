"""The local Functions host serving a small test app over real HTTP and driving its change-feed trigger.

The app below is built in this module with the real ``azure.functions`` decorators; the host reads it only through
``app.get_functions()``, as the Python worker does. Triggers run against the embedded SQLite store.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx
import pytest

from chat.answer_writer import AnswerWriter
from composition.services import Services
from composition.settings import load_settings
from devhost.cli import load_direct, serve
from devhost.host import HostError, LocalFunctionsHost
from embedding.base import Embedder
from store.base import DocumentContainer
from store.sqlite import SqliteDocumentStore

WATCHED = "watched"
LEASES = "leases"
FUNCTION = "record_changes"
MAX_BODY = 1024
JSON = {"Content-Type": "application/json"}


class _UnusedEmbedder(Embedder):
    """Services need an embedder; nothing here embeds."""

    model_id = "unused"
    dimensions = 8

    async def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        raise AssertionError("the dev host tests never embed")


@dataclass
class Recorder:
    """What the trigger function saw. Configure ``fail_next`` / ``fail_ids`` / ``block`` to make it misbehave."""

    attempts: list[list[str]] = field(default_factory=list)
    processed: list[list[str]] = field(default_factory=list)
    lease_while_failing: list[str | None] = field(default_factory=list)
    fail_next: int = 0
    fail_ids: set[str] = field(default_factory=set)
    block: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: int = 0
    leases: DocumentContainer | None = None
    retry_counts: list[int] = field(default_factory=list)

    @property
    def processed_ids(self) -> list[str]:
        return [doc_id for batch in self.processed for doc_id in batch]

    async def handle(self, docs: func.DocumentList, context: func.Context) -> None:
        ids = [doc["id"] for doc in docs]
        self.attempts.append(ids)
        self.retry_counts.append(context.retry_context.retry_count)
        self.entered.set()
        if self.block is not None:
            try:
                await self.block.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if self.fail_next > 0 or self.fail_ids.intersection(ids):
            self.fail_next = max(self.fail_next - 1, 0)
            if self.leases is not None:
                lease = await self.leases.read(FUNCTION, FUNCTION)
                self.lease_while_failing.append(lease["continuation"] if lease else None)
            raise RuntimeError(f"planned failure on {ids}")
        self.processed.append(ids)


def build_app(
    recorder: Recorder,
    *,
    max_items: int = 100,
    start_from_beginning: bool = True,
    retry: dict[str, str] | None = None,
) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="echo/{id:int}/{name?}", methods=["GET", "POST"])
    async def echo(req: func.HttpRequest) -> func.HttpResponse:
        payload = {
            "method": req.method,
            "url": req.url,
            "route_params": dict(req.route_params),
            "params": dict(req.params),
            "header": req.headers.get("x-test"),
            "body": req.get_body().decode(),
        }
        return func.HttpResponse(
            json.dumps(payload), status_code=201, mimetype="application/json", headers={"X-Echo": "yes"}
        )

    @app.route(route="greet/{word:alpha}")
    def greet(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(f"hello {req.route_params['word']}")

    @app.route(route="boom", methods=["GET"])
    async def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("secret connection string in this message")

    @app.route(route="readonly", methods=["GET"])
    def readonly(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("read")

    @app.route(route="slow", methods=["GET"])
    async def slow(req: func.HttpRequest) -> func.HttpResponse:
        await asyncio.sleep(0.2)
        return func.HttpResponse("done")

    @app.route(route="slow-sync", methods=["GET"])
    def slow_sync(req: func.HttpRequest) -> func.HttpResponse:
        time.sleep(0.2)
        return func.HttpResponse("done")

    @app.route(route="items/{id}", methods=["GET"])
    def item(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(f"item {req.route_params['id']}")

    @app.route(route="items/latest", methods=["GET"])
    def latest_item(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("latest")

    policy = retry or {
        "strategy": "exponential_backoff",
        "max_retry_count": "-1",
        "minimum_interval": "00:00:00",
        "maximum_interval": "00:00:01",
    }

    @app.function_name(FUNCTION)
    @app.retry(
        strategy=policy["strategy"],
        max_retry_count=policy["max_retry_count"],
        delay_interval=policy.get("delay_interval"),
        minimum_interval=policy.get("minimum_interval"),
        maximum_interval=policy.get("maximum_interval"),
    )
    @app.cosmos_db_trigger(
        arg_name="docs",
        connection="COSMOS_CONNECTION",
        database_name="%COSMOS_DATABASE%",
        container_name="%WATCHED_CONTAINER%",
        lease_container_name="%COSMOS_LEASES_CONTAINER%",
        max_items_per_invocation=max_items,
        feed_poll_delay=50,
        # azure-functions annotates this flag as a datetime.time; the binding (and the host) take a bool.
        start_from_beginning=start_from_beginning,  # type: ignore[arg-type]
    )
    async def record_changes(docs: func.DocumentList, context: func.Context) -> None:
        await recorder.handle(docs, context)

    return app


@pytest.fixture(autouse=True)
def app_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHED_CONTAINER", WATCHED)
    monkeypatch.setenv("COSMOS_LEASES_CONTAINER", LEASES)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = load_settings({"STORE_BACKEND": "local", "LOCAL_DATA_DIR": str(tmp_path)})
    built = Services(
        settings=settings,
        store=SqliteDocumentStore(tmp_path / "catalog.sqlite3"),
        embedder=_UnusedEmbedder(),
        chat_model=AnswerWriter(),
    )
    yield built
    await built.close()


@pytest.fixture
async def watched(services: Services) -> DocumentContainer:
    return await services.container_named(WATCHED)


@pytest.fixture
async def recorder(services: Services) -> Recorder:
    return Recorder(leases=await services.container_named(LEASES))


def new_host(app: func.FunctionApp, services: Services) -> LocalFunctionsHost:
    return LocalFunctionsHost(app, services=services, port=0, max_request_bytes=MAX_BODY)


@pytest.fixture
async def host(recorder: Recorder, services: Services) -> AsyncIterator[LocalFunctionsHost]:
    async with new_host(build_app(recorder), services) as running:
        yield running


@pytest.fixture
async def client(host: LocalFunctionsHost) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=host.base_url, timeout=10) as http:
        yield http


async def write(container: DocumentContainer, *ids: str) -> None:
    for doc_id in ids:
        await container.upsert({"id": doc_id, "name": f"product {doc_id}"})


# ---------------------------------------------------------------------------------------------------------- HTTP


async def test_request_reaches_the_function_with_route_params_query_headers_and_body(
    client: httpx.AsyncClient, host: LocalFunctionsHost
) -> None:
    response = await client.post(
        "/api/echo/42/alice?x=1&x=2&y=z", content=b'{"a": 1}', headers={"X-Test": "from-client", **JSON}
    )

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-echo"] == "yes"
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["url"] == f"{host.base_url}/api/echo/42/alice?x=1&x=2&y=z"
    assert seen["route_params"] == {"id": "42", "name": "alice"}
    assert seen["params"] == {"x": "1,2", "y": "z"}
    assert seen["header"] == "from-client"
    assert seen["body"] == '{"a": 1}'


async def test_optional_segment_may_be_omitted_and_paths_match_case_insensitively(client: httpx.AsyncClient) -> None:
    response = await client.get("/API/Echo/7")

    assert response.status_code == 201
    assert response.json()["route_params"] == {"id": "7"}


async def test_sync_function_answers_with_text_plain_utf8(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/greet/world")

    assert response.status_code == 200
    assert response.text == "hello world"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


async def test_unknown_path_or_failed_constraint_is_a_json_404(client: httpx.AsyncClient) -> None:
    for path in ("/api/nothing-here", "/api/echo/not-a-number", "/api/greet/w0rld", "/echo/1"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"error": "not found"}


async def test_literal_route_wins_over_a_parameter(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/items/latest")).text == "latest"
    assert (await client.get("/api/items/17")).text == "item 17"


async def test_wrong_method_is_a_json_405_with_allow_header(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/readonly", content=b"x")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json() == {"error": "method not allowed", "allowed": ["GET"]}


async def test_function_without_methods_accepts_every_method(client: httpx.AsyncClient) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        assert (await client.request(method, "/api/greet/you")).status_code == 200, method


async def test_exception_is_a_json_500_without_traceback_and_logged_with_its_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="devhost.http_server"):
        response = await client.get("/api/boom")

    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal error"
    assert "Traceback" not in response.text and "secret" not in response.text
    logged = [record for record in caplog.records if body["request_id"] in record.getMessage()]
    assert logged and logged[0].exc_info is not None


async def test_body_over_the_limit_is_a_json_413_naming_the_limit(client: httpx.AsyncClient) -> None:
    at_limit = await client.post("/api/echo/1", content=b"a" * MAX_BODY, headers=JSON)
    too_big = await client.post("/api/echo/1", content=b"a" * (MAX_BODY + 1), headers=JSON)

    assert at_limit.status_code == 201
    assert too_big.status_code == 413
    assert too_big.json()["limit_bytes"] == MAX_BODY
    assert str(MAX_BODY) in too_big.json()["error"]


async def test_chunked_body_is_cut_off_at_the_limit(host: LocalFunctionsHost) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"b" * 512

    async with httpx.AsyncClient(base_url=host.base_url, timeout=10) as http:
        response = await http.post("/api/echo/1", content=chunks(), headers=JSON)

    assert response.status_code == 413
    assert response.json()["limit_bytes"] == MAX_BODY


async def raw_exchange(host: LocalFunctionsHost, head: str, body: bytes = b"") -> tuple[bytes, bytes]:
    """Send ``head``, read the first answer, then send ``body`` and read what follows (a client honouring 100)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
    try:
        writer.write(head.encode())
        await writer.drain()
        first = await asyncio.wait_for(reader.read(4096), timeout=5)
        rest = b""
        if first.startswith(b"HTTP/1.1 100"):
            writer.write(body)
            await writer.drain()
            rest = await asyncio.wait_for(reader.read(4096), timeout=5)
        return first, rest
    finally:
        writer.close()


async def test_expect_100_continue_is_refused_up_front_when_the_body_is_too_large(host: LocalFunctionsHost) -> None:
    head = (
        "POST /api/echo/1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        "Expect: 100-continue\r\nContent-Length: {length}\r\n\r\n"
    )

    refused, _ = await raw_exchange(host, head.format(port=host.port, length=MAX_BODY * 100))
    first, answer = await raw_exchange(host, head.format(port=host.port, length=4), b"body")

    assert refused.startswith(b"HTTP/1.1 413"), refused
    assert b'"limit_bytes": 1024' in refused
    assert first.startswith(b"HTTP/1.1 100 Continue")
    assert answer.startswith(b"HTTP/1.1 201"), answer


async def test_concurrent_requests_are_not_serialised(client: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    responses = await asyncio.gather(*(client.get("/api/slow") for _ in range(20)))
    elapsed = time.perf_counter() - started

    assert [response.text for response in responses] == ["done"] * 20
    assert elapsed < 2.0, f"20 requests sleeping 0.2 s took {elapsed:.2f}s: they ran one after another"


async def test_sync_functions_run_in_a_thread_pool_sized_like_the_worker(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder, services: Services
) -> None:
    monkeypatch.setenv("PYTHON_THREADPOOL_THREAD_COUNT", "20")
    async with new_host(build_app(recorder), services) as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
            started = time.perf_counter()
            responses = await asyncio.gather(*(http.get("/api/slow-sync") for _ in range(20)))
            elapsed = time.perf_counter() - started

    assert all(response.status_code == 200 for response in responses)
    assert elapsed < 2.0, f"20 blocking requests took {elapsed:.2f}s: the thread pool did not run them side by side"


async def test_each_request_is_logged_once_with_method_path_status_and_time(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="devhost.access"):
        await client.get("/api/greet/log?x=1")

    lines = [record.getMessage() for record in caplog.records if record.name == "devhost.access"]
    assert len(lines) == 1
    assert lines[0].startswith("GET /api/greet/log?x=1 200 ") and lines[0].endswith("ms")


async def test_route_prefix_comes_from_host_json(tmp_path: Path, recorder: Recorder, services: Services) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}))
    host = LocalFunctionsHost(build_app(recorder), services=services, port=0, app_dir=tmp_path, run_triggers=False)
    async with host, httpx.AsyncClient(base_url=host.base_url) as http:
        assert (await http.get("/greet/bare")).text == "hello bare"
        assert (await http.get("/api/greet/bare")).status_code == 404


def test_invalid_retry_policy_is_refused_naming_function_and_field(recorder: Recorder, services: Services) -> None:
    retry = {"strategy": "fixed_delay", "max_retry_count": "3", "delay_interval": "5 seconds"}

    with pytest.raises(HostError, match=f"function {FUNCTION}.*delay_interval"):
        new_host(build_app(recorder, retry=retry), services)


# ------------------------------------------------------------------------------------------------------ triggers


async def test_trigger_delivers_every_write_once_in_feed_order_within_the_batch_limit(
    recorder: Recorder, services: Services, watched: DocumentContainer
) -> None:
    ids = [f"p{number:02d}" for number in range(25)]
    async with new_host(build_app(recorder, max_items=7), services) as host:
        await write(watched, *ids[:10])
        await host.wait_until_idle(timeout=10)
        await write(watched, *ids[10:])
        await host.wait_until_idle(timeout=10)
        stats = host.trigger_stats(FUNCTION)

    assert recorder.processed_ids == ids
    assert max(len(batch) for batch in recorder.processed) <= 7
    assert stats.invocations == len(recorder.processed)
    assert stats.documents_delivered == stats.documents_checkpointed == 25
    assert stats.failures == stats.retries == 0


async def test_an_updated_document_is_delivered_again_in_its_latest_version(
    recorder: Recorder, services: Services, watched: DocumentContainer
) -> None:
    async with new_host(build_app(recorder), services) as host:
        await write(watched, "a", "b")
        await host.wait_until_idle(timeout=10)
        await watched.upsert({"id": "a", "name": "renamed"})
        await host.wait_until_idle(timeout=10)

    assert recorder.processed_ids == ["a", "b", "a"]


async def test_failed_batch_is_retried_with_the_same_documents_and_checkpoint_held(
    recorder: Recorder, services: Services, watched: DocumentContainer
) -> None:
    leases = await services.container_named(LEASES)
    async with new_host(build_app(recorder), services) as host:
        await write(watched, "first-1", "first-2")
        await host.wait_until_idle(timeout=10)
        checkpoint_before = (await leases.read(FUNCTION, FUNCTION) or {})["continuation"]

        recorder.fail_next = 3
        await write(watched, "second-1", "second-2")
        await host.wait_until_idle(timeout=10)
        stats = host.trigger_stats(FUNCTION)
    checkpoint_after = (await leases.read(FUNCTION, FUNCTION) or {})["continuation"]

    assert recorder.attempts[1:] == [["second-1", "second-2"]] * 4
    assert recorder.retry_counts[1:] == [0, 1, 2, 3]
    assert recorder.lease_while_failing == [checkpoint_before] * 3
    assert checkpoint_after != checkpoint_before
    assert recorder.processed_ids == ["first-1", "first-2", "second-1", "second-2"]
    assert (stats.failures, stats.retries, stats.invocations) == (3, 3, 5)


async def test_exhausted_retries_log_the_batch_and_move_past_it(
    recorder: Recorder, services: Services, watched: DocumentContainer, caplog: pytest.LogCaptureFixture
) -> None:
    retry = {"strategy": "fixed_delay", "max_retry_count": "2", "delay_interval": "00:00:00.05"}
    recorder.fail_ids = {"poison"}
    with caplog.at_level(logging.ERROR, logger="devhost.changefeed"):
        async with new_host(build_app(recorder, retry=retry), services) as host:
            await write(watched, "poison")
            await host.wait_until_idle(timeout=10)
            await write(watched, "healthy")
            await host.wait_until_idle(timeout=10)
            stats = host.trigger_stats(FUNCTION)

    assert recorder.attempts == [["poison"]] * 3 + [["healthy"]]
    assert recorder.processed_ids == ["healthy"]
    assert stats.batches_abandoned == 1
    assert any("first id poison, last id poison" in record.getMessage() for record in caplog.records)


async def test_wait_until_idle_times_out_while_a_batch_keeps_failing(
    recorder: Recorder, services: Services, watched: DocumentContainer
) -> None:
    recorder.fail_ids = {"always-bad"}
    async with new_host(build_app(recorder), services) as host:
        await write(watched, "always-bad")
        with pytest.raises(TimeoutError):
            await host.wait_until_idle(timeout=0.5)
        assert host.trigger_stats(FUNCTION).retries >= 1


async def test_checkpoint_survives_a_restart_and_changes_made_while_stopped_are_delivered(
    recorder: Recorder, services: Services, watched: DocumentContainer
) -> None:
    app = build_app(recorder)
    async with new_host(app, services) as first:
        await write(watched, "a", "b", "c")
        await first.wait_until_idle(timeout=10)

    await write(watched, "d", "e")

    async with new_host(app, services) as second:
        await second.wait_until_idle(timeout=10)
        stats = second.trigger_stats(FUNCTION)

    assert recorder.processed_ids == ["a", "b", "c", "d", "e"]
    assert stats.documents_delivered == 2


async def test_stop_cancels_an_in_flight_batch_which_is_delivered_again_on_the_next_start(
    recorder: Recorder, services: Services, watched: DocumentContainer
) -> None:
    app = build_app(recorder)
    recorder.block = asyncio.Event()
    async with new_host(app, services):
        await write(watched, "in-flight")
        await asyncio.wait_for(recorder.entered.wait(), timeout=10)
    assert recorder.cancelled == 1
    assert recorder.processed_ids == []

    recorder.block = None
    async with new_host(app, services) as restarted:
        await restarted.wait_until_idle(timeout=10)

    assert recorder.processed_ids == ["in-flight"]


async def test_without_start_from_beginning_the_first_start_reads_from_now_and_later_starts_resume(
    recorder: Recorder, services: Services, watched: DocumentContainer
) -> None:
    app = build_app(recorder, start_from_beginning=False)
    await write(watched, "before-first-start")
    async with new_host(app, services) as first:
        await first.wait_until_idle(timeout=10)
        await write(watched, "while-running")
        await first.wait_until_idle(timeout=10)
    await write(watched, "while-stopped")
    async with new_host(app, services) as second:
        await second.wait_until_idle(timeout=10)

    assert recorder.processed_ids == ["while-running", "while-stopped"]


# --------------------------------------------------------------------------------------------------- catalog run


@dataclass
class _Report:
    written: int
    unchanged: int


async def test_run_loads_the_sample_before_the_triggers_start(
    tmp_path: Path, recorder: Recorder, services: Services, watched: DocumentContainer
) -> None:
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps([{"id": "s1"}, {"id": "s2"}, {"id": "s3"}]))
    leases = await services.container_named(LEASES)
    lease_at_load: list[Any] = []

    async def fake_load_products(given: Services, products: list[dict[str, Any]]) -> _Report:
        lease_at_load.append(await leases.read(FUNCTION, FUNCTION))
        await write(await given.container_named(WATCHED), *(product["id"] for product in products))
        return _Report(written=2, unchanged=1)

    stop = asyncio.Event()
    out = io.StringIO()
    ready: list[LocalFunctionsHost] = []
    running = asyncio.create_task(
        serve(
            build_app(recorder),
            port=0,
            load_sample=True,
            sample_path=sample,
            services=services,
            load_products=fake_load_products,
            stop=stop,
            handle_signals=False,
            on_ready=ready.append,
            out=out,
        )
    )
    for _ in range(200):
        if ready or running.done():
            break
        await asyncio.sleep(0.05)
    assert ready, out.getvalue()
    base_url = ready[0].base_url
    await ready[0].wait_until_idle(timeout=10)
    stop.set()

    assert await running == 0
    assert lease_at_load == [None], "the sample must be written before the trigger's first poll"
    assert sorted(recorder.processed_ids) == ["s1", "s2", "s3"]
    banner = out.getvalue()
    assert "sample catalog: 3 products (2 written, 1 unchanged)" in banner
    assert f"GET,POST  {base_url}/api/echo/{{id:int}}/{{name?}}  (echo)" in banner
    assert f"{FUNCTION}: cosmosDBTrigger on catalog/{WATCHED}" in banner


async def serve_once(app: func.FunctionApp, services: Services, sample: Path) -> str:
    """``catalog run --load-sample`` until the host is ready and the triggers caught up; returns what it printed."""
    stop = asyncio.Event()
    out = io.StringIO()
    ready: list[LocalFunctionsHost] = []
    running = asyncio.create_task(
        serve(
            app,
            port=0,
            load_sample=True,
            sample_path=sample,
            services=services,
            stop=stop,
            handle_signals=False,
            on_ready=ready.append,
            out=out,
        )
    )
    for _ in range(200):
        if ready or running.done():
            break
        await asyncio.sleep(0.05)
    assert ready, out.getvalue()
    await ready[0].wait_until_idle(timeout=10)
    stop.set()
    assert await running == 0
    return out.getvalue()


async def test_the_sample_is_loaded_into_an_empty_store_only_so_edits_and_deletions_survive_a_restart(
    tmp_path: Path, recorder: Recorder, services: Services
) -> None:
    sample = tmp_path / "sample.json"
    products = [
        {"id": f"s{number}", "name": f"Sample {number}", "description": "A sample product.", "price": 5.0}
        for number in (1, 2, 3)
    ]
    sample.write_text(json.dumps(products))
    app = build_app(recorder)

    first = await serve_once(app, services, sample)
    catalog = await services.catalog()
    await catalog.put("s1", {**products[0], "name": "Edited by the user"})
    await catalog.soft_delete("s2")
    second = await serve_once(app, services, sample)

    assert "sample catalog: 3 products (3 written, 0 unchanged)" in first
    assert "sample catalog: store already has 3 products, not loaded" in second
    assert (await catalog.get("s1"))["name"] == "Edited by the user"
    assert (await catalog.get("s2")).get("deleted") is True
    assert (await catalog.get("s3"))["name"] == "Sample 3"


async def test_load_direct_writes_through_the_catalog_and_skips_unchanged_products(services: Services) -> None:
    products = [
        {
            "id": f"d{number}",
            "name": f"Product {number}",
            "category_name": "Tests",
            "description": "A product.",
            "price": 10.0 + number,
        }
        for number in range(5)
    ]
    first, second = io.StringIO(), io.StringIO()

    assert await load_direct(products, 2, services=services, out=first) == 0
    assert await load_direct(products, 2, services=services, out=second) == 0

    assert first.getvalue().strip() == "loaded 5 products into the local store (5 written, 0 unchanged)"
    assert second.getvalue().strip() == "loaded 5 products into the local store (0 written, 5 unchanged)"
    assert await (await services.products()).count() == 5
