"""The local host is a web server on a developer's machine: what it refuses before a function runs, and how it cuts
off idle or slow clients. Real HTTP on a loopback port; the app records every call that reaches it."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import azure.functions as func
import httpx
import pytest

from composition.services import Services
from devhost.host import HttpTimeouts, LocalFunctionsHost

JSON = {"Content-Type": "application/json"}
#: Short enough that a test waits a moment, long enough that no well-behaved request is cut off.
TIMEOUTS = HttpTimeouts(idle=0.5, body=0.5)
#: How long a test waits for the host to act; reaching it means the host did not.
PATIENCE = 10


def build_app(calls: list[str]) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="items/{id}", methods=["GET", "PUT", "POST", "DELETE"])
    async def item(req: func.HttpRequest) -> func.HttpResponse:
        calls.append(f"{req.method} {req.get_body().decode()}")
        return func.HttpResponse("written" if req.get_body() else "read")

    return app


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
async def host(calls: list[str], tmp_path: Path) -> AsyncIterator[LocalFunctionsHost]:
    local = LocalFunctionsHost(
        build_app(calls), port=0, app_dir=tmp_path, max_request_bytes=1024, run_triggers=False, timeouts=TIMEOUTS
    )
    async with local:
        yield local


@pytest.fixture
async def client(host: LocalFunctionsHost) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=host.base_url, timeout=PATIENCE) as http:
        yield http


# ------------------------------------------------------------------------------------------------ DNS rebinding


@pytest.mark.parametrize("name", ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example"])
async def test_a_host_header_naming_another_server_is_a_421_and_reaches_no_function(
    client: httpx.AsyncClient, host: LocalFunctionsHost, calls: list[str], name: str
) -> None:
    for method in ("GET", "PUT"):
        response = await client.request(
            method, "/api/items/1", content=b"{}", headers={"Host": f"{name}:{host.port}", **JSON}
        )
        assert response.status_code == 421, response.text
        assert response.json()["field"] == "host" and name in response.json()["error"]
    assert calls == []


async def test_a_loopback_name_with_another_port_is_refused_too(
    client: httpx.AsyncClient, host: LocalFunctionsHost, calls: list[str]
) -> None:
    response = await client.get("/api/items/1", headers={"Host": f"localhost:{host.port + 1}"})

    assert response.status_code == 421 and calls == []


async def test_loopback_names_and_ip_addresses_with_the_port_are_served(
    client: httpx.AsyncClient, host: LocalFunctionsHost
) -> None:
    for name in ("127.0.0.1", "localhost", "LOCALHOST", "[::1]", "192.168.1.20"):
        response = await client.get("/api/items/1", headers={"Host": f"{name}:{host.port}"})
        assert response.status_code == 200, name


# ------------------------------------------------------------------------------------------------ request bodies


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
async def test_a_write_not_declared_json_is_a_415_naming_content_type_and_writes_nothing(
    client: httpx.AsyncClient, calls: list[str], content_type: str | None
) -> None:
    # What a cross-site <form enctype="text/plain"> or fetch(..., {mode: "no-cors"}) sends: no CORS preflight.
    headers = {"Content-Type": content_type} if content_type else {}
    for method in ("POST", "PUT", "DELETE"):
        response = await client.request(method, "/api/items/1", content=b'{"name": "x"}', headers=headers)
        assert response.status_code == 415, (method, response.text)
        assert response.json()["field"] == "content-type"
    assert calls == []


async def test_json_writes_and_bodiless_requests_pass(client: httpx.AsyncClient, calls: list[str]) -> None:
    for content_type in ("application/json", "application/json; charset=utf-8", "application/merge-patch+json"):
        response = await client.put("/api/items/1", content=b"{}", headers={"Content-Type": content_type})
        assert response.status_code == 200, content_type
    assert (await client.delete("/api/items/1")).status_code == 200
    assert (await client.get("/api/items/1")).status_code == 200
    assert calls == ["PUT {}"] * 3 + ["DELETE ", "GET "]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "identity, gzip"])
async def test_a_compressed_body_is_a_415_naming_content_encoding(
    client: httpx.AsyncClient, calls: list[str], encoding: str
) -> None:
    headers = {"Content-Encoding": encoding, **JSON}
    response = await client.put("/api/items/1", content=gzip.compress(b"{}"), headers=headers)

    assert response.status_code == 415
    assert response.json()["field"] == "content-encoding" and encoding.split(", ")[-1] in response.json()["error"]
    assert calls == []


async def test_an_identity_encoded_body_passes(client: httpx.AsyncClient, calls: list[str]) -> None:
    response = await client.put("/api/items/1", content=b"{}", headers={"Content-Encoding": "identity", **JSON})

    assert response.status_code == 200 and calls == ["PUT {}"]


# -------------------------------------------------------------------------------------------------- slow clients


async def open_socket(host: LocalFunctionsHost) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", host.port)


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the host sends until it closes the connection (failing if it never does)."""
    return await asyncio.wait_for(reader.read(), timeout=PATIENCE)


