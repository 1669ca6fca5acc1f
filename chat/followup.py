"""Making a follow-up question standalone, so retrieval and the semantic cache see what was really asked.

With a language model configured it rewrites the question. Without one, a documented heuristic: a short message
that starts with a connective ("and", "what about", ...) or leans on a reference ("it", "that one", "cheaper", ...)
is read as a follow-up and prefixed with the previous standalone question. "and the cheaper one?" after "a tent for
two" becomes "a tent for two and the cheaper one?", which retrieves tents (cheapest first); such a joined question
is not standalone, so the semantic cache is skipped for it.
"""

from __future__ import annotations

import re

from chat.models import ChatModel
from chat.prompt import rewrite_messages

FOLLOW_UP_MAX_WORDS = 10
#: The longest standalone question a rewrite or the offline join produces.
MAX_QUESTION_CHARS = 600
_CONNECTIVE = re.compile(
    r"^(and|but|or|also|so|then|what about|how about|which|is it|are they|does it|do they)\b", re.I
)
_REFERENCE = re.compile(
    r"\b(it|its|that|this|these|those|them|they|one|ones|other|same|cheaper|pricier|more expensive|less expensive|"
    r"bigger|smaller|lighter|heavier|better|instead|else)\b",
    re.I,
)


def looks_like_follow_up(message: str) -> bool:
    """Whether ``message`` reads as depending on an earlier question (the heuristic above)."""
    words = message.split()
    if not words or len(words) > FOLLOW_UP_MAX_WORDS:
        return False
    return bool(_CONNECTIVE.search(message.strip()) or _REFERENCE.search(message))


async def standalone_question(
    model: ChatModel, history: list[dict[str, str]], previous: str | None, message: str
) -> tuple[str, bool]:
    """The question to retrieve and cache on, and whether it stands on its own.

    Only a standalone question may be looked up in or stored into the semantic cache: "and a cheaper one?" keyed
    as itself would be served the previous answer. Offline, a follow-up joins the previous question (both cut, so
    a chain of follow-ups never grows the question without bound) and is not standalone.

    Args:
        model: the chat model (asked to rewrite only when it is a language model).
        history: the session's earlier turns as chat messages, oldest first.
        previous: the previous turn's standalone question, if any.
        message: what the user just said.
    """
    if not history or previous is None:
        return message, True
    if model.is_language_model:
        rewritten = (await model.rewrite_question(rewrite_messages(history, message)))[:MAX_QUESTION_CHARS]
        return (rewritten, True) if rewritten else (message, not looks_like_follow_up(message))
    if looks_like_follow_up(message):
        return f"{previous[: MAX_QUESTION_CHARS // 2]} {message}"[:MAX_QUESTION_CHARS], False
    return message, True
