"""Filters with Cosmos DB semantics, two ways: as SQL over the JSON bodies, and over in-memory columns of values.

Both must select exactly the same documents (``tests/unit/test_sqlite_store.py`` checks it over every JSON type): a
comparison between values of different JSON types is undefined in Cosmos DB and never matches, and ``ne`` also
matches documents that lack the field.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from store.base import FieldFilter
from store.fields import field_parts

SQL_OPERATORS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
#: Cosmos DB's ORDER BY puts values of different types in this order (undefined first); one ``?`` is the JSON path.
TYPE_RANK_SQL = (
    "CASE json_type(body_json, ?) WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 2 "
    "WHEN 'integer' THEN 3 WHEN 'real' THEN 3 WHEN 'text' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 6 "
    "ELSE 0 END"
)

# The JSON types a filter value can be compared with. json_extract turns JSON true/false into 1/0, so json_type is
# what tells a boolean from a number, both in SQL and in the field columns.
KIND_MISSING, KIND_BOOL, KIND_NUMBER, KIND_TEXT, KIND_OTHER = range(5)
_KIND_OF_JSON_TYPE = {
    None: KIND_MISSING,
    "true": KIND_BOOL,
    "false": KIND_BOOL,
    "integer": KIND_NUMBER,
    "real": KIND_NUMBER,
    "text": KIND_TEXT,
    "null": KIND_OTHER,
    "array": KIND_OTHER,
    "object": KIND_OTHER,
}
_JSON_TYPES_OF_KIND = {KIND_BOOL: "('true', 'false')", KIND_NUMBER: "('integer', 'real')", KIND_TEXT: "('text')"}
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def json_path(field_name: str) -> str:
    """The SQLite JSON path (``$.embedding_info.status``) of a field, refusing anything but plain identifiers."""
    return "$." + ".".join(field_parts(field_name))


@dataclass(frozen=True)
class CheckedFilter:
    """A validated :class:`FieldFilter`: its JSON path, operator, the JSON kind it compares with and SQL value."""

    field: str
    path: str
    op: str
    kind: int
    bound: str | int | float

    @classmethod
    def of(cls, condition: FieldFilter) -> CheckedFilter:
        """Check ``condition``.

        Raises:
            ValueError: an invalid field name or operator, or a value that is not a string, finite number or bool.
        """
        path = json_path(condition.field)
        if condition.op not in SQL_OPERATORS:
            raise ValueError(f"invalid filter operator {condition.op!r}: use one of {', '.join(SQL_OPERATORS)}")
        value = condition.value
        if isinstance(value, bool):
            return cls(condition.field, path, condition.op, KIND_BOOL, int(value))
        if isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"filter on {condition.field!r}: {value} is not a JSON number")
            return cls(condition.field, path, condition.op, KIND_NUMBER, value)
        if isinstance(value, str):
            return cls(condition.field, path, condition.op, KIND_TEXT, value)
        raise ValueError(
            f"filter on {condition.field!r}: value must be a string, number or boolean, not {type(value).__name__}"
        )


def filter_sql(filters: Sequence[FieldFilter]) -> tuple[str, list[Any]]:
    """A SQL condition (with ``?`` parameters) that holds when every filter holds, with Cosmos DB semantics.

    :meth:`FieldColumn.matches` is the same logic over numpy arrays.

    Raises:
        ValueError: as :meth:`CheckedFilter.of`.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for condition in map(CheckedFilter.of, filters):
        types, operator_sql = _JSON_TYPES_OF_KIND[condition.kind], SQL_OPERATORS[condition.op]
        same_kind_and_holds = f"(json_type(body_json, ?) IN {types} AND json_extract(body_json, ?) {operator_sql} ?)"
        if condition.op == "ne":
            clauses.append(f"(json_type(body_json, ?) IS NULL OR {same_kind_and_holds})")
            params += [condition.path, condition.path, condition.path, condition.bound]
        else:
            clauses.append(same_kind_and_holds)
            params += [condition.path, condition.path, condition.bound]
    return (" AND ".join(clauses) or "1"), params


class FieldColumn:
    """One field's values for every row of a vector index, so filters are evaluated without parsing JSON.

    Values come from SQLite's own ``json_type``/``json_extract`` (as the SQL filters see them); only the
    comparison is done here, over numpy arrays. Numbers are held as float64, so integers beyond 2**53 compare
    approximately (SQL compares them exactly).
    """

    def __init__(self, capacity: int) -> None:
        self.kinds: npt.NDArray[np.int8] = np.zeros(capacity, dtype=np.int8)
        self.numbers: npt.NDArray[np.float64] = np.zeros(capacity, dtype=np.float64)
        self.texts: npt.NDArray[np.object_] = np.full(capacity, None, dtype=object)

    def grow(self, capacity: int) -> None:
        kinds, numbers, texts = self.kinds, self.numbers, self.texts
        self.kinds = np.zeros(capacity, dtype=np.int8)
        self.numbers = np.zeros(capacity, dtype=np.float64)
        self.texts = np.full(capacity, None, dtype=object)
        self.kinds[: len(kinds)], self.numbers[: len(numbers)], self.texts[: len(texts)] = kinds, numbers, texts

    def set(self, row: int, json_type: str | None, value: Any) -> None:
        kind = _KIND_OF_JSON_TYPE[json_type]
        self.kinds[row] = kind
        self.numbers[row] = value if kind in (KIND_BOOL, KIND_NUMBER) else 0.0
        self.texts[row] = value if kind == KIND_TEXT else None

    def move(self, source: int, target: int) -> None:
        self.kinds[target], self.numbers[target], self.texts[target] = (
            self.kinds[source],
            self.numbers[source],
            self.texts[source],
        )

    def matches(self, condition: CheckedFilter, size: int) -> npt.NDArray[np.bool_]:
        """Which of the first ``size`` rows satisfy ``condition`` (same semantics as :func:`filter_sql`)."""
        kinds = self.kinds[:size]
        same_kind = kinds == condition.kind
        compare = _COMPARISONS[condition.op]
        if condition.kind == KIND_TEXT:
            # Only compare actual strings: None < "a" would raise.
            holds = np.zeros(size, dtype=bool)
            rows = np.flatnonzero(same_kind)
            # The bound as a 0-d object array: compared with a plain str, numpy would turn it into np.str_, which
            # drops trailing NULs ("Tents\x00" would match "Tents").
            bound = np.empty((), dtype=object)
            bound[()] = condition.bound
            holds[rows] = np.asarray(compare(self.texts[rows], bound), dtype=bool)
        else:
            holds = same_kind & compare(self.numbers[:size], condition.bound)
        if condition.op == "ne":
            return (kinds == KIND_MISSING) | holds
        return holds
