"""The benchmarks' data: the shared Cosmic Works catalog, synthetic catalogs of any size, and shopper questions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import REPO
from catalog.model import EMBEDDING_FIELD, EMBEDDING_INFO_FIELD, STATUS_EMBEDDED, utc_timestamp

#: The 295 Cosmic Works products, read from the shared data folder beside the repository (never copied into it).
COSMIC_WORKS = REPO.parent / "shared" / "data" / "cosmic-works-products.json"
SAMPLE_PRODUCTS = REPO / "devhost" / "sample_products.json"


class BenchmarkSkipped(Exception):
    """A benchmark cannot run here (its data or a component is missing); the message says why."""


@dataclass(frozen=True)
class RunOptions:
    """How the runner asks a benchmark to run.

    Attributes:
        quick: smaller sizes and fewer repetitions, for a smoke run.
        work_dir: a scratch folder the benchmark may fill (data stores), removed after the run.
    """

    quick: bool
    work_dir: Path

    def scratch(self, name: str) -> Path:
        folder = self.work_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def cosmic_works_products() -> list[dict[str, Any]]:
    """The shared Cosmic Works catalog.

    Raises:
        BenchmarkSkipped: the file is not there.
    """
    if not COSMIC_WORKS.is_file():
        raise BenchmarkSkipped(f"{COSMIC_WORKS} is absent (the shared Cosmic Works data set)")
    products: list[dict[str, Any]] = json.loads(COSMIC_WORKS.read_text(encoding="utf-8"))
    return products


def sample_products() -> list[dict[str, Any]]:
    """The 40 products of the local host's sample catalog (a fictional outdoor shop)."""
    products: list[dict[str, Any]] = json.loads(SAMPLE_PRODUCTS.read_text(encoding="utf-8"))
    return products


_CATEGORIES = {
    "Bikes, Road Bikes": (["Road Bike", "Aero Road Frame Bike", "Endurance Road Bike"], 450, 3500),
    "Bikes, Mountain Bikes": (["Mountain Bike", "Trail Bike", "Hardtail"], 500, 4000),
    "Bikes, Touring Bikes": (["Touring Bike", "Gravel Tourer"], 700, 2500),
    "Components, Saddles": (["Road Saddle", "Comfort Saddle", "Gel Seat"], 20, 120),
    "Components, Wheels": (["Front Wheel", "Rear Wheel", "Carbon Wheelset"], 60, 1200),
    "Components, Brakes": (["Disc Brake", "Rim Brake Set"], 30, 250),
    "Clothing, Jerseys": (["Long-Sleeve Jersey", "Short-Sleeve Jersey"], 30, 90),
    "Clothing, Gloves": (["Full-Finger Gloves", "Half-Finger Gloves"], 15, 60),
    "Accessories, Helmets": (["Sport Helmet", "Commuter Helmet"], 25, 180),
    "Accessories, Lights": (["Headlight", "Tail Light", "Light Set"], 10, 150),
    "Accessories, Bottles and Cages": (["Water Bottle", "Bottle Cage"], 5, 30),
    "Camping, Tents": (["Backpacking Tent", "Family Tent", "Ultralight Shelter"], 80, 700),
    "Camping, Stoves": (["Canister Stove", "Liquid-Fuel Stove"], 30, 200),
    "Camping, Sleeping Bags": (["Down Sleeping Bag", "Synthetic Sleeping Bag"], 60, 500),
    "Kitchen, Mugs": (["Insulated Mug", "Steel Mug", "Travel Tumbler"], 10, 45),
}
_ADJECTIVES = ["Lightweight", "Rugged", "Classic", "Pro", "Compact", "Deluxe", "Trail", "Urban", "Summit", "Eco"]
_USES = [
    "long weekend rides",
    "daily commuting",
    "alpine trips",
    "family camping",
    "racing on a budget",
    "cold mornings",
    "wet climates",
    "backcountry travel",
]
_SENTENCES = [
    "Built from durable materials that hold up to years of hard use.",
    "Its low weight makes it easy to carry on any trip.",
    "Designed with comfort in mind for long days outdoors.",
    "A reliable choice that balances performance and price.",
    "Tested in the field by riders and hikers in every season.",
    "Easy to maintain, with spare parts available from any good shop.",
    "The finish resists scratches, rain and road grime.",
]


