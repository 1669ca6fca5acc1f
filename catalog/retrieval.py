"""Finding the products a question means: read it, retrieve a pool, rank it by the catalog's structure.

One path for search and chat, offline and in Azure:

1. **Read** the question (:func:`catalog.query_understanding.read_query`) against the catalog's own categories;
   explicit request parameters replace what the words said.
2. **Retrieve** a pool of candidates (vector or hybrid search; the price bounds are store filters, so the ranking
   can never widen them). A superlative also asks the store directly for the intended category's products ordered
   by price, so "the cheapest" is exact, not the cheapest of a similarity pool.
3. **Rank** the pool (:mod:`catalog.ranking`) and group variants of one model.
4. Say whether anything **matches** at all: an identifier no product has, a named category none of whose products
   is retrieved, a size or colour the named products do not come in, or a thing (the noun a short question asks
   for) that no product, category or synonym knows ("do you sell kayaks?") is answered "no match" instead of with
   unrelated products; when a price bound excludes every product of the intended kind, the closest ones are
   returned separately.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from catalog.categories import CategoryIndex, word_forms
from catalog.intents import head_noun, intent_categories, is_whole_catalog, without_context
from catalog.model import VECTOR_FIELDS
from catalog.query_understanding import QueryReading, read_query
from catalog.ranking import (
    RankedProduct,
    RankingWeights,
    attribute_matches,
    category_votes,
    group_variants,
    identifier_match,
    intended_categories,
    rank,
)
from catalog.search import ProductSearch, SearchFilters
from store.base import FieldFilter

#: Candidates retrieved for ranking, at least (more when ``k`` is large).
POOL_SIZE = 10
#: Tokens shaped like a SKU ("NW-COF-GRD", "bk-m68b-42"): looked up exactly, whatever their similarity.
_SKU_LIKE = re.compile(r"\b[A-Za-z0-9]{2,}(?:-[A-Za-z0-9]{1,}){1,4}\b")
#: SKU-shaped tokens of one question looked up exactly, at most.
MAX_IDENTIFIERS = 5
#: Candidates added from each category the question names (at most this many categories).
PER_CATEGORY = 10
MAX_NAMED_CATEGORIES = 3
#: Products of the intended category read in price order for a superlative.
PRICE_ORDER_LIMIT = 60


@dataclass
class Retrieval:
    """What a question found.

    Attributes:
        reading: how the question was read (explicit parameters applied).
        results: the ranked results, at most ``k``, variants grouped.
        no_match: nothing in the catalog is what was asked for (``results`` may still hold weak candidates).
        closest: when a price bound excluded every product of the intended kind: the nearest ones outside it.
        vector: the embedding of the question's text (the semantic cache keys on it).
        embed_ms: time spent embedding the question.
        search_ms: time spent retrieving and ranking.
    """

    reading: QueryReading
    results: list[RankedProduct]
    no_match: bool = False
    closest: list[RankedProduct] = field(default_factory=list)
    vector: list[float] = field(default_factory=list)
    embed_ms: float = 0.0
    search_ms: float = 0.0


class ProductFinder:
    """Reads, retrieves and ranks; the one entry point search and chat use.

    Args:
        search: the store-level search over live products.
        categories: the catalog's categories (for reading the question and checking a ``category`` parameter).
        weights: the ranking's signal weights.
    """

    def __init__(self, search: ProductSearch, categories: CategoryIndex, weights: RankingWeights | None = None) -> None:
        self.search = search
        self.categories = categories
        self.weights = weights or RankingWeights()

    async def read(self, question: str, filters: SearchFilters | None = None) -> QueryReading:
        """How ``question`` reads against the catalog's categories, explicit ``filters`` winning over words.

        Raises:
            ValidationError: an explicit ``category`` is not one of the catalog's (naming the field).
        """
        names = await self.categories.names()
        reading = read_query(question, names)
        if reading.category or reading.category_candidates:
            focused = without_context(question)
            if focused != question and focused:
                narrowed = read_query(focused, names)
                if narrowed.category or narrowed.category_candidates:
                    reading = replace(
                        reading, category=narrowed.category, category_candidates=narrowed.category_candidates
                    )
        explicit = filters or SearchFilters()
        category = await self.categories.resolve(explicit.category) if explicit.category else None
        return reading.with_overrides(category=category, min_price=explicit.min_price, max_price=explicit.max_price)

    async def find(
        self, question: str, k: int, filters: SearchFilters | None = None, mode: str | None = None
    ) -> Retrieval:
        """The ``k`` best results for ``question`` (see the module docstring)."""
        reading = await self.read(question, filters)
        started = time.perf_counter()
        [vector] = await self.search.embedder.embed([reading.text])
        embed_ms = _ms(started)
        started = time.perf_counter()
        explicit = (filters or SearchFilters()).category
        retrieval = await self.find_embedded(reading, vector, k, mode, category=reading.category if explicit else None)
        retrieval.embed_ms, retrieval.search_ms = embed_ms, _ms(started)
        return retrieval

    async def find_embedded(
        self,
        reading: QueryReading,
        vector: list[float],
        k: int,
        mode: str | None = None,
        *,
        category: str | None = None,
    ) -> Retrieval:
        """:meth:`find` for a question already read and embedded; ``category`` (explicitly asked for) filters."""
        bounds = SearchFilters(category, *_bounds(reading))
        intents = intent_categories(reading.text, await self.categories.names())
        hits, _ = await self.search.search_vector(vector, max(POOL_SIZE, 2 * k), bounds, text=reading.text, mode=mode)
        pool = [(hit.document, hit.score) for hit in hits]
        pool += await self._of_named_categories(reading, intents, pool, bounds, vector, mode)
        found, named = await self._identified(reading, bounds, {str(document["id"]) for document, _ in pool}, vector)
        pool += found
        # SKUs that exist and model names the question spells out count as identifiers (first, exact).
        reading = replace(reading, identifiers=tuple(dict.fromkeys([*reading.identifiers, *named])))
        whole_catalog = False
        if reading.sort and pool:
            whole_catalog = not (reading.category or reading.category_candidates or intents) and is_whole_catalog(
                reading.text
            )
            pool += await self._price_ordered(reading, intents, pool, bounds, vector, whole_catalog)
        ranked = rank(_unique(pool), reading, self.weights, intents)
        if whole_catalog:  # "the cheapest thing you sell": every product competes on price alone
            ranked.sort(key=lambda item: _price_key(item, reading.sort == "price_desc"))
        results = group_variants(ranked, keep_variants=bool(reading.identifiers) or _asks_for_variant(reading))[:k]
        retrieval = Retrieval(reading, results, vector=vector)
        retrieval.no_match = await self._no_match(reading, ranked, intents)
        if (reading.min_price is not None or reading.max_price is not None) and (retrieval.no_match or not results):
            retrieval.closest = await self._closest(reading, vector, k, mode, category)
        return retrieval

    async def _no_match(self, reading: QueryReading, ranked: list[RankedProduct], intents: tuple[str, ...]) -> bool:
        """Whether nothing the catalog has is what was asked for (rules in order; see ``docs/quality.md``)."""
        if not ranked:
            return True
        if reading.identifiers:
            matched = [item for item in ranked if any(identifier_match(item.document, i) for i in reading.identifiers)]
            return not matched or _lacks_asked_variant(reading, matched)
        head = head_noun(reading.text)
        if head is not None and (reading.question_kind == "yes_no" or len(reading.text.split()) <= 6):
            if not await self._known_word(head, reading.text):
                # "do you sell kayaks?", "chain lube": the thing asked for (the phrase's head, not a modifier such
                # as "chain") is a word no product, category or synonym has.
                return True
        if reading.category or reading.category_candidates:
            named = [item for item in ranked if item.category in (reading.category, *reading.category_candidates)]
            return not named or _lacks_asked_variant(reading, named)
        # A question naming no category, identifier or unknown noun is answered: similarity alone does not separate
        # the labelled no-answer questions from answerable ones (measured on MiniLM), so it decides nothing here.
        return False

    async def _known_word(self, word: str, text: str) -> bool:
        """Whether a product, a category or a synonym has the word (whole: "e-bike" is not known for "bike"), alone
        or with the word before it ("steering bearings", "walking sticks")."""
        vocabulary = await self.categories.vocabulary()
        forms = {form for form in word_forms(word) if form in word or form == word}
        if any(form in vocabulary for form in forms if "-" not in form or form == word):
            return True
        spoken = text.lower().split()
        at = max((i for i, token in enumerate(spoken) if token.strip("?!.,") == word), default=-1)
        names = await self.categories.names()
        for phrase in (word, " ".join(spoken[max(at - 1, 0) : at + 1]) if at > 0 else word):
            reading = read_query(phrase, names)
            if reading.category or reading.category_candidates:
                return True
        return False

    async def _of_named_categories(
        self,
        reading: QueryReading,
        intents: tuple[str, ...],
        pool: list[tuple[dict[str, Any], float]],
        bounds: SearchFilters,
        vector: list[float],
        mode: str | None,
    ) -> list[tuple[dict[str, Any], float]]:
        """The best products of each category the question names or describes: a shopper who says "gilet" means
        the vests, however far their descriptions' wording is from the word."""
        named = [reading.category] if reading.category else list(reading.category_candidates[:MAX_NAMED_CATEGORIES])
        named += [name for name in intents[:MAX_NAMED_CATEGORIES] if name not in named]
        # A category the pool already holds needs no search of its own (its boost lifts what is there).
        held = Counter(str(document.get("category_name")) for document, _ in pool)
        named = [name for name in named if held[name] == 0]
        found: list[tuple[dict[str, Any], float]] = []
        for category in named:
            if bounds.category is not None and category != bounds.category:
                continue
            hits, _ = await self.search.search_vector(
                vector, PER_CATEGORY, replace(bounds, category=category), text=reading.text, mode=mode
            )
            found += [(hit.document, hit.score) for hit in hits]
        return found

    async def _identified(
        self, reading: QueryReading, bounds: SearchFilters, seen: set[str], vector: list[float]
    ) -> tuple[list[tuple[dict[str, Any], float]], list[str]]:
        """Products a question names exactly: by SKU (any SKU-shaped token, case ignored) or by model name; and the
        tokens and names that matched."""
        found: list[tuple[dict[str, Any], float]] = []
        named: list[str] = []
        # At most a few look-ups, however many SKU-shaped tokens a (long, hostile) question holds.
        tokens = list(dict.fromkeys([*reading.identifiers, *_SKU_LIKE.findall(reading.text)]))[:MAX_IDENTIFIERS]
        for identifier in tokens:
            filters = [*bounds.to_field_filters(), FieldFilter("sku", "eq", identifier.upper())]
            documents = await self.search.products.query(filters, limit=5)
            if documents:
                named.append(identifier)
            for document in documents:
                if str(document["id"]) not in seen:
                    seen.add(str(document["id"]))
                    found.append((_shown(document), _cosine(vector, document.get(self.search.slot.vector_field))))
        for model in await self.categories.models_named_in(reading.text):
            named.append(model)
            hits, _ = await self.search.search_vector(vector, PER_CATEGORY, bounds, text=model)
            found += [(hit.document, hit.score) for hit in hits if identifier_match(hit.document, model)]
        return found, named

    async def _price_ordered(
        self,
        reading: QueryReading,
        intents: tuple[str, ...],
        pool: list[tuple[dict[str, Any], float]],
        bounds: SearchFilters,
        vector: list[float],
        whole_catalog: bool,
    ) -> list[tuple[dict[str, Any], float]]:
        """The intended categories' products in price order, read from the store (exact superlatives); the whole
        catalog's for "the cheapest thing you sell"."""
        descending = reading.sort == "price_desc"
        if whole_catalog:
            documents = await self.search.products.query(
                bounds.to_field_filters(), order_by="price", descending=descending, limit=PRICE_ORDER_LIMIT
            )
            return [(_shown(d), 1.0) for d in documents]
        provisional = rank(pool, reading, self.weights, intents)
        wanted = intended_categories(provisional, reading, category_votes(pool))
        found: list[tuple[dict[str, Any], float]] = []
        for category in sorted(wanted):
            filters = [*replace(bounds, category=category).to_field_filters()]
            documents = await self.search.products.query(
                filters, order_by="price", descending=descending, limit=PRICE_ORDER_LIMIT
            )
            found += [(_shown(d), _cosine(vector, d.get(self.search.slot.vector_field))) for d in documents]
        return found

    async def _closest(
        self, reading: QueryReading, vector: list[float], k: int, mode: str | None, category: str | None
    ) -> list[RankedProduct]:
        """What the shopper would get without the price bound, nearest to the bound first."""
        unbounded = replace(reading, min_price=None, max_price=None, sort=reading.sort or _toward_bound(reading))
        retrieval = await self.find_embedded(unbounded, vector, k, mode, category=category)
        return [] if retrieval.no_match else retrieval.results


