"""Retrieval quality over the Cosmic Works catalog: vector vs hybrid ranking, and what text to embed.

37 natural-language shopper questions, written by us without copying product names, are labelled with the
dataset's own ``category_name``. A result counts as relevant when its category is the question's. For each text
composition (which product fields are embedded, and indexed for full text) the 295 products are embedded with the
local MiniLM model into an embedded store, and each question is searched through the product's own
``ProductSearch`` in both modes. Reported: hit@1 (the first result is relevant) and MRR@5 (mean reciprocal rank of
the first relevant result within five).

Run: ``.venv/bin/python -m bench.quality`` (writes docs/quality.md and docs/quality.json).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.catalog_data import BenchmarkSkipped, RunOptions
from catalog.model import embedding_text
from catalog.search import ProductSearch
from embedding.local_onnx import OnnxEmbedder
from store.base import ContainerSpec, VectorSpec
from store.sqlite import SqliteDocumentStore

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "cosmic-works-products.json"

QUESTIONS: list[tuple[str, str]] = [
    ("a fast lightweight bike for racing on paved roads", "Bikes, Road Bikes"),
    ("a bike that can handle rocky trails and steep descents", "Bikes, Mountain Bikes"),
    ("a sturdy bicycle for long trips carrying luggage", "Bikes, Touring Bikes"),
    ("something to keep my head safe if I crash", "Accessories, Helmets"),
    ("I need to see the road when riding at night", "Accessories, Lights"),
    ("my tire keeps going flat and I need a replacement", "Accessories, Tires and Tubes"),
    ("a way to carry water on my bike frame", "Accessories, Bottles and Cages"),
    ("inflate my tires while out on a ride", "Accessories, Pumps"),
    ("bags that clip onto a rear rack for touring", "Accessories, Panniers"),
    ("hold my bike upright while I repair it in the garage", "Accessories, Bike Stands"),
    ("a backpack with a water bladder for long rides", "Accessories, Hydration Packs"),
    ("get grease and grime off my drivetrain", "Accessories, Cleaners"),
    ("secure my bike outside a cafe so nobody steals it", "Accessories, Locks"),
    ("stop mud spraying up my back on rainy rides", "Accessories, Fenders"),
    ("carry two bikes on the back of my car", "Accessories, Bike Racks"),
    ("a seat that will not hurt after hours of riding", "Components, Saddles"),
    ("faster rolling rims and hubs", "Components, Wheels"),
    ("a drop bar for a road bike cockpit", "Components, Handlebars"),
    ("clipless pedals for better power transfer", "Components, Pedals"),
    ("replacement front suspension for a mountain bike", "Components, Forks"),
    ("smooth, precise gear changes at the rear cassette", "Components, Derailleurs"),
    ("reliable stopping power in wet weather", "Components, Brakes"),
    ("crank arms with chainrings for a road bike", "Components, Cranksets"),
    ("a new chain for my drivetrain", "Components, Chains"),
    ("the bearing assembly where the cranks pass through the frame", "Components, Bottom Brackets"),
    ("bearings that let the fork steer smoothly", "Components, Headsets"),
    ("a lightweight frame to build up a racing road bike", "Components, Road Frames"),
    ("a frame for building a trail bike", "Components, Mountain Frames"),
    ("a frame for a long distance touring build", "Components, Touring Frames"),
    ("a breathable top to wear while cycling in summer", "Clothing, Jerseys"),
    ("padded shorts for long hours on the bike", "Clothing, Shorts"),
    ("protect my hands and improve my grip", "Clothing, Gloves"),
    ("keep my feet dry and comfortable on rides", "Clothing, Socks"),
    ("full-length leggings for riding in cold weather", "Clothing, Tights"),
    ("a sleeveless layer that blocks the wind", "Clothing, Vests"),
    ("a small hat to wear under my helmet", "Clothing, Caps"),
    ("cycling shorts held up by shoulder straps instead of a waistband", "Clothing, Bib-Shorts"),
]

COMPOSITIONS: dict[str, tuple[str, ...]] = {
    "description": ("description",),
    "name+description": ("name", "description"),
    "name+category+description": ("name", "category_name", "description"),
}
MODES = ("vector", "hybrid")


@dataclass
class Score:
    hit_at_1: float
    mrr_at_5: float


def score(rankings: list[list[str]], labels: list[str]) -> Score:
    hits = 0
    reciprocal = 0.0
    for ranking, label in zip(rankings, labels, strict=True):
        hits += bool(ranking) and ranking[0] == label
        rank = next((position for position, category in enumerate(ranking[:5], start=1) if category == label), None)
        reciprocal += 1 / rank if rank else 0.0
    return Score(round(hits / len(labels), 3), round(reciprocal / len(labels), 3))


async def evaluate(products: list[dict[str, Any]]) -> dict[str, Any]:
    embedder = OnnxEmbedder()
    labels = [label for _, label in QUESTIONS]
    categories = {str(product["category_name"]) for product in products}
    unknown = sorted(set(labels) - categories)
    if unknown:
        raise SystemExit(f"labels not in the data set: {unknown}")
    question_vectors = await embedder.embed([question for question, _ in QUESTIONS])
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteDocumentStore(Path(folder) / "quality.sqlite3")
        for name, fields in COMPOSITIONS.items():
            started = time.perf_counter()
            spec = ContainerSpec(
                f"products_{name.replace('+', '_')}",
                "/id",
                VectorSpec("/embedding", embedder.dimensions),
                full_text_paths=tuple("/" + field for field in fields),
            )
            container = await store.container(spec)
            vectors = await embedder.embed([embedding_text(product, fields) for product in products])
            await container.upsert_many([{**p, "embedding": v} for p, v in zip(products, vectors, strict=True)])
            search = ProductSearch(container, embedder)
            for mode in MODES:
                rankings = []
                for (question, _), vector in zip(QUESTIONS, question_vectors, strict=True):
                    hits, _ = await search.search_vector(vector, 5, text=question, mode=mode)
                    rankings.append([str(hit.document["category_name"]) for hit in hits])
                results[f"{name}/{mode}"] = score(rankings, labels).__dict__
            print(f"{name}: embedded and scored in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        await store.close()
    best = max(results, key=lambda key: (results[key]["mrr_at_5"], results[key]["hit_at_1"]))
    return {"model": embedder.model_id, "questions": len(QUESTIONS), "products": len(products), "results": results,
            "best": best}  # fmt: skip


NAME = "quality"
TITLE = "Retrieval quality: vector vs hybrid ranking, and what text to embed"


async def run(options: RunOptions) -> dict[str, Any]:
    """The runner's entry point (``make bench``); the quick run is the same (it takes ~20 s)."""
    if not DATA.exists():
        raise BenchmarkSkipped(f"{DATA} is absent")
    return await evaluate(json.loads(DATA.read_text()))


def markdown(outcome: dict[str, Any]) -> list[str]:
    lines = [
        f"{outcome['questions']} shopper questions over the {outcome['products']} Cosmic Works products, labelled with "
        f"the data set's `category_name`; model `{outcome['model']}` (`bench/quality.py`).",
        "",
        "| embedded text | ranking | hit@1 | MRR@5 |",
        "|---|---|---|---|",
    ]
    for key, value in outcome["results"].items():
        composition, mode = key.split("/")
        marker = " **(best)**" if key == outcome["best"] else ""
        lines.append(f"| {composition} | {mode}{marker} | {value['hit_at_1']:.3f} | {value['mrr_at_5']:.3f} |")
    return lines


def main() -> None:
    if not DATA.exists():
        print(f"skipped: {DATA} is absent", file=sys.stderr)
        return
    outcome = asyncio.run(evaluate(json.loads(DATA.read_text())))
    out = REPO / "docs"
    out.mkdir(exist_ok=True)
    (out / "quality.json").write_text(json.dumps(outcome, indent=2) + "\n")
    lines = ["# Retrieval quality (measured)", "", *markdown(outcome)]
    (out / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
