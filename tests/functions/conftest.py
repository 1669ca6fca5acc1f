"""Function-level tests call the registered handlers directly with real ``func.HttpRequest`` objects."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import azure.functions as func
import pytest

from composition.services import Services, set_services
from tests.app_functions import app_functions


@pytest.fixture(scope="session")
def functions() -> dict[str, Any]:
    """The app's functions by name."""
    return {fn.get_function_name(): fn for fn in app_functions()}


@pytest.fixture
async def app_services(services: Services) -> AsyncIterator[Services]:
    set_services(services)
    yield services
    set_services(None)


@pytest.fixture
def call(functions: dict[str, Any], app_services: Services) -> Callable[..., Any]:
    """Invoke an HTTP function the way the host does: ``await call("search", "GET", "/api/search", params=...)``."""

    async def invoke(
        name: str,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        params: dict[str, str] | None = None,
        route_params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> func.HttpResponse:
        request = func.HttpRequest(
            method, url, headers=headers or {}, params=params or {}, route_params=route_params or {}, body=body
        )
        response: func.HttpResponse = await functions[name].get_user_function()(request)
        return response

    return invoke