def _price_key(item: RankedProduct, descending: bool) -> float:
    price = item.document.get("price")
    value = float(price) if isinstance(price, int | float) and not isinstance(price, bool) else float("inf")
    return -value if descending and value != float("inf") else value


def _bounds(reading: QueryReading) -> tuple[float | None, float | None]:
    return reading.min_price, reading.max_price


def _toward_bound(reading: QueryReading) -> str:
    return "price_asc" if reading.max_price is not None else "price_desc"


def _lacks_asked_variant(reading: QueryReading, items: list[RankedProduct]) -> bool:
    """The shopper asked for a size or colour ("full finger gloves in XL", "a green helmet") that none of the
    products they named comes in."""
    asked = [a for a in reading.attributes if a.startswith("size:") or a in _COLOURS or a in _SIZE_WORDS]
    return any(
        not any(attribute_matches(replace(reading, attributes=(attribute,)), item.document) for item in items)
        for attribute in asked
    )


def _asks_for_variant(reading: QueryReading) -> bool:
    return any(a.startswith("size:") or a in _COLOURS or a in ("small", "medium", "large") for a in reading.attributes)


_SIZE_WORDS = frozenset({"small", "medium", "large"})
_COLOURS = frozenset({"black", "red", "silver", "blue", "yellow", "white", "multi", "green", "grey", "orange"})


def _unique(pool: list[tuple[dict[str, Any], float]]) -> list[tuple[dict[str, Any], float]]:
    seen: dict[str, tuple[dict[str, Any], float]] = {}
    for document, score in pool:
        seen.setdefault(str(document["id"]), (document, score))
    return list(seen.values())


def _shown(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in VECTOR_FIELDS}


def _cosine(vector: list[float], other: Any) -> float:
    if not isinstance(other, list) or len(other) != len(vector):
        return 0.0
    dot = sum(a * b for a, b in zip(vector, other, strict=True))
    norm = (sum(a * a for a in vector) * sum(b * b for b in other)) ** 0.5
    return dot / norm if norm else 0.0


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
