"""Reading a shopper's question without a model: prices, sort, category, identifiers, attributes, negation, kind."""

from __future__ import annotations

import json
import random

import pytest

from catalog.query_understanding import QueryReading, read_query

# The Cosmic Works catalog's categories, as its products spell them.
COSMIC_WORKS = [
    "Accessories, Bike Racks",
    "Accessories, Bike Stands",
    "Accessories, Bottles and Cages",
    "Accessories, Cleaners",
    "Accessories, Fenders",
    "Accessories, Helmets",
    "Accessories, Hydration Packs",
    "Accessories, Lights",
    "Accessories, Locks",
    "Accessories, Panniers",
    "Accessories, Pumps",
    "Accessories, Tires and Tubes",
    "Bikes, Mountain Bikes",
    "Bikes, Road Bikes",
    "Bikes, Touring Bikes",
    "Clothing, Bib-Shorts",
    "Clothing, Caps",
    "Clothing, Gloves",
    "Clothing, Jerseys",
    "Clothing, Shorts",
    "Clothing, Socks",
    "Clothing, Tights",
    "Clothing, Vests",
    "Components, Bottom Brackets",
    "Components, Brakes",
    "Components, Chains",
    "Components, Cranksets",
    "Components, Derailleurs",
    "Components, Forks",
    "Components, Handlebars",
    "Components, Headsets",
    "Components, Mountain Frames",
    "Components, Pedals",
    "Components, Road Frames",
    "Components, Saddles",
    "Components, Touring Frames",
    "Components, Wheels",
]
# The outdoor shop sample catalog (devhost/sample_products.json).
OUTDOOR = [
    "Bike, Accessories",
    "Camping, Coolers",
    "Camping, Furniture",
    "Camping, Headlamps & Lanterns",
    "Camping, Sleeping Bags",
    "Camping, Sleeping Pads",
    "Camping, Stoves & Cookware",
    "Camping, Tents",
    "Clothing, Insulated Jackets",
    "Clothing, Rain Jackets",
    "Footwear, Hiking Boots",
    "Footwear, Trail Shoes",
    "Hiking, Backpacks",
    "Hiking, Safety",
    "Hiking, Trekking Poles",
    "Hiking, Water Filters",
    "Home, Blankets",
    "Kitchen, Coffee Gear",
    "Kitchen, Knife Care",
    "Kitchen, Knives",
]
BIKES = ("Bikes, Mountain Bikes", "Bikes, Road Bikes", "Bikes, Touring Bikes")
FRAMES = ("Components, Mountain Frames", "Components, Road Frames", "Components, Touring Frames")


def cw(question: str) -> QueryReading:
    return read_query(question, COSMIC_WORKS)


def outdoor(question: str) -> QueryReading:
    return read_query(question, OUTDOOR)


# --- Prices ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "low", "high"),
    [
        ("road bike under $200", None, 200),
        ("helmet under 200 dollars", None, 200),
        ("socks below 50", None, 50),
        ("gloves less than 90 dollars", None, 90),
        ("tents for less than 90", None, 90),
        ("a lock cheaper than $100", None, 100),
        ("wheels no more than 300", None, 300),
        ("wheels not more than 300", None, 300),
        ("a frame at most $500", None, 500),
        ("pedals max $80", None, 80),
        ("a saddle up to 150", None, 150),
        ("a bike within a budget of 200", None, 200),
        ("budget of $200 for a jersey", None, 200),
        ("lights $200 or less", None, 200),
        ("a pump 200 or under", None, 200),
        ("a frame under 1k", None, 1000),
        ("a road bike under 1.5k", None, 1500),
        ("touring bike under $1,200", None, 1200),
        ("bikes over $300", 300, None),
        ("bikes above 300", 300, None),
        ("frames more than 250", 250, None),
        ("at least 40 for a jersey", 40, None),
        ("bikes from $1000", 1000, None),
        ("helmets $50 or more", 50, None),
        ("gloves min 40", 40, None),
        ("road bikes starting at 500", 500, None),
        ("between 40 and 60", 40, 60),
        ("a helmet between $40 and $60", 40, 60),
        ("a helmet $40-$60", 40, 60),
        ("jersey 40 to 60 dollars", 40, 60),
        ("gloves from 40 to 60", 40, 60),
        ("a tent under €150", None, 150),
        ("a tent under £150", None, 150),
        ("a tent under 150 usd", None, 150),
        ("a tent under 150 bucks", None, 150),
        ("a tent under ＄150", None, 150),  # full-width dollar sign and digits fold to ASCII
    ],
)
def test_price_bounds_in_words_and_symbols_are_read_inclusively(question: str, low: float | None, high: float | None):
    reading = cw(question)
    assert (reading.min_price, reading.max_price) == (low, high)


