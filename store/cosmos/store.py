"""The Cosmos DB store: one ``CosmosClient`` per store, and the containers opened (and checked) through it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from azure.cosmos.exceptions import CosmosResourceNotFoundError

from store.base import ContainerSpec, DocumentStore, NotFoundError
from store.cosmos.container import CosmosDocumentContainer
from store.cosmos.definitions import definition_for_spec, spec_mismatch
from store.cosmos.provision import ensure_container

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.cosmos.aio import CosmosClient


class CosmosDocumentStore(DocumentStore):
    """The containers of one Cosmos DB database, sharing one ``CosmosClient``.

    Args:
        endpoint: the account endpoint, ``https://<account>.documents.azure.com:443/``.
        database: the database name.
        credential: an account key, or an async token credential (the caller closes it); ``None`` uses
            ``DefaultAzureCredential`` (created on first use, closed by :meth:`close`).
        managed_identity_client_id: the user-assigned managed identity ``DefaultAzureCredential`` should use.
        create_containers: create a missing database or container from its spec (tests and throwaway databases
            only; the app relies on ``python -m composition.cosmos_bootstrap`` or ``azd up``).
        vector_index_type: the vector index of containers this store creates (only with ``create_containers``).
        client_options: further keyword arguments for ``CosmosClient`` (timeouts, preferred regions…).
        on_request_charge: called with the request units of every response (``x-ms-request-charge``: reads,
            writes, query pages, change feed pages, retried attempts alike), inside the call that got it.
    """

    def __init__(
        self,
        endpoint: str,
        database: str,
        *,
        credential: str | AsyncTokenCredential | None = None,
        managed_identity_client_id: str | None = None,
        create_containers: bool = False,
        vector_index_type: str = "quantizedFlat",
        client_options: Mapping[str, Any] | None = None,
        on_request_charge: Callable[[float], None] | None = None,
    ) -> None:
        if not endpoint:
            raise ValueError(
                "the Cosmos DB endpoint is empty; example: "
                "COSMOS_CONNECTION__accountEndpoint=https://myaccount.documents.azure.com:443/"
            )
        if isinstance(credential, str):
            try:
                base64.b64decode(credential.encode("ascii"), validate=True)
            except (UnicodeError, binascii.Error):
                raise ValueError(
                    "the Cosmos DB account key is not base64 (COSMOS_KEY): copy the primary key of the account"
                ) from None
        self.endpoint = endpoint
        self.database_name = database
        self.create_containers = create_containers
        self.vector_index_type = vector_index_type
        self._credential = credential
        self._managed_identity_client_id = managed_identity_client_id
        self._owned_credential: Any = None
        self._client_options = dict(client_options or {})
        self._on_request_charge = on_request_charge
        self._client: CosmosClient | None = None
        self._containers: dict[str, CosmosDocumentContainer] = {}
        self._closed = False

    def client(self) -> CosmosClient:
        """The store's one ``CosmosClient``, created on first use (inside the event loop that will use it).

        Raises:
            RuntimeError: the store is closed.
        """
        if self._closed:
            raise RuntimeError(f"the Cosmos DB store for {self.endpoint} is closed")
        if self._client is None:
            from azure.cosmos.aio import CosmosClient

            credential = self._credential
            if credential is None:
                from azure.identity.aio import DefaultAzureCredential

                credential = self._owned_credential = DefaultAzureCredential(
                    managed_identity_client_id=self._managed_identity_client_id
                )
            options = {"user_agent_suffix": "catalog-search-functions", **self._client_options}
            if self._on_request_charge is not None:
                options["raw_response_hook"] = self._charge_of
            self._client = CosmosClient(self.endpoint, credential=credential, **options)
        return self._client

    def _charge_of(self, response: Any) -> None:
        """azure-core's response hook: hand on the response's request charge, when it has one."""
        header = response.http_response.headers.get("x-ms-request-charge")
        if header is None or self._on_request_charge is None:
            return
        try:
            charge = float(header)
        except ValueError:
            return
        self._on_request_charge(charge)

    async def container(self, spec: ContainerSpec) -> CosmosDocumentContainer:
        """The existing container described by ``spec`` (checked once, then reused).

        Raises:
            NotFoundError: the database or container does not exist (and ``create_containers`` is off).
            ValueError: the container exists with another partition key or vector policy.
            RuntimeError: the store is closed.
        """
        client = self.client()  # first: a closed store opens nothing, not even a container it opened before
        opened = self._containers.get(spec.name)
        if opened is not None and opened.spec == spec:
            return opened
        database = client.get_database_client(self.database_name)
        proxy = database.get_container_client(spec.name)
        try:
            properties = await proxy.read()
        except CosmosResourceNotFoundError:
            if not self.create_containers:
                raise NotFoundError(
                    f"Cosmos DB container {spec.name!r} does not exist in database {self.database_name!r} at "
                    f"{self.endpoint}: create the database and containers with "
                    "`python -m composition.cosmos_bootstrap` (or `azd up`)"
                ) from None
            await ensure_container(client, self.database_name, definition_for_spec(spec, self.vector_index_type))
            properties = await proxy.read()
        problem = spec_mismatch(spec, properties)
        if problem is not None:
            raise ValueError(
                f"Cosmos DB container {spec.name!r} in database {self.database_name!r} cannot be used: {problem}. "
                "Vector and partition key policies cannot change on an existing container: create a new container "
                "with `python -m composition.cosmos_bootstrap` (after setting its name, e.g. "
                "COSMOS_PRODUCTS_CONTAINER) "
                "and re-embed into it, or delete this one and bootstrap again"
            )
        container = CosmosDocumentContainer(spec, proxy)
        self._containers[spec.name] = container
        return container

    async def close(self) -> None:
        """Close the client (and the credential the store created); the store cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._owned_credential is not None:
            await self._owned_credential.close()
            self._owned_credential = None
