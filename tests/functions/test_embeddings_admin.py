"""The reconcile timer and the operator routes, called as the host calls them (real ``func.TimerRequest`` and
``func.HttpRequest``), and their metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.functions.timer import TimerRequest

from composition.services import Services
from tests.conftest import FeedDriver
from tests.reconcile_support import lose_pending_changes, product, stored, write

Call = Callable[..., Any]


def payload(response: func.HttpResponse) -> Any:
    assert response.mimetype == "application/json"
    return json.loads(response.get_body())


async def reembed(call: Call, body: Any) -> func.HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await call("embeddings_reembed", "POST", "/api/embeddings/reembed", body=raw)


def test_the_timer_and_the_routes_are_declared_as_the_host_reads_them(functions: dict[str, Any]) -> None:
    timer = json.loads(functions["reconcile_embeddings"].get_function_json())["bindings"][0]
    assert {key: timer[key] for key in ("type", "name", "schedule", "runOnStartup")} == {
        "type": "timerTrigger",
        "name": "timer",
        "schedule": "%RECONCILE_SCHEDULE%",
        "runOnStartup": False,
    }
    for name, route, method in [
        ("embeddings_status", "embeddings/status", "GET"),
        ("embeddings_failed", "embeddings/failed", "GET"),
        ("embeddings_reembed", "embeddings/reembed", "POST"),
    ]:
        trigger = json.loads(functions[name].get_function_json())["bindings"][0]
        assert (trigger["route"], trigger["methods"], trigger["authLevel"]) == (route, [method], "ADMIN")


async def test_the_timer_repairs_lost_changes_and_the_status_route_shows_it(
    functions: dict[str, Any], call: Call, app_services: Services
) -> None:
    feed_products = await app_services.products()
    await write(app_services, *(product(n) for n in range(5)))
    await lose_pending_changes(FeedDriver(feed_products, await app_services.embedding_pipeline()))
    before = payload(await call("embeddings_status", "GET", "/api/embeddings/status"))
    assert before["by_status"] == {"embedded": 0, "pending": 5, "failed": 0}
    assert before["oldest_pending"]["id"].startswith("p00") and before["last_reconcile"] is None

    await functions["reconcile_embeddings"].get_user_function()(TimerRequest())

    after = payload(await call("embeddings_status", "GET", "/api/embeddings/status"))
    assert after["by_status"] == {"embedded": 5, "pending": 0, "failed": 0}
    assert after["oldest_pending"] is None
    assert (after["last_reconcile"]["missing"], after["last_reconcile"]["embedded"]) == (5, 5)
    assert after["by_recipe"] == [
        {"model": app_services.embedder.model_id, "dimensions": 64, "embedded": 5, "failed": 0, "current": True}
    ]


async def test_failed_products_page_with_reasons(call: Call, app_services: Services) -> None:
    await write(app_services, *(product(n, description="") for n in range(3)))
    pipeline = await app_services.embedding_pipeline()
    await pipeline.embed_changed_products(list((await stored(app_services)).values()))

    first = await call("embeddings_failed", "GET", "/api/embeddings/failed", params={"limit": "2"})
    body = payload(first)
    assert first.status_code == 200 and [item["id"] for item in body["products"]] == ["p000", "p001"]
    assert body["products"][0]["reason"] == "description is empty" and body["products"][0]["will_retry"] is False
    assert body["products"][0]["dead_letters"][0]["product_id"] == "p000"
    rest = payload(
        await call("embeddings_failed", "GET", "/api/embeddings/failed", params={"continuation": body["continuation"]})
    )
    assert [item["id"] for item in rest["products"]] == ["p002"] and rest["continuation"] is None

    for params, field in [
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"continuation": ""}, "continuation"),
    ]:
        refused = await call("embeddings_failed", "GET", "/api/embeddings/failed", params=params)
        assert refused.status_code == 400 and payload(refused)["field"] == field


async def test_reembed_by_ids_filter_or_all_answers_202_with_counts(call: Call, app_services: Services) -> None:
    await write(app_services, *(product(n) for n in range(3)), product(3, category_name="Cooking"))

    by_id = await reembed(call, {"ids": ["p000", "missing"]})
    assert by_id.status_code == 202
    assert payload(by_id) == {
        "matched": 1,
        "queued": 0,
        "embedded": 1,
        "failed": 0,
        "conflicts": 0,
        "not_found": ["missing"],
        "continuation": None,
    }
    assert (await stored(app_services))["p000"]["embedding_info"]["status"] == "embedded"

    by_filter = payload(await reembed(call, {"filter": {"category": "Cooking"}}))
    assert (by_filter["matched"], by_filter["queued"]) == (1, 1)
    assert (await stored(app_services))["p003"]["embedding_info"]["status"] == "pending"

    everything = payload(await reembed(call, {"all": True}))
    assert (everything["matched"], everything["queued"], everything["continuation"]) == (4, 4, None)


async def test_bad_reembed_requests_are_refused_naming_the_field(call: Call) -> None:
    cases = [
        ({}, "body"),
        ({"ids": ["a"], "all": True}, "body"),
        ({"ids": []}, "ids"),
        ({"ids": ["a"] * 501}, "ids"),
        ({"ids": "a"}, "ids"),
        ({"ids": ["a/b"]}, "ids[0]"),
        ({"filter": {}}, "filter"),
        ({"filter": {"status": "embedded"}}, "filter.status"),
        ({"all": False}, "all"),
        ({"ids": ["a"], "continuation": "p1"}, "continuation"),
    ]
    for body, field in cases:
        response = await reembed(call, body)
        assert response.status_code == 400, body
        answer = payload(response)
        assert answer["field"] == field, (body, answer)
    assert "500" in payload(await reembed(call, {"ids": ["a"] * 501}))["error"]
    not_json = await reembed(call, b"{")
    assert not_json.status_code == 400 and payload(not_json)["field"] == "body"


async def test_during_a_migration_the_timer_fills_the_new_slot_and_the_status_route_shows_both(
    functions: dict[str, Any], call: Call, app_services: Services
) -> None:
    from catalog.migration import SlotModel

    await write(app_services, *(product(n) for n in range(4)))
    await functions["reconcile_embeddings"].get_user_function()(TimerRequest())
    assert payload(await call("embeddings_status", "GET", "/api/embeddings/status"))["migration"] is None

    configured = app_services.configured_model()
    target = SlotModel(
        {**configured.settings, "EMBEDDING_DIMENSIONS": "16"}, configured.model_id, 16, configured.fields
    )
    await (await app_services.migrations()).start(target)
    await app_services.slots(refresh=True)
    filling = payload(await call("embeddings_status", "GET", "/api/embeddings/status"))
    assert (filling["slot"], filling["migration"]["phase"], filling["migration"]["target"]) == ("a", "filling", "b")
    assert [(s["slot"], s["dimensions"], s["by_status"]["pending"]) for s in filling["migration"]["slots"]] == [
        ("a", configured.dimensions, 0),
        ("b", 16, 4),
    ]

    # The timer reconciles every slot kept current: the new one is the migration's backfill.
    await functions["reconcile_embeddings"].get_user_function()(TimerRequest())

    filled = payload(await call("embeddings_status", "GET", "/api/embeddings/status"))
    assert [s["by_status"]["embedded"] for s in filled["migration"]["slots"]] == [4, 4]
    assert filled["by_status"] == {"embedded": 4, "pending": 0, "failed": 0}


def test_the_reconcile_timer_runs_at_start_up_where_the_setting_asks(tmp_path: Any) -> None:
    # Read when the host indexes the app, so each value needs a fresh interpreter.
    import subprocess
    import sys

    from tests.conftest import REPO

    probe = (
        "import json, function_app\n"
        "[fn] = [f for f in function_app.app.get_functions() if f.get_function_name() == 'reconcile_embeddings']\n"
        "print(json.loads(fn.get_function_json())['bindings'][0]['runOnStartup'])\n"
    )
    seen = {}
    for value in ("true", "false", ""):
        env = {"PATH": "/usr/bin:/bin", "RECONCILE_ON_STARTUP": value, "PYTHONPATH": str(REPO)}
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        seen[value] = done.stdout.strip()
    assert seen == {"true": "True", "false": "False", "": "False"}
