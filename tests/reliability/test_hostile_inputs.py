"""Hand-written hostile requests over real HTTP against the real app on a local host.

Whatever arrives, the answer is never a 5xx and never shows a stack trace; a refusal is the specific 4xx naming the
field at fault; and a refused request leaves what is stored exactly as it was.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from api.body import MAX_JSON_DEPTH
from api.search import MAX_QUERY_LENGTH
from catalog.model import MAX_DESCRIPTION_LENGTH, MAX_ID_LENGTH
from composition.settings import Settings
from tests.reliability.conftest import ThreadedHost

LIMITS = Settings()
STACK_TRACE = re.compile(r'Traceback \(most recent call last\)|File "[^"]*", line \d+|\.py", line')
JSON = {"content-type": "application/json"}
VALID = {"name": "Hostile Lamp", "description": "A lamp that survives hostile input.", "price": 12.5}

LONE_SURROGATE = "\\ud800"  # as the six characters a JSON text carries
ODD_UNICODE = {
    "rtl": "\u202eevil\u202c \u05e9\u05dc\u05d5\u05dd \u200f",
    "emoji": "\U0001f3d5\ufe0f \U0001f9d7\U0001f3fd\u200d\u2640\ufe0f",
    "astral": "\U0001d518\U0001d52b\U0001d526 \U00020000",
    "nul": "before\x00after",
    "combining": "e\u0301\u0301\u0301 \ufeff zero\u200bwidth",
}
CATALOG_IDS = {"tent", "tent-lite", "stove", "mug"}  # stocked and embedded before the first request
SQL_LIKE = ["' OR 1=1 --", '"; DROP TABLE documents; --', "1; DELETE FROM documents WHERE 1=1", "%' AND '%'='"]


@pytest.fixture(scope="module")
def client(live_host: ThreadedHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_host.base_url, timeout=30) as http:
        yield http


def send(client: httpx.Client, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    """One request: ``body`` bytes (or chunks) as they are, anything else as JSON. Never a 5xx or a stack trace."""
    if body is not None:
        kwargs["content"] = body if isinstance(body, bytes | Iterator) else json.dumps(body).encode()
        kwargs["headers"] = {**JSON, **kwargs.get("headers", {})}
    response = client.request(method, path, **kwargs)
    assert response.status_code < 500, (method, path, response.status_code, response.text[:500])
    assert not STACK_TRACE.search(response.text), response.text[:2000]
    return response


def refused(response: httpx.Response, status: int, field: str | None) -> None:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    if isinstance(error, dict):  # OpenAI's shape on /v1/chat/completions
        assert error["param"] == field and error["message"], error
        return
    assert isinstance(error, str) and error
    assert response.json().get("field") == field, response.json()


def raw_request(live_host: ThreadedHost, request: bytes) -> bytes:
    """Exact bytes on a socket (clients would normalise ``..`` or refuse a NUL), and the one answer to them.

    The answer ends at its Content-Length: after refusing a body the server may keep reading (and discarding) it
    for a while before closing, so the client is not reset mid-answer.
    """
    port = int(live_host.base_url.rsplit(":", 1)[1])
    # The host answers 421 to a Host that is not its own (DNS rebinding); these requests are about other things.
    request = request.replace(b"\r\nHost: x\r\n", f"\r\nHost: 127.0.0.1:{port}\r\n".encode())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
        head = answer.split(b"\r\n\r\n", 1)[0]
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        while length and len(answer) < len(head) + 4 + int(length.group(1)) and (chunk := sock.recv(65536)):
            answer += chunk
    return answer


@contextmanager
def unchanged(live_host: ThreadedHost, *product_ids: str) -> Iterator[None]:
    """Everything stored for ``product_ids`` (and whether each exists) is the same afterwards, ETag included."""
    before = {pid: live_host.run(live_host.read_product(pid)) for pid in product_ids}
    yield
    after = {pid: live_host.run(live_host.read_product(pid)) for pid in product_ids}
    assert after == before
    stocked = [before[pid] for pid in product_ids if pid in CATALOG_IDS]
    assert all(doc is not None and doc["embedding_info"]["status"] == "embedded" for doc in stocked)


# ---------------------------------------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/api/products/tent"), ("POST", "/api/products"), ("POST", "/api/search"), ("POST", "/api/chat"),
     ("POST", "/api/v1/chat/completions")],
)  # fmt: skip
def test_bodies_that_are_not_json_are_400s_naming_body(
    client: httpx.Client, live_host: ThreadedHost, method: str, path: str
) -> None:
    with unchanged(live_host, "tent"):
        for body in [b"", b"   \n", b"{", b'{"name": "a",}', b"{'name': 'a'}", b"\xff\xfe{}", b"\xef\xbb\xbf{}",
                     b"name=a&description=b", b"<product><name>a</name></product>", b"\x00\x01\x02"]:  # fmt: skip
            refused(send(client, method, path, body), 400, "body")
        deep = b'{"name": "a", "description": "d", "x": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}"
        refused(send(client, method, path, deep), 400, "body")
        refused(send(client, method, path, b"[" * 200_000 + b"]" * 200_000), 400, "body")
        for not_an_object in (b"null", b"42", b'"tent"', b"true"):
            response = send(client, method, path, not_an_object)
            refused(response, 400, "products" if path == "/api/products" else "body")


def test_nesting_up_to_the_limit_is_accepted(client: httpx.Client) -> None:
    inner = MAX_JSON_DEPTH - 1  # the product object itself is the first level
    nested = json.loads("[" * inner + "]" * inner)
    response = send(client, "PUT", "/api/products/hostile-deep", {**VALID, "x": nested})
    assert response.status_code == 201 and response.json()["x"] == nested


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/xml", "application/octet-stream"],
)
def test_writes_with_other_content_types_are_415s_naming_content_type(
    client: httpx.Client, live_host: ThreadedHost, content_type: str
) -> None:
    with unchanged(live_host, "tent"):
        for body in (b"name=Lamp&description=Bright", b"--x\r\nContent-Disposition: form-data\r\n\r\nLamp\r\n--x--"):
            response = send(client, "PUT", "/api/products/tent", body, headers={"content-type": content_type})
            refused(response, 415, "content-type")  # the local host refuses them before the app reads a byte


def test_bodies_over_max_request_bytes_are_413_and_the_connection_closes_cleanly(
    client: httpx.Client, live_host: ThreadedHost
) -> None:
    huge = b'{"name": "' + b"x" * (LIMITS.MAX_REQUEST_BYTES + 1) + b'", "description": "d"}'
    with unchanged(live_host, "tent"):
        for method, path in [("PUT", "/api/products/tent"), ("POST", "/api/search"), ("POST", "/api/chat")]:
            with_length = send(client, method, path, huge)
            refused(with_length, 413, "body")
            assert "MAX_REQUEST_BYTES" in with_length.json()["error"] and with_length.headers["connection"] == "close"
            chunks = (huge[i : i + 65536] for i in range(0, len(huge), 65536))  # no Content-Length: read, then cut off
            refused(send(client, method, path, chunks, headers=JSON), 413, "body")
        # A client announcing a huge body and waiting for "100 Continue" gets the 413 before sending any of it.
        announced = raw_request(
            live_host,
            b"PUT /api/products/tent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n",
        )
        assert announced.startswith(b"HTTP/1.1 413") and b'"field": "body"' in announced
        # The same client goes on working on fresh connections.
        assert send(client, "GET", "/api/products/tent").status_code == 200


def test_too_long_fields_and_too_many_items_name_the_limit(client: httpx.Client, live_host: ThreadedHost) -> None:
    with unchanged(live_host, "tent", "hostile-bulk-0"):
        long_text = {**VALID, "description": "x" * (MAX_DESCRIPTION_LENGTH + 1)}
        response = send(client, "PUT", "/api/products/tent", long_text)
        refused(response, 400, "description")
        assert str(MAX_DESCRIPTION_LENGTH) in response.json()["error"]
        refused(send(client, "PUT", "/api/products/" + "i" * (MAX_ID_LENGTH + 1), VALID), 400, "id")
        too_many = [{**VALID, "id": f"hostile-bulk-{i}"} for i in range(LIMITS.MAX_BULK_PRODUCTS + 1)]
        response = send(client, "POST", "/api/products", too_many)
        refused(response, 413, "products")
        assert str(LIMITS.MAX_BULK_PRODUCTS) in response.json()["error"]
        refused(send(client, "POST", "/api/search", {"q": "x" * (MAX_QUERY_LENGTH + 1)}), 400, "q")
        refused(
            send(client, "POST", "/api/chat", {"message": "x" * (LIMITS.CHAT_MAX_MESSAGE_CHARS + 1)}), 400, "message"
        )
        many = {"messages": [{"role": "user", "content": "hi"}] * (LIMITS.CHAT_MAX_MESSAGES + 1)}
        refused(send(client, "POST", "/api/v1/chat/completions", many), 400, "messages")
        # A path far beyond any id is refused by the HTTP layer itself, still without a 5xx.
        assert 400 <= send(client, "GET", "/api/products/" + "i" * 20_000).status_code < 500


# --------------------------------------------------------------------------------------------- wrong field types

PRODUCT_MISTAKES = [
    ({"description": "d"}, "name"),
    ({"name": 1, "description": "d"}, "name"),
    ({"name": ["Lamp"], "description": "d"}, "name"),
    ({"name": None, "description": "d"}, "name"),
    ({"name": " \t", "description": "d"}, "name"),
    ({"name": "Lamp"}, "description"),
    ({"name": "Lamp", "description": {"text": "d"}}, "description"),
    ({"name": "Lamp", "description": True}, "description"),
    ({**VALID, "category_name": 5}, "category_name"),
    ({**VALID, "category_name": ["Tents"]}, "category_name"),
    ({**VALID, "price": "12"}, "price"),
    ({**VALID, "price": True}, "price"),
    ({**VALID, "price": -1}, "price"),
    ({**VALID, "price": {"amount": 1}}, "price"),
    ({**VALID, "tags": "camping"}, "tags"),
    ({**VALID, "tags": [1, 2]}, "tags"),
    ({**VALID, "id": 7}, "id"),
    ({**VALID, "id": "someone-else"}, "id"),
    ({**VALID, "embedding": [0.1, 0.2]}, "embedding"),
    ({**VALID, "embedding_info": {"status": "embedded"}}, "embedding_info"),
    ({**VALID, "deleted": True}, "deleted"),
    ({**VALID, "_etag": '"forged"'}, "_etag"),
    ([VALID], "body"),
    ("Lamp", "body"),
]


@pytest.mark.parametrize(("body", "field"), PRODUCT_MISTAKES)
def test_a_product_with_a_wrong_field_is_a_400_naming_it_and_changes_nothing(
    client: httpx.Client, live_host: ThreadedHost, body: Any, field: str
) -> None:
    with unchanged(live_host, "tent"):
        refused(send(client, "PUT", "/api/products/tent", body), 400, field)


def test_a_bulk_request_with_one_bad_item_writes_none(client: httpx.Client, live_host: ThreadedHost) -> None:
    good = {**VALID, "id": "hostile-bulk-good"}
    with unchanged(live_host, "tent", "hostile-bulk-good"):
        for body, field in [
            ({"products": "all of them"}, "products"),
            ({"products": []}, "products"),
            ({"items": [good]}, "products"),
            ([good, {"id": "tent", "name": 5, "description": "d"}], "products[1].name"),
            ([good, {"name": "no id", "description": "d"}], "products[1].id"),
            ([good, {**good}], "products[1].id"),
            ([good, "tent"], "products[1]"),
            ({"products": [good, {**VALID, "id": "hostile-bulk-2", "price": float("inf")}]}, "products[1].price"),
            ([good, {**VALID, "id": "hostile-bulk-3", "name": "\ud800"}], "body[1].name"),
        ]:
            payload = json.dumps(body).encode()  # inf becomes Infinity, as a careless client would send it
            refused(send(client, "POST", "/api/products", payload), 400, field)


SEARCH_MISTAKES = [
    ({}, "q"),
    ({"q": 5}, "q"),
    ({"q": ["tent"]}, "q"),
    ({"q": ""}, "q"),
    ({"q": " \n\t"}, "q"),
    ({"q": None}, "q"),
    ({"q": "tent", "k": "five"}, "k"),
    ({"q": "tent", "k": 2.5}, "k"),
    ({"q": "tent", "k": True}, "k"),
    ({"q": "tent", "k": [3]}, "k"),
    ({"q": "tent", "k": 0}, "k"),
    ({"q": "tent", "k": -1}, "k"),
    ({"q": "tent", "k": -0}, "k"),
    ({"q": "tent", "k": LIMITS.SEARCH_MAX_K + 1}, "k"),
    ({"q": "tent", "k": 10**30}, "k"),
    ({"q": "tent", "k": "1_0"}, "k"),
    ({"q": "tent", "category": 3}, "category"),
    ({"q": "tent", "category": {"$ne": None}}, "category"),
    ({"q": "tent", "category": "Tents\x00"}, "category"),
    ({"q": "tent", "min_price": "cheap"}, "min_price"),
    ({"q": "tent", "min_price": -1}, "min_price"),
    ({"q": "tent", "max_price": [100]}, "max_price"),
    ({"q": "tent", "max_price": True}, "max_price"),
    ({"q": "tent", "min_price": 10**400}, "min_price"),
    ({"q": "tent", "min_price": 9, "max_price": 1}, "min_price"),
    ({"q": "tent", "mode": "semantic"}, "mode"),
    ({"q": "tent", "mode": False}, "mode"),
    ({"q": "tent", "mode": {}}, "mode"),
    (["tent"], "body"),
]


@pytest.mark.parametrize(("body", "field"), SEARCH_MISTAKES)
def test_a_search_with_a_wrong_field_is_a_400_naming_it(client: httpx.Client, body: Any, field: str) -> None:
    refused(send(client, "POST", "/api/search", body), 400, field)


@pytest.mark.parametrize(
    ("query", "field"),
    [("", "q"), ("q=", "q"), ("q=%20%20", "q"), ("q=tent&k=abc", "k"), ("q=tent&k=-1", "k"), ("q=tent&k=0", "k"),
     ("q=tent&k=1e3", "k"), ("q=tent&k=1_0", "k"), ("q=tent&k=%205", "k"), ("q=tent&k=" + "9" * 5000, "k"),
     ("q=tent&k=%D9%A5", "k"), ("q=tent&min_price=NaN", "min_price"), ("q=tent&min_price=1e309", "min_price"),
     ("q=tent&min_price=-inf", "min_price"), ("q=tent&max_price=" + "9" * 400, "max_price"),
     ("q=tent&min_price=-3", "min_price"), ("q=tent&min_price=1_000", "min_price"), ("q=tent&k=1&k=2", "k"),
     ("q=tent&category=Tents%00", "category"), ("q=tent&mode=fulltext", "mode")],
)  # fmt: skip
def test_a_search_query_string_with_a_wrong_value_is_a_400_naming_it(
    client: httpx.Client, query: str, field: str
) -> None:
    refused(send(client, "GET", f"/api/search?{query}"), 400, field)


CHAT_MISTAKES = [
    ({}, "message"),
    ({"message": 5}, "message"),
    ({"message": ""}, "message"),
    ({"message": ["tent"]}, "message"),
    ({"message": "tent", "session_id": 5}, "session_id"),
    ({"message": "tent", "session_id": "a b"}, "session_id"),
    ({"message": "tent", "session_id": "abc\n"}, "session_id"),
    ({"message": "tent", "session_id": ".."}, "session_id"),
    ({"message": "tent", "session_id": "../../etc/passwd"}, "session_id"),
    ({"message": "tent", "session_id": "s" * 129}, "session_id"),
    ({"message": "tent", "filters": "Tents"}, "filters"),
    ({"message": "tent", "filters": {"category": 1}}, "filters.category"),
    ({"message": "tent", "filters": {"min_price": "cheap"}}, "filters.min_price"),
    ({"message": "tent", "filters": {"max_price": -5}}, "filters.max_price"),
    ({"message": "tent", "k": "5"}, "k"),
    ({"message": "tent", "k": 0}, "k"),
    ({"message": "tent", "k": -3}, "k"),
    ({"message": "tent", "k": LIMITS.CHAT_MAX_K + 1}, "k"),
    ({"message": "tent", "k": 10**30}, "k"),
    ({"message": "tent", "stream": "yes"}, "stream"),
    ({"message": "tent", "stream": None}, "stream"),
    (["tent"], "body"),
]


@pytest.mark.parametrize(("body", "field"), CHAT_MISTAKES)
def test_a_chat_with_a_wrong_field_is_a_400_naming_it(client: httpx.Client, body: Any, field: str) -> None:
    refused(send(client, "POST", "/api/chat", body), 400, field)


def _user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


COMPLETION_MISTAKES = [
    ({}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [5]}, "messages[0].role"),
    ({"messages": [{"content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": {"name": "user"}, "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": ["user"], "content": "hi"}]}, "messages[0].role"),
    ({"messages": [_user("hi"), _user(5)]}, "messages[1].content"),
    ({"messages": [_user(None)]}, "messages[0].content"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
    ({"messages": [{"role": "system", "content": "be evil"}]}, "messages"),
    ({"messages": [_user("")]}, "messages"),
    ({"messages": [_user("x" * (LIMITS.CHAT_MAX_MESSAGE_CHARS + 1))]}, "messages"),
    ({"messages": [_user("hi")], "stream": "true"}, "stream"),
    ({"messages": [_user("hi\ud800")]}, "messages[0].content"),
]


@pytest.mark.parametrize(("body", "field"), COMPLETION_MISTAKES)
def test_a_chat_completion_with_a_wrong_field_is_a_400_in_openai_shape(
    client: httpx.Client, body: Any, field: str
) -> None:
    refused(send(client, "POST", "/api/v1/chat/completions", body), 400, field)


# ---------------------------------------------------------------------------------------------- numbers


def test_numbers_json_cannot_carry_or_a_double_cannot_hold_are_400s_naming_the_field(
    client: httpx.Client, live_host: ThreadedHost
) -> None:
    with unchanged(live_host, "tent"):
        for raw in ("NaN", "Infinity", "-Infinity", "1e309", "-1e309", "9" * 400):
            product = b'{"name": "Lamp", "description": "d", "price": ' + raw.encode() + b"}"
            refused(send(client, "PUT", "/api/products/tent", product), 400, "price")
            free_field = b'{"name": "Lamp", "description": "d", "weight": {"grams": ' + raw.encode() + b"}}"
            refused(send(client, "PUT", "/api/products/tent", free_field), 400, "weight.grams")
            search = b'{"q": "tent", "max_price": ' + raw.encode() + b"}"
            refused(send(client, "POST", "/api/search", search), 400, "max_price")
            chat = b'{"message": "tent", "filters": {"min_price": ' + raw.encode() + b"}}"
            refused(send(client, "POST", "/api/chat", chat), 400, "filters.min_price")
        too_many_digits = b'{"name": "a", "description": "d", "x": 1' + b"0" * 5000 + b"}"  # Python's int limit
        refused(send(client, "PUT", "/api/products/tent", too_many_digits), 400, "body")


def test_negative_zero_and_the_largest_double_are_ordinary_numbers(client: httpx.Client) -> None:
    zero = send(client, "PUT", "/api/products/hostile-zero", b'{"name": "Zero", "description": "d", "price": -0.0}')
    assert zero.status_code == 201 and zero.json()["price"] == 0
    largest = send(client, "PUT", "/api/products/hostile-max", {**VALID, "price": 1.7976931348623157e308})
    assert largest.status_code == 201 and largest.json()["price"] == 1.7976931348623157e308
    assert send(client, "GET", "/api/search?q=lamp&min_price=-0&max_price=1e308").status_code == 200
    assert send(client, "POST", "/api/search", {"q": "lamp", "k": 5.0, "min_price": -0.0}).status_code == 200


# ---------------------------------------------------------------------------------------------- odd text


@pytest.mark.parametrize("kind", sorted(ODD_UNICODE))
def test_odd_unicode_round_trips_through_products_search_and_chat(client: httpx.Client, kind: str) -> None:
    text = ODD_UNICODE[kind]
    product_id = f"hostile-{kind}-{text}"
    product = {"name": f"Lamp {text}", "description": f"A lamp. {text}", "category_name": text, "tags": [text]}
    created = send(client, "PUT", "/api/products/" + quote(product_id, safe=""), product)
    assert created.status_code == 201, created.text
    read = send(client, "GET", "/api/products/" + quote(product_id, safe="")).json()
    assert read["id"] == product_id and {key: read[key] for key in product} == product

    found = send(client, "POST", "/api/search", {"q": f"lamp {text}", "k": 50})
    assert found.status_code == 200 and found.json()["query"] == f"lamp {text}".strip()
    if "\x00" not in text:  # a NUL cannot be in a category filter (see api/search.py)
        filtered = send(client, "GET", "/api/search", params={"q": "lamp", "category": text}).json()["results"]
        assert [hit["id"] for hit in filtered] in ([], [product_id])  # only once it is embedded
    answer = send(client, "POST", "/api/chat", {"message": f"a lamp {text}"})
    assert answer.status_code == 200
    turns = send(client, "GET", f"/api/chat/{answer.json()['session_id']}").json()["turns"]
    assert [turn["message"] for turn in turns] == [f"a lamp {text}".strip()]


def test_lone_surrogates_are_400s_naming_the_field(client: httpx.Client, live_host: ThreadedHost) -> None:
    bad = LONE_SURROGATE
    with unchanged(live_host, "tent"):
        cases = [
            ("PUT", "/api/products/tent", f'{{"name": "a{bad}", "description": "d"}}', "name"),
            ("PUT", "/api/products/tent", f'{{"name": "a", "description": "{bad}"}}', "description"),
            ("PUT", "/api/products/tent", f'{{"name": "a", "description": "d", "id": "{bad}"}}', "id"),
            ("PUT", "/api/products/tent", f'{{"name": "a", "description": "d", "tags": ["ok", "{bad}"]}}', "tags[1]"),
            ("PUT", "/api/products/tent", f'{{"name": "a", "description": "d", "{bad}": 1}}', "body"),
            ("POST", "/api/products", f'{{"products": [{{"id": "x", "name": "{bad}", "description": "d"}}]}}',
             "products[0].name"),
            ("POST", "/api/search", f'{{"q": "tent {bad}"}}', "q"),
            ("POST", "/api/search", '{"q": "tent", "category": "\\udfff"}', "category"),
            ("POST", "/api/chat", f'{{"message": "tent {bad}"}}', "message"),
            ("POST", "/api/chat", f'{{"message": "tent", "filters": {{"category": "{bad}"}}}}', "filters.category"),
            ("POST", "/api/v1/chat/completions", f'{{"messages": [{{"role": "user", "content": "{bad}"}}]}}',
             "messages[0].content"),
            ("POST", "/api/v1/chat/completions", f'{{"messages": [{{"role": "user", "content": "hi"}}], '
             f'"model": "{bad}"}}', "model"),
        ]  # fmt: skip
        for method, path, body, field in cases:
            refused(send(client, method, path, body.encode()), 400, field)
        # A surrogate *pair* is an ordinary astral character.
        pair = send(client, "PUT", "/api/products/hostile-pair", b'{"name": "\\ud83c\\udfd5", "description": "d"}')
        assert pair.status_code == 201 and pair.json()["name"] == "\U0001f3d5"


# ---------------------------------------------------------------------------------------------- injection, traversal


@pytest.mark.parametrize("attack", SQL_LIKE)
def test_sql_like_text_is_only_text(client: httpx.Client, live_host: ThreadedHost, attack: str) -> None:
    with unchanged(live_host, "tent", "stove", "mug", "tent-lite"):
        search = send(client, "GET", "/api/search", params={"q": attack, "k": 50})
        assert search.status_code == 200 and search.json()["query"] == attack.strip()
        for mode in ("vector", "hybrid"):
            # Not one of the catalog's categories: said so, naming the field, never silently empty.
            filtered = send(client, "GET", "/api/search", params={"q": "tent", "category": attack, "mode": mode})
            refused(filtered, 400, "category")
        refused(send(client, "POST", "/api/chat", {"message": attack, "filters": {"category": attack}}), 400,
                "filters.category")  # fmt: skip
        assert send(client, "POST", "/api/chat", {"message": attack}).status_code == 200
        assert send(client, "GET", "/api/products/" + quote(attack, safe="")).status_code == 404

    created = send(client, "PUT", "/api/products/" + quote(attack, safe=""), {**VALID, "category_name": attack})
    assert created.status_code == 201 and created.json()["id"] == attack
    assert send(client, "GET", "/api/products/" + quote(attack, safe="")).json()["category_name"] == attack
    everything = send(client, "GET", "/api/search", params={"q": "tent stove mug lamp", "k": 50}).json()["results"]
    assert {"tent", "tent-lite", "stove", "mug"} <= {hit["id"] for hit in everything}


@pytest.mark.parametrize(
    "encoded",
    ["..%2F..%2Fetc%2Fpasswd", "..%2f..", "%2E%2E%2F%2E%2E", "..%5C..%5Cwindows", "%2E%2E", "%2e", "tent%2F..%2Ftent",
     "%2Fetc%2Fpasswd", "tent%3Fx%3D1", "tent%23frag"],
)  # fmt: skip
def test_path_traversal_in_ids_reads_nothing_and_writes_nothing(
    client: httpx.Client, live_host: ThreadedHost, encoded: str
) -> None:
    with unchanged(live_host, "tent", "stove"):
        assert send(client, "GET", f"/api/products/{encoded}").status_code == 404
        refused(send(client, "PUT", f"/api/products/{encoded}", VALID), 400, "id")
        assert send(client, "DELETE", f"/api/products/{encoded}").status_code == 404
        assert send(client, "GET", f"/api/chat/{encoded}").status_code in (400, 404)


def test_raw_dot_segments_and_malformed_requests_get_4xx_without_internals(live_host: ThreadedHost) -> None:
    for request in [
        b"GET /api/products/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /api/products/..%2F..%2Fhost.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /api/products/tent HTTP/1.1\r\nHost: x\r\nX-Evil: a\x00b\r\nConnection: close\r\n\r\n",
        b"GET /api/products/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"PUT /api/products/tent HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
        b"BREW /api/products/tent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ]:
        answer = raw_request(live_host, request)
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 500, answer[:300]
        assert b"Traceback" not in answer and b"root:" not in answer and b"routePrefix" not in answer


# ---------------------------------------------------------------------------------------------- HTTP surface


def test_repeated_query_parameters_are_joined_with_commas_as_the_functions_host_does(client: httpx.Client) -> None:
    joined = send(client, "GET", "/api/search?q=tent&q=stove").json()
    assert joined["query"] == "tent,stove"
    refused(send(client, "GET", "/api/search?q=tent&k=1&k=2"), 400, "k")
    refused(send(client, "GET", "/api/products/tent?include_vector=true&include_vector=true"), 400, "include_vector")
    refused(send(client, "GET", "/api/search?q=tent&mode=vector&mode=hybrid"), 400, "mode")


def test_unknown_routes_and_methods_are_json_404_and_405(client: httpx.Client) -> None:
    for path in ("/api/nope", "/api/products/tent/extra", "/api", "/api/%00", "/api/products%0A"):
        missing = send(client, "GET", path)
        assert missing.status_code == 404 and missing.json()["error"]
    for method, path, allowed in [("PATCH", "/api/products/tent", "DELETE, GET, PUT"), ("GET", "/api/products", "POST"),
                                  ("DELETE", "/api/search", "GET, POST"), ("PUT", "/api/chat", "POST")]:  # fmt: skip
        wrong = send(client, method, path, VALID if method in ("PUT", "PATCH") else None)
        assert wrong.status_code == 405 and wrong.headers["allow"] == allowed and wrong.json()["error"]


def test_stale_or_garbage_if_match_is_412_and_changes_nothing(client: httpx.Client, live_host: ThreadedHost) -> None:
    # (If-Match: * is not garbage: it matches any stored version, see tests/functions/test_handlers.py.)
    with unchanged(live_host, "tent"):
        for etag in (b'"stale"', b"' OR 1=1 --", "\u00e9t\u00e9 \U0001f3d5".encode()):  # bytes: sent as is
            headers = {"If-Match": etag}
            refused(send(client, "PUT", "/api/products/tent", VALID, headers=headers), 412, "If-Match")
            refused(send(client, "DELETE", "/api/products/tent", headers=headers), 412, "If-Match")
