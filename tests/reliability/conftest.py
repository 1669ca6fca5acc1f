"""The real app on an in-process local host, run on its own event-loop thread.

The host runs on a thread of its own so that synchronous clients (schemathesis calls through ``requests``) and the
tests' own event loops can both reach it over real HTTP, as a separate process would, while the services stay
reachable for reading the store directly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import function_app
from composition.services import Services, build_services, set_services
from composition.settings import load_settings
from devhost.host import LocalFunctionsHost
from tests.app_functions import app_functions
from tests.unit.test_chat import CATALOG

_T = TypeVar("_T")


class ThreadedHost:
    """The app served by :class:`LocalFunctionsHost` on a private event loop in a daemon thread.

    Args:
        data_dir: the embedded store's folder.
        products: stored (and embedded) before the first request.
    """

    def __init__(self, data_dir: Path, products: list[dict[str, Any]]) -> None:
        self.data_dir = data_dir
        self.products = products
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="reliability-host", daemon=True)
        self.services: Services | None = None
        self.host: LocalFunctionsHost | None = None

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 60) -> _T:
        """Run ``coroutine`` on the host's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @property
    def base_url(self) -> str:
        assert self.host is not None
        return self.host.base_url

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        env = {
            "STORE_BACKEND": "local",
            "EMBEDDING_BACKEND": "deterministic",
            "LOCAL_DATA_DIR": str(self.data_dir),
            "RATE_LIMIT_PER_MINUTE": "0",
        }  # these suites send hundreds of requests; the limit has its own tests
        self.services = build_services(load_settings(env))
        set_services(self.services)
        await (await self.services.catalog()).put_many(self.products)
        self.host = LocalFunctionsHost(
            function_app.app, services=self.services, port=0, functions=app_functions(), home_route="ui"
        )
        await self.host.start()
        await self.host.wait_until_idle(timeout=30)

    async def read_product(self, product_id: str) -> dict[str, Any] | None:
        """The stored document, straight from the store (not through the API under test)."""
        assert self.services is not None
        return await (await self.services.products()).read(product_id, product_id)

    def stop(self) -> None:
        try:
            self.run(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()

    async def _stop(self) -> None:
        if self.host is not None:
            await self.host.stop()
        if self.services is not None:
            await self.services.close()
        set_services(None)
        # What asyncio.run() would do: e.g. aiohttp still draining a refused body from a client that left.
        leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)


@pytest.fixture(scope="module")
def live_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedHost]:
    """The real app, stocked with the chat tests' four products (embedded), on a free loopback port."""
    host = ThreadedHost(tmp_path_factory.mktemp("reliability") / "data", CATALOG)
    host.start()
    yield host
    host.stop()
