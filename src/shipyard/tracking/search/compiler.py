"""Compile a parsed filter to a SQLAlchemy condition on :class:`~shipyard.tracking.tables.Run`.

Semantics (the same on SQLite and PostgreSQL):

- A condition on a metric, param or tag holds when the run has that key and its value
  satisfies the comparator, except for the negative comparators (``!=``, ``NOT IN``,
  ``NOT LIKE``, ``NOT ILIKE``), which also hold when the run lacks the key: MLflow's
  "a run without tag t matches ``tags.t != 'x'``", applied to params and metrics too.
- A NaN metric (stored as NULL) satisfies no numeric comparison, ``!=`` included;
  ``IS NULL`` matches a run whose metric is NaN or was never logged, ``IS NOT NULL`` a
  run with a real value (±inf included).
- A dataset condition holds when any of the run's dataset inputs satisfies it (a run with
  no dataset input matches none, ``!=`` included). Each condition is checked on its own:
  ``datasets.name = 'a' AND datasets.context = 'eval'`` may be met by two inputs.
- Nullable attributes (``parent_run_id``, ``end_time``): NULL satisfies the negative
  comparators, as an absent tag does, and no other.

Each key condition is ``[NOT] EXISTS (SELECT 1 FROM <table> WHERE run_id = runs.id AND
key = … AND <value condition>)``. Under AND, PostgreSQL turns these into semi/anti joins
(driven by the ``(key, value)`` indexes when selective); under OR, or when walking runs
in index order for a first page, each is one primary-key probe per run. PostgreSQL never
gets ``NOT IN (subquery)``: once its set outgrows ``work_mem`` it is rescanned for every
run. SQLite, which has no such cliff, may get the ``IN`` form (see ``as_sets``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, literal_column, not_, or_, select

from shipyard.tracking.search.nodes import (
    EQ,
    GE,
    GT,
    ILIKE,
    IN,
    IS_NOT_NULL,
    IS_NULL,
    LE,
    LIKE,
    LT,
    NE,
    NEGATIVE_OPS,
    NOT_ILIKE,
    NOT_IN,
    NOT_LIKE,
    And,
    Comparison,
    EntityType,
    Expr,
)
from shipyard.tracking.search.sql import CaseInsensitiveLike, CaseSensitiveLike
from shipyard.tracking.tables import Dataset, LatestMetric, Param, Run, RunInput, RunTag

_NUMERIC: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    EQ: operator.eq,
    NE: operator.ne,
    GT: operator.gt,
    GE: operator.ge,
    LT: operator.lt,
    LE: operator.le,
}
_POSITIVE = {NE: EQ, NOT_LIKE: LIKE, NOT_ILIKE: ILIKE, NOT_IN: IN}

ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "run_id": Run.id,
    "run_name": Run.name,
    "status": Run.status,
    "user_id": Run.user_id,
    "lifecycle_stage": Run.lifecycle_stage,
    "parent_run_id": Run.parent_run_id,
    "experiment_id": Run.experiment_id,
    "start_time": Run.start_time,
    "end_time": Run.end_time,
}
_NULLABLE_ATTRIBUTES = frozenset({"parent_run_id", "end_time"})


def compile_filter(expr: Expr, *, as_sets: bool = False) -> ColumnElement[bool]:
    """The condition a run must meet to match ``expr``.

    ``as_sets`` spells key conditions ``runs.id [NOT] IN (SELECT run_id …)`` instead of
    ``[NOT] EXISTS``: the same rows, but SQLite then builds each set once from the
    ``(key, value)`` index rather than probing per run. That wins when every match must
    be read and sorted anyway (ordering by a metric, param or tag) and loses when runs
    are walked in index order and the first page fills early, so the caller decides.
    """
    if isinstance(expr, Comparison):
        return _comparison(expr, as_sets)
    parts = [compile_filter(item, as_sets=as_sets) for item in expr.items]
    return and_(*parts) if isinstance(expr, And) else or_(*parts)


def _comparison(c: Comparison, as_sets: bool) -> ColumnElement[bool]:
    having = _runs_in if as_sets else _runs_having
    if c.type is EntityType.METRIC:
        return _metric(c, having)
    if c.type is EntityType.PARAM:
        return _key_value(Param, c, having)
    if c.type is EntityType.TAG:
        return _key_value(RunTag, c, having)
    if c.type is EntityType.ATTRIBUTE:
        return _attribute(c)
    return _dataset(c, having)


class _Having(Protocol):
    def __call__(self, run_id: Any, *conditions: ColumnElement[bool], negate: bool = False) -> ColumnElement[bool]: ...


def _runs_having(run_id: Any, *conditions: ColumnElement[bool], negate: bool = False) -> ColumnElement[bool]:
    """``[NOT] EXISTS (SELECT 1 FROM <run_id's table> WHERE run_id = runs.id AND …)``."""
    found = select(literal_column("1")).where(run_id == Run.id, *conditions).correlate(Run).exists()
    return ~found if negate else found


def _runs_in(run_id: Any, *conditions: ColumnElement[bool], negate: bool = False) -> ColumnElement[bool]:
    """``runs.id [NOT] IN (SELECT run_id FROM <run_id's table> WHERE …)`` (run_id is never NULL)."""
    members = select(run_id).where(*conditions)
    return Run.id.not_in(members) if negate else Run.id.in_(members)


def _metric(c: Comparison, having: _Having) -> ColumnElement[bool]:
    run_id, keyed, value = LatestMetric.run_id, LatestMetric.key == c.key, LatestMetric.value
    if c.op == IS_NULL:
        return having(run_id, keyed, value.is_not(None), negate=True)
    if c.op == IS_NOT_NULL:
        return having(run_id, keyed, value.is_not(None))
    if c.op == NE:  # absent or a real value other than c.value; NaN never satisfies it
        return having(run_id, keyed, or_(value == c.value, value.is_(None)), negate=True)
    return having(run_id, keyed, _NUMERIC[c.op](value, c.value))


def _key_value(table: type[Param] | type[RunTag], c: Comparison, having: _Having) -> ColumnElement[bool]:
    keyed = table.key == c.key
    if c.op == IS_NULL:
        return having(table.run_id, keyed, negate=True)
    if c.op == IS_NOT_NULL:
        return having(table.run_id, keyed)
    positive = _POSITIVE.get(c.op, c.op)
    return having(table.run_id, keyed, _string(table.value, positive, c.value), negate=c.op in NEGATIVE_OPS)


def _attribute(c: Comparison) -> ColumnElement[bool]:
    column = ATTRIBUTE_COLUMNS[c.key]
    if c.op == IS_NULL:
        return column.is_(None)  # type: ignore[no-any-return]
    if c.op == IS_NOT_NULL:
        return column.is_not(None)  # type: ignore[no-any-return]
    if c.op in _NUMERIC and not isinstance(c.value, str):
        condition = _NUMERIC[c.op](column, c.value)
    else:
        condition = _string(column, c.op, c.value)
    if c.key in _NULLABLE_ATTRIBUTES and c.op in NEGATIVE_OPS:
        return or_(condition, column.is_(None))
    return condition


def _dataset(c: Comparison, having: _Having) -> ColumnElement[bool]:
    column: Any = RunInput.context if c.key == "context" else getattr(Dataset, c.key)
    return having(RunInput.run_id, Dataset.id == RunInput.dataset_id, _string(column, c.op, c.value))


def _string(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == EQ:
        return column == value  # type: ignore[no-any-return]
    if op == NE:
        return column != value  # type: ignore[no-any-return]
    if op in (IN, NOT_IN):
        values = list(value)
        return column.in_(values) if op == IN else column.not_in(values)  # type: ignore[no-any-return]
    if op in (LIKE, NOT_LIKE):
        match: ColumnElement[bool] = CaseSensitiveLike(column, value)
    else:
        match = CaseInsensitiveLike(column, value)
    return not_(match) if op in (NOT_LIKE, NOT_ILIKE) else match
