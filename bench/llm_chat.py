"""The chat with a real language model on this machine, through the product's HTTP API.

``python -m bench.llm_chat`` (``make bench-llm``; skips, saying why, until ``python -m llm setup`` has run) starts the
llama.cpp server, a prompt recorder in front of it (which products was the model shown?) and ``python -m devhost run``
per catalog, then asks 30 labelled questions (half sample shop, half Cosmic Works when ``../shared/data`` has it), each
twice as the same caller (its cookie jar kept), streaming. It measures time to first token, tokens/s and answer
latency of the misses, cache hit vs miss latency, and the share of answers citing a correct product
(``evaluation.metrics.is_relevant``), naming a product the model was not shown (target 0), and saying "no" where the
catalog has nothing. Writes ``docs/bench/llm.json`` and ``llm.md`` (``--out``; partial runs go to ``.data/bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.latency import ratio, summarize_ms
from bench.machine import REPO, machine_info
from bench.subprocess_host import HostProcess, app_env, free_port, wait_until_answering
from evaluation.metrics import GROUPS, Question, has_constraint, is_relevant, load_questions, within_price
from llm.answer_audit import audit_answer
from llm.options import LlmOptions
from llm.packaged_model import DEFAULT_MODEL
from llm.prompt_recorder import PromptRecorder
from llm.provision import find_prepared
from llm.server_install import server_requirement

NAME = "llm_chat"
TITLE = "Chat with a real local language model (llama.cpp, CPU)"
FULL_OUT_DIR = REPO / "docs" / "bench"
PARTIAL_OUT_DIR = REPO / ".data" / "bench"
QUESTIONS = 30
#: Each catalog's products and labelled questions (Cosmic Works only where ../shared/data has it). The product is
#: reached over HTTP only, so this module does not build catalogs in-process as ``evaluation.catalogs`` does.
CATALOG_FILES = {
    "sample_shop": REPO / "devhost" / "sample_products.json",
    "cosmic_works": REPO.parent / "shared" / "data" / "cosmic-works-products.json",
}
QUESTION_FILES = {name: REPO / "evaluation" / "data" / f"retrieval_{name}.json" for name in CATALOG_FILES}


@dataclass
class Asked:
    """One streamed ``POST /api/chat``: timings in ms and the ``done`` body."""

    ttft_ms: float | None
    total_ms: float
    writing_ms: float
    tokens: int
    done: dict[str, Any] = field(default_factory=dict)


async def ask(session: aiohttp.ClientSession, base_url: str, message: str) -> Asked:
    """Ask one question, streaming (the first ``token`` event is the first token); an error raises RuntimeError."""
    started = time.perf_counter()
    first: float | None = None
    done: dict[str, Any] = {}
    tokens = 0
    async with session.post(f"{base_url}/api/chat", json={"message": message, "stream": True}) as response:
        if response.status != 200:
            raise RuntimeError(f"/api/chat answered {response.status}: {(await response.text())[:500]}")
        event = ""
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "token" and data.get("text"):
                    first = first or time.perf_counter()
                    tokens += 1
                elif event == "done":
                    done = data
                elif event == "error":
                    raise RuntimeError(f"/api/chat streamed an error: {data}")
    ended = time.perf_counter()
    ttft_ms = (first - started) * 1000 if first else None
    return Asked(ttft_ms, (ended - started) * 1000, (ended - first) * 1000 if first else 0.0, tokens, done)


def pick_questions(path: Path, count: int) -> list[Question]:
    """``count`` questions taken round-robin over the groups (file order within a group): every group is asked."""
    by_group: dict[str, list[Question]] = defaultdict(list)
    for question in load_questions(path):
        by_group[question.group].append(question)
    picked: list[Question] = []
    while len(picked) < count and any(by_group.values()):
        for group in GROUPS:
            if by_group.get(group) and len(picked) < count:
                picked.append(by_group[group].pop(0))
    return picked


def spawn_product(data_dir: Path, log_path: Path, llm_base_url: str, served_name: str, *, sample: bool) -> HostProcess:
    """``python -m devhost run`` answering with the model at ``llm_base_url`` (``--load-sample`` for the shop)."""
    port = free_port()
    chat = {"CHAT_BACKEND": "openai", "OPENAI_BASE_URL": llm_base_url, "CHAT_MODEL": served_name}
    env = app_env(data_dir, **chat, OPENAI_TIMEOUT_SECONDS="600")
    command = [sys.executable, "-m", "devhost", "run", "--port", str(port), *(["--load-sample"] if sample else [])]
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
    return HostProcess(process, f"http://127.0.0.1:{port}", started, log_path)


async def load_and_wait(base_url: str, products: list[dict[str, Any]], *, post: bool, timeout: float = 600) -> None:
    """POST ``products`` in chunks of 100 (unless the host loaded them itself) and wait until all are embedded."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        for start in range(0, len(products) if post else 0, 100):
            async with session.post(f"{base_url}/api/products", json=products[start : start + 100]) as response:
                if response.status >= 300:
                    raise RuntimeError(f"loading products: {response.status} {(await response.text())[:300]}")
        waiting = {str(p["id"]) for p in products}
        deadline = time.monotonic() + timeout
        while waiting:
            for product_id in list(waiting):
                async with session.get(f"{base_url}/api/products/{product_id}") as response:
                    if response.status == 200 and (await response.json()).get("embedding_status") == "embedded":
                        waiting.discard(product_id)
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"{len(waiting)} products still not embedded after {timeout:.0f} s")
            await asyncio.sleep(0.5 if waiting else 0)


