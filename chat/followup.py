"""Making a follow-up question standalone, so retrieval and the semantic cache see what was really asked.

With a language model configured it rewrites the question. Without one, a documented heuristic: a short message
that starts with a connective ("and", "what about", ...) or leans on a reference ("it", "that one", "cheaper", ...)
is read as a follow-up and prefixed with the previous standalone question. "and the cheaper one?" after "a tent for
two" becomes "a tent for two and the cheaper one?", which both retrieves tents and keys the cache on tents.
"""

from __future__ import annotations

import re

from chat.models import ChatModel
from chat.prompt import rewrite_messages

FOLLOW_UP_MAX_WORDS = 10
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
) -> str:
    """The question to retrieve and cache on.

    Args:
        model: the chat model (asked to rewrite only when it is a language model).
        history: the session's earlier turns as chat messages, oldest first.
        previous: the previous turn's standalone question, if any.
        message: what the user just said.
    """
    if not history or previous is None:
        return message
    if model.is_language_model:
        rewritten = await model.rewrite_question(rewrite_messages(history, message))
        return rewritten or message
    if looks_like_follow_up(message):
        return f"{previous} {message}"
    return message