@pytest.mark.parametrize(
    "question",
    [
        "Road-250",
        "Mountain-200 Black 42",
        "BK-M68B-42",
        "HL Road Frame - Red, 58",
        "size 44 jersey",
        "a 58 cm frame",
        "a 20 cm knife",
        "1 L thermos",
        "6L filter",
        "28 liter pack",
        "2 person tent",
        "4-season tent",
        "two bikes",
        "a 2024 road bike",
        "road bike 650",
        "a tent under 2 kg",
        "up to 4 people",
        "more than 2 bikes",
        "from 1000",  # "from" needs a currency
        "80 max",  # an amount-then-"max" needs a currency
        "tent for 200",  # "for" alone is not a bound
        "around $200",
        "a $200 tent",
        "a 58-62 frame",  # a bare range is a size, unless "range"/"price" follows
        "under 5 pounds",  # weight
        'under 29" wheels',
    ],
)
def test_numbers_that_are_not_prices_set_no_bound(question: str):
    reading = cw(question)
    assert (reading.min_price, reading.max_price) == (None, None)


@pytest.mark.parametrize(
    ("question", "bounds"),
    [
        ("pedals under fifty dollars", (None, 50)),
        ("under two hundred dollars", (None, 200)),
        ("a tent under a hundred and fifty bucks", (None, 150)),
        ("a bike under two grand", (None, 2000)),
        ("road bike in the 1000-1500 range", (1000, 1500)),
    ],
)
def test_amounts_in_words_and_a_range_said_to_be_one(question: str, bounds: tuple[float | None, float | None]):
    reading = cw(question)
    assert (reading.min_price, reading.max_price) == bounds


def test_contradicting_bounds_give_neither_but_leave_the_text():
    reading = cw("road bike over 300 under 100")
    assert (reading.min_price, reading.max_price) == (None, None)
    assert reading.text == "road bike"


def test_repeated_bounds_keep_the_tightest_and_a_backward_range_is_ordered():
    assert cw("under $200, actually under $100 helmet").max_price == 100
    assert cw("over 50 and over 80").min_price == 80
    assert (cw("between 60 and 40").min_price, cw("between 60 and 40").max_price) == (40, 60)


@pytest.mark.parametrize(
    "question", ["under $2000000000", "under 1.5e9", "under -50", "under $-50", "under 9" + "9" * 40]
)
def test_huge_and_negative_amounts_are_ignored(question: str):
    assert cw(question).max_price is None


def test_price_phrases_leave_the_text_that_is_embedded():
    assert cw("black road bike under $800 please").text == "black road bike please"
    assert cw("tents, under $200, for winter").text == "tents, for winter"


def test_text_is_never_emptied_by_removing_constraints():
    assert cw("under $200").text == "under $200"
    assert cw("what's the cheapest?").text == "what's the cheapest?"
    assert cw("  show   me\tthe\nrange  ").text == "show me the range"


# --- Sort -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "sort"),
    [
        ("cheapest helmet", "price_asc"),
        ("the least expensive helmet", "price_asc"),
        ("lowest-priced pedals", "price_asc"),
        ("lowest price jersey", "price_asc"),
        ("lowest-cost lock", "price_asc"),
        ("most affordable lock", "price_asc"),
        ("least costly pump", "price_asc"),
        ("the cheaper one", "price_asc"),
        ("do you have a cheaper one?", "price_asc"),
        ("road bikes sorted by price", "price_asc"),
        ("most expensive bike", "price_desc"),
        ("priciest saddle", "price_desc"),
        ("highest-priced wheels", "price_desc"),
        ("highest price frame", "price_desc"),
        ("the most premium helmet", "price_desc"),
        ("top-of-the-range wheels", "price_desc"),
        ("dearest fork", "price_desc"),
        ("road bikes, price high to low", "price_desc"),
        ("cheapest to most expensive road bikes", "price_asc"),
        ("sort by price descending", "price_desc"),
    ],
)
def test_superlatives_and_comparatives_set_the_sort(question: str, sort: str):
    assert cw(question).sort == sort


