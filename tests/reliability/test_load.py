"""Load on the real app over real HTTP: 200 searches and 50 two-turn chat sessions, all at once.

Every request must succeed, every search must find products, and every session must keep exactly its own turns, in
order, although the sessions' turns are written concurrently. aiohttp's client sends them: httpx's connection pool
serialises enough of its work at this concurrency to hide the server's behaviour behind its own.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.reliability.conftest import ThreadedHost
from tests.unit.test_chat import CATALOG

pytestmark = pytest.mark.slow

SEARCHES = 200
SESSIONS = 50
QUERIES = ["a tent for backpacking", "boil water for coffee", "keep my coffee hot", "ultralight shelter", "stove"]


@dataclass
class Answer:
    status: int
    body: Any
    seconds: float


async def call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Answer:
    started = time.perf_counter()
    async with http.request(method, url, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return Answer(response.status, body, time.perf_counter() - started)


async def test_200_searches_and_50_chat_sessions_at_once_all_succeed_and_keep_their_turns(
    live_host: ThreadedHost,
) -> None:
    catalog_ids = {product["id"] for product in CATALOG}
    base = live_host.base_url
    connector = aiohttp.TCPConnector(limit=SEARCHES + SESSIONS)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def search(i: int) -> Answer:
            params = {"q": f"{QUERIES[i % len(QUERIES)]} {i}", "k": str(1 + i % 4)}
            if i % 2:
                return await call(http, "POST", f"{base}/api/search", json={**params, "mode": "hybrid"})
            return await call(http, "GET", f"{base}/api/search", params=params)

        async def session(i: int) -> tuple[str, list[str], list[Answer], aiohttp.ClientSession]:
            messages = [f"session {i}: a tent for backpacking", f"session {i}: and a stove to cook on?"]
            # Each its own visitor (its own cookie jar), so no answer comes from another caller's cache entry; the
            # server creates the session on the first turn.
            jar = aiohttp.CookieJar(unsafe=True)  # the host is an IP address, whose cookies aiohttp drops by default
            visitor = aiohttp.ClientSession(
                connector=connector, connector_owner=False, timeout=http.timeout, cookie_jar=jar
            )
            visitors.append(visitor)
            answers = [await call(visitor, "POST", f"{base}/api/chat", json={"message": messages[0]})]
            session_id = answers[0].body["session_id"]
            body = {"message": messages[1], "session_id": session_id}
            answers.append(await call(visitor, "POST", f"{base}/api/chat", json=body))
            return session_id, messages, answers, visitor

        visitors: list[aiohttp.ClientSession] = []
        started = time.perf_counter()
        searches, sessions = await asyncio.gather(
            asyncio.gather(*(search(i) for i in range(SEARCHES))),
            asyncio.gather(*(session(i) for i in range(SESSIONS))),
        )
        elapsed = time.perf_counter() - started

        answers = [*searches, *(answer for _, _, turns, _ in sessions for answer in turns)]
        failed = [(answer.status, str(answer.body)[:200]) for answer in answers if answer.status != 200]
        assert not failed, failed[:5]
        for i, answer in enumerate(searches):
            results = answer.body["results"]
            assert len(results) == 1 + i % 4 and {hit["id"] for hit in results} <= catalog_ids, answer.body
        for session_id, _, turns, _ in sessions:
            assert all(turn.body["session_id"] == session_id and turn.body["citations"] for turn in turns)

        histories = await asyncio.gather(*(call(v, "GET", f"{base}/api/chat/{sid}") for sid, _, _, v in sessions))
        # Another visitor (this client has no cookie of theirs) cannot read a session.
        assert (await call(http, "GET", f"{base}/api/chat/{sessions[0][0]}")).status == 404
        for visitor in visitors:
            await visitor.close()
        for (session_id, messages, turns, _), history in zip(sessions, histories, strict=True):
            assert history.status == 200, history.body
            stored = history.body["turns"]
            assert [turn["message"] for turn in stored] == messages, (session_id, stored)
            assert [turn["answer"] for turn in stored] == [turn.body["answer"] for turn in turns]

    latencies = sorted(answer.seconds for answer in searches)
    print(
        f"\n{SEARCHES} searches + {SESSIONS} two-turn sessions in {elapsed:.2f}s; search p50 "
        f"{latencies[len(latencies) // 2] * 1000:.0f}ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f}ms"
    )
