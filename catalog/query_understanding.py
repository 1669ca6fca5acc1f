"""Read a shopper's question without a model: price bounds, sort, category, identifiers, attributes, negation.

Search, chat and the semantic cache's guard read questions alike: deterministic, standard library only, time linear in
the input (whitespace is collapsed first, repeats are possessive). Words: :mod:`catalog.query_words`. Decisions:

* Prices. A bound word ("under", "at most", "budget of", "over", "between ... and") and an amount make a price unless
  a unit or product noun follows the number ("under 2 kg", "up to 4 people", "more than 2 bikes"). Without a bound
  word only a range with a currency or "from" is ("$40-$60", "40 to 60 dollars", "from 40 to 60"), so model numbers,
  sizes, counts and years never are, unless "range" follows ("the 1000-1500 range"). Amounts in words before a
  currency word are read ("under fifty dollars", :mod:`catalog.amount_words`). Inclusive. Not read: "around $200", a
  bare "$200 tent", "pounds" (weight), amounts of 1e9 or more. Repeated bounds keep the tightest; a range written
  high-to-low is put in order; contradicting bounds ("over 300 under 100") give neither (no guessing).
* Sort: superlatives and comparatives only ("cheapest", "most affordable", "a cheaper one", "priciest"); "cheap",
  "affordable", "budget" describe the product and stay in the text. Both directions together give no sort; "not the
  cheapest" gives none and negates "sort:price_asc".
* Category, against the catalog's own "Group, Leaf" names. Words are singularised and mapped through the synonym
  table; in a noun compound the last noun is the head ("bike light" is a light). A category qualifies when the head of
  its leaf is a head in the question; leaf words in the same phrase add strength ("road frame"), and a fully matched
  leaf beats a partly matched one ("shorts" is "Shorts", not "Bib-Shorts"). One strongest candidate is the category;
  a tie gives None and the candidates. Group words count only when no leaf does ("bike" where the only bike category
  is "Bike, Accessories"). A negated category leaves the candidates.
* Identifiers: letters and digits together, 4-40 characters, hyphens allowed; not a number with a unit ("4-season").
* Attributes: see ``ATTRIBUTE_WORDS``; "size:<x>" after "size", "size:<n>" for "<n> cm", other measures "<n><unit>".
* Negation: up to two content words (joined by "or") after "not", "no", "without", "non-", "isn't", "except",
  "other than", "anything but"...; they leave the attributes and the category and are listed normalised.
* Kind: "yes_no" wins over "superlative" (``sort`` already carries the superlative), then "list", else "find".
* Text: control characters become spaces, lone surrogates U+FFFD; NFKC folds full-width digits and symbols.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from catalog import query_words as words
from catalog.amount_words import spell_amounts
from catalog.query_words import CatalogWords, Unit

SORT_ASCENDING = "price_asc"
SORT_DESCENDING = "price_desc"


@dataclass(frozen=True)
class QueryReading:
    """What a shopper's question asks for, as far as words alone can tell.

    Attributes:
        text: The question without its price and sort phrases, whitespace-normalised, for embedding; the whole
            question when nothing meaningful would be left.
        min_price: Inclusive lower price bound, or None.
        max_price: Inclusive upper price bound, or None.
        sort: ``"price_asc"``, ``"price_desc"`` or None.
        category: The one catalog category the question resolves to, spelled as in the catalog, or None.
        category_candidates: Every catalog category the words point at, strongest first.
        identifiers: SKU / model-number tokens as written ("BK-M68B-42", "Road-650").
        attributes: Normalised meaning-changing words ("black", "size:44", "women", "4-season").
        negated: Normalised words under a negation ("black", "motor", "lights").
        question_kind: ``"yes_no"``, ``"superlative"``, ``"list"`` or ``"find"``.
        quantity: A count of items or people ("2 person", "two bikes", "pair of"), or None.
    """

    text: str
    min_price: float | None = None
    max_price: float | None = None
    sort: str | None = None
    category: str | None = None
    category_candidates: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    negated: tuple[str, ...] = ()
    question_kind: str = "find"
    quantity: int | None = None

    def understood(self) -> dict[str, Any]:
        """The reading as a small JSON-ready dict of its non-empty parts.

        Returns:
            Keys among ``min_price``/``max_price`` (int when whole), ``sort``, ``category`` (else
            ``category_candidates``), ``identifiers``, ``attributes``, ``negated``, ``quantity`` and ``kind``
            (left out when it is the default ``"find"``).
        """
        parts: dict[str, Any] = {}
        for key in ("min_price", "max_price"):
            if (value := getattr(self, key)) is not None:
                parts[key] = int(value) if float(value).is_integer() else value
        if self.sort:
            parts["sort"] = self.sort
        if self.category:
            parts["category"] = self.category
        elif self.category_candidates:
            parts["category_candidates"] = list(self.category_candidates)
        for key in ("identifiers", "attributes", "negated"):
            if getattr(self, key):
                parts[key] = list(getattr(self, key))
        if self.quantity is not None:
            parts["quantity"] = self.quantity
        if self.question_kind != "find":
            parts["kind"] = self.question_kind
        return parts

    def signature(self) -> tuple[Any, ...]:
        """Everything that changes what the question means, hashable: equal signatures may share a cached answer.

        Order and case do not change meaning: identifiers are upper-cased, attributes and negated words sorted.
        """
        scope = (self.min_price, self.max_price, self.sort, self.category, self.category_candidates)
        identifiers = tuple(sorted({identifier.upper() for identifier in self.identifiers}))
        said = (identifiers, tuple(sorted(set(self.attributes))), tuple(sorted(set(self.negated))))
        return (*scope, *said, self.question_kind, self.quantity)

    def with_overrides(
        self,
        *,
        category: str | None = None,
        min_price: float | None = None,
        max_price: float | None = None,
        sort: str | None = None,
    ) -> QueryReading:
        """A copy in which every explicitly given (non-None) request parameter replaces what the words said.

        A given category also becomes the only candidate, so the signature records the narrower scope.

        Raises:
            ValueError: ``sort`` is neither ``"price_asc"`` nor ``"price_desc"``.
        """
        if sort is not None and sort not in (SORT_ASCENDING, SORT_DESCENDING):
            raise ValueError(f"sort must be {SORT_ASCENDING!r} or {SORT_DESCENDING!r}, not {sort!r}")
        changes: dict[str, Any] = {"min_price": min_price, "max_price": max_price, "sort": sort, "category": category}
        changes = {key: value for key, value in changes.items() if value is not None}
        if category is not None:
            changes["category_candidates"] = (category,)
        return dataclasses.replace(self, **changes)


def read_query(text: str, categories: Sequence[str] = ()) -> QueryReading:
    """Read a shopper's question.

    Args:
        text: The question, of any length and characters.
        categories: The catalog's category names ("Group, Leaf"); only these can be returned.

    Returns:
        The reading; the module docstring lists the rules and what they leave unread.
    """
    names = [categories] if isinstance(categories, str) else categories
    catalog = words.catalog_words(tuple(name for name in names if isinstance(name, str)))
    clean = _clean(text)
    blocked = bytearray(len(clean))  # offsets already read as a price, a sort phrase or an identifier
    removed: list[tuple[int, int]] = []  # spans left out of the text
    lows, highs = _read_prices(clean, catalog, blocked, removed)
    sort, sort_said, sort_negated = _read_sort(clean, blocked, removed)
    identifiers = _read_identifiers(clean, blocked)
    positive, negated = _split_negation(words.read_units(clean, blocked, catalog))
    candidates = _match_categories(positive, catalog)
    if refused := _match_categories(negated, catalog):  # the strongest only: "not a road bike" keeps other bikes
        candidates = [pair for pair in candidates if pair[0] not in {n for n, s in refused if s == refused[0][1]}]
    clear = len(candidates) == 1 or (len(candidates) > 1 and candidates[0][1] > candidates[1][1])
    low, high = (max(lows) if lows else None), (min(highs) if highs else None)
    if low is not None and high is not None and low > high:
        low = high = None
    return QueryReading(
        text=_question_text(clean, removed),
        min_price=low,
        max_price=high,
        sort=sort,
        category=candidates[0][0] if clear else None,
        category_candidates=tuple(name for name, _ in candidates),
        identifiers=identifiers,
        attributes=_unique(attribute for unit in positive for attribute in unit.attributes),
        negated=_unique([*sort_negated, *(unit.label for unit in negated)]),
        question_kind=_question_kind(clean, sort_said),
        quantity=_quantity(positive, catalog),
    )


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", re.sub("[\ud800-\udfff]", "\ufffd", text))
    text = " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", text).split())
    return spell_amounts(re.sub(r"\bw/o\b", "without", text, flags=re.IGNORECASE))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for item in items if item))


def _take(blocked: bytearray, span: tuple[int, int]) -> bool:
    """Claim the span for one reading; False when part of it was already read."""
    if blocked.find(1, *span) != -1:
        return False
    blocked[span[0] : span[1]] = b"\x01" * (span[1] - span[0])
    return True


def _question_text(clean: str, removed: list[tuple[int, int]]) -> str:
    if not removed:
        return clean
    spans = sorted(removed)
    kept = (clean[end:start] for (_, end), (start, _) in zip([(0, 0), *spans], [*spans, (len(clean), 0)], strict=True))
    text = " ".join("".join(kept).split())
    text = re.sub(r"([,;:])(?: ?[,;:])++", r"\1", re.sub(r" ([,.;:!?])", r"\1", text)).strip(" ,;:-")
    return text if any(word.lower() not in words.FUNCTION_WORDS for word in words.WORD.findall(text)) else clean


# --- Prices --------------------------------------------------------------------------------------------------------

_NUMBER = r"(?>[0-9]{1,3}(?:,[0-9]{3})++|[0-9]++)(?:\.[0-9]++)?(?![0-9]|[.,][0-9])"


def _amount(name: str) -> str:
    return (
        rf"(?P<{name}_pre>(?:{words.phrases(words.CURRENCY_BEFORE)}) ?)?(?P<{name}>{_NUMBER})"
        rf"(?P<{name}_k>k(?![^\W\d_]))?(?P<{name}_post> ?(?:{words.phrases(words.CURRENCY_AFTER)}))?(?![^\W_])"
    )


_LEAD, _START = rf"(?:(?:{words.phrases(words.BOUND_LEADS)}) )?", r"(?<![\w.,/-])"
_PRICES = tuple(
    (bound, re.compile(pattern, re.IGNORECASE))
    for bound, pattern in (
        ("range", rf"\b{_LEAD}(?P<between>between) ?{_amount('a')} ?(?:and|to|-|–) ?{_amount('b')}"),
        ("range", rf"(?:\b{_LEAD}(?P<from>from) )?{_START}{_amount('a')} ?(?:-|–|to|until) ?{_amount('b')}"),
        ("max", rf"(?:\b{_LEAD}(?P<word>{words.phrases(words.UPPER_BOUND_WORDS)})|[<≤]=?) ?:? ?{_amount('a')}"),
        ("min", rf"(?:\b{_LEAD}(?P<word>{words.phrases(words.LOWER_BOUND_WORDS)})|[>≥]=?) ?:? ?{_amount('a')}"),
        *(
            (bound, rf"{_START}{_amount('a')} ?(?:(?:{words.phrases(plain)})\b|(?P<needs>{words.phrases(currency)}))")
            for bound, plain, currency in (
                ("max", words.UPPER_AFTER_WORDS, words.UPPER_AFTER_CURRENCY_WORDS),
                ("min", words.LOWER_AFTER_WORDS, words.LOWER_AFTER_CURRENCY_WORDS),
            )
        ),
    )
)
_NEXT_WORD = re.compile(r" ?-? ?(?:([^\W\d_]++)|([\"”″%°]))")


def _value(match: re.Match[str], name: str) -> float | None:
    digits = match.group(name).replace(",", "")
    value = float(digits) * (1000 if match.group(f"{name}_k") else 1) if len(digits) <= 15 else None
    return value if value is not None and value < 1e9 else None


def _is_price(match: re.Match[str], bound: str, clean: str, catalog: CatalogWords) -> bool:
    """With a currency, yes; else only after a bound word, and not before a unit or noun ("under 2 kg", "2 bikes")."""
    groups = match.groupdict()
    if any(groups.get(f"{name}_pre") or groups.get(f"{name}_post") for name in ("a", "b")):
        return True
    if groups.get("needs") or (groups.get("word") or "").lower() == "from":
        return False
    if bound == "range" and not (groups.get("between") or groups.get("from")):
        # "in the 1000-1500 range": the word after says it is money; a bare "58-62" is a size or a model.
        after = _NEXT_WORD.match(clean, match.end())
        return after is not None and (after[1] or "").lower() in ("range", "bracket", "price")
    following = _NEXT_WORD.match(clean, match.end())
    if following is None or following[2]:
        return following is None
    return following[1].lower() not in words.UNIT_WORDS and catalog.noun(following[1].lower()) not in catalog.nouns


def _read_prices(
    clean: str, catalog: CatalogWords, blocked: bytearray, removed: list[tuple[int, int]]
) -> tuple[list[float], list[float]]:
    lows: list[float] = []
    highs: list[float] = []
    for bound, pattern in _PRICES:
        for match in pattern.finditer(clean):
            names = ("a", "b") if bound == "range" else ("a",)
            amounts = sorted(value for name in names if (value := _value(match, name)) is not None)
            if len(amounts) == len(names) and _is_price(match, bound, clean, catalog) and _take(blocked, match.span()):
                lows.extend(amounts[:1] if bound != "max" else [])
                highs.extend(amounts[-1:] if bound != "min" else [])
                removed.append(match.span())
    return lows, highs


# --- Sort and identifiers ----------------------------------------------------------------------------------------

_SORT = re.compile(rf"\b(?:{words.phrases((*words.SORT_ASCENDING, *words.SORT_DESCENDING))})\b", re.IGNORECASE)
_SORT_KIND = dict.fromkeys(words.SORT_ASCENDING, SORT_ASCENDING) | dict.fromkeys(words.SORT_DESCENDING, SORT_DESCENDING)
_NOT_BEFORE = re.compile(r"(?:\bnot|n't) (?:(?:the|a|an) )?$", re.IGNORECASE)


def _read_sort(clean: str, blocked: bytearray, removed: list[tuple[int, int]]) -> tuple[str | None, bool, list[str]]:
    """The order, whether a sort phrase was said (not negated), and negated orders as "sort:<order>"."""
    said: set[str] = set()
    negated: list[str] = []
    for match in _SORT.finditer(clean):
        if _take(blocked, match.span()):
            kind = _SORT_KIND[" ".join(re.split(r"[\s-]+", match.group().lower()))]
            if _NOT_BEFORE.search(clean, max(0, match.start() - 12), match.start()):
                negated.append(f"sort:{kind}")
            else:
                said.add(kind)
                removed.append(match.span())
    return (next(iter(said)) if len(said) == 1 else None), bool(said), negated


_IDENTIFIER = re.compile(r"(?<![\w-])[A-Za-z0-9]++(?:-[A-Za-z0-9]++)*+(?![\w-])")
_NOT_IDENTIFIER_UNITS = words.UNIT_WORDS | {"k", "st", "nd", "rd", "th", "s", "p", "h", "in", "usd", "eur", "gbp"}
_NUMBER_AND_UNIT = re.compile(
    rf"[0-9]+(?:[.,][0-9]+)?-?(?:{words.phrases(_NOT_IDENTIFIER_UNITS)}|x*[sl])(?:-.*)?|(?:usd|eur|gbp)[0-9].*",
    re.IGNORECASE,
)


def _read_identifiers(clean: str, blocked: bytearray) -> tuple[str, ...]:
    return _unique(
        match.group()
        for match in _IDENTIFIER.finditer(clean)
        if re.fullmatch(r"(?=.*[A-Za-z])(?=.*[0-9]).{4,40}", match.group())
        and not _NUMBER_AND_UNIT.fullmatch(match.group())
        and _take(blocked, match.span())
    )


# --- Words: negation, count, category ----------------------------------------------------------------------------


def _split_negation(units: list[Unit]) -> tuple[list[Unit], list[Unit]]:
    """Units said plainly, and units under a negation (up to two content words after each, one after "non-")."""
    positive: list[Unit] = []
    negated: list[Unit] = []
    i = 0
    while i < len(units):
        unit = units[i]
        pair = i + 1 < len(units) and units[i + 1].joined and (unit.word, units[i + 1].word) in words.NEGATION_PAIRS
        if unit.word not in words.NEGATIONS and not pair:
            positive.append(unit)
            i += 1
            continue
        i, taken, expecting, limit = i + (2 if pair else 1), 0, True, 1 if unit.word == "non" else 2
        while i < len(units) and taken < limit and units[i].joined and units[i].word not in words.NEGATIONS:
            word = units[i].word
            if expecting and word in words.NEGATION_SKIPS or (taken and word in words.JOINERS):
                expecting = True
            elif (word in words.FUNCTION_WORDS and not units[i].attributes) or units[i].number is not None:
                break
            else:
                negated.append(units[i])
                taken, expecting = taken + 1, False
            i += 1
    return positive, negated


def _quantity(units: list[Unit], catalog: CatalogWords) -> int | None:
    for k, (unit, following) in enumerate(zip(units, units[1:], strict=False)):
        if not following.joined:
            continue
        if unit.word in ("pair", "pairs") and following.word == "of" and (k == 0 or units[k - 1].number is None):
            return 2
        if unit.word in ("sleep", "sleeps") and following.number and following.number < 1000:
            return following.number
        noun = following.nouns[-1] if following.nouns else ""
        counted = words.singular(following.word) in words.COUNT_NOUNS or noun in catalog.nouns
        if unit.number and 0 < unit.number < 1000 and counted:
            return unit.number
    return None


def _match_categories(units: list[Unit], catalog: CatalogWords) -> list[tuple[str, tuple[int, int]]]:
    """Categories the units point at, strongest first, with (leaf words matched, minus leaf words missing)."""
    runs: list[list[str]] = []  # noun phrases: adjacent units whose words may name products
    previous: Unit | None = None
    for unit in units:
        if not any(noun in catalog.words for noun in unit.nouns):
            previous = None
            continue
        if previous is not None and unit.joined and unit.index == previous.index + 1:
            runs[-1].extend(unit.nouns)
        else:
            runs.append(list(unit.nouns))
        previous = unit
    strength: dict[str, tuple[int, int]] = {}
    for run in runs:
        present = set(run)
        for p, noun in enumerate(run):
            if noun not in catalog.heads or (p + 1 < len(run) and run[p + 1] in catalog.nouns):
                continue  # not a head, or a modifier of the next noun: "bike" in "bike light"
            for category in catalog.categories:
                matched = category.leaf & present
                if noun in category.heads and (
                    noun not in words.GENERIC_HEADS or len(matched) > 1 or category.group & present
                ):
                    score = (len(matched), len(matched) - len(category.leaf))
                    strength[category.name] = max(strength.get(category.name, score), score)
    for run in runs if not strength else ():
        strength.update({c.name: (0, 0) for c in catalog.categories if c.group & set(run)})
    return sorted(strength.items(), key=lambda pair: (-pair[1][0], -pair[1][1], pair[0]))


# --- Kind --------------------------------------------------------------------------------------------------------


def _question_kind(clean: str, sort_said: bool) -> str:
    if any(words.YES_NO_QUESTION.match(clause.strip()) for clause in re.split(r"[,.!?;:]", clean)):
        return "yes_no"
    return "superlative" if sort_said else "list" if words.LIST_QUESTION.search(clean) else "find"
