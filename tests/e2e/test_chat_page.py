"""The web chat page in headless Chromium, against ``make run``'s setup: the sample catalog and the local model."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e.hosting import REPO, RunningHost, host_env, start_host, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.model]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def sample_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    data = tmp_path_factory.mktemp("sample")
    host = start_host(REPO, "--load-sample", env=host_env(LOCAL_DATA_DIR=str(data)))
    wait_for(
        lambda: host.get("/api/health").json()["pipeline"]["embedded"] >= 40,
        timeout=120,
        message="the sample catalog embedded",
    )
    yield host
    assert host.stop() == 0


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing in CI: make test should have installed it")
        pytest.skip("Debian chromium is not installed (make test installs it when run as root)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1000, "height": 800})
        yield await context.new_page()
        await browser.close()


async def test_ask_see_cited_answer_then_the_cached_badge(sample_host: RunningHost, page, tmp_path: Path) -> None:
    await page.goto(sample_host.base_url + "/")
    assert page.url.endswith("/api/ui")

    question = "something to keep my coffee hot on a cold morning"
    await page.fill("#message", question)
    await page.click("#send")
    first = page.locator(".turn").nth(0)
    await first.locator(".meta").wait_for(timeout=30_000)
    answer = await first.locator(".answer").inner_text()
    assert "No language model is configured" in answer and "[1]" in answer
    links = first.locator(".citations a")
    assert await links.count() >= 1
    assert "/api/products/nw-" in (await links.nth(0).get_attribute("href") or "")
    assert await first.locator(".badge").count() == 0
    assert "ms" in await first.locator(".latency").inner_text()

    await page.fill("#message", question)
    await page.click("#send")
    second = page.locator(".turn").nth(1)
    await second.locator(".meta").wait_for(timeout=30_000)
    assert await second.locator(".badge").inner_text() == "cached"
    assert await second.locator(".answer").inner_text() == answer
    await page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
