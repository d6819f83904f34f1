"""search_runs against a real database, on SQLite and on PostgreSQL: every operator and
type, boolean precedence, MLflow's "absent satisfies !=", NaN, case sensitivity, views
and experiments, and ordering with NULLs last.

The corpus (start times one hour apart, default order newest first: g e d c b a; f is
deleted)::

    run exp status   user  acc  loss  lr    model    mlflow.user team  datasets (name/context)
    a   1   FINISHED alice 0.9  0.1   0.01  ResNet   alice       red   iris/training
    b   1   FINISHED bob   0.5  0.3   0.1   resnet   bob         blue  iris/eval, Iris-v2/training
    c   1   FAILED   alice NaN  1.0   0.01  VGG      -           red   -
    d   2   RUNNING  carol -    0.2   -     VGG_16   carol       -     Iris-v2/eval
    e   2   FINISHED bob   inf  -1.5  1e-3  50%_off  bob         Blue  -
    g   1   KILLED   Dave  0.7  0.4   0.1   Élan     -           élan  -         (child of a)
    f   1   FINISHED alice 0.95 -     0.01  -        -           red   -         (deleted)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import InvalidArgument
from shipyard.store.engine import Database
from shipyard.store.schema import upgrade
from shipyard.tracking.search import parse_filter, search_runs
from shipyard.tracking.search.compiler import compile_filter
from shipyard.tracking.search.sql import install_sqlite_functions
from shipyard.tracking.tables import Dataset, Experiment, LatestMetric, Param, Run, RunInput, RunTag

PROJECT = "00000000000000000000000000000000"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NAN = float("nan")
INF = float("inf")


@dataclass
class Corpus:
    db: Database
    ids: dict[str, str]
    exp1: int
    exp2: int

    def search(
        self,
        filter: str | None = None,
        order_by: list[str] | None = None,
        *,
        view: str = "active",
        experiment_ids: list[int] | None = None,
    ) -> list[str]:
        with self.db.session() as session:
            page = search_runs(
                session,
                project_id=PROJECT,
                experiment_ids=experiment_ids,
                filter=filter,
                order_by=order_by,
                view=view,  # type: ignore[arg-type]
                page_token=None,
                page_size=1000,
            )
        assert page.next_page_token is None
        return [run.name for run in page.items]


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    if database.dialect == "sqlite":
        upgrade(database)
    yield database
    database.dispose()


def add_experiment(session: Session, name: str) -> int:
    exp = Experiment(project_id=PROJECT, name=name)
    session.add(exp)
    session.flush()
    return exp.id


def add_run(
    session: Session,
    name: str,
    experiment_id: int,
    start: datetime,
    *,
    status: str = "FINISHED",
    user: str = "",
    end: datetime | None = None,
    parent: str | None = None,
    stage: str = "active",
    metrics: dict[str, float] | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    run = Run(
        project_id=PROJECT,
        experiment_id=experiment_id,
        name=name,
        status=status,
        user_id=user,
        start_time=start,
        end_time=end,
        parent_run_id=parent,
        lifecycle_stage=stage,
        source={},
    )
    session.add(run)
    session.flush()
    for key, value in (metrics or {}).items():
        stored = None if math.isnan(value) else value  # NaN is stored as NULL
        session.add(LatestMetric(run_id=run.id, key=key, value=stored, step=0, timestamp_ms=0))
    for key, text in (params or {}).items():
        session.add(Param(run_id=run.id, key=key, value=text))
    for key, text in (tags or {}).items():
        session.add(RunTag(run_id=run.id, key=key, value=text))
    session.flush()
    return run.id


@pytest.fixture
def corpus(db: Database) -> Corpus:
    hour = timedelta(hours=1)
    with db.session() as s:
        exp1, exp2 = add_experiment(s, "e1"), add_experiment(s, "e2")
        ids: dict[str, str] = {}
        ids["a"] = add_run(
            s, "a", exp1, T0, user="alice", end=T0 + hour / 2,
            metrics={"acc": 0.9, "loss": 0.1, "my metric": 1.0},
            params={"lr": "0.01", "model": "ResNet"},
            tags={"mlflow.user": "alice", "team": "red", "my tag": "x"},
        )  # fmt: skip
        ids["b"] = add_run(
            s, "b", exp1, T0 + hour, user="bob", end=T0 + hour * 1.5,
            metrics={"acc": 0.5, "loss": 0.3},
            params={"lr": "0.1", "model": "resnet"},
            tags={"mlflow.user": "bob", "team": "blue"},
        )  # fmt: skip
        ids["c"] = add_run(
            s, "c", exp1, T0 + 2 * hour, status="FAILED", user="alice",
            metrics={"acc": NAN, "loss": 1.0},
            params={"lr": "0.01", "model": "VGG"},
            tags={"team": "red"},
        )  # fmt: skip
        ids["d"] = add_run(
            s, "d", exp2, T0 + 3 * hour, status="RUNNING", user="carol",
            metrics={"loss": 0.2},
            params={"model": "VGG_16"},
            tags={"mlflow.user": "carol"},
        )  # fmt: skip
        ids["e"] = add_run(
            s, "e", exp2, T0 + 4 * hour, user="bob", end=T0 + 6 * hour,
            metrics={"acc": INF, "loss": -1.5},
            params={"lr": "1e-3", "model": "50%_off"},
            tags={"mlflow.user": "bob", "team": "Blue"},
        )  # fmt: skip
        ids["g"] = add_run(
            s, "g", exp1, T0 + 5 * hour, status="KILLED", user="Dave", end=T0 + 5 * hour + timedelta(minutes=1),
            parent=ids["a"],
            metrics={"acc": 0.7, "loss": 0.4},
            params={"lr": "0.1", "model": "Élan"},
            tags={"team": "élan"},
        )  # fmt: skip
        ids["f"] = add_run(
            s, "f", exp1, T0 + 6 * hour, user="alice", stage="deleted",
            metrics={"acc": 0.95}, params={"lr": "0.01"}, tags={"team": "red"},
        )  # fmt: skip
        iris = Dataset(project_id=PROJECT, name="iris", digest="aaa111")
        iris2 = Dataset(project_id=PROJECT, name="Iris-v2", digest="bbb222")
        s.add_all([iris, iris2])
        s.flush()
        s.add_all(
            [
                RunInput(run_id=ids["a"], dataset_id=iris.id, context="training"),
                RunInput(run_id=ids["b"], dataset_id=iris.id, context="eval"),
                RunInput(run_id=ids["b"], dataset_id=iris2.id, context="training"),
                RunInput(run_id=ids["d"], dataset_id=iris2.id, context="eval"),
            ]
        )
    return Corpus(db, ids, exp1, exp2)


def by_default_order(names: str) -> list[str]:
    """The runs named (one letter each) in the default order, newest first."""
    return [n for n in "fgedcba" if n in names]


METRIC_CASES = [
    ("metrics.acc > 0.6", "aeg"),  # NaN (c) and absent (d) never satisfy a comparison
    ("metrics.acc >= 0.9", "ae"),
    ("metrics.acc < 0.9", "bg"),
    ("metrics.acc <= 0.5", "b"),
    ("metrics.acc = 0.5", "b"),
    ("metrics.acc == 0.5", "b"),
    ("metrics.acc != 0.5", "adeg"),  # absent (d) satisfies !=, NaN (c) does not
    ("metrics.acc <> 0.5", "adeg"),
    ("metrics.acc IS NULL", "cd"),  # NaN or never logged
    ("metrics.acc is not null", "abeg"),
    ("metrics.acc > 1e308", "e"),  # inf is a real value
    ("metrics.loss < 0", "e"),
    ("metrics.loss > -2", "abcdeg"),
    ("metrics.loss = 1", "c"),
    ("metrics.loss > 1e-1", "bcdg"),
    ("metrics.loss >= .1", "abcdg"),
    ("metric.acc > 0.6", "aeg"),
    ("metrics.`my metric` = 1", "a"),
    ('metrics."my metric" = 1.0', "a"),
    ("metrics.nope > 0", ""),
    ("metrics.nope != 0", "abcdeg"),
]

PARAM_CASES = [
    ("params.lr = '0.01'", "ac"),
    ('params.lr = "0.01"', "ac"),
    ("params.lr = 0.01", "ac"),  # a bare number compares as the text written
    ("params.lr = 0.010", ""),
    ("params.lr != '0.01'", "bdeg"),  # absent (d) satisfies !=
    ("params.lr IN ('0.1', '1e-3')", "beg"),
    ("params.lr NOT IN ('0.1', '1e-3')", "acd"),
    ("params.lr IS NULL", "d"),
    ("params.lr IS NOT NULL", "abceg"),
    ("params.model LIKE 'Res%'", "a"),  # case-sensitive, on SQLite too
    ("params.model ILIKE 'res%'", "ab"),
    ("params.model like '%Net'", "a"),
    ("params.model LIKE 'VGG_%'", "d"),  # _ is exactly one character
    ("params.model LIKE 'VGG\\_16'", "d"),  # \_ is a literal underscore
    ("params.model LIKE 'VGG\\_'", ""),
    ("params.model LIKE '50\\%%'", "e"),  # \% is a literal percent
    ("params.model LIKE '%\\%%'", "e"),
    ("params.model NOT LIKE 'Res%'", "bcdeg"),
    ("params.model NOT ILIKE 'res%'", "cdeg"),
    ("params.model ILIKE 'élan'", "g"),  # Unicode case folding on both engines
    ("params.model LIKE 'élan'", ""),
    ("params.model = 'resnet'", "b"),
    ("parameters.lr = '0.1'", "bg"),
    ("parameter.lr = '0.1'", "bg"),
    ("param.lr = '0.1'", "bg"),
]

TAG_CASES = [
    ("tags.`mlflow.user` = 'alice'", "a"),
    ("tags.mlflow.user = 'bob'", "be"),
    ("tags.\"mlflow.user\" != 'bob'", "acdg"),  # absent (c, g) satisfies !=
    ("tags.team = 'blue'", "b"),
    ("tags.team ILIKE 'blue'", "be"),
    ("tags.team LIKE 'b%'", "b"),
    ("tags.team ILIKE 'B%'", "be"),
    ("tags.team IN ('red', 'Blue')", "ace"),
    ("tags.team NOT IN ('red')", "bdeg"),
    ("tags.team IS NULL", "d"),
    ("tags.team IS NOT NULL", "abceg"),
    ("tags.`my tag` = 'x'", "a"),
    ('tags.team = "red"', "ac"),
    ("tag.team = 'it''s'", ""),
]

ATTRIBUTE_CASES = [
    ("attributes.run_name = 'a'", "a"),
    ("attributes.name IN ('a', 'b')", "ab"),
    ("run.run_name NOT IN ('a', 'b')", "cdeg"),
    ("attr.name != 'a'", "bcdeg"),
    ("attributes.status = 'FINISHED'", "abe"),
    ("attributes.status != 'FINISHED'", "cdg"),
    ("attributes.status IN ('FAILED', 'KILLED')", "cg"),
    ("attributes.status NOT IN ('FAILED', 'KILLED')", "abde"),
    ("attributes.user_id LIKE 'D%'", "g"),
    ("attributes.user_id LIKE 'd%'", ""),
    ("attributes.user_id ILIKE 'd%'", "g"),
    ("attributes.user_id NOT LIKE 'b%'", "acdg"),
    ("attributes.lifecycle_stage = 'active'", "abcdeg"),
    ("attributes.lifecycle_stage = 'deleted'", ""),  # the active view already excludes it
    ("attributes.start_time >= '2024-01-01T03:00:00Z'", "deg"),
    ("attributes.start_time < 1704074400000", "ab"),  # epoch ms of 02:00Z
    ("attributes.start_time = '2024-01-01T02:00:00+00:00'", "c"),
    ("attributes.start_time = '2024-01-01T03:00:00+01:00'", "c"),  # offsets are converted to UTC
    ("attributes.start_time = '2024-01-01 02:00'", "c"),  # naive means UTC
    ("attributes.start_time != '2024-01-01T02:00:00Z'", "abdeg"),
    ("attributes.start_time > 1704067200000 AND attributes.start_time <= 1704078000000", "bcd"),
    ("attributes.created < '2024-01-01T01:00:00Z'", "a"),
    ("attributes.end_time IS NULL", "cd"),
    ("attributes.end_time IS NOT NULL", "abeg"),
    ("attributes.end_time > '2024-01-01T05:00:00Z'", "eg"),
    ("attributes.end_time != '2024-01-01T00:30:00Z'", "bcdeg"),  # a NULL end time satisfies !=
    ("attributes.parent_run_id IS NULL", "abcde"),
    ("attributes.parent_run_id IS NOT NULL", "g"),
    ("attributes.parent_run_id LIKE '%'", "g"),
    ("attributes.parent_run_id ILIKE '%'", "g"),
    ("attributes.parent_run_id NOT LIKE '%'", "abcde"),  # NULL satisfies the negative comparators
]

DATASET_CASES = [
    ("datasets.name = 'iris'", "ab"),
    ("datasets.name LIKE 'Iris%'", "bd"),
    ("datasets.name ILIKE 'iris%'", "abd"),
    ("datasets.name NOT LIKE 'Iris%'", "ab"),  # any input not matching; runs without inputs never match
    ("datasets.digest = 'bbb222'", "bd"),
    ("dataset.context = 'eval'", "bd"),
    ("datasets.name != 'iris'", "bd"),
    ("datasets.name IN ('Iris-v2')", "bd"),
    ("datasets.name NOT IN ('iris')", "bd"),
    ("datasets.digest IN ('aaa111', 'bbb222')", "abd"),
    ("datasets.name = 'iris' AND datasets.context = 'training'", "ab"),  # each condition on any input
    ("datasets.name = 'nope'", ""),
]

BOOLEAN_CASES = [
    ("metrics.acc > 0.6 OR params.lr = '0.1'", "abeg"),
    ("metrics.acc > 0.6 AND params.lr = '0.1'", "g"),
    # AND binds tighter than OR
    ("params.lr = '0.1' OR tags.team = 'red' AND metrics.acc > 0.8", "abg"),
    ("metrics.acc > 0.8 AND tags.team = 'red' OR params.lr = '0.1'", "abg"),
    ("(params.lr = '0.1' OR tags.team = 'red') AND metrics.acc > 0.8", "a"),
    (
        "((tags.team = 'red' or tags.team = 'blue') and (attributes.status = 'FINISHED' or metrics.loss >= 1))",
        "abc",
    ),
    ("metrics.acc > 0.6 oR params.lr = '0.1' AnD attributes.status = 'KILLED'", "aeg"),
    ("(((metrics.acc > 0.6)))", "aeg"),
    ("tags.team != 'red' OR tags.team IS NULL", "bdeg"),
    ("metrics.acc IS NULL OR metrics.acc IS NOT NULL", "abcdeg"),
    ("params.lr = '0.1' AND (datasets.name = 'Iris-v2' OR attributes.status = 'KILLED')", "bg"),
    ("metrics.acc>0.6 and params.lr='0.1'", "g"),
]


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    METRIC_CASES + PARAM_CASES + TAG_CASES + ATTRIBUTE_CASES + DATASET_CASES + BOOLEAN_CASES,
)
def test_filter(corpus: Corpus, filter_text: str, expected: str) -> None:
    assert corpus.search(filter_text) == by_default_order(expected)


def test_run_id_and_parent_filters(corpus: Corpus) -> None:
    a, b = corpus.ids["a"], corpus.ids["b"]
    assert corpus.search(f"attributes.run_id = '{b}'") == ["b"]
    assert corpus.search(f"attributes.id IN ('{a}', '{b}', 'nope')") == ["b", "a"]
    assert corpus.search(f"attributes.run_id NOT IN ('{a}', '{b}')") == by_default_order("cdeg")
    assert corpus.search(f"attributes.parent_run_id = '{a}'") == ["g"]
    # a run without a parent satisfies != (the "absent satisfies !=" rule)
    assert corpus.search(f"attributes.parent_run_id != '{a}'") == by_default_order("abcde")
    assert corpus.search(f"attributes.parent_run_id NOT IN ('{a}')") == by_default_order("abcde")


def test_experiment_filters_and_argument(corpus: Corpus) -> None:
    e1, e2 = corpus.exp1, corpus.exp2
    assert corpus.search(f"attributes.experiment_id = {e2}") == ["e", "d"]
    assert corpus.search(f"attributes.experiment_id = '{e2}'") == ["e", "d"]
    assert corpus.search(f"attributes.experiment_id IN ({e1})") == by_default_order("abcg")
    assert corpus.search(f"attributes.experiment_id NOT IN ('{e1}')") == ["e", "d"]
    assert e2 > e1
    assert corpus.search(f"attributes.experiment_id > {e1}") == ["e", "d"]
    assert corpus.search(experiment_ids=[e2]) == ["e", "d"]
    assert corpus.search(experiment_ids=[e1, e2]) == by_default_order("abcdeg")
    assert corpus.search(experiment_ids=[]) == []
    assert corpus.search("metrics.acc > 0.6", experiment_ids=[e1]) == ["g", "a"]


def test_views(corpus: Corpus) -> None:
    assert corpus.search() == by_default_order("abcdeg")
    assert corpus.search(view="deleted") == ["f"]
    assert corpus.search(view="all") == by_default_order("abcdefg")
    assert corpus.search("params.lr = '0.01'", view="all") == ["f", "c", "a"]
    assert corpus.search("attributes.lifecycle_stage = 'deleted'", view="all") == ["f"]


def test_empty_filter_is_everything(corpus: Corpus) -> None:
    assert corpus.search("") == corpus.search("   ") == corpus.search(None) == by_default_order("abcdeg")


def test_project_scoping(corpus: Corpus) -> None:
    with corpus.db.session() as session:
        page = search_runs(
            session,
            project_id="f" * 32,
            experiment_ids=None,
            filter=None,
            order_by=None,
            page_token=None,
            page_size=10,
        )
    assert page.items == []
    assert page.next_page_token is None


ORDER_CASES = [
    (["metrics.acc DESC"], "eagbdc"),  # NaN (c) and absent (d) last, then newest first
    (["metrics.acc"], "bgaedc"),
    (["metrics.acc ASC"], "bgaedc"),
    (["metrics.`acc` desc"], "eagbdc"),
    (["params.lr ASC"], "cagbed"),  # '0.01' < '0.1' < '1e-3', absent last
    (["params.lr DESC"], "egbcad"),
    (["tags.team ASC"], "ebcagd"),  # code point order: 'Blue' < 'blue' < 'red' < 'élan'
    (["tags.team DESC"], "gcabed"),
    (["attributes.run_name DESC"], "gedcba"),
    (["attributes.name ASC"], "abcdeg"),
    (["attributes.start_time ASC"], "abcdeg"),
    (["attributes.start_time DESC"], "gedcba"),
    (["attributes.end_time DESC"], "egbadc"),
    (["attributes.end_time ASC"], "abgedc"),
    (["attributes.user_id ASC"], "gcaebd"),  # 'Dave' < 'alice' < 'bob' < 'carol'
    (["attributes.status ASC", "metrics.loss DESC"], "cbaegd"),
    (["attributes.status DESC", "metrics.loss ASC"], "dgeabc"),
    (["metrics.nope DESC"], "gedcba"),
    (["tags.mlflow.user ASC", "metrics.loss ASC"], "aebdgc"),
]


@pytest.mark.parametrize(("order_by", "expected"), ORDER_CASES)
def test_order_by(corpus: Corpus, order_by: list[str], expected: str) -> None:
    assert corpus.search(order_by=order_by) == list(expected)


def test_order_by_experiment_and_run_id(corpus: Corpus) -> None:
    assert corpus.exp2 > corpus.exp1
    by_exp = corpus.search(order_by=["attributes.experiment_id DESC", "attributes.run_name ASC"])
    assert by_exp == list("deabcg")
    assert corpus.search(order_by=["attributes.experiment_id ASC"]) == list("gcbaed")
    names_by_id = sorted(corpus.ids.items(), key=lambda kv: kv[1])
    assert corpus.search(order_by=["attributes.run_id"]) == [n for n, _ in names_by_id if n != "f"]
    assert corpus.search(order_by=["attributes.id DESC"]) == [n for n, _ in reversed(names_by_id) if n != "f"]


def test_filter_and_order_together(corpus: Corpus) -> None:
    assert corpus.search("metrics.loss > 0", ["metrics.loss DESC"]) == ["c", "g", "b", "d", "a"]
    assert corpus.search("tags.team != 'red'", ["tags.team ASC"]) == ["e", "b", "g", "d"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"filter": "metrics.auc banana"}, "filter"),
        ({"order_by": ["metrics.x SIDEWAYS"]}, "order_by"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 50_001}, "page_size"),
        ({"view": "archived"}, "view"),
        ({"page_token": "not-a-token"}, "page_token"),
    ],
)
def test_invalid_arguments_name_their_field(db: Database, kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "project_id": PROJECT,
        "experiment_ids": None,
        "filter": None,
        "order_by": None,
        "page_token": None,
        "page_size": 10,
    }
    args.update(kwargs)
    with db.session() as session, pytest.raises(InvalidArgument) as info:
        search_runs(session, **args)  # type: ignore[arg-type]
    assert info.value.details["field"] == field


def test_filter_error_reports_position(db: Database) -> None:
    with db.session() as session, pytest.raises(InvalidArgument) as info:
        search_runs(
            session,
            project_id=PROJECT,
            experiment_ids=None,
            filter="metrics.acc > 0.5 AND tags.x LIKE",
            order_by=None,
            page_token=None,
            page_size=10,
        )
    assert info.value.details == {"field": "filter", "position": 34, "token": ""}
    assert info.value.message.startswith("invalid filter at column 34: expected a LIKE pattern in quotes")


def test_exists_and_set_forms_agree(corpus: Corpus) -> None:
    """Both spellings of key conditions select the same runs, on both engines."""
    cases = METRIC_CASES + PARAM_CASES + TAG_CASES + ATTRIBUTE_CASES + DATASET_CASES + BOOLEAN_CASES
    with corpus.db.session() as session:
        if corpus.db.dialect == "sqlite":
            install_sqlite_functions(session.connection().connection.driver_connection)
        for text, expected in cases:
            expr = parse_filter(text)
            assert expr is not None
            for as_sets in (False, True):
                stmt = select(Run.name).where(Run.lifecycle_stage == "active", compile_filter(expr, as_sets=as_sets))
                assert set(session.scalars(stmt)) == set(expected), (text, as_sets)


@pytest.mark.parametrize(
    "order_by",
    [["metrics.acc DESC"], ["metrics.acc ASC"], ["tags.team DESC"], ["attributes.end_time ASC"], None],
)
def test_one_run_per_page_matches_the_full_order(corpus: Corpus, order_by: list[str] | None) -> None:
    """Tokens round-trip every kind of sort value: inf, NULL/NaN, non-ASCII text, times."""
    seen: list[str] = []
    token: str | None = None
    while True:
        with corpus.db.session() as session:
            page = search_runs(
                session,
                project_id=PROJECT,
                experiment_ids=None,
                filter="attributes.status != 'nope'",
                order_by=order_by,
                page_token=token,
                page_size=1,
            )
        seen.extend(run.name for run in page.items)
        token = page.next_page_token
        if token is None:
            break
    assert seen == corpus.search(order_by=order_by)