@pytest.mark.parametrize("question", ["a cheap helmet", "affordable lights", "budget road bike", "inexpensive tent"])
def test_vague_price_words_describe_the_product_and_do_not_sort(question: str):
    reading = cw(question)
    assert reading.sort is None
    assert reading.text == question


def test_a_negated_superlative_does_not_sort():
    reading = cw("not the cheapest helmet")
    assert reading.sort is None
    assert reading.negated == ("sort:price_asc",)
    assert reading.text == "not the cheapest helmet"


def test_both_directions_at_once_give_no_sort():
    assert cw("cheapest and most expensive helmet").sort is None


def test_sort_words_leave_the_text():
    assert cw("cheapest road frame under $500").text == "road frame"


def test_the_worked_example_reads_every_part():
    reading = cw("cheapest road frame under $500")
    assert reading.sort == "price_asc"
    assert reading.max_price == 500
    assert reading.category == "Components, Road Frames"
    assert reading.question_kind == "superlative"


# --- Categories -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "category"),
    [
        ("road frame", "Components, Road Frames"),
        ("mountain bike", "Bikes, Mountain Bikes"),
        ("MTB", "Bikes, Mountain Bikes"),
        ("touring bicycle", "Bikes, Touring Bikes"),
        ("bike light", "Accessories, Lights"),
        ("a headlight for my bike", "Accessories, Lights"),
        ("bike lock", "Accessories, Locks"),
        ("bike rack", "Accessories, Bike Racks"),
        ("bike stand", "Accessories, Bike Stands"),
        ("tyres", "Accessories, Tires and Tubes"),
        ("tire", "Accessories, Tires and Tubes"),
        ("inner tube", "Accessories, Tires and Tubes"),
        ("water bottle", "Accessories, Bottles and Cages"),
        ("bottle cage", "Accessories, Bottles and Cages"),
        ("shorts", "Clothing, Shorts"),
        ("bib shorts", "Clothing, Bib-Shorts"),
        ("Men's Bib-Shorts", "Clothing, Bib-Shorts"),
        ("cycling shirt", "Clothing, Jerseys"),
        ("leggings", "Clothing, Tights"),
        ("gilet", "Clothing, Vests"),
        ("full-finger gloves", "Clothing, Gloves"),
        ("a seat", "Components, Saddles"),
        ("handlebars", "Components, Handlebars"),
        ("mudguard", "Accessories, Fenders"),
        ("camelbak", "Accessories, Hydration Packs"),
        ("degreaser", "Accessories, Cleaners"),
        ("crank", "Components, Cranksets"),
        ("rear mech", "Components, Derailleurs"),
        ("bottom bracket", "Components, Bottom Brackets"),
        ("headset", "Components, Headsets"),
        ("road bike with lights", "Bikes, Road Bikes"),
        ("road bike saddle", "Components, Saddles"),  # the last noun is the head: a saddle, not a road bike
        ("mountain bike tyres", "Accessories, Tires and Tubes"),
        ("road bike light", "Accessories, Lights"),
    ],
)
def test_cosmic_works_words_resolve_to_its_category(question: str, category: str):
    assert cw(question).category == category


