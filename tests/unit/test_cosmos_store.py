"""The Cosmos DB store's own behaviour, through the real ``azure.cosmos.aio`` SDK against a Cosmos DB protocol server
on loopback (``tests/integration/cosmos_test_server.py``): point reads, refusals before sending, authentication.

The contract suite (``tests/contract``) covers what every store must do; ``test_cosmos_queries.py`` the exact text
the store sends.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken

from composition.backends import cosmos_store
from composition.settings import load_settings
from store.base import ContainerSpec, VectorSpec
from store.cosmos import CosmosDocumentStore
from tests.integration.cosmos_test_server import (  # noqa: F401 (a fixture)
    EMULATOR_KEY,
    CosmosTestServer,
    cosmos_test_server,
)

PRODUCTS = ContainerSpec("products", "/id", VectorSpec("/embedding", 3))
MESSAGES = ContainerSpec("messages", "/session_id")


@pytest.fixture
async def store(cosmos_test_server: CosmosTestServer) -> AsyncIterator[CosmosDocumentStore]:  # noqa: F811
    """A store over a database of its own, creating containers on first use."""
    database = f"store-{uuid.uuid4().hex[:8]}"
    opened = CosmosDocumentStore(
        cosmos_test_server.endpoint, database, credential=cosmos_test_server.key, create_containers=True
    )
    yield opened
    await opened.close()


# --------------------------------------------------------------------------------------------------------------
# Reads, refusals
# --------------------------------------------------------------------------------------------------------------


async def test_a_point_read_finds_an_item_only_in_its_own_partition(store: CosmosDocumentStore) -> None:
    messages = await store.container(MESSAGES)
    stored = await messages.create({"id": "m1", "session_id": "alice", "text": "hello"})

    assert await messages.read("m1", "alice") == stored
    assert await messages.read("m1", "bob") is None
    assert await messages.read("m2", "alice") is None


async def test_hybrid_search_needs_full_text_paths_before_asking_cosmos_db(store: CosmosDocumentStore) -> None:
    products = await store.container(PRODUCTS)
    with pytest.raises(ValueError, match="full-text paths"):
        await products.hybrid_search([1.0, 0.0, 0.0], "tent", 3)


async def test_a_continuation_from_another_store_is_refused(store: CosmosDocumentStore) -> None:
    products = await store.container(PRODUCTS)
    for foreign in ["42", "not base64!", base64.b64encode(b"[1, 2]").decode()]:
        with pytest.raises(ValueError, match="not issued"):
            await products.read_changes(foreign, 10)
    with pytest.raises(ValueError, match="max_items"):
        await products.read_changes(None, 0)


# --------------------------------------------------------------------------------------------------------------
# The store: settings, credentials, one client
# --------------------------------------------------------------------------------------------------------------


def cosmos_settings(endpoint: str, database: str, **values: str) -> Any:
    return load_settings(
        {
            "STORE_BACKEND": "cosmos",
            "COSMOS_CONNECTION__accountEndpoint": endpoint,
            "COSMOS_DATABASE": database,
            **values,
        }
    )


async def create_database_with(server: CosmosTestServer, spec: ContainerSpec) -> str:
    """A new database holding the container ``spec`` (the app itself never creates containers)."""
    database = f"auth-{uuid.uuid4().hex[:8]}"
    creator = CosmosDocumentStore(server.endpoint, database, credential=server.key, create_containers=True)
    try:
        await creator.container(spec)
    finally:
        await creator.close()
    return database


async def test_key_auth_from_the_settings_works_through_one_client_until_closed(
    cosmos_test_server: CosmosTestServer,  # noqa: F811
) -> None:
    database = await create_database_with(cosmos_test_server, PRODUCTS)
    store = cosmos_store(
        cosmos_settings(cosmos_test_server.endpoint, database, COSMOS_AUTH="key", COSMOS_KEY=cosmos_test_server.key)
    )

    products = await store.container(PRODUCTS)
    stored = await products.upsert({"id": "p1", "name": "Camp Kettle"})
    assert await products.read("p1", "p1") == stored
    assert store.client() is store.client()  # every container shares the store's one client
    await store.close()

    with pytest.raises(RuntimeError, match="closed"):
        await store.container(PRODUCTS)


class TokenEndpoint:
    """An App Service managed-identity endpoint on loopback (``IDENTITY_ENDPOINT``): hands out tokens, records who
    asked for which resource, and counts the connections its callers hold open."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.open_connections = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so a connection stays open until its client closes it

            def setup(self) -> None:
                super().setup()
                with endpoint._lock:
                    endpoint.open_connections += 1

            def finish(self) -> None:
                super().finish()
                with endpoint._lock:
                    endpoint.open_connections -= 1

            def do_GET(self) -> None:  # noqa: N802 (the http.server name)
                query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
                endpoint.requests.append({"query": query, "secret": self.headers.get("X-IDENTITY-HEADER")})
                body = json.dumps(
                    {
                        "access_token": "token-from-the-managed-identity",
                        "expires_on": str(int(time.time()) + 3600),
                        "resource": query.get("resource"),
                        "token_type": "Bearer",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server signature)
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/msi/token"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_until_no_connection_is_open(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.open_connections and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.open_connections == 0

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def managed_identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenEndpoint]:
    """The environment of an Azure Functions app with a managed identity, whose token endpoint is on loopback."""
    endpoint = TokenEndpoint()
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_USERNAME",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_TOKEN_CREDENTIALS",
        "IDENTITY_SERVER_THUMBPRINT",
        "IMDS_ENDPOINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.url)
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header-secret")
    yield endpoint
    endpoint.stop()