async def run_catalog(
    name: str, questions: list[Question], recorder: PromptRecorder, served_name: str, work: Path
) -> list[dict[str, Any]]:
    """Ask each question twice (miss, then the same caller again) against a fresh host holding ``name``."""
    products = json.loads(CATALOG_FILES[name].read_text(encoding="utf-8"))
    by_id = {str(p["id"]): p for p in products}
    names = [str(p["name"]) for p in products if p.get("name")]
    host = spawn_product(
        work / name, work / f"{name}-host.log", recorder.base_url, served_name, sample=name == "sample_shop"
    )
    records = []
    try:
        await wait_until_answering(host)
        await load_and_wait(host.base_url, products, post=name != "sample_shop")
        print(f"{name}: {len(products)} products embedded; asking {len(questions)} questions", file=sys.stderr)
        for question in questions:
            # One client per caller: the API binds caches to a verified caller, the signed visitor cookie its first
            # answer sets; the jar keeps it for the second ask (unsafe=True: aiohttp drops cookies of IP hosts).
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900), cookie_jar=jar) as session:
                since = time.monotonic()
                miss = await ask(session, host.base_url, question.question)
                prompts = recorder.answer_prompts(since)
                hit = await ask(session, host.base_url, question.question)
            shown = prompts[-1].products if prompts else []
            answer = str(miss.done.get("answer", ""))
            audit = audit_answer(answer, shown, names)
            citations = miss.done.get("citations") or []
            record: dict[str, Any] = {
                "catalog": name, "id": question.id, "group": question.group, "question": question.question,
                "no_answer": bool(question.label.get("no_answer")), "answer": answer,
                "shown_ids": [p.id for p in shown], "cited_ids": [str(c["id"]) for c in citations],
                "cited_numbers": audit.cited_numbers, "dangling_numbers": audit.dangling_numbers,
                "unshown_names": audit.unshown_names, "mismatched_numbers": audit.mismatched_numbers,
                "says_no": audit.says_no, "miss": _timings(miss), "repeat": _timings(hit),
                "repeat_cached": bool(hit.done.get("cached")), "first_cached": bool(miss.done.get("cached")),
                "repeat_same_answer": hit.done.get("answer") == answer, "usage": miss.done.get("usage"),
            }  # fmt: skip
            records.append({**record, **score_record(record, question.label, by_id)})
            print(f"  {question.id} {record['miss']['total_ms'] / 1000:.1f}s {answer[:100]!r}", file=sys.stderr)
    finally:
        host.stop()
    return records


