"""The offline answer: direct, bounded, honest, and citing what it says."""

from __future__ import annotations

import re

from catalog.query_understanding import read_query
from chat.answer_writer import AnswerWriter
from chat.models import ChatPrompt, RetrievedProduct

CATEGORIES = ["Components, Pedals", "Camping, Tents", "Camping, Sleeping Bags", "Bikes, Road Bikes"]


def item(id_: str, name: str, price: float, category: str, variants: list[dict[str, object]] | None = None):
    document = {"id": id_, "name": name, "price": price, "category_name": category,
                "description": f"The {name} is a fine choice. It has more to say."}  # fmt: skip
    return RetrievedProduct(id_, name, 0.5, name, document=document, variants=variants or [])


def answer(question: str, products: list[RetrievedProduct], **prompt: object) -> str:
    reading = read_query(question, CATEGORIES)
    return AnswerWriter().answer(ChatPrompt([], question, products, reading=reading, **prompt))  # type: ignore[arg-type]


def test_a_superlative_names_the_product_and_price_first() -> None:
    text = answer("cheapest pedals", [item("p1", "LL Road Pedal", 40.49, "Components, Pedals"),
                                      item("p2", "ML Road Pedal", 62.09, "Components, Pedals")])  # fmt: skip
    assert text.startswith("The cheapest pedals are the LL Road Pedal at $40.49 [1].")
    assert "ML Road Pedal at $62.09 [2]" in text


def test_a_bounded_question_with_nothing_inside_the_bound_says_so_and_offers_the_closest() -> None:
    closest = [item("t1", "Meadow Dome 4 Family Tent", 279.0, "Camping, Tents")]
    text = answer("a tent under $200", [], no_match=True, closest=closest)
    assert text.startswith("No — nothing at $200.00 or less in tents.")
    assert "Meadow Dome 4 Family Tent at $279.00 [1]" in text


def test_do_you_sell_answers_yes_or_no_first() -> None:
    tents = [item("t1", "Ridgeline UL 2 Backpacking Tent", 389.0, "Camping, Tents")]
    assert answer("do you sell tents?", tents).startswith("Yes — ")
    assert answer("do you sell kayaks?", [], no_match=True).startswith("No — ")


def test_variants_are_one_line_and_every_listed_product_is_cited() -> None:
    variants = [{"id": "b2", "name": "Road-650 Black, 58", "price": 782.99}]
    products = [item("b1", "Road-650 Black, 52", 782.99, "Bikes, Road Bikes", variants),
                item("b3", "Road-250 Red, 44", 2443.35, "Bikes, Road Bikes")]  # fmt: skip
    text = answer("a road bike for racing", products)
    assert "Also in 58." in text
    assert [int(n) for n in re.findall(r"\[(\d+)\]", text)] == [1, 2]


def test_no_developer_notice_in_answers() -> None:
    text = answer("a tent", [item("t1", "Ridgeline UL 2 Backpacking Tent", 389.0, "Camping, Tents")])
    assert "language model" not in text and "CHAT_BACKEND" not in text