async def test_identity_auth_uses_the_apps_managed_identity_and_releases_it_on_close(
    cosmos_test_server: CosmosTestServer,  # noqa: F811
    managed_identity: TokenEndpoint,
) -> None:
    database = await create_database_with(cosmos_test_server, PRODUCTS)
    client_id = "00000000-0000-0000-0000-000000000001"
    store = cosmos_store(cosmos_settings(cosmos_test_server.endpoint, database, AZURE_CLIENT_ID=client_id))

    products = await store.container(PRODUCTS)
    await products.upsert({"id": "p1", "name": "Camp Kettle"})

    assert managed_identity.requests, "the store never asked the managed identity for a token"
    asked = managed_identity.requests[0]
    assert asked["query"]["client_id"] == client_id  # the user-assigned identity AZURE_CLIENT_ID names
    assert asked["query"]["resource"].startswith("https://")
    assert asked["secret"] == "identity-header-secret"
    assert managed_identity.open_connections > 0
    await store.close()
    assert managed_identity.wait_until_no_connection_is_open(), "the store left the identity's connection open"


class CountingCredential:
    """A caller's own token credential (the ``AsyncTokenCredential`` protocol): counts tokens and closes."""

    def __init__(self) -> None:
        self.scopes: list[str] = []
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes += scopes
        return AccessToken("token-from-the-caller", int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> CountingCredential:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.close()


async def test_a_credential_the_caller_passes_is_used_and_left_for_the_caller_to_close(
    cosmos_test_server: CosmosTestServer,  # noqa: F811
) -> None:
    database = await create_database_with(cosmos_test_server, PRODUCTS)
    credential = CountingCredential()
    store = CosmosDocumentStore(cosmos_test_server.endpoint, database, credential=credential)  # type: ignore[arg-type]

    await (await store.container(PRODUCTS)).upsert({"id": "p1"})
    await store.close()

    assert credential.scopes and all(scope.endswith("/.default") for scope in credential.scopes)
    assert not credential.closed


def test_a_store_needs_an_endpoint_and_a_real_key() -> None:
    with pytest.raises(ValueError, match="COSMOS_CONNECTION__accountEndpoint"):
        CosmosDocumentStore("", "catalog")
    with pytest.raises(ValueError, match="COSMOS_KEY"):
        CosmosDocumentStore("https://a.documents.azure.com:443/", "catalog", credential="not a key!")
    assert CosmosDocumentStore("https://a.documents.azure.com:443/", "catalog", credential=EMULATOR_KEY)


def test_build_store_chooses_cosmos() -> None:
    from composition.backends import build_store

    settings = load_settings(
        {
            "STORE_BACKEND": "cosmos",
            "COSMOS_CONNECTION__accountEndpoint": "https://myaccount.documents.azure.com:443/",
            "COSMOS_VECTOR_INDEX_TYPE": "diskANN",
        }
    )
    store = build_store(settings)
    assert isinstance(store, CosmosDocumentStore)
    assert store.vector_index_type == "diskANN" and not store.create_containers
