"""The run search parser alone: what parses to what, and where each mistake is reported."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard.errors import InvalidArgument
from shipyard.tracking import search
from shipyard.tracking.search import And, Comparison, EntityType, Or, OrderKey, parse_filter, parse_order_by
from shipyard.tracking.search.parser import MAX_COMPARISONS, MAX_DEPTH, MAX_ORDER_KEYS
from shipyard.tracking.search.sql import pattern_regex

M, P, T, A, D = EntityType.METRIC, EntityType.PARAM, EntityType.TAG, EntityType.ATTRIBUTE, EntityType.DATASET


def only(text: str) -> Comparison:
    expr = parse_filter(text)
    assert isinstance(expr, Comparison)
    return expr


def test_exports_are_complete() -> None:
    public = {name for name in dir(search) if not name.startswith("_")} - {"annotations"}
    modules = {"compiler", "errors", "fields", "lexer", "nodes", "parser", "service", "sql"}
    assert set(search.__all__) == public - modules
    assert search.__all__ == sorted(search.__all__)


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty_filter_is_none(text: str | None) -> None:
    assert parse_filter(text) is None


@pytest.mark.parametrize(
    ("text", "type_", "key", "op", "value"),
    [
        ("metrics.acc > 0.5", M, "acc", ">", 0.5),
        ("metric.acc >= -1", M, "acc", ">=", -1.0),
        ("metrics.acc < 1e-3", M, "acc", "<", 0.001),
        ("metrics.acc <= .5", M, "acc", "<=", 0.5),
        ("metrics.acc = +2", M, "acc", "=", 2.0),
        ("metrics.acc == 2", M, "acc", "=", 2.0),
        ("metrics.acc != 2", M, "acc", "!=", 2.0),
        ("metrics.acc <> 2", M, "acc", "!=", 2.0),
        ("metrics.acc IS NULL", M, "acc", "IS NULL", None),
        ("metrics.acc is not null", M, "acc", "IS NOT NULL", None),
        ("metrics.train/loss > 1", M, "train/loss", ">", 1.0),
        ("metrics.`my metric` > 1", M, "my metric", ">", 1.0),
        ('metrics."my metric" > 1', M, "my metric", ">", 1.0),
        ("metrics.`a``b` > 1", M, "a`b", ">", 1.0),
        ("params.lr = '0.01'", P, "lr", "=", "0.01"),
        ('param.lr = "0.01"', P, "lr", "=", "0.01"),
        ("parameters.lr = 0.010", P, "lr", "=", "0.010"),  # a bare number is its text
        ("parameter.lr = -1e5", P, "lr", "=", "-1e5"),
        ("params.name = 'it''s'", P, "name", "=", "it's"),
        ('params.name = "say ""hi"""', P, "name", "=", 'say "hi"'),
        ("params.x LIKE 'a%'", P, "x", "LIKE", "a%"),
        ("params.x ilike 'a%'", P, "x", "ILIKE", "a%"),
        ("params.x NOT LIKE 'a%'", P, "x", "NOT LIKE", "a%"),
        ("params.x not ilike 'a%'", P, "x", "NOT ILIKE", "a%"),
        ("params.x IN ('a', \"b\", 3)", P, "x", "IN", ("a", "b", "3")),
        ("params.x NOT IN ('a')", P, "x", "NOT IN", ("a",)),
        ("params.x IS NOT NULL", P, "x", "IS NOT NULL", None),
        ("tags.mlflow.user = 'x'", T, "mlflow.user", "=", "x"),
        ("tags.`mlflow.user` = 'x'", T, "mlflow.user", "=", "x"),
        ("tag.t != ''", T, "t", "!=", ""),
        ("attributes.run_id IN ('a', 'b')", A, "run_id", "IN", ("a", "b")),
        ("attributes.id = 'a'", A, "run_id", "=", "a"),
        ("attr.name LIKE 'x%'", A, "run_name", "LIKE", "x%"),
        ("run.run_name = 'x'", A, "run_name", "=", "x"),
        ("attribute.STATUS = 'FINISHED'", A, "status", "=", "FINISHED"),
        ("attributes.user_id ILIKE 'a%'", A, "user_id", "ILIKE", "a%"),
        ("attributes.lifecycle_stage = 'deleted'", A, "lifecycle_stage", "=", "deleted"),
        ("attributes.parent_run_id IS NULL", A, "parent_run_id", "IS NULL", None),
        ("attributes.experiment_id = 3", A, "experiment_id", "=", 3),
        ("attributes.experiment_id IN ('1', 2)", A, "experiment_id", "IN", (1, 2)),
        ("attributes.experiment_id > -1", A, "experiment_id", ">", -1),
        ("attributes.start_time > 0", A, "start_time", ">", datetime(1970, 1, 1, tzinfo=UTC)),
        ("attributes.start_time > 1704067200123", A, "start_time", ">", datetime(2024, 1, 1, 0, 0, 0, 123000, UTC)),
        ("attributes.created >= '2024-01-01T01:00:00+01:00'", A, "start_time", ">=", datetime(2024, 1, 1, tzinfo=UTC)),
        ("attributes.end_time < '2024-01-01'", A, "end_time", "<", datetime(2024, 1, 1, tzinfo=UTC)),
        ("attributes.end_time = '2024-01-01T00:00:00Z'", A, "end_time", "=", datetime(2024, 1, 1, tzinfo=UTC)),
        ("datasets.name = 'iris'", D, "name", "=", "iris"),
        ("dataset.DIGEST IN ('a')", D, "digest", "IN", ("a",)),
        ("datasets.context NOT LIKE 'train%'", D, "context", "NOT LIKE", "train%"),
        ("METRICS.acc > 1", M, "acc", ">", 1.0),
        ("Tags.t = 'x'", T, "t", "=", "x"),
    ],
)
def test_comparisons(text: str, type_: EntityType, key: str, op: str, value: object) -> None:
    c = only(text)
    assert (c.type, c.key, c.op, c.value) == (type_, key, op, value)
    assert c.position == 1


