"""The local host runs the app's timer triggers on their schedule: the reconcile timer, against the embedded store."""

from __future__ import annotations

import asyncio
import time

import pytest

import function_app
from catalog.reconcile import RECORD_ID
from composition.services import Services, set_services
from devhost.host import LocalFunctionsHost
from tests.app_functions import app_functions
from tests.reconcile_support import product, write


async def test_the_host_fires_the_reconcile_timer_on_its_schedule(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILE_SCHEDULE", "*/1 * * * * *")  # every second
    set_services(services)
    await write(services, product(1), product(2))
    host = LocalFunctionsHost(function_app.app, services=services, port=0, functions=app_functions())
    try:
        await host.start()
        timers = {timer.name: timer for timer in host.timers}
        assert "reconcile_embeddings" in timers
        assert not {name for name, kind in host.skipped_functions if kind == "timerTrigger"}
        reconcile = timers["reconcile_embeddings"]
        leases = await services.container_named(services.settings.COSMOS_LEASES_CONTAINER)
        deadline = time.monotonic() + 10
        while reconcile.stats.runs < 2:
            assert time.monotonic() < deadline, "the reconcile timer did not run twice in 10 s"
            await asyncio.sleep(0.05)
        record = await leases.read(RECORD_ID, RECORD_ID)
        assert record is not None and record["last_report"]["seen"] == 2
        assert reconcile.stats.failures == 0
    finally:
        await host.stop()
        set_services(None)
