"""Measure where the semantic cache's similarity threshold should sit, with the model the cache uses.

Pairs of shopper questions are labelled by hand: ``same`` pairs ask for the same thing in other words (serving the
cached answer is right), ``different`` pairs ask for something else — many of them near misses that share most
words (serving the cached answer would be wrong). The script embeds every question with the local MiniLM model and
reports, for each candidate threshold, how many same-pairs would hit and how many different-pairs would wrongly hit.

Run: ``.venv/bin/python -m bench.cache_threshold`` (writes docs/cache-threshold.md and .json).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np

from embedding.local_onnx import OnnxEmbedder

SAME = [
    ("something to keep my coffee hot on a cold morning", "what keeps coffee hot on cold mornings?"),
    ("a light tent for backpacking", "lightweight backpacking tent"),
    ("what stove should I take camping?", "which camping stove do you recommend?"),
    ("a sleeping bag for winter", "sleeping bag for freezing winter nights"),
    ("waterproof jacket for hiking in the rain", "rain jacket for hiking"),
    ("how do I purify water on the trail?", "water filter for the trail"),
    ("boots for long hikes", "hiking boots for long distance trails"),
    ("a headlamp for night hiking", "headlamp for hiking at night"),
    ("a knife for the kitchen", "kitchen knife"),
    ("something to grind coffee beans", "coffee grinder"),
    ("a comfortable saddle for long rides", "comfortable bike saddle for long rides"),
    ("a tent for a family of four", "family tent for four people"),
    ("what pad do you have to sleep on at camp?", "sleeping pad for camping"),
    ("a cooler that keeps ice for days", "cooler that keeps ice frozen for several days"),
    ("trekking poles for steep descents", "poles for steep downhill trekking"),
]
DIFFERENT = [
    ("something to keep my coffee hot on a cold morning", "something to keep my drinks cold on a hot afternoon"),
    ("a light tent for backpacking", "a heavy tent for car camping"),
    ("a sleeping bag for winter", "a sleeping bag for summer"),
    ("waterproof jacket for hiking in the rain", "insulated jacket for hiking in the snow"),
    ("boots for long hikes", "shoes for trail running"),
    ("a knife for the kitchen", "a sharpener for kitchen knives"),
    ("something to grind coffee beans", "something to brew coffee at camp"),
    ("a tent for a family of four", "a tent for one person"),
    ("a headlamp for night hiking", "a lantern for the campsite"),
    ("what stove should I take camping?", "what pot should I take camping?"),
    ("a cooler that keeps ice for days", "a blanket that keeps me warm for hours"),
    ("a comfortable saddle for long rides", "a bright light for long rides"),
    ("how do I purify water on the trail?", "how do I carry water on the trail?"),
    ("trekking poles for steep descents", "backpack for steep descents"),
    ("the cheapest tent", "the most expensive tent"),
]
THRESHOLDS = [0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96]


async def measure() -> dict[str, object]:
    embedder = OnnxEmbedder()
    texts = sorted({text for pair in SAME + DIFFERENT for text in pair})
    vectors = dict(zip(texts, await embedder.embed(texts), strict=True))

    def similarity(a: str, b: str) -> float:
        return float(np.dot(vectors[a], vectors[b]))

    same = [similarity(a, b) for a, b in SAME]
    different = [similarity(a, b) for a, b in DIFFERENT]
    rows = [
        {
            "threshold": t,
            "same_hits": sum(s >= t for s in same),
            "different_false_hits": sum(d >= t for d in different),
        }
        for t in THRESHOLDS
    ]
    return {
        "model": embedder.model_id,
        "pairs": {"same": len(SAME), "different": len(DIFFERENT)},
        "same": {"min": min(same), "median": float(np.median(same)), "max": max(same)},
        "different": {"min": min(different), "median": float(np.median(different)), "max": max(different)},
        "different_max_pair": DIFFERENT[int(np.argmax(different))],
        "rows": rows,
        "all": {"same": list(zip(SAME, same, strict=True)), "different": list(zip(DIFFERENT, different, strict=True))},
    }


def main() -> None:
    result = asyncio.run(measure())
    out = Path("docs")
    out.mkdir(exist_ok=True)
    (out / "cache-threshold.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Semantic cache threshold (measured)",
        "",
        f"Model: `{result['model']}`; {len(SAME)} same-meaning pairs, {len(DIFFERENT)} different-meaning pairs "
        "(most of them near misses sharing most words). Produced by `python -m bench.cache_threshold`.",
        "",
        f"- same-meaning similarity: min {result['same']['min']:.3f}, median {result['same']['median']:.3f}",  # type: ignore[index]
        f"- different-meaning similarity: median {result['different']['median']:.3f}, "  # type: ignore[index]
        f"max {result['different']['max']:.3f} ({result['different_max_pair']})",  # type: ignore[index]
        "",
        "| threshold | same-meaning pairs served from cache | different-meaning pairs wrongly served |",
        "|---|---|---|",
    ]
    for row in result["rows"]:  # type: ignore[attr-defined]
        hits, wrong = f"{row['same_hits']}/{len(SAME)}", f"{row['different_false_hits']}/{len(DIFFERENT)}"
        lines.append(f"| {row['threshold']:.2f} | {hits} | {wrong} |")
    (out / "cache-threshold.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
