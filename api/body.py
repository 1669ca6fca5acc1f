"""A request body as JSON: what every JSON route takes before its model sees it.

Python's parser takes NaN, Infinity, numbers beyond the double range and lone surrogates; no store, serialiser or
client can, so they are refused here, naming the field, before any model or store is involved.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from api.validation import dotted
from catalog.errors import PayloadTooLargeError, ValidationError

#: JSON nested deeper than this is refused (stores and serialisers downstream have depth limits of their own).
MAX_JSON_DEPTH = 32
#: "\ud800" is valid JSON but no character: UTF-8 cannot encode it, so no store or response could carry it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_json_body(body: bytes, *, max_bytes: int) -> Any:
    """The parsed JSON of a request body.

    Raises:
        PayloadTooLargeError: the body is larger than ``max_bytes`` (MAX_REQUEST_BYTES).
        ValidationError: the body is empty, not UTF-8, not JSON, or nested too deeply; or, naming the field, holds
            NaN, Infinity, a number beyond the double range or a lone surrogate.
    """
    if len(body) > max_bytes:
        raise PayloadTooLargeError(f"body is {len(body)} bytes; the limit is {max_bytes}", field="body")
    if not body.strip():
        raise ValidationError("body is required: a JSON document", field="body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("body must be UTF-8 encoded JSON", field="body") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValidationError(f"body is nested deeper than {MAX_JSON_DEPTH} levels", field="body") from None
    except ValueError as error:
        raise ValidationError(f"body is not valid JSON: {error}", field="body") from None
    problem = _unstorable(value, MAX_JSON_DEPTH)
    if problem is not None:
        raise problem
    return value


def _unstorable(value: Any, max_depth: int) -> ValidationError | None:
    """The error for the first part of a parsed body nothing downstream can take (walked without recursion).

    Fields are named as the models name them (:func:`api.validation.dotted`). The offending text is never echoed
    (it could not be encoded).
    """
    stack: list[tuple[Any, tuple[int | str, ...], int]] = [(value, (), 1)]
    while stack:
        item, location, depth = stack.pop()
        field = dotted(location)
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return ValidationError(f"{field} holds a lone UTF-16 surrogate, which is not a character", field=field)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            if (isinstance(item, float) and not math.isfinite(item)) or abs(item) > sys.float_info.max:
                return ValidationError(
                    f"{field} must be a finite number of at most {sys.float_info.max:.4g} in size "
                    "(NaN and Infinity are not JSON)",
                    field=field,
                )
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return ValidationError(f"body is nested deeper than {max_depth} levels", field="body")
            if isinstance(item, list):
                stack.extend((child, (*location, index), depth + 1) for index, child in enumerate(item))
                continue
            for key, child in item.items():
                if _LONE_SURROGATE.search(key):
                    return ValidationError(f"a key in {field} holds a lone UTF-16 surrogate", field=field)
                stack.append((child, (*location, key), depth + 1))
    return None
