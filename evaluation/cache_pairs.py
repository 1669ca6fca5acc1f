"""Semantic-cache safety on the team's labelled pairs: ask ``first``, then ``second``; was ``second`` served the
cached answer? A pair labelled ``same_answer: false`` that hits is a **false hit** (the budget is zero); a
paraphrase that hits is a **useful hit**.

Every pair runs through the product's own :class:`chat.service.ChatService` (reading, retrieval, cache key, the
retrieval-consistency check) with the offline answer writer, as one caller; a ``followup`` pair asks ``second`` in
the same conversation, every other pair in a new one.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from catalog.model import EMBEDDING_FIELD
from chat.answer_writer import AnswerWriter
from chat.cache import SemanticCache
from chat.history import ChatHistory
from chat.service import ChatRequest, ChatService
from composition.settings import Settings
from embedding.base import Embedder
from evaluation.catalogs import DATA, EmbeddedCatalog
from evaluation.metrics import load_pairs
from store.base import ContainerSpec, VectorSpec


async def _service(catalog: EmbeddedCatalog, embedder: Embedder, threshold: float) -> ChatService:
    vector = VectorSpec(f"/{EMBEDDING_FIELD}", embedder.dimensions)
    entries = await catalog.store.container(ContainerSpec(f"cache_{threshold}", "/scope", vector))
    turns = await catalog.store.container(ContainerSpec(f"history_{threshold}", "/session_id"))
    return ChatService(
        finder=catalog.finder(),
        cache=SemanticCache(entries, catalog.container, threshold=threshold, ttl_seconds=3600),
        history=ChatHistory(turns, 20),
        model=AnswerWriter(),
        history_token_budget=2000,
    )


async def evaluate_pairs(
    catalogs: dict[str, EmbeddedCatalog],
    embedder: Embedder,
    *,
    thresholds: tuple[float, ...] = (0.70, Settings.CHAT_CACHE_THRESHOLD, 0.80, 0.85, 0.90),
    show_failures: bool = False,
) -> dict[str, Any]:
    """False and useful hits per kind, for the default threshold and a few others around it."""
    pairs = [pair for pair in load_pairs(DATA / "cache_pairs.json") if pair.catalog in catalogs]
    results: dict[str, Any] = {"pairs": len(pairs), "default_threshold": Settings.CHAT_CACHE_THRESHOLD, "by": {}}
    for threshold in thresholds:
        services = {name: await _service(catalog, embedder, threshold) for name, catalog in catalogs.items()}
        hits: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        wrong: list[str] = []
        for number, pair in enumerate(pairs):
            service = services[pair.catalog]
            user = f"eval-{threshold}-{number}"
            first = await service.ask(ChatRequest(pair.first, None, user))
            session = first.session_id if pair.kind == "followup" else None
            second = await service.ask(ChatRequest(pair.second, session, user))
            totals[pair.kind] += 1
            if second.cached:
                hits[pair.kind] += 1
                if not pair.same_answer:
                    wrong.append(f"FALSE HIT {pair.id} [{pair.kind}] {pair.first!r} / {pair.second!r}")
            elif pair.same_answer:
                wrong.append(f"missed {pair.id} {pair.first!r} / {pair.second!r}")
        paraphrases = totals["paraphrase"]
        near = sum(count for kind, count in totals.items() if kind != "paraphrase")
        false_hits = sum(count for kind, count in hits.items() if kind != "paraphrase")
        results["by"][str(threshold)] = {
            "paraphrases": paraphrases,
            "useful_hits": hits["paraphrase"],
            "useful_hit_rate": round(hits["paraphrase"] / paraphrases, 3) if paraphrases else None,
            "near_misses": near,
            "false_hits": false_hits,
            "per_kind": {kind: {"pairs": totals[kind], "hits": hits[kind]} for kind in sorted(totals)},
        }
        if show_failures:
            print(f"threshold {threshold}:\n" + "\n".join(wrong), file=sys.stderr)
    return results


def pairs_markdown(results: dict[str, Any], model: str) -> str:
    """``docs/cache.md``: the false-hit budget and the paraphrases served, per threshold and per kind."""
    default = str(results["default_threshold"])
    lines = [
        "# Semantic cache: false hits and useful hits (measured)",
        "",
        f"{results['pairs']} labelled pairs (`evaluation/data/cache_pairs.json`), each asked through the product's own "
        f"chat service with model `{model}`: `first`, then `second` by the same caller (a follow-up in the same "
        "conversation). A near miss served `first`'s answer is a false hit. Produced by `make eval`.",
        "",
        "| threshold | false hits (near misses) | useful hits (paraphrases) |",
        "|---|---|---|",
    ]
    for threshold, row in results["by"].items():
        marker = " **(default)**" if threshold == default else ""
        lines.append(
            f"| {threshold}{marker} | {row['false_hits']} / {row['near_misses']} | {row['useful_hits']} / "
            f"{row['paraphrases']} ({row['useful_hit_rate']:.0%}) |"
        )
    lines += [
        "",
        f"Per kind at the default threshold ({default}):",
        "",
        "| kind | pairs | served from cache |",
        "|---|---|---|",
    ]
    for kind, row in results["by"][default]["per_kind"].items():
        lines.append(f"| {kind} | {row['pairs']} | {row['hits']} |")
    return "\n".join(lines) + "\n"
