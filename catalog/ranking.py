"""Ranking that uses the catalog's structure: what the question means, not only how similar its words are.

A pool of candidates comes from the store (vector or hybrid search, with the price bounds as filters). Each
candidate's score then combines, with weights measured on the team's labelled questions (``make eval``,
``docs/quality.md``):

* its cosine similarity to the question (the base signal);
* **category intent**: the catalog's own category the question names ("tyres" → Tires and Tubes) is a strong
  boost; several candidates ("a frame") share a smaller one;
* **category vote**: how strongly the pool as a whole points at the candidate's category (the mean of that
  category's best similarities). Measured: it made the labelled questions worse, so its weight is 0; the vote
  still picks the intended category of a superlative that names none;
* **described needs** (:mod:`catalog.intents`: "my bike got nicked" → locks) and the **thing a name ends in** ("the
  cheapest tyre" is a tyre, not a tube of the same category);
* **attribute conflicts**: a product whose text names the opposite of an attribute the shopper asked for
  ("winter" asked, "summer" in the product, "winter" not) is pushed down;
* **identifiers**: a product whose SKU or model name contains an identifier from the question comes first.

Superlatives ("cheapest", "most expensive") then order the products of the intended category by price, and
variants of one model ("Road-650 Black, 52" / "…, 58") are grouped into one result listing its variants, unless
the shopper asked for a size or colour.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog.intents import head_noun
from catalog.query_understanding import QueryReading
from catalog.query_words import CATEGORY_SYNONYMS

#: Words a product's text may contain that contradict an attribute of the question (both ways).
OPPOSITE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "winter": ("summer",),
    "summer": ("winter", "4-season"),
    "women": ("men", "mens"),
    "men": ("women", "womens", "ladies"),
    "waterproof": (),
    "4-season": ("summer",),
}
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
#: ", 52" / ", L" / ", XL" at the end of a variant's name, and a colour right before it.
_SIZE_SUFFIX = re.compile(r",\s*(?:\d{2}|XS|S|M|L|XL|XXL)\s*$", re.I)
_COLOUR_SUFFIX = re.compile(
    r"(?:\s*[-,]\s*|\s+)(?:black|red|silver|blue|yellow|white|multi|green|grey|gray|orange)\s*$", re.I
)


@dataclass(frozen=True)
class RankingWeights:
    """How much each signal adds to a candidate's cosine similarity (chosen on the labelled set)."""

    category: float = 0.6
    candidate_category: float = 0.15
    vote: float = 0.0
    intent: float = 0.25
    name_head: float = 0.1
    attribute_match: float = 0.3
    attribute_conflict: float = 0.15
    identifier: float = 2.0


@dataclass
class RankedProduct:
    """One result: the product, its combined score, and the other variants of its model when grouped."""

    document: dict[str, Any]
    score: float
    similarity: float
    variants: list[dict[str, Any]] = field(default_factory=list)

    @property
    def category(self) -> str:
        return str(self.document.get("category_name") or "")


def model_stem(name: str) -> str:
    """The model a variant belongs to: its name without a trailing size and colour ("Road-650 Black, 52" →
    "Road-650"; "HL Road Frame - Red, 58" → "HL Road Frame")."""
    stem = _SIZE_SUFFIX.sub("", name.strip())
    return _COLOUR_SUFFIX.sub("", stem).strip() or name.strip()


def identifier_match(document: Mapping[str, Any], identifier: str) -> bool:
    """Whether the product's SKU or name contains ``identifier`` (case and hyphen spacing ignored)."""
    wanted = _normalised_identifier(identifier)
    return any(wanted in _normalised_identifier(str(document.get(key) or "")) for key in ("sku", "name"))


def _normalised_identifier(text: str) -> str:
    # "Touring 3000" names "Touring-3000 Yellow, 62"; "BK-M68B-42" its SKU.
    return " ".join(re.sub(r"[\s\-/]+", " ", text.upper()).split())


def category_votes(pool: Sequence[tuple[Mapping[str, Any], float]], depth: int = 3) -> dict[str, float]:
    """Per category, the mean of its ``depth`` best similarities in the pool (missing places count as 0)."""
    by_category: dict[str, list[float]] = {}
    for document, similarity in pool:
        by_category.setdefault(str(document.get("category_name") or ""), []).append(similarity)
    return {name: sum(sorted(scores, reverse=True)[:depth]) / depth for name, scores in by_category.items()}


def _product_words(document: Mapping[str, Any]) -> set[str]:
    text = " ".join(str(document.get(key) or "") for key in ("name", "category_name", "description"))
    return set(_WORD.findall(text.lower()))


_SIZE_LETTERS = {"small": "s", "medium": "m", "large": "l", "extra large": "xl", "x-large": "xl"}


def attribute_matches(reading: QueryReading, document: Mapping[str, Any]) -> int:
    """How many of the sizes and colours asked for the product's name carries ("Road-650 Black, 52")."""
    if not reading.attributes:
        return 0
    name = str(document.get("name") or "").lower()
    words = set(_WORD.findall(name)) | {part.strip() for part in name.split(",")[1:]}
    matched = 0
    for attribute in reading.attributes:
        wanted = attribute.removeprefix("size:")
        wanted = _SIZE_LETTERS.get(wanted, wanted)
        if wanted in words:
            matched += 1
    return matched


def _conflicts(reading: QueryReading, document: Mapping[str, Any]) -> bool:
    if not reading.attributes and not any(word in OPPOSITE_ATTRIBUTES for word in reading.negated):
        return False  # nothing asked for that a product could contradict: skip reading its text
    words = _product_words(document)
    for attribute in reading.attributes:
        opposite = OPPOSITE_ATTRIBUTES.get(attribute, ())
        if attribute not in words and any(word in words for word in opposite):
            return True
    return any(word in words for word in reading.negated if word in OPPOSITE_ATTRIBUTES)


