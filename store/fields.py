"""The rules every store applies to what it is given: field names and paths, patch operations, ids, sizes, words.

Both stores (and the product model, for ids) ask these functions, so a name, path or id one store takes is never
refused by the other, and their messages read the same.
"""

from __future__ import annotations

import re
from typing import Any

from store.base import PatchOperation

#: A filter or ORDER BY field: plain identifiers (letters, digits, underscores), dots between nested names.
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: The partial-update operations Cosmos DB knows.
PATCH_OPS = ("set", "replace", "add", "remove", "incr")

#: Characters Cosmos DB does not allow in an item id (they would also break the item's URL).
FORBIDDEN_ID_CHARACTERS = frozenset("/\\?#")
#: The longest id Cosmos DB reliably takes: it answers longer ones with 400 (and cannot address them in a URL).
MAX_ID_LENGTH = 255
#: The largest document Cosmos DB stores: 2 MB, the UTF-8 length of its JSON, vector included (413 beyond).
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024

_WORD = re.compile(r"\w+")


def field_parts(field_name: Any) -> list[str]:
    """The names of a top-level (``price``) or dotted nested (``embedding_info.status``) field.

    Raises:
        ValueError: the name is not plain identifiers joined by dots, so it could never reach a query as text.
    """
    if not isinstance(field_name, str) or not FIELD_NAME.fullmatch(field_name):
        raise ValueError(
            f"invalid field name {field_name!r}: use letters, digits and underscores, with dots for nested fields "
            "(e.g. 'price' or 'embedding_info.status')"
        )
    return field_name.split(".")


def parse_pointer(path: Any) -> list[str]:
    """The reference tokens of a JSON pointer such as ``/embedding_info/status`` (``~1`` is ``/``, ``~0`` is ``~``).

    Raises:
        ValueError: ``path`` is not a JSON pointer below the root.
    """
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise ValueError(f"invalid path {path!r}: use a JSON pointer such as '/price' or '/embedding_info/status'")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def plain_path_parts(path: Any, what: str = "vector") -> list[str]:
    """The names of a JSON pointer made of plain identifiers only (``/embedding``, ``/vectors/text``).

    Vector and full-text paths reach Cosmos DB's query text and policies as written, so nothing else is taken.

    Raises:
        ValueError: ``path`` is not such a pointer (``what`` names it in the message).
    """
    parts = path[1:].split("/") if isinstance(path, str) and path.startswith("/") else [""]
    if not all(_PLAIN_NAME.fullmatch(part) for part in parts):
        raise ValueError(f"invalid {what} path {path!r}: use a JSON pointer of plain names such as /embedding")
    return parts


def is_number(value: Any) -> bool:
    """A JSON number: an int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_patch_operation(operation: PatchOperation, protected: frozenset[str]) -> list[str]:
    """Check one partial-update operation as Cosmos DB would; returns its path's tokens.

    Args:
        operation: the operation.
        protected: top-level fields that cannot be patched (the id, the partition key field, system fields).

    Raises:
        ValueError: an unknown op, an invalid or protected path, or ``incr`` by a non-number.
    """
    if operation.op not in PATCH_OPS:
        raise ValueError(f"invalid patch op {operation.op!r}: use set, replace, add, remove or incr")
    tokens = parse_pointer(operation.path)
    if tokens[0] in protected:
        raise ValueError(f"patch path {operation.path!r} targets {tokens[0]!r}, which cannot be patched")
    if operation.op == "incr" and not is_number(operation.value):
        raise ValueError(f"incr at {operation.path!r} needs a number, not {operation.value!r}")
    return tokens


def has_forbidden_id_characters(item_id: str) -> bool:
    """Whether ``item_id`` holds one of ``/ \\ ? #``, which Cosmos DB does not allow in an id."""
    return not FORBIDDEN_ID_CHARACTERS.isdisjoint(item_id)


def check_item_id(item_id: Any) -> str:
    """The id of a document about to be written, after the checks Cosmos DB's client makes before sending.

    The length limit is the server's (:data:`MAX_ID_LENGTH`); stores enforce it where they write, as
    :class:`store.base.RejectedDocumentError`.

    Raises:
        ValueError: the id is not a non-empty string, or holds a character Cosmos DB does not allow.
    """
    if not isinstance(item_id, str) or not item_id:
        raise ValueError(f"a document needs a non-empty string 'id', got {item_id!r}")
    if has_forbidden_id_characters(item_id):
        raise ValueError(f"document id {item_id!r} contains one of / \\ ? #, which Cosmos DB does not allow")
    return item_id


def words(text: str) -> list[str]:
    """The distinct lower-cased words of ``text`` (runs of letters, digits and underscores), in order of appearance.

    What full-text search matches on, in both stores.
    """
    return list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))
