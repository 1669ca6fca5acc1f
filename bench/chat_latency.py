"""Benchmark 4: chat latency on a semantic-cache hit against a miss, without and with a (simulated) language model.

The local host runs the real ``function_app`` over the 40-product sample catalog embedded by the MiniLM model.
Each simulated user is one ``aiohttp.ClientSession`` with its own cookie jar, as a browser: its first request gets a
signed visitor cookie (``Set-Cookie: catalog_visitor=...``) and every later one sends it, so the server knows it is
the same caller (the cache scope). Every question is asked twice through ``POST /api/chat`` by its own user, with no
session id (each ask starts a conversation, so no history enters the prompt): the first ask is a guaranteed miss
(retrieval and the chat model), the second a guaranteed hit (same question, same caller); each response's
``cached`` flag is checked, and that no ``cache_score`` is returned. Only questions the catalog answers are asked
(the finder's ``no_match`` is false): a no-match answer is never cached. ``RATE_LIMIT_PER_MINUTE`` is 0: every
simulated user comes from 127.0.0.1, which anonymous callers are limited by.

* ``extractive``: the offline default (``CHAT_BACKEND=extractive``, the answer writer);
* ``llm``: ``CHAT_BACKEND=openai`` against a loopback OpenAI-compatible server streaming word-sized tokens with a
  first-token delay and a per-token delay (:mod:`bench.chat_server`), through the real ``openai`` SDK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from bench.catalog_data import OUTDOOR_THINGS, RunOptions, sample_products, shopper_questions
from bench.chat_server import FakeChatCompletions
from bench.latency import elapsed_ms, ratio, summarize_ms
from composition.services import build_services, set_services
from composition.settings import load_settings

NAME = "chat"
TITLE = "Chat: semantic-cache hit vs miss"

#: A hit must stay at least this many times faster than a miss with the simulated model (p50).
TARGET_LLM_MISS_OVER_HIT = 50.0
#: The simulated model: 250 ms to the first token, then 60 tokens 20 ms apart (~1.4 s an answer).
FIRST_TOKEN_DELAY_S = 0.25
TOKEN_DELAY_S = 0.02
ANSWER_TOKENS = 60


async def run(options: RunOptions) -> dict[str, Any]:
    data_dir = options.scratch("chat")
    questions = shopper_questions(100, seed=5, things=OUTDOOR_THINGS)
    modes: list[dict[str, Any]] = []
    modes.append(await _run_mode("extractive", questions, 8 if options.quick else 100, data_dir, {}))
    async with FakeChatCompletions(
        first_token_delay=FIRST_TOKEN_DELAY_S, token_delay=TOKEN_DELAY_S, answer_tokens=ANSWER_TOKENS
    ) as llm:
        settings = {"CHAT_BACKEND": "openai", "OPENAI_BASE_URL": llm.base_url, "CHAT_MODEL": "sim-llm"}
        modes.append(await _run_mode("llm", questions, 4 if options.quick else 30, data_dir, settings))
        modes[-1]["llm_requests"] = llm.requests
    llm_ratio = modes[-1]["miss_over_hit_p50"]
    return {
        "products": len(sample_products()),
        "simulated_llm": {
            "first_token_delay_ms": FIRST_TOKEN_DELAY_S * 1000,
            "token_delay_ms": TOKEN_DELAY_S * 1000,
            "answer_tokens": ANSWER_TOKENS,
        },
        "modes": modes,
        "target_llm_miss_over_hit": TARGET_LLM_MISS_OVER_HIT,
        "meets_target": llm_ratio is not None and llm_ratio >= TARGET_LLM_MISS_OVER_HIT,
    }


async def _run_mode(
    mode: str, questions: list[str], wanted: int, data_dir: Path, extra: dict[str, str]
) -> dict[str, Any]:
    import function_app
    from devhost.host import LocalFunctionsHost

    env = {"EMBEDDING_BACKEND": "local", "LOCAL_DATA_DIR": str(data_dir), "RATE_LIMIT_PER_MINUTE": "0", **extra}
    services = build_services(load_settings(env))
    set_services(services)
    host = LocalFunctionsHost(function_app.app, services=services, port=0)
    miss_ms: list[float] = []
    hit_ms: list[float] = []
    miss_server_ms: list[float] = []
    hit_server_ms: list[float] = []
    wrong = 0
    cache_scores = 0
    cookies_issued = 0
    try:
        await host.start()
        await (await services.catalog()).put_many(sample_products())  # unchanged products cost nothing
        await host.wait_until_idle(timeout=300)
        finder = await services.finder()
        k = services.settings.CHAT_DEFAULT_K
        answerable = [q for q in questions if not (await finder.find(q, k)).no_match][:wanted]
        url = f"{host.base_url}/api/chat"
        async with _user() as user:
            await _ask(user, url, "warm-up question about tents")
        for question in answerable:
            async with _user() as user:  # one simulated user: its own connection and cookie jar
                await _health(user, host.base_url)  # connection set-up, untimed (sets no cookie)
                with elapsed_ms(miss_ms):
                    first = await _ask(user, url, question)
                cookies_issued += int(len(user.cookie_jar) > 0)
                with elapsed_ms(hit_ms):
                    second = await _ask(user, url, question)
            wrong += int(first["cached"] is not False) + int(second["cached"] is not True)
            cache_scores += int("cache_score" in first) + int("cache_score" in second)
            miss_server_ms.append(float(first["timings"]["total_ms"]))
            hit_server_ms.append(float(second["timings"]["total_ms"]))
    finally:
        await host.stop()
        await services.close()
        set_services(None)
    miss, hit = summarize_ms(miss_ms), summarize_ms(hit_ms)
    return {
        "mode": mode,
        "questions": len(answerable),
        "questions_offered": min(len(questions), max(wanted, len(answerable))),
        "visitor_cookies_issued": cookies_issued,
        "unexpected_cache_outcomes": wrong,
        "cache_score_returned": cache_scores,
        "miss_ms": miss,
        "hit_ms": hit,
        "miss_server_ms": summarize_ms(miss_server_ms),
        "hit_server_ms": summarize_ms(hit_server_ms),
        "miss_over_hit_p50": ratio(miss.get("p50"), hit.get("p50")),
        "miss_over_hit_p99": ratio(miss.get("p99"), hit.get("p99")),
    }


def _user() -> aiohttp.ClientSession:
    """A simulated user: keeps the visitor cookie the server issues (aiohttp keeps cookies of an IP host only when
    ``unsafe``)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=120))