def synthetic_products(count: int, *, seed: int = 7, start: int = 0) -> list[dict[str, Any]]:
    """``count`` realistic-looking products (name, category, description, price, tags), the same for a seed."""
    rng = np.random.default_rng(seed + start)
    categories = list(_CATEGORIES)
    products = []
    for number in range(start, start + count):
        category = categories[int(rng.integers(len(categories)))]
        kinds, low, high = _CATEGORIES[category]
        kind = kinds[int(rng.integers(len(kinds)))]
        adjective = _ADJECTIVES[int(rng.integers(len(_ADJECTIVES)))]
        use = _USES[int(rng.integers(len(_USES)))]
        picked = rng.choice(len(_SENTENCES), size=3, replace=False)
        description = f"The {adjective} {kind} is made for {use}. " + " ".join(_SENTENCES[int(i)] for i in picked)
        products.append(
            {
                "id": f"syn-{number:07d}",
                "name": f"{adjective} {kind} {number % 1000:03d}",
                "category_name": category,
                "description": description,
                "price": round(float(np.exp(rng.uniform(np.log(low), np.log(high)))), 2),
                "sku": f"SY-{number:07d}",
                "tags": [adjective.lower(), use.split()[-1]],
            }
        )
    return products


def with_synthetic_vectors(products: list[dict[str, Any]], dimensions: int, model_id: str, *, seed: int = 11) -> None:
    """Give each product a random unit vector and an ``embedded`` status stamp, in place."""
    rng = np.random.default_rng(seed + len(products))
    vectors = rng.standard_normal((len(products), dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    stamp = utc_timestamp()
    for product, vector in zip(products, vectors.tolist(), strict=True):
        product[EMBEDDING_FIELD] = vector
        product[EMBEDDING_INFO_FIELD] = {
            "status": STATUS_EMBEDDED,
            "model": model_id,
            "dimensions": dimensions,
            "content_hash": "synthetic",
            "embedded_at": stamp,
            "truncated": False,
        }


_QUESTION_TEMPLATES = [
    "a {adj} {thing} for {use}",
    "which {thing} is best for {use}?",
    "I need a {thing} that works for {use}",
    "cheap {thing} for {use}",
    "recommend a {adj} {thing}",
    "what {thing} should I buy for {use}?",
]
_THINGS = [
    "road bike",
    "mountain bike",
    "saddle",
    "helmet",
    "tent",
    "stove",
    "sleeping bag",
    "mug that keeps coffee hot",
    "pair of gloves",
    "wheelset",
    "bike light",
    "jersey",
    "water bottle",
    "touring bike",
    "brake set",
]


#: What the local host's sample catalog (an outdoor shop) sells, for questions about it.
OUTDOOR_THINGS = [
    "backpacking tent",
    "family tent",
    "sleeping bag",
    "sleeping pad",
    "daypack",
    "camping stove",
    "cook pot",
    "headlamp",
    "lantern",
    "rain jacket",
    "pair of hiking boots",
    "water filter",
    "chef's knife",
    "thermos",
    "coffee grinder",
    "bike light",
    "bike lock",
    "pair of trekking poles",
    "camp chair",
    "first-aid kit",
    "cooler",
]


def shopper_questions(count: int, *, seed: int = 3, things: Sequence[str] = _THINGS) -> list[str]:
    """``count`` distinct shopper questions about ``things`` (any beyond what the templates allow get a suffix)."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    questions: list[str] = []
    attempts = 0
    while len(questions) < count:
        attempts += 1
        template = _QUESTION_TEMPLATES[int(rng.integers(len(_QUESTION_TEMPLATES)))]
        text = template.format(
            adj=_ADJECTIVES[int(rng.integers(len(_ADJECTIVES)))].lower(),
            thing=things[int(rng.integers(len(things)))],
            use=_USES[int(rng.integers(len(_USES)))],
        )
        if text in seen:
            if attempts < count * 20:
                continue
            text = f"{text} (option {attempts})"
        seen.add(text)
        questions.append(text)
    return questions
