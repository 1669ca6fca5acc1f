"""Direct answers without a language model: the offline chat backend (``CHAT_BACKEND=extractive``).

Still honest — every sentence comes from the catalog and cites its product — but shaped like an answer to what was
asked (the reading of the question from :mod:`catalog.query_understanding` and what retrieval found):

* a superlative names the product and its price first ("The cheapest pedals are the LL Road Pedal at $40.49 [1].");
* a price-bounded question lists only products inside the bound, or says plainly that none is and offers the
  closest;
* "do you sell X?" answers yes or no first;
* a question nothing in the catalog fits is answered "no", not with unrelated products;
* variants of one model are one line ("also in 44, 48, 52").

That no language model is configured is said once (``/api/health``, the page footer), not in every answer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

from catalog.query_understanding import QueryReading
from chat.models import ChatChunk, ChatModel, ChatPrompt, RetrievedProduct, Usage
from chat.tokens import count_tokens

#: Products an answer describes at most (the rest are still cited in the response's citations).
MAX_LISTED = 4


class AnswerWriter(ChatModel):
    """Writes the answer from the retrieved products and the reading of the question, no language model."""

    model_id = "answer-writer-v2"
    is_language_model = False

    def answer(self, prompt: ChatPrompt) -> str:
        """The answer to ``prompt`` (see the module docstring)."""
        reading = prompt.reading
        products = list(prompt.products)
        if reading is None:
            numbered_all = list(enumerate(products, start=1))
            return _listing(numbered_all, "Here is what matches best:") if products else _nothing(None)
        if prompt.no_match or not products:
            return _nothing(reading, prompt.closest)
        numbered = list(enumerate(products, start=1))
        if reading.category and any(_category(p) == reading.category for p in products):
            # "a tent under $200": the stove that also fits the bound is not what was asked about.
            numbered = [(n, p) for n, p in numbered if _category(p) == reading.category]
        if reading.sort in ("price_asc", "price_desc"):
            return _superlative(reading, numbered)
        if reading.question_kind == "yes_no":
            return _yes(reading, numbered)
        return _listing(numbered, _lead(reading))

    async def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatChunk]:
        text = self.answer(prompt)
        # Word-sized pieces, so streaming clients render the same way they would for a language model.
        for piece in re.findall(r"\S+\s*|\s+", text):
            yield ChatChunk(piece)
        yield ChatChunk(usage=Usage(0, count_tokens(text)))


def _superlative(reading: QueryReading, numbered: Sequence[tuple[int, RetrievedProduct]]) -> str:
    number, first = numbered[0]
    word = "cheapest" if reading.sort == "price_asc" else "most expensive"
    kind = _kind(reading, first)
    verb = "are" if kind.endswith("s") else "is"
    sentence = f"The {word} {kind} {verb} the {first.name}{_at_price(first)} [{number}]."
    if _variants(first):
        sentence += f" It comes in {_variants(first)}."
    others = [f"the {p.name}{_at_price(p)} [{n}]" for n, p in numbered[1:MAX_LISTED]]
    if others:
        sentence += " Next: " + "; ".join(others) + "."
    return sentence


def _yes(reading: QueryReading, numbered: Sequence[tuple[int, RetrievedProduct]]) -> str:
    lead = f"Yes — {_bound_phrase(reading) + ', ' if _bound_phrase(reading) else ''}we have these:"
    return _listing(numbered, lead)


def _lead(reading: QueryReading) -> str:
    bound = _bound_phrase(reading)
    return f"{bound[0].upper() + bound[1:]}, these match best:" if bound else "These match best:"


def _listing(numbered: Sequence[tuple[int, RetrievedProduct]], lead: str) -> str:
    lines = [lead]
    for number, product in numbered[:MAX_LISTED]:
        facts = _at_price(product).replace(" at ", "", 1)
        detail = f" — {facts}" if facts else ""
        summary = _first_sentence(str(product.document.get("description") or ""))
        variants = f" Also in {_variants(product)}." if _variants(product) else ""
        lines.append(f"{number}. {product.name}{detail}. {summary}{variants} [{number}]")
    return "\n".join(lines)


def _category(product: RetrievedProduct) -> str:
    return str(product.document.get("category_name") or "")


def _nothing(reading: QueryReading | None, closest: Sequence[RetrievedProduct] = ()) -> str:
    if reading is not None and closest:
        bound = _bound_phrase(reading)
        first = closest[0]
        kind = _kind(reading, first)
        return (
            f"No — nothing{' ' + bound if bound else ''} in {kind}. The closest is the {first.name}"
            f"{_at_price(first)} [1]."
        )
    if reading is not None and reading.identifiers:
        return f"No — the catalog has no product matching {', '.join(reading.identifiers)}."
    return "No — the catalog has nothing that matches this question."


def _kind(reading: QueryReading, product: RetrievedProduct) -> str:
    """What the shopper asked about, in the catalog's words ("road frames", "helmets")."""
    category = reading.category or str(product.document.get("category_name") or "")
    leaf = category.rsplit(",", 1)[-1].strip().lower()
    return leaf or "products"


def _bound_phrase(reading: QueryReading) -> str:
    low, high = reading.min_price, reading.max_price
    if low is not None and high is not None:
        return f"between {_money(low)} and {_money(high)}"
    if high is not None:
        return f"at {_money(high)} or less"
    if low is not None:
        return f"at {_money(low)} or more"
    return ""


def _at_price(product: RetrievedProduct) -> str:
    price = product.document.get("price")
    if isinstance(price, bool) or not isinstance(price, int | float):
        return ""
    return f" at {_money(price)}"


def _money(amount: float) -> str:
    return f"${amount:,.2f}"


def _variants(product: RetrievedProduct) -> str:
    """What the other variants of a grouped result differ in ("58" beside "Road-650 Black, 52"; "Red, 44")."""
    shown = product.name
    differences = []
    for variant in product.variants:
        name = str(variant.get("name") or "")
        common = 0
        while common < min(len(name), len(shown)) and name[common] == shown[common]:
            common += 1
        # Back to the start of the word, so "52"/"58" differ as "58", not "8".
        while common > 0 and name[common - 1] not in " ,-":
            common -= 1
        differences.append(name[common:].strip(" ,-"))
    return ", ".join(difference for difference in differences if difference)


def _first_sentence(text: str) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    return sentences[0].strip() if sentences and sentences[0] else ""
