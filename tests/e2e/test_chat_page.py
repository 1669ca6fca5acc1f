"""The web chat page in headless Chromium, against ``make run``'s setup: the sample catalog and the local model."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

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
ANSWER_TIMEOUT_MS = 30_000
#: What a function key handed to the page in its address looks like; it must never travel in a URL again.
KEY = "not-a-real-function-key"


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
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing in CI: make test should have installed it")
        pytest.skip("Debian chromium is not installed (make test installs it when run as root)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


class ChatTraffic:
    """The requests the page itself makes (not the test's navigation) and what it sends to ``/api/chat``."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        self.chat_requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        page.on("request", self._request)

    def _request(self, request: Any) -> None:
        if not request.is_navigation_request():
            self.urls.append(request.url)
        if request.url.endswith("/api/chat") and request.method == "POST":
            self.chat_requests.append((request.headers, json.loads(request.post_data or "{}")))


async def ask(page: Any, question: str) -> Any:
    """Type a question, send it, and wait for the finished turn."""
    turns = page.locator(".turn")
    before = await turns.count()
    await page.fill("#message", question)
    await page.click("#send")
    return await finished_turn(page, before)


async def finished_turn(page: Any, index: int) -> Any:
    turn = page.locator(".turn").nth(index)
    await turn.locator(".answer:not([aria-busy])").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert await turn.locator(".error").count() == 0, await turn.inner_text()
    return turn


async def start_event_session(response: Any) -> str:
    """The session id the server issued in a streamed answer's ``start`` event."""
    text = await response.text()
    start = text.split("event: start\n", 1)[1].split("\n", 1)[0]
    return str(json.loads(start.removeprefix("data: "))["session_id"])


async def test_ask_by_example_read_the_cited_card_then_the_cached_badge(
    sample_host: RunningHost, browser: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    traffic = ChatTraffic(page)
    # A key handed to the page in its address (as on Azure) is taken out of the address bar at once.
    await page.goto(sample_host.base_url + "/api/ui?code=" + KEY)
    assert KEY not in page.url
    await expect(page.get_by_label("Your question")).to_be_visible()

    # The empty page offers example questions; one click asks it.
    chips = page.locator(".example")
    assert await chips.count() >= 3
    chip = page.get_by_role("button", name="something to keep my coffee hot")
    async with page.expect_response(lambda r: r.url.endswith("/api/chat")) as first_response:
        await chip.click()
    first = await finished_turn(page, 0)
    assert await first.locator(".question").inner_text() == "something to keep my coffee hot"
    await expect(page.locator("#welcome")).to_be_hidden()
    citations = first.locator(".citation")
    assert await citations.count() >= 1
    await expect(first.locator(".answer")).to_be_in_viewport()
    await expect(citations.last).to_be_in_viewport()
    # The first question carries no session id (the server makes one) and no user id header.
    headers, body = traffic.chat_requests[0]
    assert body == {"message": "something to keep my coffee hot", "stream": True}
    assert not any(name.lower() in {"x-user-id", "x-ms-client-principal-id"} for name in headers)
    session_id = await start_event_session(await first_response.value)

    # A citation opens a product card in the page: name and price, no JSON and no link.
    citation = citations.nth(0)
    cited_name = (await citation.inner_text()).split("]", 1)[1]
    await citation.click()
    card = page.get_by_role("dialog")
    await expect(card).to_be_visible()
    name = await card.locator("#product-name").inner_text()
    assert name and name in cited_name
    assert (await card.locator("#product-price").inner_text()).startswith("$")
    assert (await card.locator("#product-description").inner_text()).strip()
    assert "{" not in await card.inner_text() and await card.locator("a").count() == 0
    await page.screenshot(path=str(tmp_path / "card.png"))
    await page.keyboard.press("Escape")
    await expect(card).to_be_hidden()
    await expect(citation).to_be_focused()

    # A price-bounded follow-up shows how it was read, and reuses the server's session id.
    bounded = await ask(page, "a tent for two under $300")
    chips_text = await bounded.locator(".understood .chip").all_inner_texts()
    assert "≤ $300" in chips_text, chips_text
    follow_up = {"message": "a tent for two under $300", "stream": True, "session_id": session_id}
    assert traffic.chat_requests[1][1] == follow_up

    # The same question again is served from the cache, and the badge says so (the similarity stays private).
    again = await ask(page, "something to keep my coffee hot")
    await expect(again.locator(".badge")).to_have_text("cached")
    assert await first.locator(".badge").count() == 0
    assert await again.locator(".answer").inner_text() == await first.locator(".answer").inner_text()
    assert "similarity" not in await again.inner_text()

    # With the page longer than the window, the newest answer was scrolled into view.
    assert await page.evaluate("scrollY") > 0
    await expect(again.locator(".answer")).to_be_in_viewport()
    await expect(again.locator(".citation").last).to_be_in_viewport()

    # The footer says once whether a language model writes the answers, as /api/health reports it.
    no_model = sample_host.get("/api/health").json().get("chat", {}).get("language_model") is False
    note = page.locator("#note")
    if no_model:
        await expect(note).to_have_text("Answers are written from the catalog without a language model.")
    else:
        await expect(note).to_be_hidden()
    assert await page.get_by_text("without a language model").count() == (1 if no_model else 0)

    # The footer adds up what this chat used and what the cache saved, as estimates.
    usage = await page.locator("#usage").inner_text()
    assert usage.startswith("This chat: ") and "model tokens, estimated cost $" in usage, usage
    assert "the cache answered 1× and saved " in usage and usage.endswith("(estimates)"), usage

    # No key or token in any URL the page asked for or any link it built.
    assert traffic.urls and not [url for url in traffic.urls if KEY in url or "code=" in url]
    hrefs = await page.eval_on_selector_all("[href], [src]", "nodes => nodes.map(n => n.href || n.src)")
    assert not [href for href in hrefs if KEY in href or "code=" in href]
    await page.screenshot(path=str(tmp_path / "chat.png"))
    await context.close()


async def test_the_page_fits_a_phone(sample_host: RunningHost, browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto(sample_host.base_url + "/")

    async def no_horizontal_scroll() -> None:
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360

    async def tall_enough(locator: Any) -> None:
        for index in range(await locator.count()):
            box = await locator.nth(index).bounding_box()
            assert box and box["height"] >= 40 and box["width"] >= 40, (await locator.nth(index).inner_text(), box)

    await no_horizontal_scroll()
    await tall_enough(page.locator(".example"))
    await tall_enough(page.locator("#send, #reset"))
    message = await page.locator("#message").bounding_box()
    assert message and message["width"] >= 180 and message["height"] >= 40
    send = await page.locator("#send").bounding_box()
    assert send and send["x"] + send["width"] <= 360

    await page.get_by_role("button", name="cheapest headlamp").tap()
    turn = await finished_turn(page, 0)
    await expect(turn.locator(".citation").first).to_be_in_viewport()
    await no_horizontal_scroll()
    await tall_enough(turn.locator(".citation"))
    await page.screenshot(path=str(tmp_path / "phone.png"))
    await context.close()
