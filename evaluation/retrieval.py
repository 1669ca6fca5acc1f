"""Retrieval quality on the team's labelled questions: hit@1, MRR@5, constraint satisfaction and no-answer accuracy
per group, through the product's own :class:`catalog.retrieval.ProductFinder` (what search and chat use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evaluation.catalogs import QUESTION_FILES, EmbeddedCatalog
from evaluation.metrics import QuestionScore, load_questions, score_question, summarise


async def score_catalog(catalog: EmbeddedCatalog, finder_options: dict[str, Any] | None = None) -> list[QuestionScore]:
    """Every labelled question of ``catalog`` asked through the finder, scored."""
    finder = catalog.finder(**(finder_options or {}))
    scores = []
    for question in load_questions(QUESTION_FILES[catalog.name]):
        retrieval = await finder.find(question.question, 5)
        ranked = [] if retrieval.no_match else [item.document for item in retrieval.results]
        scores.append(score_question(question, ranked, answered_no=retrieval.no_match or not retrieval.results))
    return scores


def failures(catalog: EmbeddedCatalog, scores: Sequence[QuestionScore]) -> list[str]:
    """One line per question whose top result is wrong (for reading, not for the report)."""
    questions = {q.id: q for q in load_questions(QUESTION_FILES[catalog.name])}
    lines = []
    for score in scores:
        wrong = score.hit_at_1 is False or score.constraint_ok is False or score.no_answer_ok is False
        if wrong:
            lines.append(f"{score.id} [{score.group}] {questions[score.id].question!r}")
    return lines


def overall(scores: Sequence[QuestionScore]) -> dict[str, dict[str, float | int | None]]:
    return summarise(scores)
