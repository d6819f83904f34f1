"""``search_runs``: filter, order and page through a project's runs with keyset tokens.

Ordering is the caller's ``order_by`` keys, then ``attributes.start_time DESC`` (unless
already given), then the run id ascending, which makes every position unique. Missing
or NaN metrics, missing params and tags and a NULL ``end_time`` sort last whichever the
direction.

A page token carries the last row's sort values and the run id; the next page is the
rows strictly after that tuple. So paging neither repeats nor skips a run that existed
when paging started, however many runs are inserted meanwhile (new runs appear only if
they sort after the cursor). A run whose ordered value changes while a client pages
(a metric logged again) can move across the cursor: that is inherent to any cursor.
Tokens are scoped to the query (project, experiments, view, filter and order), so a
token replayed with another query is refused with ``InvalidArgument`` on ``page_token``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.orm import Session, aliased

from shipyard.errors import InvalidArgument, InvalidPageToken
from shipyard.store.pagination import Page, decode_token, encode_token
from shipyard.tracking.search.compiler import ATTRIBUTE_COLUMNS, compile_filter
from shipyard.tracking.search.nodes import EntityType, OrderKey
from shipyard.tracking.search.parser import parse_filter, parse_order_by
from shipyard.tracking.search.sql import BinaryText, install_sqlite_functions
from shipyard.tracking.tables import LatestMetric, Param, Run, RunTag

View = Literal["active", "deleted", "all"]
VIEWS: tuple[View, ...] = ("active", "deleted", "all")
MAX_PAGE_SIZE = 50_000  # as MLflow's SearchRuns

_DEFAULT_START = OrderKey(EntityType.ATTRIBUTE, "start_time", descending=True)
_TIEBREAK = OrderKey(EntityType.ATTRIBUTE, "run_id", descending=False)
_TEXT_ATTRIBUTES = frozenset({"run_name", "status", "user_id"})

ValueType = Literal["float", "str", "int", "time"]


@dataclass(frozen=True)
class _SortColumn:
    expr: ColumnElement[Any]
    descending: bool
    nullable: bool
    value_type: ValueType

    def ordering(self) -> ColumnElement[Any]:
        ordered = self.expr.desc() if self.descending else self.expr.asc()
        # Only nullable keys say NULLS LAST: on a NOT NULL column the plain form keeps
        # PostgreSQL free to read it straight off an index, in either direction.
        return ordered.nulls_last() if self.nullable else ordered


def search_runs(
    session: Session,
    *,
    project_id: str,
    experiment_ids: list[int] | None,
    filter: str | None,
    order_by: list[str] | None,
    view: View = "active",
    page_token: str | None,
    page_size: int,
) -> Page[Run]:
    """One page of the project's runs matching ``filter``, in ``order_by`` order.

    ``experiment_ids=None`` searches every experiment of the project. Raises
    ``InvalidArgument`` naming ``filter``, ``order_by``, ``view``, ``page_size`` or
    ``page_token``.
    """
    if view not in VIEWS:
        raise InvalidArgument(f"view must be one of {', '.join(VIEWS)}, got {view!r}", {"field": "view"})
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument(
            f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}",
            {"field": "page_size", "min": 1, "max": MAX_PAGE_SIZE},
        )
    expr = parse_filter(filter)
    keys = parse_order_by(order_by)
    present = {(k.type, k.key) for k in keys}
    for extra in (_DEFAULT_START, _TIEBREAK):
        if (extra.type, extra.key) not in present:
            keys.append(extra)

    exps = None if experiment_ids is None else sorted(set(experiment_ids))
    scope = "\x1f".join(
        ["runs", project_id, "*" if exps is None else ",".join(map(str, exps)), view, str(expr or ""), *map(str, keys)]
    )

    stmt: Select[Any] = select(Run)
    columns: list[_SortColumn] = []
    for key in keys:
        stmt, column = _sort_column(stmt, key)
        columns.append(column)
    stmt = stmt.add_columns(*(c.expr for c in columns)).where(Run.project_id == project_id)
    if view != "all":
        stmt = stmt.where(Run.lifecycle_stage == view)
    if exps is not None:
        stmt = stmt.where(Run.experiment_id.in_(exps) if exps else false())
    dialect = session.get_bind().dialect.name
    if expr is not None:
        # On SQLite, when the first key is not the start time (which an index serves, so
        # the first page can fill early), every match is read and sorted anyway: let it
        # build each key condition's run set once. PostgreSQL's planner picks for itself.
        first = keys[0]
        by_index = first.type is EntityType.ATTRIBUTE and first.key in ("start_time", "run_id")
        stmt = stmt.where(compile_filter(expr, as_sets=dialect == "sqlite" and not by_index))
    if page_token:
        last = decode_token(scope, page_token, len(columns))
        _check_token_values(page_token, columns, last)
        stmt = stmt.where(*_after(columns, last))
    stmt = stmt.order_by(*(c.ordering() for c in columns)).limit(page_size + 1)

    if dialect == "sqlite":
        install_sqlite_functions(session.connection().connection.driver_connection)
    rows = session.execute(stmt).all()
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    token = encode_token(scope, list(rows[-1][1:])) if has_more else None
    return Page(items=[row[0] for row in rows], next_page_token=token)


def _sort_column(stmt: Select[Any], key: OrderKey) -> tuple[Select[Any], _SortColumn]:
    if key.type is EntityType.ATTRIBUTE:
        column: ColumnElement[Any] = ATTRIBUTE_COLUMNS[key.key]
        if key.key in _TEXT_ATTRIBUTES:
            return stmt, _SortColumn(BinaryText(column), key.descending, False, "str")
        if key.key == "experiment_id":
            return stmt, _SortColumn(column, key.descending, False, "int")
        if key.key in ("start_time", "end_time"):
            return stmt, _SortColumn(column, key.descending, key.key == "end_time", "time")
        return stmt, _SortColumn(column, key.descending, False, "str")  # run_id
    table: type[LatestMetric] | type[Param] | type[RunTag] = (
        LatestMetric if key.type is EntityType.METRIC else Param if key.type is EntityType.PARAM else RunTag
    )
    joined = aliased(table)
    stmt = stmt.outerjoin(joined, and_(joined.run_id == Run.id, joined.key == key.key))
    value: ColumnElement[Any] = joined.value.expression
    if key.type is EntityType.METRIC:
        return stmt, _SortColumn(value, key.descending, True, "float")
    return stmt, _SortColumn(BinaryText(value), key.descending, True, "str")


def _after(columns: list[_SortColumn], last: list[Any]) -> list[ColumnElement[bool]]:
    """Conditions selecting the rows strictly after ``last`` in the order of ``columns``.

    The tuple comparison is spelled out (``a > x OR (a = x AND b > y) …``) with NULLs
    after every value, plus a redundant bound on the first key so an index can seek.
    """
    branches: list[ColumnElement[bool]] = []
    ties: list[ColumnElement[bool]] = []
    for column, value in zip(columns, last, strict=True):
        if value is None:  # only NULLs tie with NULL; nothing non-NULL comes after it
            ties.append(column.expr.is_(None))
            continue
        beyond = column.expr < value if column.descending else column.expr > value
        if column.nullable:
            beyond = or_(beyond, column.expr.is_(None))
        branches.append(and_(*ties, beyond))
        ties.append(column.expr == value)
    conditions: list[ColumnElement[bool]] = [or_(*branches) if branches else false()]
    first, first_value = columns[0], last[0]
    if first_value is None:
        conditions.append(first.expr.is_(None))
    else:
        bound = first.expr <= first_value if first.descending else first.expr >= first_value
        conditions.append(or_(bound, first.expr.is_(None)) if first.nullable else bound)
    return conditions


def _check_token_values(token: str, columns: list[_SortColumn], last: list[Any]) -> None:
    """Refuse a (forged) token whose values do not fit the keys' types."""
    for column, value in zip(columns, last, strict=True):
        if value is None:
            ok = column.nullable
        elif column.value_type == "float":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif column.value_type == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif column.value_type == "time":
            ok = isinstance(value, datetime) and value.tzinfo is not None
        else:
            ok = isinstance(value, str)
        if not ok:
            raise InvalidPageToken(token)
