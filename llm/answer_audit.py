"""How a model's answer relates to the products it was shown: ``[n]`` citations, products named that it was not
shown, and whether it said the catalog has nothing that fits. Used by ``bench/llm_chat.py`` and ``tests/llm``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from llm.prompt_recorder import ShownProduct

_NUMBER = re.compile(r"\[(\d{1,3})\]")
#: Phrases of a refusal or a "we do not have that", looked for in the answer's first two sentences.
_SAYS_NO = re.compile(
    r"\b(no|not|none|nothing|don't|do not|doesn't|does not|isn't|is not|aren't|are not|unfortunately|sorry|"
    r"couldn't|could not|cannot|can't|unable|neither)\b|n't\b",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class AnswerAudit:
    """What an answer cites and names.

    Attributes:
        cited_numbers: every ``[n]`` in the answer, in order of first appearance.
        dangling_numbers: ``[n]`` that point past the products shown.
        unshown_names: catalog product names in the answer that were not in the prompt's products.
        mismatched_numbers: ``[n]`` written on a line that names another shown product but not product ``n``
            (the user reads one product, the citation card shows another).
        says_no: the first two sentences refuse or say the catalog lacks it (a heuristic; read the answer).
    """

    cited_numbers: list[int]
    dangling_numbers: list[int]
    unshown_names: list[str]
    mismatched_numbers: list[int]
    says_no: bool

    @property
    def cites_by_number(self) -> bool:
        return bool(self.cited_numbers)

    @property
    def mentions_unshown(self) -> bool:
        """Whether the answer points at or names a product the model was not shown."""
        return bool(self.dangling_numbers or self.unshown_names)


def audit_answer(answer: str, shown: Sequence[ShownProduct], catalog_names: Iterable[str]) -> AnswerAudit:
    """Audit ``answer`` against the ``shown`` products and every product name of the catalog.

    A catalog name counts as *unshown* when it appears in the answer after every name that does appear in the
    shown products' text has been removed (so "Road-650 Black, 5" inside a shown "Road-650 Black, 58" does not).
    """
    numbers = list(dict.fromkeys(int(n) for n in _NUMBER.findall(answer)))
    dangling = [n for n in numbers if not 1 <= n <= len(shown)]
    shown_text = "\n".join(p.text for p in shown).casefold()
    names = sorted({name.strip() for name in catalog_names if len(name.strip()) >= 4}, key=len, reverse=True)
    residue = answer.casefold()
    for name in names:
        if name.casefold() in shown_text:
            residue = residue.replace(name.casefold(), " ")
    unshown = [name for name in names if name.casefold() not in shown_text and name.casefold() in residue]
    return AnswerAudit(numbers, dangling, unshown, mismatched_numbers(answer, shown), says_no(answer))


def mismatched_numbers(answer: str, shown: Sequence[ShownProduct]) -> list[int]:
    """``[n]`` on a line that names some shown product, none of them product ``n`` (a product's name is the first
    line of its text)."""
    names = {p.number: p.text.split("\n", 1)[0].strip().casefold() for p in shown}
    wrong: list[int] = []
    for line in answer.casefold().splitlines():
        named = {number for number, name in names.items() if name and name in line}
        for number in (int(n) for n in _NUMBER.findall(line)):
            if named and number in names and number not in named and number not in wrong:
                wrong.append(number)
    return wrong


def says_no(answer: str) -> bool:
    """Whether the answer's first two sentences contain a negation or an apology (a heuristic)."""
    opening = " ".join(_SENTENCE_END.split(answer.strip())[:2])
    return bool(_SAYS_NO.search(opening))
