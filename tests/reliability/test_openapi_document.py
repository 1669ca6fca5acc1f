"""``GET /api/openapi.json``: a valid OpenAPI 3.0 document whose bounds are the ones the app enforces."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from blueprints.http import MAX_JSON_DEPTH
from blueprints.openapi import openapi_document
from catalog import model, search
from composition.settings import Settings
from tests.reliability.conftest import ThreadedHost

DEFAULTS = Settings()


@pytest.fixture(scope="module")
def served(live_host: ThreadedHost) -> dict[str, Any]:
    response = httpx.get(f"{live_host.base_url}/api/openapi.json", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


def query(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    [parameter] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    found: dict[str, Any] = parameter["schema"]
    return found


def test_the_served_document_is_valid_openapi_3_0(served: dict[str, Any]) -> None:
    validate(served)
    assert served["openapi"].startswith("3.0.")


def test_the_validator_does_refuse_a_broken_document(served: dict[str, Any]) -> None:
    broken = {**served, "paths": {"/search": {"get": {"responses": "none"}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_the_limits_are_the_settings_defaults_and_the_validators_constants(served: dict[str, Any]) -> None:
    search_input = schema(served, "SearchInput")["properties"]
    [k_number, _] = search_input["k"]["anyOf"]
    assert (k_number["minimum"], k_number["maximum"]) == (1, DEFAULTS.SEARCH_MAX_K)
    assert search_input["k"]["default"] == DEFAULTS.SEARCH_DEFAULT_K
    assert search_input["q"]["maxLength"] == search.MAX_QUERY_LENGTH
    assert search_input["mode"]["default"] == DEFAULTS.SEARCH_MODE
    assert query(served, "/search", "k")["maximum"] == DEFAULTS.SEARCH_MAX_K
    assert query(served, "/search", "q")["maxLength"] == search.MAX_QUERY_LENGTH
    assert query(served, "/search", "category")["maxLength"] == search.MAX_CATEGORY_LENGTH

    chat = schema(served, "ChatInput")["properties"]
    assert chat["message"]["maxLength"] == DEFAULTS.CHAT_MAX_MESSAGE_CHARS
    assert (chat["k"]["maximum"], chat["k"]["default"]) == (DEFAULTS.CHAT_MAX_K, DEFAULTS.CHAT_DEFAULT_K)
    assert schema(served, "ChatCompletionInput")["properties"]["messages"]["maxItems"] == DEFAULTS.CHAT_MAX_MESSAGES
    assert schema(served, "ChatSession")["properties"]["turns"]["maxItems"] == DEFAULTS.CHAT_HISTORY_MAX_TURNS

    product = schema(served, "ProductInput")
    assert product["required"] == ["name", "description"]
    assert product["properties"]["name"]["maxLength"] == model.MAX_NAME_LENGTH
    assert product["properties"]["description"]["maxLength"] == model.MAX_DESCRIPTION_LENGTH
    assert product["properties"]["category_name"]["maxLength"] == model.MAX_CATEGORY_LENGTH
    assert product["properties"]["price"]["minimum"] == 0
    assert schema(served, "ProductId")["maxLength"] == model.MAX_ID_LENGTH
    assert all(product["properties"][name] == {"not": {}, "description": "Written by the service only."}
               for name in model.SERVER_FIELDS)  # fmt: skip

    bulk = served["paths"]["/products"]["post"]["requestBody"]["description"]
    assert f"MAX_BULK_PRODUCTS ({DEFAULTS.MAX_BULK_PRODUCTS})" in bulk
    limits = served["info"]["description"]
    assert f"MAX_REQUEST_BYTES ({DEFAULTS.MAX_REQUEST_BYTES})" in limits and f"{MAX_JSON_DEPTH} levels" in limits


def test_the_document_follows_configured_limits_so_it_cannot_drift() -> None:
    tight = dataclasses.replace(DEFAULTS, SEARCH_MAX_K=7, CHAT_MAX_MESSAGE_CHARS=99, MAX_BULK_PRODUCTS=3)
    document = openapi_document(tight)
    assert schema(document, "SearchInput")["properties"]["k"]["anyOf"][0]["maximum"] == 7
    assert schema(document, "ChatInput")["properties"]["message"]["maxLength"] == 99
    assert "MAX_BULK_PRODUCTS (3)" in document["paths"]["/products"]["post"]["requestBody"]["description"]
    assert openapi_document() == openapi_document(DEFAULTS)


def test_every_error_status_is_described_with_the_json_error_shape(served: dict[str, Any]) -> None:
    responses = served["components"]["responses"]
    for name in ("BadRequest", "NotFound", "PreconditionFailed", "PayloadTooLarge"):
        assert responses[name]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    error = schema(served, "Error")
    assert error["required"] == ["error"] and set(error["properties"]) == {"error", "field"}
    assert "Allow" in responses["MethodNotAllowed"]["headers"]
    statuses = {
        (f"{method.upper()} {path}", status)
        for path, item in served["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
        for status in operation["responses"]
    }
    assert {("PUT /products/{id}", s) for s in ("200", "201", "400", "412", "413", "500")} <= statuses
    assert {("DELETE /products/{id}", s) for s in ("200", "404", "412", "500")} <= statuses
    assert {("POST /products", s) for s in ("200", "400", "413", "500")} <= statuses
    assert all((operation, "500") in statuses for operation, _ in statuses)
    chat_200 = served["paths"]["/chat"]["post"]["responses"]["200"]["content"]
    assert set(chat_200) == {"application/json", "text/event-stream"}
