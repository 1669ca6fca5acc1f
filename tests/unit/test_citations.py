"""A small model's answer made to agree with its citations, and the short records it is shown."""

from __future__ import annotations

from chat.citations import cited_products, end_at_sentence, repair_citations
from chat.models import RetrievedProduct
from chat.prompt import product_block, reading_sentence


def product(number: int, name: str, price: float = 10.0) -> RetrievedProduct:
    document = {"id": f"p{number}", "name": name, "price": price, "category_name": "Camping, Tents",
                "description": "word " * 100}  # fmt: skip
    return RetrievedProduct(f"p{number}", name, 0.5, name, document=document)


PRODUCTS = [product(1, "Ridge Tent"), product(2, "Feather Tent"), product(3, "Lodge Tent")]


def test_a_name_cited_with_another_products_number_gets_its_own() -> None:
    repaired = repair_citations("The Feather Tent [1] is lighter than the Ridge Tent [1].", PRODUCTS)
    assert repaired == "The Feather Tent [2] is lighter than the Ridge Tent [1]."
    assert [c["id"] for c in cited_products(repaired, PRODUCTS)] == ["p2", "p1"]


def test_a_name_without_a_number_gets_one_and_a_right_one_is_left_alone() -> None:
    assert repair_citations("Try the Lodge Tent for families.", PRODUCTS) == "Try the Lodge Tent [3] for families."
    assert repair_citations("The Ridge Tent [1] fits.", PRODUCTS) == "The Ridge Tent [1] fits."


def test_an_answer_cut_at_the_token_limit_ends_at_its_last_whole_sentence() -> None:
    assert end_at_sentence("The Ridge Tent [1] fits two. The Feather Tent is") == "The Ridge Tent [1] fits two."
    assert end_at_sentence("The Ridge Tent [1] fits two.") == "The Ridge Tent [1] fits two."
    assert end_at_sentence("no sentence end at all") == "no sentence end at all"


def test_records_are_short_numbered_like_the_answer_cites_and_carry_no_ids() -> None:
    block = product_block(PRODUCTS[:1])
    assert "[1] Ridge Tent — Camping, Tents — $10.00" in block
    assert "id=" not in block and block.count("word") <= 41


def test_the_reading_is_told_to_the_model_in_words() -> None:
    sentence = reading_sentence({"max_price": 200, "sort": "price_asc", "category": "Camping, Tents"})
    expected = "Only products at $200.00 or less; listed cheapest first: [1] is the cheapest; in Camping, Tents."
    assert sentence == expected
    assert reading_sentence({}) == ""