async def test_a_connection_that_sends_nothing_is_closed(host: LocalFunctionsHost) -> None:
    reader, writer = await open_socket(host)
    try:
        assert await read_until_closed(reader) == b""
    finally:
        writer.close()


async def test_headers_that_never_finish_are_cut_off(host: LocalFunctionsHost) -> None:
    reader, writer = await open_socket(host)
    try:
        writer.write(f"GET /api/items/1 HTTP/1.1\r\nHost: 127.0.0.1:{host.port}\r\nX-Slow: ".encode())
        await writer.drain()
        assert await read_until_closed(reader) == b""
    finally:
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_its_answer(host: LocalFunctionsHost) -> None:
    reader, writer = await open_socket(host)
    try:
        writer.write(f"GET /api/items/1 HTTP/1.1\r\nHost: 127.0.0.1:{host.port}\r\n\r\n".encode())
        await writer.drain()
        answer = await read_until_closed(reader)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"read")
    finally:
        writer.close()


async def test_a_body_that_stops_arriving_is_a_408_and_the_connection_closes(
    host: LocalFunctionsHost, calls: list[str]
) -> None:
    reader, writer = await open_socket(host)
    try:
        head = (
            f"PUT /api/items/1 HTTP/1.1\r\nHost: 127.0.0.1:{host.port}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n"
        )
        writer.write(head.encode() + b'{"name": ')
        await writer.drain()
        answer = await read_until_closed(reader)
    finally:
        writer.close()

    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"field": "body"' in answer
    assert calls == []


# ----------------------------------------------------------------------------------------------------- streaming


async def test_the_services_stream_http_bodies_while_the_host_runs(
    calls: list[str], services: Services, tmp_path: Path
) -> None:
    local = LocalFunctionsHost(build_app(calls), services=services, port=0, app_dir=tmp_path, max_request_bytes=1024)

    assert services.http_streaming is False
    async with local:
        assert services.http_streaming is True
    assert services.http_streaming is False


# ------------------------------------------------------------------------------------------------ remote access


def keyed_app(calls: list[str]) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="shop", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    async def shop(req: func.HttpRequest) -> func.HttpResponse:
        calls.append(f"shop from {req.headers.get('X-Forwarded-For')}")
        return func.HttpResponse("open")

    @app.route(route="write", methods=["POST"])
    async def write(req: func.HttpRequest) -> func.HttpResponse:
        calls.append("write")
        return func.HttpResponse("written")

    return app


async def test_a_host_others_can_reach_asks_for_its_key_on_operator_routes_only(calls: list[str], tmp_path: Path):
    local = LocalFunctionsHost(keyed_app(calls), port=0, app_dir=tmp_path, run_triggers=False, admin_key="s3cret")
    async with local, httpx.AsyncClient(base_url=local.base_url, timeout=PATIENCE) as http:
        refused = await http.post("/api/write", json={}, headers={"x-functions-key": "guess"})
        assert refused.status_code == 401 and refused.json()["field"] == "x-functions-key"
        assert (await http.post("/api/write", json={})).status_code == 401
        assert calls == []
        assert (await http.post("/api/write", json={}, headers={"x-functions-key": "s3cret"})).text == "written"
        assert (await http.get("/api/shop")).text == "open"  # shopper routes need no key


async def test_the_peer_address_is_the_last_forwarded_for_entry_whatever_the_client_claims(calls, tmp_path):
    local = LocalFunctionsHost(keyed_app(calls), port=0, app_dir=tmp_path, run_triggers=False)
    async with local, httpx.AsyncClient(base_url=local.base_url, timeout=PATIENCE) as http:
        await http.get("/api/shop", headers={"X-Forwarded-For": "203.0.113.7"})
    assert calls == ["shop from 203.0.113.7, 127.0.0.1"]
