"""The evaluation metrics on tiny hand-made inputs, and the integrity of the labelled data sets."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evaluation.metrics import (
    GROUPS,
    PAIR_KINDS,
    CachePair,
    Question,
    QuestionScore,
    is_relevant,
    label_categories,
    load_pairs,
    load_questions,
    markdown_table,
    score_question,
    summarise,
    within_price,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "evaluation" / "data"
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CATALOG_FILES = {
    "cosmic_works": SHARED_DATA / "cosmic-works-products.json",
    "sample_shop": REPO / "devhost" / "sample_products.json",
}
RETRIEVAL_SETS = {"cosmic_works": "retrieval_cosmic_works.json", "sample_shop": "retrieval_sample_shop.json"}

HELMET = {"id": "h1", "category_name": "Accessories, Helmets", "price": 34.99}
CHEAP_HELMET = {"id": "h2", "category_name": "Accessories, Helmets", "price": 19.0}
ROAD_BIKE = {"id": "r1", "category_name": "Bikes, Road Bikes", "price": 782.99}
PRICEY_ROAD_BIKE = {"id": "r2", "category_name": "Bikes, Road Bikes", "price": 3578.27}
TOURING_BIKE = {"id": "t1", "category_name": "Bikes, Touring Bikes", "price": 742.35}
LOCK = {"id": "l1", "category_name": "Accessories, Locks", "price": 25}


def question(label: dict[str, Any], group: str = "plain") -> Question:
    return Question("q-1", group, "a question", label)


# ---------------------------------------------------------------------------------------------------- relevance


def test_category_and_categories_accept_any_product_in_them() -> None:
    assert is_relevant({"category": "Accessories, Helmets"}, HELMET)
    assert not is_relevant({"category": "Accessories, Helmets"}, LOCK)
    bikes = {"categories": ["Bikes, Road Bikes", "Bikes, Touring Bikes"]}
    assert is_relevant(bikes, ROAD_BIKE) and is_relevant(bikes, TOURING_BIKE)
    assert not is_relevant(bikes, HELMET)
    assert label_categories({"category": "A", "categories": ["B"]}) == ["A", "B"]


def test_product_ids_and_price_bounds_must_all_hold() -> None:
    assert is_relevant({"product_ids": ["r1", "r2"]}, ROAD_BIKE)
    assert not is_relevant({"product_ids": ["r2"]}, ROAD_BIKE)
    assert is_relevant({"category": "Bikes, Road Bikes", "max_price": 1000}, ROAD_BIKE)
    assert not is_relevant({"category": "Bikes, Road Bikes", "max_price": 1000}, PRICEY_ROAD_BIKE)
    assert is_relevant({"min_price": 3000}, PRICEY_ROAD_BIKE)
    assert is_relevant({"max_price": 782.99}, ROAD_BIKE), "bounds are inclusive"
    assert not is_relevant({"product_ids": ["r1"], "min_price": 1000}, ROAD_BIKE)


def test_a_price_bound_rejects_a_product_without_a_numeric_price() -> None:
    assert not within_price({"max_price": 10}, {"id": "x"})
    assert not within_price({"max_price": 10}, {"id": "x", "price": "5"})
    assert within_price({}, {"id": "x"})


def test_superlative_relevance_is_the_category_and_falls_back_to_ids_without_one() -> None:
    cheapest = {"product_ids": ["h2"], "category": "Accessories, Helmets", "sort": "price_asc"}
    assert is_relevant(cheapest, HELMET), "any helmet is relevant; the expected id is checked as a constraint"
    assert not is_relevant(cheapest, LOCK)
    priciest_anything = {"product_ids": ["r2"], "sort": "price_desc"}
    assert is_relevant(priciest_anything, PRICEY_ROAD_BIKE)
    assert not is_relevant(priciest_anything, ROAD_BIKE)


def test_no_answer_label_makes_nothing_relevant() -> None:
    assert not is_relevant({"no_answer": True}, HELMET)
    assert not is_relevant({"no_answer": True, "category": "Accessories, Helmets", "max_price": 50}, HELMET)


# ---------------------------------------------------------------------------------------------------- scoring


def test_hit_at_1_and_reciprocal_rank_within_five() -> None:
    label = {"category": "Accessories, Locks"}
    first = score_question(question(label), [LOCK, HELMET], answered_no=False)
    assert (first.hit_at_1, first.reciprocal_rank, first.constraint_ok, first.no_answer_ok) == (True, 1.0, None, None)
    third = score_question(question(label), [HELMET, ROAD_BIKE, LOCK], answered_no=False)
    assert third.hit_at_1 is False and third.reciprocal_rank == pytest.approx(1 / 3)
    sixth = score_question(question(label), [HELMET] * 5 + [LOCK], answered_no=False)
    assert sixth.reciprocal_rank == 0.0
    empty = score_question(question(label), [], answered_no=False)
    assert (empty.hit_at_1, empty.reciprocal_rank) == (False, 0.0)


def test_constraint_ok_checks_the_top_result_against_the_price_bound() -> None:
    label = {"category": "Bikes, Road Bikes", "max_price": 1000}
    good = score_question(question(label, "price_bounded"), [ROAD_BIKE, PRICEY_ROAD_BIKE], answered_no=False)
    assert good.constraint_ok is True and good.hit_at_1 is True
    bad = score_question(question(label, "price_bounded"), [PRICEY_ROAD_BIKE, ROAD_BIKE], answered_no=False)
    assert bad.constraint_ok is False and bad.hit_at_1 is False and bad.reciprocal_rank == 0.5
    no_results = score_question(question(label, "price_bounded"), [], answered_no=False)
    assert no_results.constraint_ok is False


def test_constraint_ok_for_a_superlative_needs_an_expected_id_on_top() -> None:
    label = {"product_ids": ["h2"], "category": "Accessories, Helmets", "sort": "price_asc"}
    wrong_helmet = score_question(question(label, "superlative"), [HELMET, CHEAP_HELMET], answered_no=False)
    assert wrong_helmet.hit_at_1 is True and wrong_helmet.constraint_ok is False
    right = score_question(question(label, "superlative"), [CHEAP_HELMET], answered_no=False)
    assert right.constraint_ok is True
    bounded = {"product_ids": ["r1"], "category": "Bikes, Road Bikes", "max_price": 500, "sort": "price_desc"}
    assert score_question(question(bounded), [ROAD_BIKE], answered_no=False).constraint_ok is False


def test_no_answer_is_right_when_the_system_says_no_or_returns_nothing() -> None:
    label = {"no_answer": True, "category": "Bikes, Road Bikes", "max_price": 50}
    said_no = score_question(question(label, "no_answer"), [ROAD_BIKE], answered_no=True)
    assert said_no.no_answer_ok is True
    assert (said_no.hit_at_1, said_no.reciprocal_rank, said_no.constraint_ok) == (None, None, None)
    assert score_question(question(label, "no_answer"), [], answered_no=False).no_answer_ok is True
    assert score_question(question(label, "no_answer"), [ROAD_BIKE], answered_no=False).no_answer_ok is False


def test_saying_no_to_an_answerable_question_is_a_miss() -> None:
    label = {"category": "Accessories, Locks", "max_price": 30}
    score = score_question(question(label), [LOCK], answered_no=True)
    assert (score.hit_at_1, score.reciprocal_rank, score.constraint_ok) == (False, 0.0, False)


def test_summarise_per_group_and_overall_and_markdown() -> None:
    scores = [
        QuestionScore("a", "plain", True, 1.0, None, None),
        QuestionScore("b", "plain", False, 0.5, None, None),
        QuestionScore("c", "price_bounded", False, 0.0, True, None),
        QuestionScore("d", "no_answer", None, None, None, True),
        QuestionScore("e", "no_answer", None, None, None, False),
    ]
    summary = summarise(scores)
    assert list(summary) == ["plain", "price_bounded", "no_answer", "overall"]
    assert summary["plain"]["hit@1"] == 0.5 and summary["plain"]["mrr@5"] == 0.75
    assert summary["plain"]["constraint_ok"] is None and summary["plain"]["constraint_n"] == 0
    assert summary["no_answer"]["no_answer_acc"] == 0.5 and summary["no_answer"]["hit@1"] is None
    overall = summary["overall"]
    assert overall["n"] == 5 and overall["answerable"] == 3
    assert overall["hit@1"] == pytest.approx(1 / 3) and overall["mrr@5"] == pytest.approx(0.5)
    assert (overall["constraint_ok"], overall["constraint_n"]) == (1.0, 1)
    assert (overall["no_answer_acc"], overall["no_answer_n"]) == (0.5, 2)
    table = markdown_table(summary).splitlines()
    assert table[0].startswith("| group | n | hit@1 | MRR@5 |")
    assert table[2] == "| plain | 2 | 0.500 | 0.750 | – | – |"
    assert table[-1] == "| **overall** | 5 | 0.333 | 0.500 | 1.000 (1) | 0.500 (2) |"


def test_loaders_read_and_reject(tmp_path: Path) -> None:
    path = tmp_path / "questions.json"
    row = {"id": "x-1", "group": "superlative", "question": "cheapest lock", "label": {"sort": "price_asc"}}
    path.write_text(json.dumps([row]))
    with pytest.raises(ValueError, match="expected product_ids"):
        load_questions(path)
    path.write_text(json.dumps([{**row, "group": "vibes", "label": {"category": "A"}}]))
    with pytest.raises(ValueError, match="unknown group"):
        load_questions(path)
    path.write_text(json.dumps([{**row, "label": {"category": "A", "colour": "red"}}]))
    with pytest.raises(ValueError, match="unknown label keys"):
        load_questions(path)
    path.write_text(json.dumps([{**row, "label": {"product_ids": ["l1"], "sort": "price_asc"}}]))
    (loaded,) = load_questions(path)
    assert loaded.label["product_ids"] == ["l1"] and loaded.note == ""
    with pytest.raises(TypeError):
        loaded.label["sort"] = "price_desc"  # type: ignore[index]

    pairs = tmp_path / "pairs.json"
    pair = {
        "id": "p-1",
        "kind": "colour",
        "first": "red",
        "second": "blue",
        "same_answer": False,
        "catalog": "sample_shop",
    }
    pairs.write_text(json.dumps([pair]))
    assert load_pairs(pairs) == [CachePair("p-1", "colour", "red", "blue", False, "sample_shop")]
    pairs.write_text(json.dumps([{**pair, "same_answer": True}]))
    with pytest.raises(ValueError, match="same_answer"):
        load_pairs(pairs)


# ---------------------------------------------------------------------------------------------------- the data sets


def catalog(name: str) -> list[dict[str, Any]]:
    path = CATALOG_FILES[name]
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared Cosmic Works data set is not checked out beside the repository")
    products: list[dict[str, Any]] = json.loads(path.read_text())
    return products


def raw_rows(file_name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((DATA / file_name).read_text())
    return rows


@pytest.mark.parametrize("name", sorted(RETRIEVAL_SETS))
def test_retrieval_set_schema_and_group_counts(name: str) -> None:
    rows = raw_rows(RETRIEVAL_SETS[name])
    prefix = "cw" if name == "cosmic_works" else "ss"
    for row in rows:
        assert {"id", "group", "question", "label"} <= set(row) <= {"id", "group", "question", "label", "note"}, row
        assert re.fullmatch(rf"{prefix}-\d{{3}}", row["id"]), row["id"]
        assert isinstance(row["question"], str) and row["question"].strip() == row["question"] != ""
        assert isinstance(row.get("note", ""), str)
    questions = load_questions(DATA / RETRIEVAL_SETS[name])
    assert len({q.id for q in questions}) == len(questions), "duplicate ids"
    assert len({q.question.lower() for q in questions}) == len(questions), "duplicate questions"
    counts = Counter(q.group for q in questions)
    assert set(counts) == set(GROUPS), counts
    if name == "cosmic_works":
        assert len(questions) >= 170 and min(counts.values()) >= 20, counts
    else:
        assert len(questions) >= 60, counts
    for q in questions:
        assert (q.group == "superlative") == ("sort" in q.label) or q.label.get("no_answer"), q.id
        if q.label.get("no_answer"):
            assert "product_ids" not in q.label and "sort" not in q.label, q.id


@pytest.mark.parametrize("name", sorted(RETRIEVAL_SETS))
def test_retrieval_labels_agree_with_the_catalog(name: str) -> None:
    products = catalog(name)
    by_id = {product["id"]: product for product in products}
    categories = {product["category_name"] for product in products}
    for q in load_questions(DATA / RETRIEVAL_SETS[name]):
        label = q.label
        assert set(label_categories(label)) <= categories, q.id
        assert set(label.get("product_ids", ())) <= set(by_id), q.id
        relevant = [product for product in products if is_relevant(label, product)]
        if label.get("no_answer"):
            bounded = {**label, "no_answer": False}
            if "min_price" in label or "max_price" in label:
                assert not any(is_relevant(bounded, product) for product in products), f"{q.id}: answerable"
            continue
        assert relevant, f"{q.id}: no product satisfies the label"
        for bound in ("min_price", "max_price"):
            pool = [p for p in products if not label_categories(label) or p["category_name"] in label_categories(label)]
            assert all(p["price"] != label.get(bound) for p in pool), f"{q.id}: a price sits on the bound"
        if "sort" in label:
            expected = [by_id[i] for i in label["product_ids"]]
            assert len({p["price"] for p in expected}) == 1, f"{q.id}: expected ids are not a tie"
            assert all(is_relevant({k: v for k, v in label.items() if k != "product_ids"}, p) for p in expected)
            extreme = (min if label["sort"] == "price_asc" else max)(p["price"] for p in relevant)
            if extreme == expected[0]["price"]:
                tied = {p["id"] for p in relevant if p["price"] == extreme}
                assert tied == set(label["product_ids"]), f"{q.id}: ties missing"
            else:
                assert q.note, f"{q.id}: the expected answer is not the category's extreme, and no note says why"


@pytest.mark.parametrize("name", sorted(RETRIEVAL_SETS))
def test_questions_do_not_copy_product_descriptions(name: str) -> None:
    products = catalog(name)
    words = re.compile(r"[a-z0-9']+")
    shingles = set()
    for product in products:
        tokens = words.findall(product["description"].lower())
        shingles |= {tuple(tokens[i : i + 6]) for i in range(len(tokens) - 5)}
    for q in load_questions(DATA / RETRIEVAL_SETS[name]):
        tokens = words.findall(q.question.lower())
        copied = [window for i in range(len(tokens) - 5) if (window := tuple(tokens[i : i + 6])) in shingles]
        assert not copied, f"{q.id} copies a description: {' '.join(copied[0])}"


def test_retrieval_ids_are_unique_across_sets() -> None:
    ids = [row["id"] for file_name in RETRIEVAL_SETS.values() for row in raw_rows(file_name)]
    assert len(ids) == len(set(ids))


def test_cache_pairs_schema_and_counts() -> None:
    rows = raw_rows("cache_pairs.json")
    for row in rows:
        assert set(row) == {"id", "kind", "first", "second", "same_answer", "catalog"}, row
        assert re.fullmatch(r"p-\d{3}", row["id"]) and row["first"] != row["second"], row
    pairs = load_pairs(DATA / "cache_pairs.json")
    assert len(pairs) >= 140
    assert len({pair.id for pair in pairs}) == len(pairs)
    assert len({(pair.first, pair.second) for pair in pairs}) == len(pairs)
    kinds = Counter(pair.kind for pair in pairs)
    assert set(kinds) == set(PAIR_KINDS), kinds
    assert kinds["paraphrase"] >= 50
    near_misses = [kind for kind in PAIR_KINDS if kind != "paraphrase"]
    assert all(kinds[kind] >= 8 for kind in near_misses), kinds
    assert sum(kinds[kind] for kind in near_misses) >= 70
    assert {pair.catalog for pair in pairs} == {"cosmic_works", "sample_shop"}
