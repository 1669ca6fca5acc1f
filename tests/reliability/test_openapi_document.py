"""``GET /api/openapi.json``: generated from the models, it documents every route the app registers, with the limits
the app enforces, and what a client builds from it is what the app takes and answers."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from api.limits import ApiLimits
from api.openapi import openapi_document
from catalog import model
from composition.settings import Settings
from devhost.host import read_route_prefix
from tests.app_functions import app_functions
from tests.conftest import REPO
from tests.reliability.conftest import ThreadedHost

DEFAULTS = Settings()


@pytest.fixture(scope="module")
def served(live_host: ThreadedHost) -> dict[str, Any]:
    response = httpx.get(f"{live_host.base_url}/api/openapi.json", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="module")
def client(live_host: ThreadedHost) -> Any:
    with httpx.Client(base_url=f"{live_host.base_url}/api", timeout=30) as http:
        yield http


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


def parameter(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    """A parameter of the operation, or of its path."""
    item = document["paths"][path]
    [found] = [p for p in item.get("parameters", []) + item[method].get("parameters", []) if p["name"] == name]
    return found


def conforms(document: dict[str, Any], instance: Any, ref: dict[str, Any]) -> list[str]:
    """What in ``instance`` breaks the schema ``ref`` points to in ``document`` (refs resolved in the document)."""
    validator = jsonschema.Draft202012Validator({**ref, "components": document["components"]})
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(instance)]


def test_the_served_document_is_valid_openapi_3_1_and_is_the_generated_one(served: dict[str, Any]) -> None:
    validate(served)
    assert served["openapi"].startswith("3.1.")
    assert served == json.loads(json.dumps(openapi_document(ApiLimits.from_settings(DEFAULTS))))


def test_every_http_function_is_documented_with_its_methods_and_auth(served: dict[str, Any]) -> None:
    routes: dict[str, set[str]] = {}
    for function in app_functions():
        trigger = json.loads(function.get_function_json())["bindings"][0]
        if trigger["type"] != "httpTrigger":
            continue
        path = "/" + re.sub(r"\{(\w+)[^}]*\}", r"{\1}", trigger["route"])  # {id:int} is {id} in OpenAPI
        methods = {method.lower() for method in trigger["methods"]}
        routes[path] = routes.get(path, set()) | methods  # GET and PUT/DELETE of one path are two functions
        for method in methods:
            operation = served["paths"][path][method]
            # Anonymous functions say so; the others inherit the document's function-key requirement.
            assert (operation.get("security") == []) == (trigger["authLevel"] == "ANONYMOUS"), (path, method)
            assert {"500", "503"} <= set(operation["responses"]), (path, method)
    documented = {path: set(item) - {"parameters"} for path, item in served["paths"].items()}
    assert documented == routes and len(routes) == 15
    assert served["servers"] == [{"url": "/" + read_route_prefix(REPO / "host.json")}]


def test_the_documented_k_maximum_is_the_setting_and_the_app_enforces_exactly_it(
    served: dict[str, Any], client: httpx.Client
) -> None:
    body_k = schema(served, "SearchInput")["properties"]["k"]
    query_k = parameter(served, "/search", "get", "k")["schema"]
    assert body_k["maximum"] == query_k["maximum"] == DEFAULTS.SEARCH_MAX_K
    assert body_k["default"] == DEFAULTS.SEARCH_DEFAULT_K
    top = client.post("/search", json={"q": "tent", "k": body_k["maximum"]})
    assert top.status_code == 200 and top.json()["k"] == DEFAULTS.SEARCH_MAX_K
    over = client.get("/search", params={"q": "tent", "k": str(query_k["maximum"] + 1)})
    assert over.status_code == 400 and over.json()["field"] == "k"
    assert str(DEFAULTS.SEARCH_MAX_K) in over.json()["error"]

    chat = schema(served, "ChatInput")["properties"]
    assert (chat["k"]["maximum"], chat["k"]["default"]) == (DEFAULTS.CHAT_MAX_K, DEFAULTS.CHAT_DEFAULT_K)
    assert chat["message"]["maxLength"] == DEFAULTS.CHAT_MAX_MESSAGE_CHARS
    wide = client.post("/chat", json={"message": "a tent", "k": chat["k"]["maximum"] + 1})
    assert wide.status_code == 400 and wide.json()["field"] == "k"
    messages = schema(served, "ChatCompletionInput")["properties"]["messages"]
    assert messages["maxItems"] == DEFAULTS.CHAT_MAX_MESSAGES


def test_the_document_follows_configured_limits_so_it_cannot_drift() -> None:
    tight = dataclasses.replace(DEFAULTS, SEARCH_MAX_K=7, CHAT_MAX_MESSAGE_CHARS=99, MAX_BULK_PRODUCTS=3)
    document = openapi_document(ApiLimits.from_settings(tight))
    assert schema(document, "SearchInput")["properties"]["k"]["maximum"] == 7
    assert parameter(document, "/search", "get", "k")["schema"]["maximum"] == 7
    assert schema(document, "ChatInput")["properties"]["message"]["maxLength"] == 99
    [listed, _] = schema(document, "BulkProductsBody")["anyOf"]
    assert listed["maxItems"] == 3 and "MAX_BULK_PRODUCTS (3)" in json.dumps(document["paths"]["/products"])


def test_the_product_rules_are_documented_from_the_constants_that_enforce_them(served: dict[str, Any]) -> None:
    product = schema(served, "ProductInput")
    assert product["required"] == ["name", "description"]
    assert product["properties"]["name"]["maxLength"] == model.MAX_NAME_LENGTH
    assert product["properties"]["description"]["maxLength"] == model.MAX_DESCRIPTION_LENGTH
    assert all(product["properties"][name]["not"] == {} for name in model.SERVER_FIELDS)
    assert parameter(served, "/products/{id}", "put", "If-Match")["in"] == "header"
    assert parameter(served, "/products/{id}", "get", "id")["schema"]["maxLength"] == model.MAX_ID_LENGTH


def _request_bodies(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation["requestBody"]["content"]["application/json"]["schema"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters" and "requestBody" in operation
    ]


def test_every_request_body_has_an_example_the_live_endpoint_accepts(
    served: dict[str, Any], client: httpx.Client
) -> None:
    bodies = _request_bodies(served)
    assert {(path, method) for path, method, _ in bodies} == {
        ("/products/{id}", "put"), ("/products", "post"), ("/search", "post"), ("/chat", "post"),
        ("/v1/chat/completions", "post"), ("/embeddings/reembed", "post"),
    }  # fmt: skip
    for path, method, ref in bodies:
        [example] = schema(served, ref["$ref"].rsplit("/", 1)[1])["examples"]
        assert conforms(served, example, ref) == [], (path, example)
        url = path
        for name in re.findall(r"\{(\w+)\}", path):
            url = url.replace(f"{{{name}}}", parameter(served, path, method, name)["schema"]["examples"][0])
        response = client.request(method, url, json=example)
        assert response.status_code in (200, 201, 202), (path, response.text[:300])
        [status] = {str(response.status_code)} & set(served["paths"][path][method]["responses"])
        documented = served["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        assert conforms(served, response.json(), documented) == [], path


def test_real_errors_match_the_documented_error_schemas(served: dict[str, Any], client: httpx.Client) -> None:
    bad_search = client.post("/search", json={"q": "tent", "filters": 1, "min_price": "cheap"})
    assert bad_search.status_code == 400
    assert conforms(served, bad_search.json(), {"$ref": "#/components/schemas/Error"}) == []
    assert bad_search.json() == {"error": "min_price must be a number", "field": "min_price"}

    missing = client.get("/products/no-such-product")
    assert missing.status_code == 404 and "404" in served["paths"]["/products/{id}"]["get"]["responses"]
    assert conforms(served, missing.json(), {"$ref": "#/components/schemas/Error"}) == []

    operation = served["paths"]["/v1/chat/completions"]["post"]["responses"]["400"]
    bad_completion = client.post("/v1/chat/completions", json={"messages": [{"role": "robot", "content": "hi"}]})
    assert bad_completion.status_code == 400 and bad_completion.json()["error"]["param"] == "messages[0].role"
    assert conforms(served, bad_completion.json(), operation["content"]["application/json"]["schema"]) == []
    # The documented error shape is not so loose that anything conforms.
    assert conforms(served, {"message": "nope"}, {"$ref": "#/components/schemas/Error"}) != []


def test_health_answers_as_documented(served: dict[str, Any], client: httpx.Client) -> None:
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    documented = served["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert conforms(served, health.json(), documented) == []
