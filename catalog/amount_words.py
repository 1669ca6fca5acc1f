"""Amounts written in words before a currency word ("under fifty dollars", "a hundred and fifty bucks", "two grand"),
turned into digits before a question is read for price bounds."""

from __future__ import annotations

import re

NUMBER_WORDS = dict(
    zip(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split(),
        range(20),
        strict=True,
    )
) | {word: 10 * tens for tens, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
SCALE_WORDS = {"hundred": 100, "thousand": 1000, "grand": 1000}

_NUMBER = "|".join([*NUMBER_WORDS, *SCALE_WORDS, "a", "and"])
#: Number words right before a currency word: "fifty dollars", "a hundred and fifty bucks", "two grand".
_SPELLED_AMOUNT = re.compile(
    rf"\b((?:(?:{_NUMBER})[\s-]+)*(?:{'|'.join([*NUMBER_WORDS, *SCALE_WORDS])}))"
    r"(?=\s*(?:dollars?|bucks|usd|euros?|quid)\b|(?<=grand)\b)",
    re.IGNORECASE,
)


def _amount_in_digits(match: re.Match[str]) -> str:
    """ "a hundred and fifty" -> "150" (the amount words of :data:`_SPELLED_AMOUNT`)."""
    total = current = 0
    for word in re.split(r"[\s-]+", match.group(1).lower()):
        if word in NUMBER_WORDS:
            current += NUMBER_WORDS[word]
        elif word in ("hundred",):
            current = max(current, 1) * 100
        elif word in ("thousand", "grand"):
            total += max(current, 1) * 1000
            current = 0
        elif word == "a":
            current = max(current, 1) if current == 0 else current
    value = total + current
    return str(value) + (" dollars" if match.group(1).lower().endswith("grand") else "") if value else match.group(0)


def spell_amounts(text: str) -> str:
    """Amounts in words before a currency word as digits: "under fifty dollars" -> "under 50 dollars"."""
    return _SPELLED_AMOUNT.sub(_amount_in_digits, text)