def rank(
    pool: Sequence[tuple[Mapping[str, Any], float]],
    reading: QueryReading,
    weights: RankingWeights = RankingWeights(),
    intents: tuple[str, ...] = (),
) -> list[RankedProduct]:
    """The pool ordered by the combined score (see the module docstring), superlatives ordered by price.

    Args:
        pool: candidates and their cosine similarity to the question, as the store returned them.
        reading: how the question was read.
        weights: the signals' weights.
        intents: categories the question's described needs point at (:mod:`catalog.intents`).
    """
    votes = category_votes(pool)
    heads = head_forms(reading)
    top_vote = max(votes.values(), default=0.0) or 1.0
    ranked: list[RankedProduct] = []
    for document, similarity in pool:
        category = str(document.get("category_name") or "")
        score = similarity + weights.vote * votes.get(category, 0.0) / top_vote
        if reading.category and category == reading.category:
            score += weights.category
        elif category in reading.category_candidates and len(reading.category_candidates) <= 3:
            score += weights.candidate_category
        if category in intents:
            score += weights.intent
        if heads and heads_match(document, heads):
            score += weights.name_head
        score += weights.attribute_match * attribute_matches(reading, document)
        if _conflicts(reading, document):
            score -= weights.attribute_conflict
        if any(identifier_match(document, identifier) for identifier in reading.identifiers):
            score += weights.identifier
        ranked.append(RankedProduct(dict(document), score, similarity))
    ranked.sort(key=lambda item: item.score, reverse=True)
    if reading.sort in ("price_asc", "price_desc"):
        ranked = order_by_price(ranked, reading, votes)
    return ranked


def intended_categories(ranked: Sequence[RankedProduct], reading: QueryReading, votes: Mapping[str, float]) -> set[str]:
    """The categories a superlative is about: the one named, else the named candidates, else the best-voted one
    (and the category of the best-scoring product, when it differs)."""
    if reading.category:
        return {reading.category}
    if reading.category_candidates:
        return set(reading.category_candidates)
    if not ranked:
        return set()
    chosen = {ranked[0].category}
    if votes:
        chosen.add(max(votes, key=lambda name: votes[name]))
    return chosen


def name_head(document: Mapping[str, Any]) -> str:
    """The noun a product's name ends in, singular ("Mountain Tire Tube" → "tube", "LL Road Tire" → "tire")."""
    words = _WORD.findall(model_stem(str(document.get("name") or "")).lower())
    # Sizes and volumes after the noun ("Water Filter 6L", "Thermos 1 L") are not it.
    while words and (any(c.isdigit() for c in words[-1]) or len(words[-1]) == 1):
        words.pop()
    return _singular(words[-1]) if words else ""


def heads_match(document: Mapping[str, Any], heads: set[str]) -> bool:
    """Whether the product's name ends in one of ``heads`` ("Minipump" is a pump)."""
    head = name_head(document)
    return bool(head) and any(head.endswith(form) for form in heads)


def head_forms(reading: QueryReading) -> set[str]:
    """The question's head noun and its synonyms' heads, singular ("cheapest tyre" → {"tyre", "tire"})."""
    head = head_noun(reading.text) or (reading.text if len(reading.text.split()) == 1 else None)
    if not head:
        return set()
    forms = {_singular(head.lower())}
    for key, choices in CATEGORY_SYNONYMS.items():
        if key[-1] in forms:
            forms |= {_singular(choice[-1]) for choice in choices}
    return forms


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def order_by_price(
    ranked: list[RankedProduct], reading: QueryReading, votes: Mapping[str, float]
) -> list[RankedProduct]:
    """The intended category's products by price (ties by score), then everything else by score."""
    wanted = intended_categories(ranked, reading, votes)
    identified = [item for item in ranked if any(identifier_match(item.document, i) for i in reading.identifiers)]
    if identified:
        wanted = {item.category for item in identified}
    inside = [item for item in ranked if item.category in wanted and _price(item.document) is not None]
    # "the cheapest tyre" among Tires and Tubes: the tyres, before the tubes and the patch kit of the same category.
    heads = head_forms(reading)
    if heads and any(heads_match(item.document, heads) for item in inside):
        inside = [item for item in inside if heads_match(item.document, heads)]
    outside = [item for item in ranked if item not in inside]
    descending = reading.sort == "price_desc"
    inside.sort(key=lambda item: (-_price(item.document) if descending else _price(item.document), -item.score))  # type: ignore[operator]
    return inside + outside


def group_variants(ranked: Sequence[RankedProduct], *, keep_variants: bool = False) -> list[RankedProduct]:
    """One result per model: its first-ranked variant, listing the others (``keep_variants`` keeps them apart)."""
    if keep_variants:
        return list(ranked)
    groups: dict[tuple[str, str], RankedProduct] = {}
    order: list[RankedProduct] = []
    for item in ranked:
        key = (item.category, model_stem(str(item.document.get("name") or item.document.get("id"))))
        head = groups.get(key)
        if head is None:
            groups[key] = item
            order.append(item)
        else:
            head.variants.append(variant_summary(item.document))
    return order


def variant_summary(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a grouped result lists of each other variant."""
    return {"id": document.get("id"), "name": document.get("name"), "price": document.get("price")}


def _price(document: Mapping[str, Any]) -> float | None:
    price = document.get("price")
    if isinstance(price, bool) or not isinstance(price, int | float):
        return None
    return float(price)
