"""The one rule for a yes/no written as text (settings, query-string switches): true/yes/on/1 or false/no/off/0, any
case, surrounding spaces or tabs ignored."""

from __future__ import annotations

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
#: The same words as a JSON-schema pattern (documented in the OpenAPI document).
SWITCH_PATTERN = (
    r"^[ \t]*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|[Oo][Ff][Ff]|[01])[ \t]*$"
)


def switch(text: str) -> bool | None:
    """``True``/``False`` for the words above, ``None`` for anything else."""
    word = text.strip(" \t").lower()  # not strip(): it also drops \x1c-\x1f, which are no switch
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None
