"""``python -m devhost reconcile`` and ``python -m devhost embeddings status`` against the configured store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from composition.services import build_services
from composition.settings import load_settings
from devhost.cli import main
from tests.reconcile_support import product


@pytest.fixture
def offline_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"STORE_BACKEND": "local", "EMBEDDING_BACKEND": "deterministic", "LOCAL_DATA_DIR": str(tmp_path / "data")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no local.settings.json here
    return env


def write_products(env: dict[str, str], count: int) -> None:
    async def work() -> None:
        services = build_services(load_settings(env))
        try:
            products = await services.products()
            for number in range(count):
                await products.upsert(product(number))
        finally:
            await services.close()

    asyncio.run(work())


def test_reconcile_embeds_what_no_trigger_saw_and_status_shows_it(
    offline_store: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    write_products(offline_store, 3)

    assert main(["embeddings", "status"]) == 0
    before = capsys.readouterr().out
    assert "3 live products" in before and "0 embedded, 3 pending, 0 failed" in before
    assert "oldest pending: p00" in before and "no reconcile run yet" in before

    assert main(["reconcile"]) == 0
    report = capsys.readouterr().out
    assert "read 3 products" in report and "3 missing" in report and "embedded 3 with 1 embedding requests" in report
    assert "went round the whole catalog" in report

    assert main(["reconcile", "--from-start"]) == 0
    assert "embedded 0 with 0 embedding requests" in capsys.readouterr().out

    assert main(["embeddings", "status"]) == 0
    after = capsys.readouterr().out
    assert "3 embedded, 0 pending, 0 failed" in after and "last reconcile" in after and "0 embedded" in after


def test_a_bad_setting_is_one_line_naming_it(
    offline_store: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECONCILE_MAX_PRODUCTS_PER_RUN", "0")
    assert main(["reconcile"]) == 2
    assert "RECONCILE_MAX_PRODUCTS_PER_RUN" in capsys.readouterr().err
