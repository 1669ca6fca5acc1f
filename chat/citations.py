"""What an answer cites, made to agree with what it says.

A small language model cites loosely: "[1]" after the name of product 3, a product named without a number, an
answer cut off mid-sentence at the token limit. After generation (and before the answer is stored or cached):

* :func:`end_at_sentence` drops an unfinished last sentence;
* :func:`repair_citations` makes every product name in the answer carry its own number (fixing a wrong ``[n]`` right
  after the name, adding a missing one);
* :func:`cited_products` lists the products the answer cites, as product cards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from chat.models import RetrievedProduct

CITATION = re.compile(r"\[(\d{1,3})\]")
#: Characters of a product's description a citation carries (a readable card, not the document).
CITATION_DESCRIPTION_CHARS = 300
#: How far after a product's name its ``[n]`` may stand and still belong to it.
_NEAR = 40
_SENTENCE_END = re.compile(r"[.!?](?:\s*\[\d{1,3}\])*[\"')\]]*(?=\s|$)")


def end_at_sentence(answer: str) -> str:
    """``answer`` up to its last finished sentence (unchanged when it ends with one, or has none)."""
    text = answer.rstrip()
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    if not ends or ends[-1] == len(text):
        return text
    return text[: ends[-1]]


def repair_citations(answer: str, products: Sequence[RetrievedProduct]) -> str:
    """Every product name in ``answer`` followed by its own ``[n]``: a different number right after the name is
    corrected, a missing one added."""
    names = sorted(((p.name, number) for number, p in enumerate(products, start=1) if p.name), key=lambda x: -len(x[0]))
    taken: list[tuple[int, int]] = []
    edits: list[tuple[int, int, str]] = []
    for name, number in names:
        for match in re.finditer(re.escape(name), answer, flags=re.IGNORECASE):
            if any(start < match.end() and match.start() < end for start, end in taken):
                continue  # inside a longer name already handled
            taken.append(match.span())
            marker = CITATION.search(answer, match.end(), match.end() + _NEAR)
            between = answer[match.end() : marker.start()] if marker else ""
            if marker and not any(other.lower() in between.lower() for other, _ in names):
                if int(marker.group(1)) != number:
                    edits.append((marker.start(), marker.end(), f"[{number}]"))
            else:
                edits.append((match.end(), match.end(), f" [{number}]"))
    for start, end, text in sorted(edits, reverse=True):
        answer = answer[:start] + text + answer[end:]
    return answer


def cited_products(answer: str, products: list[RetrievedProduct]) -> list[dict[str, Any]]:
    """The products the answer cites by ``[n]``; every product it names when it cites none by number."""
    numbers = [int(n) for n in CITATION.findall(answer)]
    chosen = [products[n - 1] for n in dict.fromkeys(numbers) if 1 <= n <= len(products)]
    if not chosen:
        lowered = answer.casefold()
        chosen = [p for p in products if p.name.casefold() in lowered]
    return [{"id": p.id, "name": p.name, "score": round(p.score, 6), **card(p.document)} for p in chosen]


def card(document: dict[str, Any]) -> dict[str, Any]:
    """What a citation shows of its product: enough for a readable card, never the whole document."""
    description = str(document.get("description") or "")
    return {
        "price": document.get("price"),
        "category_name": document.get("category_name"),
        "description": description[:CITATION_DESCRIPTION_CHARS],
    }
