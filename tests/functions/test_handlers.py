"""The registered handlers, called as the host calls them: real ``func.HttpRequest`` and ``func.DocumentList``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pytest

from composition.services import Services, set_services
from store.base import ContainerSpec, DocumentContainer, DocumentStore

Call = Callable[..., Any]


def product_body(**extra: Any) -> bytes:
    body = {"name": "Trail Mug", "description": "Insulated steel mug keeps coffee hot.", "price": 19.5}
    return json.dumps({**body, **extra}).encode()


def payload(response: func.HttpResponse) -> Any:
    assert response.mimetype == "application/json"
    return json.loads(response.get_body())


async def put(call: Call, product_id: str, body: bytes, **kwargs: Any) -> func.HttpResponse:
    return await call(
        "product_write", "PUT", f"/api/products/{product_id}", body=body, route_params={"id": product_id}, **kwargs
    )


async def get(call: Call, product_id: str, **kwargs: Any) -> func.HttpResponse:
    return await call("product", "GET", f"/api/products/{product_id}", route_params={"id": product_id}, **kwargs)


async def run_trigger(functions: dict[str, Any], services: Services) -> None:
    """Deliver the whole change feed to the trigger function as the host would."""
    products = await services.products()
    batch = await products.read_changes(None, 1000)
    documents = func.DocumentList([func.Document.from_dict(doc) for doc in batch.documents])
    await functions["embed_changed_products"].get_user_function()(documents)


async def test_put_creates_then_replaces_and_returns_etag(call: Call) -> None:
    created = await put(call, "mug", product_body())
    assert created.status_code == 201
    first = payload(created)
    assert first["outcome"] == "created" and first["embedding_status"] == "pending"
    assert created.headers["ETag"] == first["_etag"]

    updated = await put(call, "mug", product_body(price=21.0))
    assert updated.status_code == 200 and payload(updated)["outcome"] == "updated"
    same = await put(call, "mug", product_body(price=21.0))
    assert payload(same)["outcome"] == "unchanged" and same.headers["ETag"] == updated.headers["ETag"]


async def test_if_match_gives_clients_optimistic_concurrency(call: Call) -> None:
    etag = (await put(call, "mug", product_body())).headers["ETag"]
    await put(call, "mug", product_body(price=1.0))
    stale = await put(call, "mug", product_body(price=2.0), headers={"If-Match": etag})
    assert stale.status_code == 412 and payload(stale)["field"] == "If-Match"
    assert payload(await get(call, "mug"))["price"] == 1.0
    assert (await put(call, "mug", product_body(price=3.0), headers={"If-Match": "*"})).status_code == 200
    assert (await put(call, "new", product_body(), headers={"If-Match": "*"})).status_code == 412  # must exist


async def test_trigger_embeds_and_get_shows_the_status(call: Call, functions: dict[str, Any], app_services) -> None:
    await put(call, "mug", product_body())
    await run_trigger(functions, app_services)

    shown = payload(await get(call, "mug"))
    assert shown["embedding_status"] == "embedded"
    assert "embedding" not in shown and shown["embedding_info"]["model"] == app_services.embedder.model_id
    with_vector = payload(await get(call, "mug", params={"include_vector": "true"}))
    assert len(with_vector["embedding"]) == app_services.embedder.dimensions

    # A client write that changes the description makes the status pending again until the feed catches up.
    await put(call, "mug", product_body(description="A folding camp chair."))
    assert payload(await get(call, "mug"))["embedding_status"] == "pending"


async def test_search_finds_embedded_products_with_filters(call: Call, functions, app_services) -> None:
    await put(call, "mug", product_body())
    await put(call, "tent", product_body(name="Dome Tent", description="Two person tent for camping.", price=150))
    await put(call, "stove", product_body(name="Stove", description="Camping stove boils coffee fast.", price=60))
    await run_trigger(functions, app_services)

    found = payload(await call("search", "GET", "/api/search", params={"q": "hot coffee mug", "k": "2"}))
    assert [hit["id"] for hit in found["results"]][0] == "mug"
    assert len(found["results"]) == 2 and "embedding" not in found["results"][0]
    assert set(found["timings"]) == {"embed_ms", "search_ms"}

    cheap = payload(
        await call("search", "POST", "/api/search", body=json.dumps({"q": "camping", "max_price": 100}).encode())
    )
    assert {hit["id"] for hit in cheap["results"]} == {"mug", "stove"}


async def test_delete_is_soft_and_removes_the_product_from_search(call: Call, functions, app_services) -> None:
    await put(call, "mug", product_body())
    await run_trigger(functions, app_services)
    deleted = await call("product_write", "DELETE", "/api/products/mug", route_params={"id": "mug"})
    assert deleted.status_code == 200 and payload(deleted)["deleted"] is True
    assert payload(await get(call, "mug"))["deleted"] is True  # still readable
    found = payload(await call("search", "GET", "/api/search", params={"q": "coffee mug"}))
    assert found["results"] == []
    missing = await call("product_write", "DELETE", "/api/products/nope", route_params={"id": "nope"})
    assert missing.status_code == 404


async def test_bulk_post_writes_all_or_names_the_bad_item(call: Call) -> None:
    items = [{"id": f"p{i}", "name": f"Item {i}", "description": f"Item {i} description"} for i in range(3)]
    ok = await call("products_bulk", "POST", "/api/products", body=json.dumps(items).encode())
    assert ok.status_code == 200 and payload(ok)["created"] == 3

    bad = [*items, {"id": "p9", "name": "No description"}]
    refused = await call("products_bulk", "POST", "/api/products", body=json.dumps({"products": bad}).encode())
    assert refused.status_code == 400
    assert payload(refused)["field"] == "products[3].description"
    assert (await get(call, "p9")).status_code == 404  # nothing of a refused bulk request is written


async def test_bad_input_gets_a_specific_4xx_naming_the_field(call: Call, app_services: Services) -> None:
    cases = [
        (await put(call, "x", b"{not json"), 400, "body"),
        (await put(call, "x", b""), 400, "body"),
        (await put(call, "x", b"\xff\xfe"), 400, "body"),
        (await put(call, "x", product_body(price="free")), 400, "price"),
        (await put(call, "x", b"[" * 100 + b"]" * 100), 400, "body"),
        (await get(call, "missing"), 404, "id"),
        (await call("search", "GET", "/api/search", params={}), 400, "q"),
        (await call("search", "GET", "/api/search", params={"q": "tent", "k": "0"}), 400, "k"),
        (await call("search", "GET", "/api/search", params={"q": "tent", "k": "ten"}), 400, "k"),
        (
            await call("search", "GET", "/api/search", params={"q": "a", "min_price": "9", "max_price": "1"}),
            400,
            "min_price",
        ),
        (await call("search", "GET", "/api/search", params={"q": "x" * 1001}), 400, "q"),
        (await call("search", "POST", "/api/search", body=b"[1, 2]"), 400, "body"),
    ]
    for response, status, field in cases:
        assert response.status_code == status, payload(response)
        assert payload(response)["field"] == field

    limit = app_services.settings.MAX_BULK_PRODUCTS
    too_many = [{"id": f"p{i}", "name": "n", "description": "d"} for i in range(limit + 1)]
    response = await call("products_bulk", "POST", "/api/products", body=json.dumps(too_many).encode())
    assert response.status_code == 413 and str(limit) in payload(response)["error"]
    huge = await put(call, "x", b'{"name": "' + b"a" * app_services.settings.MAX_REQUEST_BYTES + b'"}')
    assert huge.status_code == 413


async def test_an_unexpected_failure_is_a_bare_500_without_a_stack_trace(call: Call, app_services: Services) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals at /srv/app.py line 42")

    app_services.catalog = broken  # type: ignore[method-assign]
    response = await get(call, "mug")
    assert response.status_code == 500
    body = payload(response)
    assert body["error"] == "internal error" and body["request_id"]
    assert "secret" not in response.get_body().decode() and "Traceback" not in response.get_body().decode()


async def test_health_names_the_backends(call: Call) -> None:
    response = await call("health", "GET", "/api/health")
    body = payload(response)
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["store"] == "local" and body["embedding"]["backend"] == "deterministic"


class UnreachableContainer(DocumentContainer):
    """Every call fails, as a container behind a dropped network or a failed disk does."""

    def __init__(self, spec: ContainerSpec) -> None:
        self.spec = spec

    async def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("secret internals: no route to 10.0.0.7")

    read = create = upsert = replace = patch = delete = query = vector_search = read_changes = _fail


class UnreachableStore(DocumentStore):
    async def container(self, spec: ContainerSpec) -> DocumentContainer:
        return UnreachableContainer(spec)


async def test_health_is_503_degraded_when_the_store_cannot_be_read(
    functions: dict[str, Any], services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = Services(
        settings=services.settings, store=UnreachableStore(), embedder=services.embedder, chat_model=services.chat_model
    )
    set_services(unreachable)
    try:
        request = func.HttpRequest("GET", "/api/health", headers={}, params={}, route_params={}, body=b"")
        with caplog.at_level(logging.ERROR, logger="blueprints.health"):
            response = await functions["health"].get_user_function()(request)
        read = func.HttpRequest("GET", "/api/products/x", headers={}, params={}, route_params={"id": "x"}, body=b"")
        product = await functions["product"].get_user_function()(read)
    finally:
        set_services(None)
    assert response.status_code == 503
    body = payload(response)
    assert body["status"] == "degraded" and "store" in body["reason"]
    assert "secret" not in response.get_body().decode()
    assert "10.0.0.7" in caplog.text  # the details are in the log
    assert product.status_code == 500  # what the health check foretold


async def test_a_misconfigured_app_answers_503_and_logs_one_line_naming_the_setting(
    functions: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_services(None)
    monkeypatch.setenv("STORE_BACKEND", "mongo")
    request = func.HttpRequest("GET", "/api/health", headers={}, params={}, route_params={}, body=b"")
    with caplog.at_level(logging.ERROR, logger="blueprints.http"):
        response = await functions["health"].get_user_function()(request)
    assert response.status_code == 503
    assert "STORE_BACKEND" not in response.get_body().decode()
    [record] = [r for r in caplog.records if r.name == "blueprints.http"]
    assert "STORE_BACKEND" in record.getMessage() and record.exc_info is None
