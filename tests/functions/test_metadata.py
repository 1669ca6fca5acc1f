"""What the Functions host indexes: every function's bindings, read from the app's own metadata."""

from __future__ import annotations

import json
from typing import Any


def bindings(functions: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return json.loads(functions[name].get_function_json())["bindings"]


def test_the_app_registers_exactly_these_functions(functions: dict[str, Any]) -> None:
    assert set(functions) == {
        "embed_changed_products",
        "product",
        "products_bulk",
        "search",
        "health",
        "chat",
        "chat_session",
        "chat_completions",
        "chat_page",
        "openapi",
    }


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


def test_http_routes_and_methods(functions: dict[str, Any]) -> None:
    expected = {
        "product": ("products/{id}", ["GET", "PUT", "DELETE"]),
        "products_bulk": ("products", ["POST"]),
        "search": ("search", ["GET", "POST"]),
        "health": ("health", ["GET"]),
        "chat": ("chat", ["POST"]),
        "chat_session": ("chat/{session_id}", ["GET", "DELETE"]),
        "chat_completions": ("v1/chat/completions", ["POST"]),
        "chat_page": ("ui", ["GET"]),
        "openapi": ("openapi.json", ["GET"]),
    }
    for name, (route, methods) in expected.items():
        trigger, output = bindings(functions, name)
        assert trigger["type"] == "httpTrigger" and output["type"] == "http"
        assert (trigger["route"], trigger["methods"]) == (route, methods)
    assert bindings(functions, "search")[0]["authLevel"] == "FUNCTION"
    assert bindings(functions, "health")[0]["authLevel"] == "ANONYMOUS"
    assert bindings(functions, "chat_page")[0]["authLevel"] == "ANONYMOUS"
    assert bindings(functions, "chat")[0]["authLevel"] == "FUNCTION"
    assert bindings(functions, "openapi")[0]["authLevel"] == "ANONYMOUS"