async def _health(session: aiohttp.ClientSession, base_url: str) -> None:
    async with session.get(f"{base_url}/api/health") as response:
        await response.read()


async def _ask(session: aiohttp.ClientSession, url: str, question: str) -> dict[str, Any]:
    async with session.post(url, json={"message": question}) as response:
        body: dict[str, Any] = await response.json()
        if response.status != 200:
            raise RuntimeError(f"POST {url} answered {response.status}: {body}")
        return body


def markdown(result: dict[str, Any]) -> list[str]:
    llm = result["simulated_llm"]
    lines = [
        f"`POST /api/chat` on the local host, {result['products']} sample products, k=5. Each question asked twice "
        "by its own user (one HTTP client with its own cookie jar: the visitor cookie issued on the first answer "
        "names the caller on the second), without a session id: first a miss, then a hit. Only questions the catalog "
        "answers (no-match answers are never cached). Milliseconds measured by the client (the server's own "
        "`timings.total_ms` p50 in brackets). Simulated LLM: "
        f"{llm['first_token_delay_ms']:.0f} ms to the first token, then {llm['answer_tokens']} tokens "
        f"{llm['token_delay_ms']:.0f} ms apart.",
        "",
        "| chat model | questions | miss p50 / p99 | hit p50 / p99 | miss / hit (p50) | miss / hit (p99) |",
        "|---|---|---|---|---|---|",
    ]
    for mode in result["modes"]:
        miss, hit = mode["miss_ms"], mode["hit_ms"]
        lines.append(
            f"| {mode['mode']} | {mode['questions']} | {miss['p50']:.1f} / {miss['p99']:.1f} "
            f"({mode['miss_server_ms']['p50']:.1f}) | {hit['p50']:.1f} / {hit['p99']:.1f} "
            f"({mode['hit_server_ms']['p50']:.1f}) | {_x(mode['miss_over_hit_p50'])} | "
            f"{_x(mode['miss_over_hit_p99'])} |"
        )
    wrong = sum(mode["unexpected_cache_outcomes"] for mode in result["modes"])
    scores = sum(mode.get("cache_score_returned", 0) for mode in result["modes"])
    cookies = sum(mode.get("visitor_cookies_issued", 0) for mode in result["modes"])
    users = sum(mode["questions"] for mode in result["modes"])
    lines += [
        "",
        f"Responses whose `cached` flag was not the expected miss-then-hit: {wrong}; responses carrying "
        f"`cache_score`: {scores}; users who received a visitor cookie on their first answer: {cookies} of {users}.",
    ]
    target = result.get("target_llm_miss_over_hit")
    if target is not None:
        llm = result["modes"][-1]
        lines.append(
            f"Target: with the simulated LLM a hit stays at least {target:.0f}× faster than a miss (p50): "
            + ("**meets** it" if result["meets_target"] else "**misses** it")
            + f" ({_x(llm['miss_over_hit_p50'])})."
        )
    return lines


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}×"


def charts(result: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import numpy as np

    modes = result["modes"]
    x = np.arange(len(modes))
    fig, ax = plt.subplots(figsize=(7, 4))
    for offset, key, label, colour in ((-0.2, "miss_ms", "miss", "tab:red"), (0.2, "hit_ms", "hit", "tab:green")):
        p50 = [mode[key]["p50"] for mode in modes]
        p99 = [mode[key]["p99"] for mode in modes]
        bars = ax.bar(x + offset, p50, 0.4, color=colour, label=f"cache {label} p50")
        ax.scatter(x + offset, p99, marker="_", s=400, color="black", zorder=3, label="p99" if offset > 0 else None)
        ax.bar_label(bars, fmt="%.0f ms", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{mode['mode']} ({_x(mode['miss_over_hit_p50'])} at p50)" for mode in modes])
    ax.set_ylabel("POST /api/chat latency (ms, log scale)")
    ax.set_title("Chat: semantic-cache hit vs miss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "chat_hit_vs_miss.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