def test_and_binds_tighter_than_or() -> None:
    expr = parse_filter("metrics.a > 1 OR metrics.b > 2 AND metrics.c > 3 or metrics.d > 4")
    assert isinstance(expr, Or)
    assert [type(item) for item in expr.items] == [Comparison, And, Comparison]
    middle = expr.items[1]
    assert isinstance(middle, And)
    assert [c.key for c in middle.items if isinstance(c, Comparison)] == ["b", "c"]


def test_parentheses_group_and_flatten() -> None:
    expr = parse_filter("(metrics.a > 1 OR metrics.b > 2) AND (metrics.c > 3 AND (metrics.d > 4))")
    assert isinstance(expr, And)
    assert isinstance(expr.items[0], Or)
    assert [getattr(i, "key", None) for i in expr.items[1:]] == ["c", "d"]  # nested ANDs flatten
    assert str(expr) == "(metrics.`a` > 1.0 OR metrics.`b` > 2.0) AND metrics.`c` > 3.0 AND metrics.`d` > 4.0"


def test_canonical_text_ignores_spelling() -> None:
    one = parse_filter("metric.`acc`>0.5 and PARAMS.\"lr\" <> '1' Or tags.t IN ('a','b')")
    two = parse_filter("metrics.acc > 0.50 AND params.lr != \"1\" OR tag.t in ( 'a' , 'b' )")
    assert str(one) == str(two)
    assert str(one) == "metrics.`acc` > 0.5 AND params.`lr` != '1' OR tags.`t` IN ('a', 'b')"


def test_positions_are_one_based_columns() -> None:
    expr = parse_filter("metrics.a > 1 AND  tags.b = 'x'")
    assert isinstance(expr, And)
    assert [c.position for c in expr.items if isinstance(c, Comparison)] == [1, 20]


def test_keywords_inside_names_and_strings_are_not_keywords() -> None:
    c = only("tags.`and or` = 'a AND b OR (c)'")
    assert (c.key, c.value) == ("and or", "a AND b OR (c)")
    assert only("params.ORDER = 'x'").key == "ORDER"


