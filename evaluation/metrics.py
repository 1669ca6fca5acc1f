"""Load the labelled evaluation sets and score ranked search results against them (stdlib only).

A question's label says which products answer it (see ``evaluation/README.md``). A ranking is scored by hit@1,
reciprocal rank within the first five results, whether the top result honours the question's price bound or
superlative (``constraint_ok``) and, for questions the catalog cannot answer, whether the system said so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

#: Question groups, in report order.
GROUPS = ("plain", "paraphrase", "price_bounded", "superlative", "identifier", "category_synonym", "no_answer")
#: Cache-pair kinds: ``paraphrase`` pairs may share an answer, every other kind is a near miss that must not.
PAIR_KINDS = tuple(
    "paraphrase negation antonym superlative_flip opposite_bound different_bound size gender colour count"
    " different_category followup identifier".split()
)
CATALOGS = ("cosmic_works", "sample_shop")
LABEL_KEYS = frozenset({"product_ids", "category", "categories", "min_price", "max_price", "sort", "no_answer"})
SORTS = ("price_asc", "price_desc")
#: Results past this rank do not count toward the reciprocal rank.
CUTOFF = 5


@dataclass(frozen=True)
class Question:
    """One labelled shopper question; ``label`` is a read-only mapping."""

    id: str
    group: str
    question: str
    label: Mapping[str, Any]
    note: str = ""


@dataclass(frozen=True)
class CachePair:
    """Two questions, and whether an answer cached for ``first`` may be served for ``second``."""

    id: str
    kind: str
    first: str
    second: str
    same_answer: bool
    catalog: str


@dataclass(frozen=True)
class QuestionScore:
    """The score of one ranking; ``None`` marks a measure that does not apply to the question."""

    id: str
    group: str
    hit_at_1: bool | None
    reciprocal_rank: float | None
    constraint_ok: bool | None
    no_answer_ok: bool | None


def load_questions(path: str | Path) -> list[Question]:
    """Read a retrieval set and check its schema.

    Args:
        path: A JSON file holding a list of ``{"id", "group", "question", "label", "note"?}`` objects.

    Returns:
        The questions, in file order.

    Raises:
        ValueError: naming the first entry with an unknown group, an unknown label key, a bad ``sort``, a
            superlative without expected ids, or a label that names no answer at all.
    """
    questions = []
    for raw in json.loads(Path(path).read_text(encoding="utf-8")):
        label = dict(raw["label"])
        where = f"{raw.get('id')!r} in {path}"
        if raw["group"] not in GROUPS:
            raise ValueError(f"{where}: unknown group {raw['group']!r}")
        if unknown := set(label) - LABEL_KEYS:
            raise ValueError(f"{where}: unknown label keys {sorted(unknown)}")
        if "sort" in label and (label["sort"] not in SORTS or not label.get("product_ids")):
            raise ValueError(f"{where}: sort must be one of {SORTS} and come with the expected product_ids")
        if not label:
            raise ValueError(f"{where}: empty label")
        questions.append(
            Question(raw["id"], raw["group"], raw["question"], MappingProxyType(label), raw.get("note", ""))
        )
    return questions


def load_pairs(path: str | Path) -> list[CachePair]:
    """Read the cache-pair set and check its schema.

    Args:
        path: A JSON file holding a list of ``{"id", "kind", "first", "second", "same_answer", "catalog"}``.

    Returns:
        The pairs, in file order.

    Raises:
        ValueError: naming the first pair with an unknown kind or catalog, or whose ``same_answer`` contradicts
            its kind (only paraphrases may share an answer).
    """
    pairs = []
    for raw in json.loads(Path(path).read_text(encoding="utf-8")):
        pair = CachePair(raw["id"], raw["kind"], raw["first"], raw["second"], raw["same_answer"], raw["catalog"])
        if pair.kind not in PAIR_KINDS or pair.catalog not in CATALOGS:
            raise ValueError(f"{pair.id!r}: unknown kind {pair.kind!r} or catalog {pair.catalog!r}")
        if pair.same_answer is not (pair.kind == "paraphrase"):
            raise ValueError(f"{pair.id!r}: same_answer must be true exactly for paraphrases")
        pairs.append(pair)
    return pairs


def label_categories(label: Mapping[str, Any]) -> list[str]:
    """The categories a label accepts (``category`` and ``categories`` together); empty means any."""
    single = [label["category"]] if label.get("category") else []
    return single + list(label.get("categories") or ())


def within_price(label: Mapping[str, Any], product: Mapping[str, Any]) -> bool:
    """Whether the product's price honours the label's ``min_price``/``max_price`` (inclusive); True if none."""
    low, high = label.get("min_price"), label.get("max_price")
    if low is None and high is None:
        return True
    price = product.get("price")
    if isinstance(price, bool) or not isinstance(price, int | float):
        return False
    return (low is None or price >= low) and (high is None or price <= high)


def has_constraint(label: Mapping[str, Any]) -> bool:
    """Whether an answerable label states a price bound or a superlative."""
    return not label.get("no_answer") and any(key in label for key in ("min_price", "max_price", "sort"))


def is_relevant(label: Mapping[str, Any], product: Mapping[str, Any]) -> bool:
    """Whether a product answers a question with this label.

    Every stated condition must hold: the category (any of ``category``/``categories``), the price bounds, and
    membership of ``product_ids``. With ``sort`` (a superlative), ``product_ids`` are the expected extreme and
    are checked by ``constraint_ok`` instead, unless the label has no category to judge relevance by.

    Args:
        label: A question's label.
        product: A product (or search hit) with ``id``, ``category_name`` and ``price``.

    Returns:
        False for every product when the label is ``no_answer``.
    """
    if label.get("no_answer"):
        return False
    categories = label_categories(label)
    if categories and product.get("category_name") not in categories:
        return False
    if not within_price(label, product):
        return False
    ids = label.get("product_ids")
    if ids and (not label.get("sort") or not categories):
        return product.get("id") in ids
    return True


def score_question(question: Question, ranked: Sequence[Mapping[str, Any]], *, answered_no: bool) -> QuestionScore:
    """Score one ranking against a question's label.

    Args:
        question: The labelled question.
        ranked: The results, best first (products or hits with ``id``, ``category_name``, ``price``).
        answered_no: Whether the system said the catalog has nothing that fits.

    Returns:
        For a ``no_answer`` label only ``no_answer_ok`` (True when the system said no or returned nothing).
        Otherwise hit@1, the reciprocal rank of the first relevant result within ``CUTOFF`` (0 if none), and
        ``constraint_ok`` when the label states a constraint. Saying "no" to an answerable question scores as
        an empty ranking.
    """
    label = question.label
    if label.get("no_answer"):
        return QuestionScore(question.id, question.group, None, None, None, answered_no or not ranked)
    top = [] if answered_no else list(ranked[:CUTOFF])
    rank = next((position for position, product in enumerate(top, start=1) if is_relevant(label, product)), None)
    constraint: bool | None = None
    if has_constraint(label):
        constraint = bool(top) and within_price(label, top[0])
        if constraint and label.get("sort"):
            constraint = top[0].get("id") in label["product_ids"]
    return QuestionScore(question.id, question.group, rank == 1, 1 / rank if rank else 0.0, constraint, None)


def _mean(values: Iterable[float | bool | None]) -> tuple[float | None, int]:
    present = [float(value) for value in values if value is not None]
    return (sum(present) / len(present) if present else None), len(present)


def _stats(scores: Sequence[QuestionScore]) -> dict[str, float | int | None]:
    hit, answerable = _mean(score.hit_at_1 for score in scores)
    mrr, _ = _mean(score.reciprocal_rank for score in scores)
    constraint, constrained = _mean(score.constraint_ok for score in scores)
    no_answer, unanswerable = _mean(score.no_answer_ok for score in scores)
    return {"n": len(scores), "answerable": answerable, "hit@1": hit, "mrr@5": mrr, "constraint_n": constrained,
            "constraint_ok": constraint, "no_answer_n": unanswerable, "no_answer_acc": no_answer}  # fmt: skip


def summarise(scores: Sequence[QuestionScore]) -> dict[str, dict[str, float | int | None]]:
    """Aggregate scores per group (in ``GROUPS`` order, then any other group) and overall.

    Hit@1 and MRR@5 average over answerable questions, constraint satisfaction over questions with a price
    bound or superlative, no-answer accuracy over ``no_answer`` questions; an average with nothing to average
    is ``None``.

    Returns:
        ``{group: stats, ..., "overall": stats}`` where stats holds ``n``, ``answerable``, ``hit@1``,
        ``mrr@5``, ``constraint_n``, ``constraint_ok``, ``no_answer_n`` and ``no_answer_acc``.
    """
    present = {score.group for score in scores}
    order = [group for group in GROUPS if group in present] + sorted(present - set(GROUPS))
    summary = {group: _stats([score for score in scores if score.group == group]) for group in order}
    summary["overall"] = _stats(scores)
    return summary


def _cell(value: float | int | None, count: int | float | None = None) -> str:
    if value is None:
        return "–"
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return f"{text} ({count})" if count is not None else text


def markdown_table(summary: Mapping[str, Mapping[str, float | int | None]]) -> str:
    """Render ``summarise`` output as a Markdown table (one row per group, ``overall`` last)."""
    lines = [
        "| group | n | hit@1 | MRR@5 | constraint ok (n) | no-answer acc. (n) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for group, stats in summary.items():
        name = f"**{group}**" if group == "overall" else group
        lines.append(
            f"| {name} | {stats['n']} | {_cell(stats['hit@1'])} | {_cell(stats['mrr@5'])} "
            f"| {_cell(stats['constraint_ok'], stats['constraint_n'])} "
            f"| {_cell(stats['no_answer_acc'], stats['no_answer_n'])} |"
        )
    return "\n".join(lines) + "\n"