@pytest.mark.parametrize(
    ("question", "category"),
    [
        ("tent", "Camping, Tents"),
        ("tents", "Camping, Tents"),
        ("sleeping bag", "Camping, Sleeping Bags"),
        ("sleeping mat", "Camping, Sleeping Pads"),
        ("camping stove", "Camping, Stoves & Cookware"),
        ("cook pot", "Camping, Stoves & Cookware"),
        ("headlamp", "Camping, Headlamps & Lanterns"),
        ("head torch", "Camping, Headlamps & Lanterns"),
        ("lamp", "Camping, Headlamps & Lanterns"),
        ("rain jacket", "Clothing, Rain Jackets"),
        ("waterproof jacket", "Clothing, Rain Jackets"),
        ("puffy", "Clothing, Insulated Jackets"),
        ("hiking boots", "Footwear, Hiking Boots"),
        ("trail runners", "Footwear, Trail Shoes"),
        ("water purifier", "Hiking, Water Filters"),
        ("rucksack", "Hiking, Backpacks"),
        ("chef's knife", "Kitchen, Knives"),
        ("knives", "Kitchen, Knives"),
        ("whetstone", "Kitchen, Knife Care"),
        ("knife sharpener", "Kitchen, Knife Care"),
        ("coffee grinder", "Kitchen, Coffee Gear"),
        ("french press", "Kitchen, Coffee Gear"),
        ("thermos", "Kitchen, Coffee Gear"),
        ("throw blanket", "Home, Blankets"),
        ("trekking poles", "Hiking, Trekking Poles"),
        ("camp chair", "Camping, Furniture"),
        ("first aid kit", "Hiking, Safety"),
        ("icebox", "Camping, Coolers"),
        ("bike light", "Bike, Accessories"),  # no lights category here: the group word decides
    ],
)
def test_outdoor_words_resolve_to_its_category(question: str, category: str):
    assert outdoor(question).category == category


@pytest.mark.parametrize(
    ("reader", "question", "candidates"),
    [
        (cw, "frame", FRAMES),
        (cw, "bike", BIKES),
        (cw, "a bicycle", BIKES),
        (outdoor, "jacket", ("Clothing, Insulated Jackets", "Clothing, Rain Jackets")),
    ],
)
def test_an_ambiguous_word_lists_candidates_without_choosing(reader, question: str, candidates: tuple[str, ...]):
    reading = reader(question)
    assert reading.category is None
    assert reading.category_candidates == candidates


def test_a_modifier_makes_its_category_the_strongest_candidate():
    reading = cw("road frame")
    assert reading.category_candidates[0] == "Components, Road Frames"
    assert set(reading.category_candidates) == set(FRAMES)


@pytest.mark.parametrize(("reader", "question"), [(cw, "kayak"), (outdoor, "kayak"), (outdoor, "camping gear")])
def test_unknown_or_too_general_words_choose_no_category(reader, question: str):
    assert reader(question).category is None


def test_only_categories_of_the_given_catalog_are_returned():
    assert cw("tent").category is None
    assert outdoor("road frame").category_candidates == ()
    assert read_query("road frame").category_candidates == ()
    assert read_query("tent", "Camping, Tents").category == "Camping, Tents"  # one name, not its characters


# --- Identifiers ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "identifiers"),
    [
        ("BK-M68B-42 in stock?", ("BK-M68B-42",)),
        ("price of SE-R581", ("SE-R581",)),
        ("is the Road-650 any good", ("Road-650",)),
        ("HL-U509 vs FR-M94S-44", ("HL-U509", "FR-M94S-44")),
        ("FR-R92B-58, bk-m68b-42", ("FR-R92B-58", "bk-m68b-42")),
        ("Road-550-W yellow 48", ("Road-550-W",)),
        ("Mountain-200 Black 42", ("Mountain-200",)),
    ],
)
def test_model_numbers_are_kept_as_written(question: str, identifiers: tuple[str, ...]):
    assert cw(question).identifiers == identifiers


@pytest.mark.parametrize(
    "question",
    ["4-season tent", "2-person tent", "3L bladder", "20cm knife", "1L thermos", "28L pack", "$200", "200usd", "2024"],
)
def test_numbers_with_units_and_plain_numbers_are_not_identifiers(question: str):
    assert outdoor(question).identifiers == ()


