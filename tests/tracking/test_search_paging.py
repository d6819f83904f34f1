"""Keyset paging of search_runs: complete, ordered, stable under inserts, and tokens that
only fit the query that issued them. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipyard.errors import InvalidArgument
from shipyard.store.engine import Database
from shipyard.store.schema import upgrade
from shipyard.tracking.search import search_runs
from tests.tracking.test_search_runs import PROJECT, add_experiment, add_run

T0 = datetime(2024, 3, 1, tzinfo=UTC)


@dataclass
class Row:
    id: str
    start: datetime
    m: float | None  # None: NaN or absent
    p: str | None
    end: datetime | None


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    if database.dialect == "sqlite":
        upgrade(database)
    yield database
    database.dispose()


def seed(db: Database, count: int, *, offset: int = 0, experiment: int | None = None) -> tuple[int, list[Row]]:
    """``count`` runs with tied start times (three per minute), tied metric values, NaN and
    absent metrics, absent params and NULL end times."""
    rows: list[Row] = []
    with db.session() as s:
        exp = experiment if experiment is not None else add_experiment(s, "paging")
        for n in range(offset, offset + count):
            start = T0 + timedelta(minutes=n // 3)
            metrics: dict[str, float] = {}
            m: float | None = float(n % 7)
            if n % 8 == 0:
                m = None  # never logged
            elif n % 5 == 0:
                metrics["m"], m = float("nan"), None
            else:
                metrics["m"] = float(n % 7)
            p = None if n % 6 == 0 else str(n % 4)
            end = None if n % 4 == 0 else start + timedelta(seconds=n % 9)
            run_id = add_run(s, f"r{n:03d}", exp, start, end=end, metrics=metrics, params={} if p is None else {"p": p})
            rows.append(Row(run_id, start, m, p, end))
    return exp, rows


def expected(rows: list[Row], keys: list[tuple[Callable[[Row], Any], bool]]) -> list[str]:
    """Rows in the order of ``keys`` (getter, descending), then start time DESC, then id;
    None sorts last in either direction."""
    order = sorted(rows, key=lambda r: r.id)
    for getter, descending in [*keys, (lambda r: r.start, True)][::-1]:
        present = [r for r in order if getter(r) is not None]
        present.sort(key=getter, reverse=descending)  # stable, also reversed
        order = present + [r for r in order if getter(r) is None]
    return [r.id for r in order]


def page_through(
    db: Database,
    *,
    page_size: int,
    filter: str | None = None,
    order_by: list[str] | None = None,
    between_pages: Callable[[int], None] | None = None,
) -> tuple[list[str], list[int]]:
    seen: list[str] = []
    sizes: list[int] = []
    token: str | None = None
    while True:
        with db.session(readonly=True) as session:
            page = search_runs(
                session,
                project_id=PROJECT,
                experiment_ids=None,
                filter=filter,
                order_by=order_by,
                page_token=token,
                page_size=page_size,
            )
        seen.extend(run.id for run in page.items)
        sizes.append(len(page.items))
        token = page.next_page_token
        if token is None:
            return seen, sizes
        if between_pages is not None:
            between_pages(len(sizes))


ORDERINGS: list[tuple[list[str] | None, list[tuple[Callable[[Row], Any], bool]]]] = [
    (None, []),
    (["metrics.m DESC"], [(lambda r: r.m, True)]),
    (["metrics.m ASC"], [(lambda r: r.m, False)]),
    (["params.p ASC", "metrics.m DESC"], [(lambda r: r.p, False), (lambda r: r.m, True)]),
    (["attributes.end_time DESC"], [(lambda r: r.end, True)]),
    (["metrics.m DESC", "attributes.run_id DESC"], [(lambda r: r.m, True), (lambda r: r.id, True)]),
]


@pytest.mark.parametrize(("order_by", "keys"), ORDERINGS)
def test_pages_cover_every_run_once_in_order(
    db: Database, order_by: list[str] | None, keys: list[tuple[Callable[[Row], Any], bool]]
) -> None:
    _, rows = seed(db, 53)
    seen, sizes = page_through(db, page_size=10, order_by=order_by)
    assert sizes == [10, 10, 10, 10, 10, 3]
    assert seen == expected(rows, keys)
    assert len(set(seen)) == 53


def test_pages_of_a_filtered_search(db: Database) -> None:
    _, rows = seed(db, 53)
    match = [r for r in rows if (r.m is not None and r.m >= 2) or r.p == "1"]
    seen, sizes = page_through(db, page_size=7, filter="metrics.m >= 2 OR params.p = '1'", order_by=["metrics.m DESC"])
    assert seen == expected(match, [(lambda r: r.m, True)])
    assert sum(sizes) == len(match)
    assert all(size == 7 for size in sizes[:-1])


def test_exact_multiple_has_no_empty_last_page(db: Database) -> None:
    seed(db, 20)
    _, sizes = page_through(db, page_size=10, order_by=["metrics.m DESC"])
    assert sizes == [10, 10]


STABLE_CASES: list[tuple[list[str] | None, list[tuple[Callable[[Row], Any], bool]]]] = [
    (None, []),
    (["metrics.m DESC"], [(lambda r: r.m, True)]),
    (["params.p ASC"], [(lambda r: r.p, False)]),
]


@pytest.mark.parametrize(("order_by", "keys"), STABLE_CASES)
def test_paging_is_stable_under_concurrent_inserts(
    db: Database, order_by: list[str] | None, keys: list[tuple[Callable[[Row], Any], bool]]
) -> None:
    exp, rows = seed(db, 53)
    before = expected(rows, keys)
    late: list[str] = []

    def insert(page_number: int) -> None:
        # After each page, a run sorting before the cursor (newest, highest metric,
        # smallest param: it must never show up) and one sorting after every original
        # (oldest, no metric, no param: it must show up exactly once).
        with db.session() as s:
            add_run(s, f"early{page_number}", exp, T0 + timedelta(days=30), metrics={"m": 1e3}, params={"p": "!"})
            late.append(add_run(s, f"late{page_number}", exp, T0 - timedelta(days=30)))

    seen, sizes = page_through(db, page_size=10, order_by=order_by, between_pages=insert)
    assert seen[: len(before)] == before  # none skipped, none repeated, order kept
    assert seen[len(before) :] == sorted(late)  # ties on everything else: by run id
    assert len(late) == 5
    assert sizes == [10, 10, 10, 10, 10, 8]


def first_page(db: Database, **kwargs: Any) -> Any:
    args: dict[str, Any] = {
        "project_id": PROJECT,
        "experiment_ids": None,
        "filter": None,
        "order_by": None,
        "page_token": None,
        "page_size": 5,
    }
    args.update(kwargs)
    with db.session() as session:
        return search_runs(session, **args)


@pytest.mark.parametrize(
    "other",
    [
        {"filter": "metrics.m > 2"},
        {"order_by": ["metrics.m ASC"]},
        {"order_by": ["metrics.m DESC", "params.p ASC"]},
        {"experiment_ids": [1]},
        {"view": "all"},
        {"project_id": "f" * 32},
    ],
)
def test_token_replayed_with_another_query_is_refused(db: Database, other: dict[str, Any]) -> None:
    seed(db, 20)
    query = {"filter": "metrics.m > 1", "order_by": ["metrics.m DESC"]}
    token = first_page(db, **query).next_page_token
    assert token
    with pytest.raises(InvalidArgument) as info:
        first_page(db, **{**query, **other, "page_token": token})
    assert info.value.details["field"] == "page_token"


def test_token_survives_respelling_of_the_same_query(db: Database) -> None:
    seed(db, 20)
    first = first_page(db, filter="metrics.m > 1 and params.p != '0'", order_by=["metrics.m DESC"])
    again = first_page(
        db,
        filter="METRIC.`m`>1 AND parameters.\"p\" <> '0'",
        order_by=["metrics.m desc"],
        page_token=first.next_page_token,
    )
    plain = first_page(
        db, filter="metrics.m > 1 and params.p != '0'", order_by=["metrics.m DESC"], page_token=first.next_page_token
    )
    assert [r.id for r in again.items] == [r.id for r in plain.items]
    assert {r.id for r in first.items}.isdisjoint(r.id for r in again.items)


def _retoken(token: str, change: Callable[[list[Any]], None]) -> str:
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    change(payload["k"])
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "change",
    [
        lambda k: k.__setitem__(0, "not a number"),
        lambda k: k.__setitem__(1, 12),  # start time must be a time
        lambda k: k.__setitem__(1, None),  # start time is never NULL
        lambda k: k.__setitem__(2, None),  # nor the run id
        lambda k: k.append("extra"),
        lambda k: k.__setitem__(0, True),
    ],
)
def test_tampered_token_is_refused_not_a_server_error(db: Database, change: Callable[[list[Any]], None]) -> None:
    seed(db, 20)
    token = first_page(db, order_by=["metrics.m DESC"]).next_page_token
    assert token
    with pytest.raises(InvalidArgument) as info:
        first_page(db, order_by=["metrics.m DESC"], page_token=_retoken(token, change))
    assert info.value.details["field"] == "page_token"


def test_token_for_a_null_sort_value_continues_among_nulls(db: Database) -> None:
    _, rows = seed(db, 30)
    # page size 1 walks through every boundary, including NULL-to-NULL ones
    seen, _ = page_through(db, page_size=1, order_by=["metrics.m DESC"])
    assert seen == expected(rows, [(lambda r: r.m, True)])
