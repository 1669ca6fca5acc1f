"""What the Functions host indexes: every function's bindings, read from the app's own metadata."""

from __future__ import annotations

import json
from typing import Any


def bindings(functions: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return json.loads(functions[name].get_function_json())["bindings"]


#: Routes a shopper (or the page) uses: never behind a key; identity comes from Easy Auth or the visitor cookie.
SHOPPER_ROUTES = {
    "product": ("products/{id}", ["GET"]),
    "search": ("search", ["GET", "POST"]),
    "categories": ("categories", ["GET"]),
    "health": ("health", ["GET"]),
    "chat": ("chat", ["POST"]),
    "chat_session": ("chat/{session_id}", ["GET", "DELETE"]),
    "chat_completions": ("v1/chat/completions", ["POST"]),
    "chat_models": ("v1/models", ["GET"]),
    "chat_page": ("ui", ["GET"]),
    "openapi": ("openapi.json", ["GET"]),
}
#: Routes that write the catalog or operate the pipeline: a key the page never holds (and the operator role).
OPERATOR_ROUTES = {
    "product_write": ("products/{id}", ["PUT", "DELETE"]),
    "products_bulk": ("products", ["POST"]),
    "embeddings_status": ("embeddings/status", ["GET"]),
    "embeddings_failed": ("embeddings/failed", ["GET"]),
    "embeddings_reembed": ("embeddings/reembed", ["POST"]),
    "usage_metrics": ("metrics", ["GET"]),
}


def http_functions(functions: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every HTTP trigger binding, by function name."""
    triggers = {}
    for name in functions:
        first = bindings(functions, name)[0]
        if first["type"] == "httpTrigger":
            triggers[name] = first
    return triggers


def test_the_app_registers_exactly_these_functions(functions: dict[str, Any]) -> None:
    timers = {"reconcile_embeddings", "clean_chat"}
    assert set(functions) == {"embed_changed_products", *timers, *SHOPPER_ROUTES, *OPERATOR_ROUTES}


def test_shopper_routes_need_no_catalog_writing_credential(functions: dict[str, Any]) -> None:
    triggers = http_functions(functions)
    for name, (route, methods) in SHOPPER_ROUTES.items():
        assert (triggers[name]["route"], triggers[name]["methods"]) == (route, methods)
        assert triggers[name]["authLevel"] == "ANONYMOUS", name


def test_every_route_that_writes_needs_an_operator_credential(functions: dict[str, Any]) -> None:
    """A new route that writes (any method but GET) cannot be added without a key: this fails first."""
    triggers = http_functions(functions)
    for name, (route, methods) in OPERATOR_ROUTES.items():
        assert (triggers[name]["route"], triggers[name]["methods"]) == (route, methods)
        assert triggers[name]["authLevel"] in ("FUNCTION", "ADMIN"), name
    writers = {name for name, trigger in triggers.items() if set(trigger["methods"]) - {"GET"}}
    # The shopper routes that take a POST/DELETE write only the caller's own chat, never the catalog.
    assert writers - set(OPERATOR_ROUTES) == {"search", "chat", "chat_session", "chat_completions"}


def test_the_change_feed_trigger_binds_the_products_container_through_app_settings(functions: dict[str, Any]) -> None:
    [trigger] = bindings(functions, "embed_changed_products")
    assert trigger["type"] == "cosmosDBTrigger" and trigger["direction"] == "IN"
    assert trigger["name"] == "documents"
    assert trigger["connection"] == "COSMOS_CONNECTION"
    assert trigger["databaseName"] == "%COSMOS_DATABASE%"
    assert trigger["containerName"] == "%COSMOS_PRODUCTS_CONTAINER%"
    assert trigger["leaseContainerName"] == "%COSMOS_LEASES_CONTAINER%"
    assert trigger["createLeaseContainerIfNotExists"] is False
    assert trigger["startFromBeginning"] is True
    assert trigger["maxItemsPerInvocation"] == 100


def test_the_trigger_retries_forever_with_exponential_backoff(functions: dict[str, Any]) -> None:
    retry = functions["embed_changed_products"].get_settings_dict("retry_policy")
    assert retry["strategy"] == "exponential_backoff"
    assert retry["max_retry_count"] == "-1"
    assert retry["minimum_interval"] == "00:00:02"