# --- Attributes -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "question", "attribute"),
    [
        (cw, "black road bike", "black"),
        (cw, "a gray helmet", "grey"),
        (cw, "multicoloured jersey", "multi"),
        (cw, "jersey size 44", "size:44"),
        (cw, "vest, size: L", "size:l"),
        (cw, "XL vest", "size:xl"),
        (cw, "extra large jersey", "size:xl"),
        (cw, "a small helmet", "small"),
        (cw, "a 58 cm frame", "size:58"),
        (cw, "women's tights", "women"),
        (cw, "ladies gloves", "women"),
        (cw, "mens shorts", "men"),
        (cw, "kids helmet", "kids"),
        (cw, "short-sleeve jersey", "short-sleeve"),
        (cw, "HL road tire", "grade:hl"),
        (outdoor, "4-season tent", "4-season"),
        (outdoor, "three season tent", "3-season"),
        (outdoor, "summer sleeping bag", "summer"),
        (outdoor, "waterproof boots", "waterproof"),
        (outdoor, "1 L thermos", "1l"),
    ],
)
def test_meaning_changing_words_are_attributes(reader, question: str, attribute: str):
    assert attribute in reader(question).attributes


def test_short_sleeve_is_not_the_shorts_category():
    assert cw("short-sleeve jersey").category == "Clothing, Jerseys"


def test_a_size_letter_counts_only_after_size():
    assert cw("women's tights, S").attributes == ("women",)


# --- Negation ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "question", "negated"),
    [
        (cw, "a helmet, not black", ("black",)),
        (cw, "a bike without a motor", ("motor",)),
        (cw, "no lights please", ("lights",)),
        (cw, "a helmet that isn't white", ("white",)),
        (cw, "everything except tights", ("tights",)),
        (cw, "anything but gloves", ("gloves",)),
        (cw, "other than red", ("red",)),
        (cw, "a bike without a motor or lights", ("motor", "lights")),
        (outdoor, "non-waterproof jacket", ("waterproof",)),
        (outdoor, "doesn't need to be waterproof", ("waterproof",)),
        (outdoor, "a tent, not a sleeping bag", ("sleeping bags",)),
        (cw, "no tyres", ("tires",)),
    ],
)
def test_negated_words_are_listed_normalised(reader, question: str, negated: tuple[str, ...]):
    assert reader(question).negated == negated


def test_a_negated_word_is_not_an_attribute():
    reading = cw("black road bike, not red")
    assert reading.attributes == ("black", "road")
    assert reading.negated == ("red",)


def test_a_negated_category_leaves_the_candidates():
    assert cw("bikes but not mountain bikes").category_candidates == ("Bikes, Road Bikes", "Bikes, Touring Bikes")
    assert cw("not a road bike, a mountain bike").category == "Bikes, Mountain Bikes"
    assert outdoor("a tent, not a sleeping bag").category == "Camping, Tents"


@pytest.mark.parametrize("question", ["no more than 300", "not more than 300", "no, I meant road bikes", "not sure"])
def test_price_bounds_and_stray_negation_words_negate_nothing(question: str):
    assert cw(question).negated == ()


# --- Quantity and kind ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "quantity"),
    [
        ("2 person tent", 2),
        ("a two-person tent", 2),
        ("a family tent for 4 people", 4),
        ("two bikes", 2),
        ("a pair of gloves", 2),
        ("3 pairs of socks", 3),
        ("4-season tent", None),
        ("a 2024 road bike", None),
        ("Mountain-200 Black 42", None),
    ],
)
def test_counts_of_items_or_people(question: str, quantity: int | None):
    assert outdoor(question).quantity == quantity


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Do you sell helmets?", "yes_no"),
        ("hi, do you have bike locks?", "yes_no"),
        ("Do you carry 4-season tents", "yes_no"),
        ("is there a helmet for kids", "yes_no"),
        ("are there any road frames under $300?", "yes_no"),
        ("can I buy a pump here", "yes_no"),
        ("does the shop ship abroad", "yes_no"),
        ("is there a cheaper one?", "yes_no"),  # yes_no wins; sort still says price_asc
        ("which is the cheapest road bike", "superlative"),
        ("show me all your helmets", "list"),
        ("what kinds of lights do you have", "list"),
        ("red road bike", "find"),
        ("which helmet suits commuting", "find"),
    ],
)
def test_the_kind_of_question(question: str, kind: str):
    assert cw(question).question_kind == kind


# --- understood(), signature(), with_overrides() ----------------------------------------------------------------------


