"""The parsed forms of a filter and of an order_by list.

Values are already typed and checked by the parser (numbers as ``float``/``int``, times
as aware UTC ``datetime``), so compiling them to SQL cannot fail. ``str()`` of a node is
its canonical text: two filters that differ only in spacing, keyword case, identifier
synonyms or quoting print the same (page tokens are scoped by it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class EntityType(enum.StrEnum):
    METRIC = "metrics"
    PARAM = "params"
    TAG = "tags"
    ATTRIBUTE = "attributes"
    DATASET = "datasets"


# The comparators, in canonical spelling.
EQ, NE, GT, GE, LT, LE = "=", "!=", ">", ">=", "<", "<="
LIKE, ILIKE, NOT_LIKE, NOT_ILIKE = "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"
IN, NOT_IN, IS_NULL, IS_NOT_NULL = "IN", "NOT IN", "IS NULL", "IS NOT NULL"

NUMERIC_OPS = (EQ, NE, GT, GE, LT, LE)
STRING_OPS = (EQ, NE, LIKE, ILIKE, NOT_LIKE, NOT_ILIKE, IN, NOT_IN)
NULL_OPS = (IS_NULL, IS_NOT_NULL)
# Comparators that hold for a run *lacking* the key (MLflow: "absent tag satisfies !=").
NEGATIVE_OPS = frozenset({NE, NOT_LIKE, NOT_ILIKE, NOT_IN})

Scalar = float | int | str | datetime
Value = Scalar | tuple[Scalar, ...] | None


@dataclass(frozen=True)
class Comparison:
    """``<type>.<key> <op> <value>``; ``key`` is the canonical attribute name for attributes."""

    type: EntityType
    key: str
    op: str
    value: Value
    position: int  # 1-based column of the identifier

    def __str__(self) -> str:
        left = f"{self.type.value}.{_quote_name(self.key)}"
        if self.op in NULL_OPS:
            return f"{left} {self.op}"
        if isinstance(self.value, tuple):
            return f"{left} {self.op} ({', '.join(_literal(v) for v in self.value)})"
        assert self.value is not None
        return f"{left} {self.op} {_literal(self.value)}"


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]

    def __str__(self) -> str:
        return " AND ".join(f"({item})" if isinstance(item, Or) else str(item) for item in self.items)


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]

    def __str__(self) -> str:
        return " OR ".join(str(item) for item in self.items)


Expr = Comparison | And | Or


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` entry; ``key`` is the canonical attribute name for attributes."""

    type: EntityType
    key: str
    descending: bool
    position: int = 1  # 1-based column of the identifier in its entry

    def __str__(self) -> str:
        return f"{self.type.value}.{_quote_name(self.key)} {'DESC' if self.descending else 'ASC'}"


def _quote_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(value: Scalar) -> str:
    if isinstance(value, datetime):
        return "'" + value.isoformat() + "'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)