def score_record(record: dict[str, Any], label: Mapping[str, Any], by_id: dict[str, Any]) -> dict[str, Any]:
    """The label-based scores of one answer: a correct product cited (and shown), the first cited product honouring
    the question's price bound or superlative, and whether the model simply took the top-ranked product."""
    cited = [by_id.get(i, {"id": i}) for i in record["cited_ids"]]
    constraint = None
    if has_constraint(label):
        constraint = bool(cited) and within_price(label, cited[0])
        if constraint and label.get("sort"):
            constraint = cited[0].get("id") in label["product_ids"]
    return {
        "cites_correct": any(is_relevant(label, product) for product in cited),
        "shown_correct": any(is_relevant(label, by_id.get(i, {})) for i in record["shown_ids"]),
        "constraint_ok": constraint,
        "first_cited_is_top": bool(cited) and bool(record["shown_ids"]) and cited[0]["id"] == record["shown_ids"][0],
    }


def rescore(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with the label-based scores and the summary computed again from its recorded answers."""
    labels = {q.id: q.label for name in CATALOG_FILES for q in load_questions(QUESTION_FILES[name])}
    by_id = {str(p["id"]): p for path in CATALOG_FILES.values() if path.is_file() for p in json.loads(path.read_text())}
    records = [{**r, **score_record(r, labels[r["id"]], by_id)} for r in result["records"]]
    rescored = time.strftime("%Y-%m-%d", time.gmtime())
    return {**result, "records": records, "summary": summarize(records), "rescored": rescored}


def _timings(asked: Asked) -> dict[str, Any]:
    usage = asked.done.get("usage") or {}
    tokens = int(usage.get("completion_tokens") or 0)
    return {
        "ttft_ms": round(asked.ttft_ms, 1) if asked.ttft_ms is not None else None,
        "total_ms": round(asked.total_ms, 1),
        "tokens_per_s": round(tokens / (asked.writing_ms / 1000), 2) if tokens and asked.writing_ms > 0 else None,
        "token_events": asked.tokens,
        "server_timings": asked.done.get("timings"),
    }


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in records if not r["no_answer"]]
    unanswerable = [r for r in records if r["no_answer"]]
    misses = [r for r in records if not r["first_cached"]]
    hits = [r for r in records if r["repeat_cached"]]
    miss_ms = summarize_ms([r["miss"]["total_ms"] for r in misses])
    hit_ms = summarize_ms([r["repeat"]["total_ms"] for r in hits])
    # fmt: off
    return {
        "questions": len(records),
        "ttft_ms": summarize_ms([r["miss"]["ttft_ms"] for r in misses if r["miss"]["ttft_ms"] is not None]),
        "answer_ms": miss_ms,
        "tokens_per_s": summarize_ms([r["miss"]["tokens_per_s"] for r in misses if r["miss"]["tokens_per_s"]]),
        "completion_tokens": summarize_ms([float((r["usage"] or {}).get("completion_tokens") or 0) for r in misses]),
        "prompt_tokens": summarize_ms([float((r["usage"] or {}).get("prompt_tokens") or 0) for r in misses]),
        "cache": {"repeats": len(records), "served_from_cache": len(hits), "miss_p50_ms": miss_ms.get("p50"),
                  "hit_p50_ms": hit_ms.get("p50"), "hit_p95_ms": hit_ms.get("p95"),
                  "speed_up_p50": ratio(miss_ms.get("p50"), hit_ms.get("p50")),
                  "same_answer": sum(r["repeat_same_answer"] for r in hits)},
        "quality": {
            "answerable": len(answerable),
            "cites_correct": _share(r["cites_correct"] for r in answerable),
            "correct_was_shown": _share(r["shown_correct"] for r in answerable),
            "constrained": sum(r["constraint_ok"] is not None for r in records),
            "constraint_ok": _share(r["constraint_ok"] for r in records if r["constraint_ok"] is not None),
            "first_cited_is_top": _share(r["first_cited_is_top"] for r in answerable),
            "cites_by_number": _share(bool(r["cited_numbers"]) for r in records),
            "mentions_unshown": _share(bool(r["unshown_names"] or r["dangling_numbers"]) for r in records),
            "number_name_mismatch": _share(bool(r["mismatched_numbers"]) for r in records),
            "no_answer": len(unanswerable),
            "says_no_on_no_answer": _share(r["says_no"] for r in unanswerable),
            "says_no_on_answerable": _share(r["says_no"] for r in answerable),
        },
    }
    # fmt: on


def _share(values: Any) -> float | None:
    flags = [bool(v) for v in values]
    return round(sum(flags) / len(flags), 3) if flags else None


async def run(count: int, options: LlmOptions) -> dict[str, Any] | str:
    """The whole benchmark; a string (why it skipped) when the model or the server is not set up."""
    prepared, reason = find_prepared(options)
    if prepared is None:
        return reason
    catalogs = [name for name in ("sample_shop", "cosmic_works") if CATALOG_FILES[name].is_file()]
    per = {name: count // len(catalogs) + (1 if i < count % len(catalogs) else 0) for i, name in enumerate(catalogs)}
    load_start = round(os.getloadavg()[0], 2)
    server = prepared.server(options, log_name="bench-server.log")
    records: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-llm-") as folder,
        server,
        PromptRecorder(server.config.base_url) as recorder,
    ):
        for name in catalogs:
            questions = pick_questions(QUESTION_FILES[name], per[name])
            records += await run_catalog(name, questions, recorder, prepared.served_name, Path(folder))
        perf = server.perf_timings()
    requirement, _ = server_requirement()
    machine = {**machine_info(), "llm_threads": options.threads, "llm_context_tokens": options.context_tokens}
    # The machine may be shared: the load says how much of the 2 cores the model had.
    machine["load_average_1m"] = {"start": load_start, "end": round(os.getloadavg()[0], 2)}
    packaged = options.model_override is None
    # fmt: off
    return {
        "machine": machine, "server": requirement,
        "model": {"file": prepared.model.name, "served_name": prepared.served_name, "packaged": packaged,
                  "upstream": DEFAULT_MODEL.upstream if packaged else None,
                  "sha256": DEFAULT_MODEL.sha256 if packaged else None},
        "catalogs": per, "summary": summarize(records), "server_perf": perf, "records": records,
    }
    # fmt: on


def markdown(result: dict[str, Any]) -> list[str]:
    """The report: machine, speed, cache, answer quality, then one row per question."""
    s, m, model = result["summary"], result["machine"], result["model"]
    q, cache, perf = s["quality"], s["cache"], result["server_perf"]
    lines = [
        f"# {TITLE}",
        "",
        f"`python -m bench.llm_chat` on {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, Python "
        f"{m['python']}, {m['date']} (commit {m['git_commit']}{', dirty tree' if m['git_dirty'] else ''}; 1-minute "
        f"load average {m['load_average_1m']['start']} at the start, {m['load_average_1m']['end']} at the end). "
        f"Server `{result['server']}` ({m['llm_threads']} threads, context {m['llm_context_tokens']}); model "
        f"`{model['file']}` ({model['upstream'] or 'LOCAL_LLM_MODEL'}). {s['questions']} questions "
        f"({', '.join(f'{n} {k}' for k, n in result['catalogs'].items())}), each asked twice by the same caller "
        "through `POST /api/chat` with `stream: true`; the first ask is a cache miss."
        + (f" Answers scored again (`--rescore`) on {result['rescored']}." if result.get("rescored") else ""),
        "",
        "| measure | p50 | p95 |",
        "|---|---:|---:|",
        f"| time to first token (ms) | {_cell(s['ttft_ms'], 'p50')} | {_cell(s['ttft_ms'], 'p95')} |",
        f"| answer latency, miss (ms) | {_cell(s['answer_ms'], 'p50')} | {_cell(s['answer_ms'], 'p95')} |",
        f"| tokens/s while writing (product's view) | {_cell(s['tokens_per_s'], 'p50')} | – |",
        f"| prompt tokens | {_cell(s['prompt_tokens'], 'p50')} | {_cell(s['prompt_tokens'], 'p95')} |",
        f"| completion tokens | {_cell(s['completion_tokens'], 'p50')} | {_cell(s['completion_tokens'], 'p95')} |",
        "",
        f"llama.cpp's own timings (server log, {perf['requests_timed']} requests): prompt read at "
        f"{perf['prompt_tokens_per_s_p50']} tokens/s, generation at {perf['generation_tokens_per_s_p50']} tokens/s "
        "(medians; the prompt's unchanged prefix is reused between requests and not counted).",
        "",
        f"**Cache:** {cache['served_from_cache']} of {cache['repeats']} repeats served from the cache "
        f"({cache['same_answer']} with the identical answer); miss p50 {cache['miss_p50_ms']} ms vs hit p50 "
        f"{cache['hit_p50_ms']} ms (p95 {cache['hit_p95_ms']} ms): **{cache['speed_up_p50']}×**.",
        "",
        "| answer quality | share |",
        "|---|---:|",
        f"| answerable questions whose answer cites a correct product (n={q['answerable']}) | {q['cites_correct']} |",
        f"| … for which retrieval showed the model a correct product | {q['correct_was_shown']} |",
        f"| price-bound / superlative questions whose first cited product honours it (n={q['constrained']}) "
        f"| {q['constraint_ok']} |",
        f"| answerable questions whose first cited product is the top-ranked one shown | {q['first_cited_is_top']} |",
        f"| answers citing by `[n]` | {q['cites_by_number']} |",
        f"| answers naming or pointing at a product the model was not shown (target 0) | {q['mentions_unshown']} |",
        f"| answers whose `[n]` sits beside another shown product's name | {q['number_name_mismatch']} |",
        f'| no-answer questions answered with a "no" (n={q["no_answer"]}; heuristic) | {q["says_no_on_no_answer"]} |',
        f"| answerable questions whose answer opens with a negation (heuristic) | {q['says_no_on_answerable']} |",
        "",
        '"Cites a correct product": a cited product satisfies the question\'s label '
        "(`evaluation.metrics.is_relevant`). "
        '"Not shown": a `[n]` past the products in the prompt, or a catalog product name in the answer that is not in '
        'the prompt (the prompt is recorded between the product and the server). "No": a negation or apology in '
        "the first two sentences; read the answers in `llm.json`.",
        "",
        "| question | group | miss s | cited | correct | not shown | [n] beside another name | says no "
        "| repeat cached |",
        "|---|---|---:|---|:-:|---|---|:-:|:-:|",
    ]
    for r in result["records"]:
        unshown = ", ".join(r["unshown_names"] + [f"[{n}]" for n in r["dangling_numbers"]]) or "–"
        lines.append(
            f"| {r['id']} {r['question'][:60]} | {r['group']} | {r['miss']['total_ms'] / 1000:.1f} "
            f"| {len(r['cited_ids'])} | {'–' if r['no_answer'] else _mark(r['cites_correct'])} | {unshown} "
            f"| {', '.join(f'[{n}]' for n in r['mismatched_numbers']) or '–'} "
            f"| {_mark(r['says_no'])} | {_mark(r['repeat_cached'])} |"
        )
    return lines


def _cell(stats: dict[str, Any], key: str) -> str:
    value = stats.get(key)
    return "–" if value is None else f"{value:g}"


def _mark(flag: bool) -> str:
    return "yes" if flag else "no"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.llm_chat", description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=QUESTIONS, help="questions asked (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="output folder (default docs/bench for a full run, else .data/bench)")
    parser.add_argument("--rescore", type=Path, metavar="LLM_JSON", help="score the answers of an earlier run again")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.rescore:
        result: dict[str, Any] | str = rescore(json.loads(args.rescore.read_text(encoding="utf-8")))
    else:
        result = asyncio.run(run(args.questions, LlmOptions.from_env()))
    if isinstance(result, str):
        print(f"{NAME} skipped: {result}")
        return 0
    out = args.out or (FULL_OUT_DIR if result["summary"]["questions"] == QUESTIONS else PARTIAL_OUT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    (out / "llm.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = "\n".join(markdown(result)) + "\n"
    (out / "llm.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out / 'llm.json'} and {out / 'llm.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