# (filter, column, token, start of the reason)
ERRORS = [
    ("foo.x = 1", 1, "foo", "unknown identifier type 'foo'"),
    ("metrics.a > 1 AND bar.`x` = 1", 19, "bar", "unknown identifier type 'bar'"),
    ("attributes.nope = 'a'", 12, "nope", "unknown attribute 'nope'"),
    ("attributes.artifact_uri = 'a'", 12, "artifact_uri", "unknown attribute 'artifact_uri'"),
    ("datasets.size = 'a'", 10, "size", "unknown dataset field 'size'"),
    ("metrics.auc banana", 13, "banana", "expected a comparator after 'metrics.auc', got 'banana'"),
    ("metrics.auc", 12, "", "expected a comparator after 'metrics.auc', got end of input"),
    ("metrics.x LIKE 'a'", 11, "LIKE", "LIKE cannot compare metric 'metrics.x'"),
    ("metrics.x IN (1)", 11, "IN", "IN cannot compare metric"),
    ("params.x > '1'", 10, ">", "> cannot compare param 'params.x'"),
    ("tags.x >= '1'", 8, ">=", ">= cannot compare tag"),
    ("attributes.status > 'a'", 19, ">", "> cannot compare attribute"),
    ("attributes.start_time LIKE 'a'", 23, "LIKE", "LIKE cannot compare attribute"),
    ("attributes.status IS NULL", 19, "IS NULL", "IS NULL cannot compare attribute"),
    ("datasets.name > 'a'", 15, ">", "> cannot compare dataset field"),
    ("datasets.name NOT  LIKE", 24, "", "expected a LIKE pattern in quotes after 'datasets.name NOT  LIKE'"),
    ("params.x = 'abc", 12, "'abc", "unterminated string"),
    ('params.x = "abc', 12, '"abc', "unterminated string"),
    ("params.x = 'it''s", 12, "'it''s", "unterminated string"),
    ("tags.`abc = 1", 6, "`abc = 1", "unterminated quoted name"),
    ('tags."abc = 1', 6, '"abc = 1', "unterminated quoted name"),
    ("tags.`` = 1", 6, "tags.``", "empty name after 'tags.'"),
    ("tags. = 1", 6, " ", "expected a name after 'tags.', got whitespace"),
    ("tags.", 6, "", "expected a name after 'tags.', got end of input"),
    ("metrics.x >", 12, "", "expected a number after 'metrics.x >', got end of input"),
    ("params.x =", 11, "", "expected a quoted string after 'params.x =', got end of input"),
    ("params.x = AND", 12, "AND", "expected a quoted string"),
    ("params.x LIKE", 14, "", "expected a LIKE pattern in quotes"),
    ("params.x LIKE 5", 15, "5", "expected a LIKE pattern in quotes"),
    ("params.x = NULL", 12, "NULL", "expected a quoted string after 'params.x =', got 'NULL' (use IS NULL"),
    ("metrics.x > 'a'", 13, "'a'", "expected a number after 'metrics.x >', got \"'a'\""),
    ("metrics.x > abc", 13, "abc", "expected a number"),
    ("attributes.experiment_id = 1.5", 28, "1.5", "expected an integer"),
    ("attributes.experiment_id = 'x'", 28, "'x'", "expected an integer"),
    ("attributes.experiment_id = abc", 28, "abc", "expected an integer after 'attributes.experiment_id ='"),
    ("attributes.start_time > 'yesterday'", 25, "'yesterday'", "'yesterday' is not an ISO-8601 time"),
    ("attributes.start_time > 1e300", 25, "1e300", "1e300 is not a time in epoch milliseconds"),
    ("attributes.start_time > start", 25, "start", "expected an ISO-8601 time in quotes or epoch milliseconds"),
    ("(metrics.x > 1", 15, "", "expected ')' to close the '(' at column 1, got end of input"),
    ("((metrics.x > 1) AND (metrics.y > 1)", 37, "", "expected ')' to close the '(' at column 1"),
    ("(metrics.x > 1 metrics.y > 2)", 16, "metrics.y", "expected ')' to close the '(' at column 1"),
    ("metrics.x > 1)", 14, ")", "unbalanced ')'"),
    ("(metrics.x > 1))", 16, ")", "unbalanced ')'"),
    ("()", 2, ")", "expected an identifier"),
    ("metrics.x > 1 garbage", 15, "garbage", "expected AND, OR or the end of the filter, got 'garbage'"),
    ("metrics.x > 1 metrics.y > 2", 15, "metrics.y", "expected AND, OR or the end of the filter"),
    ("metrics.x > 1;", 14, ";", "unexpected character ';'"),
    ("metrics.x > 1 AND", 18, "", "expected an identifier"),
    ("metrics.x > 1 OR OR metrics.y > 1", 18, "OR", "expected an identifier"),
    ("AND metrics.x > 1", 1, "AND", "expected an identifier"),
    ("status = 'x'", 1, "status", "expected an identifier"),
    ("`a` = 1", 1, "`", "a backtick-quoted name needs a type before it"),
    ("params.x IN ()", 14, ")", "empty IN list after 'params.x IN'"),
    ("attributes.run_id NOT IN ( )", 28, ")", "empty IN list"),
    ("params.x IN 'a'", 13, "'a'", "expected '(' after 'params.x IN'"),
    ("params.x IN ('a' 'b')", 18, "'b'", "expected ',' or ')' in the list"),
    ("params.x IN ('a',)", 18, ")", "expected a quoted string"),
    ("params.x IN ('a'", 17, "", "expected ',' or ')' in the list after 'params.x IN', got end of input"),
    ("metrics.x IS 5", 14, "5", "expected NULL or NOT NULL after IS"),
    ("metrics.x IS NOT 5", 18, "5", "expected NULL after IS"),
    ("params.x NOT = 'a'", 14, "=", "expected IN, LIKE or ILIKE after NOT"),
    ("params.x LIKE 'a\\'", 15, "'a\\'", "the LIKE pattern ends with the escape character"),
    ("metrics.x ! 1", 11, "!", "unexpected character '!'"),
    ("metrics.x > 1 & metrics.y > 1", 15, "&", "unexpected character '&'"),
]


