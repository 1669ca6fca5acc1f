"""Benchmark 4: chat latency on a semantic-cache hit against a miss, without and with a (simulated) language model.

The local host runs the real ``function_app`` over the 40-product sample catalog embedded by the MiniLM model.
Every question is asked twice through ``POST /api/chat`` by its own user (``X-User-Id``, part of the cache scope):
the first ask is a guaranteed miss (retrieval and the chat model), the second a guaranteed hit (same question, same
scope); each response's ``cached`` flag is checked.

* ``extractive``: the offline default (``CHAT_BACKEND=extractive``): the answer lists the retrieved products;
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

#: The simulated model: 250 ms to the first token, then 60 tokens 20 ms apart (~1.4 s an answer).
FIRST_TOKEN_DELAY_S = 0.25
TOKEN_DELAY_S = 0.02
ANSWER_TOKENS = 60


async def run(options: RunOptions) -> dict[str, Any]:
    data_dir = options.scratch("chat")
    questions = shopper_questions(100, seed=5, things=OUTDOOR_THINGS)
    modes: list[dict[str, Any]] = []
    modes.append(await _run_mode("extractive", questions[: 8 if options.quick else 100], data_dir, {}))
    async with FakeChatCompletions(
        first_token_delay=FIRST_TOKEN_DELAY_S, token_delay=TOKEN_DELAY_S, answer_tokens=ANSWER_TOKENS
    ) as llm:
        settings = {"CHAT_BACKEND": "openai", "OPENAI_BASE_URL": llm.base_url, "CHAT_MODEL": "sim-llm"}
        modes.append(await _run_mode("llm", questions[: 4 if options.quick else 30], data_dir, settings))
        modes[-1]["llm_requests"] = llm.requests
    return {
        "products": len(sample_products()),
        "simulated_llm": {
            "first_token_delay_ms": FIRST_TOKEN_DELAY_S * 1000,
            "token_delay_ms": TOKEN_DELAY_S * 1000,
            "answer_tokens": ANSWER_TOKENS,
        },
        "modes": modes,
    }


async def _run_mode(mode: str, questions: list[str], data_dir: Path, extra: dict[str, str]) -> dict[str, Any]:
    import function_app
    from devhost.host import LocalFunctionsHost

    env = {"EMBEDDING_BACKEND": "local", "LOCAL_DATA_DIR": str(data_dir), **extra}
    services = build_services(load_settings(env))
    set_services(services)
    host = LocalFunctionsHost(function_app.app, services=services, port=0)
    user_header = services.settings.CHAT_USER_HEADER
    miss_ms: list[float] = []
    hit_ms: list[float] = []
    miss_server_ms: list[float] = []
    hit_server_ms: list[float] = []
    wrong = 0
    try:
        await host.start()
        await (await services.catalog()).put_many(sample_products())  # unchanged products cost nothing
        await host.wait_until_idle(timeout=300)
        url = f"{host.base_url}/api/chat"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            await _ask(session, url, "warm-up question about tents", {user_header: f"bench-{mode}-warm-up"})
            for number, question in enumerate(questions):
                headers = {user_header: f"bench-{mode}-{number}"}
                with elapsed_ms(miss_ms):
                    first = await _ask(session, url, question, headers)
                with elapsed_ms(hit_ms):
                    second = await _ask(session, url, question, headers)
                wrong += int(first["cached"] is not False) + int(second["cached"] is not True)
                miss_server_ms.append(float(first["timings"]["total_ms"]))
                hit_server_ms.append(float(second["timings"]["total_ms"]))
    finally:
        await host.stop()
        await services.close()
        set_services(None)
    miss, hit = summarize_ms(miss_ms), summarize_ms(hit_ms)
    return {
        "mode": mode,
        "questions": len(questions),
        "unexpected_cache_outcomes": wrong,
        "miss_ms": miss,
        "hit_ms": hit,
        "miss_server_ms": summarize_ms(miss_server_ms),
        "hit_server_ms": summarize_ms(hit_server_ms),
        "miss_over_hit_p50": ratio(miss.get("p50"), hit.get("p50")),
        "miss_over_hit_p99": ratio(miss.get("p99"), hit.get("p99")),
    }


async def _ask(session: aiohttp.ClientSession, url: str, question: str, headers: dict[str, str]) -> dict[str, Any]:
    async with session.post(url, json={"message": question}, headers=headers) as response:
        body: dict[str, Any] = await response.json()
        if response.status != 200:
            raise RuntimeError(f"POST {url} answered {response.status}: {body}")
        return body


def markdown(result: dict[str, Any]) -> list[str]:
    llm = result["simulated_llm"]
    lines = [
        f"`POST /api/chat` on the local host, {result['products']} sample products, k=5. Each question asked twice "
        "by its own user: first a miss, then a hit. Milliseconds measured by the client (the server's own "
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
    lines += ["", f"Responses whose `cached` flag was not the expected miss-then-hit: {wrong}."]
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
