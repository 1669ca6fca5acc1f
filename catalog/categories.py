"""The catalog's own categories, with counts, and its vocabulary: what ``GET /api/categories`` lists, what questions
are read against, and how "do you sell kayaks?" is known to be a no.

Read from the live products (soft-deleted ones left out) in one pass and kept for a short time, so reading a
question costs no store call on most requests; a new category or word appears within :data:`REFRESH_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from catalog.errors import ValidationError
from catalog.model import DELETED_FIELD
from catalog.query_understanding import read_query
from catalog.ranking import model_stem
from store.base import DocumentContainer, FieldFilter

log = logging.getLogger(__name__)

#: How long a read of the categories is reused.
REFRESH_SECONDS = 30.0
#: Model names one question may name at most (the rest are ignored).
MAX_MODELS_NAMED = 5
#: The soonest an unknown category makes the categories be read again.
MIN_REREAD_SECONDS = 2.0
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def catalog_words(document: Mapping[str, Any]) -> Iterator[str]:
    """The words a product contributes to the vocabulary: each word, its parts, and its singular."""
    fields = [document.get(key) for key in ("name", "category_name", "description", "sku")]
    tags = document.get("tags")
    if isinstance(tags, list):
        fields += tags
    for value in fields:
        if isinstance(value, str):
            for word in _WORD.findall(value.lower()):
                yield from word_forms(word)


def normalised_name(text: str) -> str:
    """Lower case, hyphens and punctuation as spaces: how a model name is matched in a question."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def model_index(documents: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """Model names (variant names without size and colour) that carry a digit or are at least three words — distinct
    enough that naming one means that model — as ``(normalised name, name)`` by their first two words."""
    seen: dict[str, str] = {}
    for document in documents:
        name = document.get("name")
        if not isinstance(name, str):
            continue
        stem = model_stem(name)
        key = normalised_name(stem)
        if len(key) >= 4 and (any(c.isdigit() for c in key) or len(key.split()) >= 3):
            seen.setdefault(key, stem)
    models: dict[str, list[tuple[str, str]]] = {}
    for key, stem in seen.items():
        models.setdefault(" ".join(key.split()[:2]), []).append((key, stem))
    return models


def word_forms(word: str) -> set[str]:
    """A word, its hyphen/apostrophe parts, and simple singulars ("tyres" → "tyre", "boxes" → "box")."""
    forms = {word, *re.split(r"[-']", word)}
    for form in list(forms):
        if form.endswith("ies") and len(form) > 4:
            forms.add(form[:-3] + "y")
        elif form.endswith("es") and len(form) > 4:
            forms.update({form[:-2], form[:-1]})
        elif form.endswith("s") and len(form) > 3:
            forms.add(form[:-1])
    return {form for form in forms if form}


@dataclass(frozen=True)
class Category:
    name: str
    count: int


class CategoryIndex:
    """The categories of the live products.

    Args:
        products: the products container.
        refresh_seconds: how long one read is reused.
    """

    def __init__(self, products: DocumentContainer, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.products = products
        self.refresh_seconds = refresh_seconds
        self._categories: list[Category] | None = None
        self._vocabulary: frozenset[str] = frozenset()
        self._models: dict[str, list[tuple[str, str]]] = {}
        self._read_at = 0.0
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None

    async def counted(self) -> list[Category]:
        """Every category with its number of live products, largest first (ties by name).

        Only the first read (and one after :meth:`forget`) is waited for; an expired read is served while a fresh one
        is made in the background, so no shopper's request pays for reading the whole catalog.
        """
        if self._categories is None:
            async with self._lock:
                if self._categories is None:
                    await self._read()
        elif time.monotonic() - self._read_at >= self.refresh_seconds and self._refreshing is None:
            self._refreshing = asyncio.create_task(self._refresh())
        assert self._categories is not None
        return self._categories

    async def _refresh(self) -> None:
        try:
            async with self._lock:
                await self._read()
        except Exception:  # the next expiry tries again; the last read keeps serving
            log.exception("re-reading the catalog's categories failed")
        finally:
            self._refreshing = None

    async def _read(self) -> None:
        documents = await self.products.query([FieldFilter(DELETED_FIELD, "ne", True)])
        counts = Counter(str(d["category_name"]) for d in documents if isinstance(d.get("category_name"), str))
        self._categories = sorted(
            (Category(name, count) for name, count in counts.items() if name),
            key=lambda category: (-category.count, category.name),
        )
        self._vocabulary = frozenset(word for document in documents for word in catalog_words(document))
        self._models = model_index(documents)
        self._read_at = time.monotonic()

    async def vocabulary(self) -> frozenset[str]:
        """Every word of the live products' names, categories, descriptions and tags (lower case, singular too)."""
        await self.counted()
        return self._vocabulary

    async def models_named_in(self, text: str) -> list[str]:
        """The product models a question names by their model name ("mountain 200" → "Mountain-200", "hl
        mountain frame" → "HL Mountain Frame"), longest first; hyphens and case do not matter."""
        await self.counted()
        words = normalised_name(text).split()
        spoken = f" {' '.join(words)} "
        # Only the models whose first two words the question contains: a few look-ups, whatever the catalog's size.
        starts = {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)} | set(words)
        found = {model for start in starts for key, model in self._models.get(start, ()) if f" {key} " in spoken}
        return sorted(found, key=len, reverse=True)[:MAX_MODELS_NAMED]

    def forget(self) -> None:
        """Read again on next use (after a write that may add a category)."""
        self._categories = None

    async def names(self) -> list[str]:
        return [category.name for category in await self.counted()]

    async def resolve(self, asked: str) -> str:
        """The catalog's spelling of a category a client named: exact, case-insensitive, by its last part
        ("tents" → "Camping, Tents"), or by the same synonyms questions are read with ("tyres").

        Raises:
            ValidationError: no category fits (naming the field ``category``).
        """
        wanted = " ".join(asked.split()).casefold()
        for attempt in range(2):
            names = await self.names()
            for name in names:
                if name.casefold() == wanted or name.rsplit(",", 1)[-1].strip().casefold() == wanted:
                    return name
            # By synonym only for a short name ("tyres", "bike lights"): longer text is not a category at all.
            reading = read_query(asked, names) if len(wanted.split()) <= 3 else None
            if reading is not None and reading.category:
                return reading.category
            # A category written a moment ago may not be in the last read: read again, at most every few seconds
            # (so a stream of made-up categories cannot make every request scan the catalog).
            if attempt or time.monotonic() - self._read_at < MIN_REREAD_SECONDS:
                break
            self.forget()
        hint = f"; {len(names)} categories are listed at GET /api/categories" if names else ""
        raise ValidationError(f"category {asked!r} is not a catalog category{hint}", field="category")