@pytest.mark.parametrize(("text", "column", "token", "reason"), ERRORS)
def test_errors_point_at_the_offending_token(text: str, column: int, token: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter(text)
    err = info.value
    assert err.details == {"field": "filter", "position": column, "token": token}
    first, quoted, caret = err.message.split("\n")
    assert first.startswith(f"invalid filter at column {column}: {reason}"), first
    assert quoted == f"  {text}"
    assert caret == " " * (column + 1) + "^"
    assert err.code == "INVALID_ARGUMENT"


def test_the_example_message() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter("metrics.auc  banana > 1")
    assert info.value.message.splitlines()[0] == (
        "invalid filter at column 14: expected a comparator after 'metrics.auc', got 'banana'"
    )
    assert info.value.details == {"field": "filter", "position": 14, "token": "banana"}


def test_first_mistake_in_reading_order_wins() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter("metrics.x LIKE 'a' AND params.y = 'unterminated")
    assert info.value.details["position"] == 11  # the LIKE, not the string after it


def test_long_filters_show_a_window_around_the_error() -> None:
    text = "metrics.a > 1 AND " * 10 + "metrics.b > oops" + " AND metrics.c > 1" * 10
    with pytest.raises(InvalidArgument) as info:
        parse_filter(text)
    column = text.index("oops") + 1
    assert info.value.details["position"] == column
    _, quoted, caret = info.value.message.split("\n")
    assert quoted.startswith("  ...")
    assert quoted.endswith("...")
    assert quoted[caret.index("^") :].startswith("oops")


def test_newlines_do_not_break_the_caret() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter("metrics.a > 1\nAND tags.b ~ 'x'")
    _, quoted, caret = info.value.message.split("\n")
    assert info.value.details["position"] == 26
    assert quoted[caret.index("^")] == "~"


@pytest.mark.parametrize(
    ("text", "column", "token"),
    [
        ("params.x = 'a\x00b'", 14, "\\x00"),
        ("metrics.a > 1 AND tags.t = '\ud800'", 29, "\\ud800"),
    ],
)
def test_characters_no_engine_stores_are_refused(text: str, column: int, token: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter(text)
    assert info.value.details == {"field": "filter", "position": column, "token": token}
    first, quoted, caret = info.value.message.split("\n")
    assert "is not allowed" in first
    assert quoted[caret.index("^")] == " "


@pytest.mark.parametrize("number", ["9223372036854775808", "-9223372036854775809"])
def test_experiment_ids_must_fit_64_bits(number: str) -> None:
    with pytest.raises(InvalidArgument, match="out of range") as info:
        parse_filter(f"attributes.experiment_id = {number}")
    assert info.value.details["position"] == 28
    assert only(f"attributes.experiment_id = {number[:-1]}").value == int(number[:-1])


def test_limits() -> None:
    deep = "(" * (MAX_DEPTH + 1) + "metrics.a > 1" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(InvalidArgument) as info:
        parse_filter(deep)
    assert info.value.details["position"] == MAX_DEPTH + 1
    assert parse_filter("(" * MAX_DEPTH + "metrics.a > 1" + ")" * MAX_DEPTH) is not None
    many = " OR ".join(f"metrics.m{i} > 1" for i in range(MAX_COMPARISONS + 1))
    with pytest.raises(InvalidArgument, match="more than 100 comparisons"):
        parse_filter(many)
    values = ", ".join(f"'{i}'" for i in range(5001))
    with pytest.raises(InvalidArgument, match="more than 5000 values"):
        parse_filter(f"attributes.run_id IN ({values})")


# -- order_by -------------------------------------------------------------------------


def test_order_by() -> None:
    keys = parse_order_by(
        ["metrics.acc DESC", "params.`learning rate`", "tags.t asc", "attributes.name", "attr.created desc", "run.id"]
    )
    assert keys == [
        OrderKey(M, "acc", True),
        OrderKey(P, "learning rate", False),
        OrderKey(T, "t", False),
        OrderKey(A, "run_name", False),
        OrderKey(A, "start_time", True),
        OrderKey(A, "run_id", False),
    ]
    assert [str(k) for k in keys[:2]] == ["metrics.`acc` DESC", "params.`learning rate` ASC"]
    assert parse_order_by(None) == parse_order_by([]) == []
    assert parse_order_by(["  metric.x   Desc "]) == [OrderKey(M, "x", True, 3)]


@pytest.mark.parametrize(
    ("entries", "index", "column", "token", "reason"),
    [
        (["metrics.m DESCX"], 0, 11, "DESCX", "expected ASC, DESC or nothing after 'metrics.m', got 'DESCX'"),
        (["metrics.m DESC x"], 0, 16, "x", "expected the end of the order_by entry"),
        (["metrics.a", "datasets.name"], 1, 1, "datasets.name", "datasets cannot be used in order_by"),
        (["attributes.parent_run_id"], 0, 12, "parent_run_id", "attribute 'parent_run_id' cannot be used"),
        (["attributes.nope"], 0, 12, "nope", "unknown attribute 'nope'"),
        (["foo.bar"], 0, 1, "foo", "unknown identifier type 'foo'"),
        ([""], 0, 1, "", "empty order_by entry"),
        (["DESC"], 0, 1, "DESC", "expected metrics.<name>"),
        (["metrics.`x"], 0, 9, "`x", "unterminated quoted name"),
        (["metrics.x", "metrics.`x` DESC"], 1, 1, "metrics.`x` DESC", "metrics.x is already ordered by in order_by[0]"),
    ],
)
def test_order_by_errors(entries: list[str], index: int, column: int, token: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_order_by(entries)
    err = info.value
    assert err.details == {"field": "order_by", "index": index, "position": column, "token": token}
    assert err.message.splitlines()[0].startswith(f"invalid order_by[{index}] at column {column}: {reason}")


def test_order_by_length_is_bounded() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_order_by([f"metrics.m{i}" for i in range(MAX_ORDER_KEYS + 1)])
    assert info.value.details["field"] == "order_by"


# -- LIKE patterns ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "ignore_case", "matches"),
    [
        ("a%", "abc", False, True),
        ("a%", "Abc", False, False),
        ("a%", "Abc", True, True),
        ("%c", "abc", False, True),
        ("a_c", "abc", False, True),
        ("a_c", "abbc", False, False),
        ("a\\_c", "a_c", False, True),
        ("a\\_c", "abc", False, False),
        ("100\\%", "100%", False, True),
        ("100\\%", "1000", False, False),
        ("a\\\\b", "a\\b", False, True),
        ("a.c", "abc", False, False),  # regex characters are literal
        ("(x)*%", "(x)*yz", False, True),
        ("(x)*%", "(x)yz", False, False),
        ("%", "line\nbreak", False, True),
        ("élan", "Élan", True, True),
        ("élan", "Élan", False, False),
    ],
)
def test_like_patterns(pattern: str, value: str, ignore_case: bool, matches: bool) -> None:
    assert bool(pattern_regex(pattern, ignore_case).fullmatch(value)) is matches
