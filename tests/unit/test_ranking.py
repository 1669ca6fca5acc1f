"""Ranking by the catalog's structure: variants grouped, superlatives by price, identifiers first, context words,
needs described instead of named, and the questions nothing in the catalog answers."""

from __future__ import annotations

import pytest

from catalog.intents import head_noun, intent_categories, is_whole_catalog, without_context
from catalog.query_understanding import read_query
from catalog.ranking import RankedProduct, group_variants, model_stem, rank

CATEGORIES = ["Bikes, Road Bikes", "Components, Road Frames", "Accessories, Locks", "Accessories, Lights",
              "Components, Handlebars", "Components, Saddles", "Accessories, Pumps", "Components, Wheels"]  # fmt: skip


def product(id_: str, name: str, category: str, price: float, description: str = "") -> dict[str, object]:
    return {"id": id_, "name": name, "category_name": category, "price": price, "description": description}


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("Road-650 Black, 52", "Road-650"),
        ("HL Road Frame - Red, 58", "HL Road Frame"),
        ("Full-Finger Gloves, XL", "Full-Finger Gloves"),
        ("Sport-100 Helmet, Blue", "Sport-100 Helmet"),
        ("Cable Lock", "Cable Lock"),
    ],
)
def test_a_variant_belongs_to_its_model(name: str, stem: str) -> None:
    assert model_stem(name) == stem


def test_variants_of_one_model_are_one_result_listing_the_others() -> None:
    ranked = [
        RankedProduct(product("a", "Road-650 Black, 52", "Bikes, Road Bikes", 782.99), 0.9, 0.9),
        RankedProduct(product("b", "Road-650 Black, 58", "Bikes, Road Bikes", 782.99), 0.89, 0.89),
        RankedProduct(product("c", "Road-250 Red, 44", "Bikes, Road Bikes", 2443.35), 0.8, 0.8),
        RankedProduct(product("d", "Road-650 Red, 44", "Bikes, Road Bikes", 782.99), 0.7, 0.7),
    ]
    grouped = group_variants(ranked)
    assert [item.document["id"] for item in grouped] == ["a", "c"]
    assert [variant["id"] for variant in grouped[0].variants] == ["b", "d"]
    assert len(group_variants(ranked, keep_variants=True)) == 4


def test_the_cheapest_of_the_named_category_comes_first_whatever_its_similarity() -> None:
    pool = [
        (product("lux", "HL Road Frame - Red, 58", "Components, Road Frames", 1431.50), 0.62),
        (product("mid", "ML Road Frame - Red, 58", "Components, Road Frames", 594.83), 0.55),
        (product("low", "LL Road Frame - Black, 58", "Components, Road Frames", 337.22), 0.41),
        (product("bike", "Road-750 Black, 58", "Bikes, Road Bikes", 539.99), 0.7),
    ]
    reading = read_query("cheapest road frame", CATEGORIES)
    assert [item.document["id"] for item in rank(pool, reading)][:3] == ["low", "mid", "lux"]
    reading = read_query("most expensive road frame", CATEGORIES)
    assert rank(pool, reading)[0].document["id"] == "lux"


def test_a_named_category_and_an_identifier_outrank_raw_similarity() -> None:
    pool = [
        (product("bike", "Road-550-W Yellow, 42", "Bikes, Road Bikes", 1120.49), 0.40),
        (product("lock", "Cable Lock", "Accessories, Locks", 25.0), 0.23),
        (product("sku", "LL Road Seat/Saddle", "Components, Saddles", 27.12) | {"sku": "SE-R581"}, 0.10),
    ]
    reading = read_query("a lock", CATEGORIES)
    assert rank(pool, reading)[0].document["id"] == "lock"
    reading = read_query("do you have SE-R581", CATEGORIES)
    assert rank(pool, reading)[0].document["id"] == "sku"


def test_a_described_need_points_at_the_category_that_meets_it() -> None:
    assert intent_categories("stop my bike getting nicked outside the cafe", CATEGORIES) == ("Accessories, Locks",)
    assert intent_categories("how do I put air back in my tires", CATEGORIES) == ("Accessories, Pumps",)
    assert "Components, Saddles" in intent_categories("my butt hurts after an hour on the bike", CATEGORIES)
    # A need the catalog cannot meet points nowhere: no coolers here.
    assert intent_categories("keep my drinks cold all weekend", CATEGORIES) == ()


@pytest.mark.parametrize(
    ("question", "focused"),
    [
        ("a front torch for my handlebars", "a front torch"),
        ("I bent the back wheel of my mountain bike", "I bent the back wheel"),
        ("what tyres do you have for road bikes?", "what tyres do you have ?"),
        ("I'm looking for a French press", "I'm looking for a French press"),  # the thing wanted, not context
    ],
)
def test_context_phrases_do_not_decide_the_category(question: str, focused: str) -> None:
    assert without_context(question) == focused


@pytest.mark.parametrize(
    ("question", "head"),
    [
        ("do you sell kayaks?", "kayaks"),
        ("a bell for my handlebars", "bell"),
        ("chain lube", "lube"),
        ("my butt hurts after an hour on the bike", None),  # a situation, not a product
        ("something to keep my head safe", None),
        ("first aid supplies for a trip", None),  # "supplies" names no kind of product
    ],
)
def test_the_thing_a_question_asks_for(question: str, head: str | None) -> None:
    assert head_noun(question) == head


def test_a_superlative_over_no_kind_of_product_is_about_the_whole_catalog() -> None:
    assert is_whole_catalog(read_query("what's the cheapest thing you sell", CATEGORIES).text)
    assert not is_whole_catalog(read_query("cheapest road frame", CATEGORIES).text)