def test_understood_is_small_json_with_whole_prices_as_ints():
    reading = cw("do you have a black road frame under $500, not red?")
    assert reading.understood() == {
        "max_price": 500,
        "category": "Components, Road Frames",
        "attributes": ["black", "road"],
        "negated": ["red"],
        "kind": "yes_no",
    }
    assert isinstance(reading.understood()["max_price"], int)
    assert json.loads(json.dumps(reading.understood())) == reading.understood()


def test_understood_leaves_out_empty_parts_and_lists_candidates_when_ambiguous():
    assert cw("something nice").understood() == {}
    assert cw("a bike under 99.5").understood() == {"max_price": 99.5, "category_candidates": list(BIKES)}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("black helmet under $200", "under $200 helmet black"),
        ("BK-M68B-42", "bk-m68b-42"),
        ("a bicycle", "bikes"),
        ("tyres", "tires"),
        ("red and black jersey", "black and red jersey"),
    ],
)
def test_signature_ignores_what_does_not_change_the_meaning(first: str, second: str):
    assert cw(first).signature() == cw(second).signature()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("black helmet", "red helmet"),
        ("helmet under $200", "helmet under $300"),
        ("helmet under $200", "helmet over $200"),
        ("cheapest helmet", "most expensive helmet"),
        ("road frame", "mountain frame"),
        ("HL road tire", "LL road tire"),
        ("BK-M68B-42", "BK-M68B-44"),
        ("black helmet", "helmet, not black"),
        ("2 person tent", "4 person tent"),
        ("jersey size 44", "jersey size 48"),
        ("do you sell helmets", "helmets"),
    ],
)
def test_signature_tells_apart_what_changes_the_meaning(first: str, second: str):
    assert hash(cw(first).signature()) is not None
    assert cw(first).signature() != cw(second).signature()


def test_overrides_replace_only_what_is_given():
    reading = cw("cheapest road frame under $500")
    overridden = reading.with_overrides(category="Components, Touring Frames", min_price=100)
    assert overridden.category == "Components, Touring Frames"
    assert overridden.category_candidates == ("Components, Touring Frames",)
    assert (overridden.min_price, overridden.max_price, overridden.sort) == (100, 500, "price_asc")
    assert reading.with_overrides() == reading
    assert reading.with_overrides(max_price=0, sort="price_desc").max_price == 0
    assert reading.with_overrides(sort="price_desc").sort == "price_desc"


def test_an_unknown_sort_override_is_refused_naming_the_values():
    with pytest.raises(ValueError, match="price_asc"):
        cw("helmet").with_overrides(sort="popularity")


# --- Robustness -------------------------------------------------------------------------------------------------------

HOSTILE = [
    "",
    "   ",
    "under" + " " * 9990 + "5",
    "under " * 1666,
    "$" * 10000,
    "9" * 10000,
    "1," * 5000,
    "a-" * 5000,
    "a1-" * 3333,
    "between 1 and " * 700,
    "$1-" * 3000,
    "not " * 2500,
    "size " * 2000,
    "do you " + "x " * 4990,
    "🚲 cheapest tent 🏕️" * 500,
    "\ud800 under $200 \udfff" * 500,
    "\x00" * 5000 + "helmet",
    "a1" * 5000,
    "1." * 5000,
    "road frame " * 900,  # one long noun phrase
    "bike " * 2000,
    "not bike " * 1100,
    "2 bikes " * 1200,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_any_text_up_to_ten_thousand_characters_is_read_without_error(text: str):
    reading = read_query(text, COSMIC_WORKS)
    reading.text.encode("utf-8")  # lone surrogates are replaced, so the text can be sent on
    json.dumps(reading.understood())
    hash(reading.signature())


def test_random_text_is_read_without_error():
    rng = random.Random(7)
    alphabet = "abcdeXYZ019 -$€,.k'’\"%/:;!?\x00\u0301é中🚲"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        reading = read_query(text, OUTDOOR)
        assert reading.text or not text.strip(" \x00")


def test_control_characters_separate_words():
    reading = cw("black\x00helmet\tunder $50")
    assert (reading.text, reading.max_price, reading.category) == ("black helmet", 50, "Accessories, Helmets")
