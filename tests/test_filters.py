"""The filter / order_by language, checked against a real in-memory DuckDB index."""
from __future__ import annotations

import operator
from datetime import datetime

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlnb.errors import FilterError
from mlnb.store.filters import (
    And, Comparison, Field, Not, Or, compile_filter, compile_order_by, parse_filter, quote_string,
)

T = datetime
RUNS = [  # run_id, experiment, name, status, parent, start, end, user, host, pid, notebook, git
    ("r1", "cifar", "baseline", "finished", None, T(2024, 1, 1, 10), T(2024, 1, 1, 11),
     "alice", "h1", 1, "a.ipynb", "abc123"),
    ("r2", "cifar", "bigger", "finished", None, T(2024, 1, 2, 10), T(2024, 1, 2, 12),
     "bob", "h2", 2, "a.ipynb", "abc123"),
    ("r3", "cifar", "child", "running", "r1", T(2024, 1, 3, 10), None,
     "alice", "h1", 3, "b.ipynb", None),
    ("r4", "mnist", "it's", "failed", None, T(2024, 1, 4, 10), T(2024, 1, 4, 10, 30),
     "carol", "h3", 4, None, "def456"),
    ("r5", "mnist", None, "finished", None, T(2024, 1, 5, 10), T(2024, 1, 5, 11),
     "bob", "h2", 5, "c.ipynb", "def456"),
]
PARAMS = [
    ("r1", "lr", "0.1", 0.1), ("r1", "model", "resnet", None), ("r1", "flag", "True", 1.0),
    ("r1", "model.depth", "18", 18.0), ("r1", "weird key`x", "yes", None),
    ("r2", "lr", "0.01", 0.01), ("r2", "model", "vit", None), ("r2", "flag", "False", 0.0),
    ("r2", "model.depth", "50", 50.0),
    ("r3", "lr", "auto", None), ("r3", "model", "resnet", None), ("r3", "opt/name", "adam", None),
    ("r4", "lr", "1", 1.0), ("r4", "flag", "true", None),
]
ACC = {"r1": 0.9, "r2": 0.7, "r3": 0.85, "r5": 0.95}
METRICS = [(r, "acc", v) for r, v in ACC.items()] + [
    ("r1", "loss", 0.3), ("r2", "loss", 0.5), ("r4", "loss", 0.1)]
TAGS = [
    ("r1", "note", "hello"), ("r1", "epoch", "5"), ("r1", "path", "C:\\new"),
    ("r2", "note", "world"), ("r2", "quote", "it's"),
    ("r3", "note", "%odd_"), ("r3", "epoch", "5.0"),
    ("r4", "note", "Hello"),
]
ALL = ["r1", "r2", "r3", "r4", "r5"]


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    con.execute("""
        CREATE SCHEMA idx;
        CREATE TABLE idx.runs (run_id VARCHAR PRIMARY KEY, experiment VARCHAR, name VARCHAR,
            status VARCHAR, parent_run_id VARCHAR, start_time TIMESTAMP, end_time TIMESTAMP,
            "user" VARCHAR, host VARCHAR, pid INTEGER, notebook VARCHAR, git_commit VARCHAR);
        CREATE TABLE idx.params (run_id VARCHAR, key VARCHAR, value VARCHAR, value_num DOUBLE,
            PRIMARY KEY (run_id, key));
        CREATE TABLE idx.metric_latest (run_id VARCHAR, key VARCHAR, value DOUBLE, step BIGINT,
            ts TIMESTAMP, PRIMARY KEY (run_id, key));
        CREATE TABLE idx.tags (run_id VARCHAR, key VARCHAR, value VARCHAR, PRIMARY KEY (run_id, key));
    """)
    con.executemany("INSERT INTO idx.runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", RUNS)
    con.executemany("INSERT INTO idx.params VALUES (?, ?, ?, ?)", PARAMS)
    con.executemany("INSERT INTO idx.metric_latest VALUES (?, ?, ?, 1, now())", METRICS)
    con.executemany("INSERT INTO idx.tags VALUES (?, ?, ?)", TAGS)
    yield con
    con.close()


def select(con, text: str | None) -> list[str]:
    compiled = compile_filter(text)
    sql, params = compiled if compiled else ("TRUE", [])
    rows = con.execute(f"SELECT run_id FROM idx.runs r WHERE {sql} ORDER BY run_id", params)
    return [row[0] for row in rows.fetchall()]


def ordered(con, items) -> list[str]:
    exprs, params = compile_order_by(items)
    rows = con.execute(f"SELECT run_id FROM idx.runs r ORDER BY {', '.join(exprs)}", params)
    return [row[0] for row in rows.fetchall()]


CASES = [
    # params: numbers compare value_num, strings compare the text
    ("params.lr = 0.1", ["r1"]), ("params.lr == 0.1", ["r1"]), ("params.lr = .1", ["r1"]),
    ("params.lr != 0.1", ["r2", "r4"]), ("params.lr <> 0.1", ["r2", "r4"]),
    ("params.lr < 0.1", ["r2"]), ("params.lr <= 0.1", ["r1", "r2"]),
    ("params.lr > 0.1", ["r4"]), ("params.lr >= 0.1", ["r1", "r4"]),
    ("params.lr = 1", ["r4"]), ("params.lr = 1e0", ["r4"]), ("params.lr = +1", ["r4"]),
    ("params.lr > -5", ["r1", "r2", "r4"]), ("params.lr>=1E-1", ["r1", "r4"]),
    ("params.lr = 'auto'", ["r3"]), ("params.lr = '0.1'", ["r1"]),
    ("params.model != 'resnet'", ["r2"]), ("params.model > 's'", ["r2"]),
    ("params.flag = true", ["r1", "r4"]), ("params.flag = false", ["r2"]),
    ("params.flag != true", ["r2"]), ("params.flag in (true, false)", ["r1", "r2", "r4"]),
    ("params.model.depth > 20", ["r2"]), ("params.`weird key``x` = 'yes'", ["r1"]),
    ("params.opt/name = \"adam\"", ["r3"]), ("param.lr = 0.1", ["r1"]),
    ("params.lr in (0.1, 1)", ["r1", "r4"]), ("params.model in ('vit', 'x')", ["r2"]),
    ("params.lr not in (0.1, 1)", ["r2"]), ("params.model like 'res%'", ["r1", "r3"]),
    ("params.lr is null", ["r5"]), ("params.opt/name is not null", ["r3"]),
    # metrics: latest value, numbers only
    ("metrics.acc > 0.8", ["r1", "r3", "r5"]), ("metrics.acc >= 0.9", ["r1", "r5"]),
    ("metrics.acc < 0.8", ["r2"]), ("metrics.acc <= 0.7", ["r2"]), ("metrics.acc = 0.9", ["r1"]),
    ("metrics.acc != 0.9", ["r2", "r3", "r5"]), ("metric.loss < 0.2", ["r4"]),
    ("metrics.acc in (0.7, 0.85)", ["r2", "r3"]), ("metrics.acc not in (0.7, 0.85)", ["r1", "r5"]),
    ("metrics.acc is null", ["r4"]), ("metrics.loss is not null", ["r1", "r2", "r4"]),
    # tags: text; a number literal compares as str(number)
    ("tags.note = 'hello'", ["r1"]), ("tags.note != 'hello'", ["r2", "r3", "r4"]),
    ("tags.epoch = 5", ["r1"]), ("tags.epoch = 5.0", ["r3"]), ("tag.note = 'world'", ["r2"]),
    ("tags.note like 'h%'", ["r1"]), ("tags.note not like 'h%'", ["r2", "r3", "r4"]),
    ("tags.note like '_ello'", ["r1", "r4"]), ("tags.note like '%odd%'", ["r3"]),
    ("tags.quote = 'it''s'", ["r2"]), ("tags.quote = 'it\\'s'", ["r2"]),
    ("tags.quote = \"it's\"", ["r2"]), ("tags.quote = \"it\"\"s\"", []),
    ("tags.path = 'C:\\\\new'", ["r1"]), ("tags.path = 'C:\\new'", ["r1"]),
    ("tags.note in ('hello', 'world')", ["r1", "r2"]),
    ("tags.note not in ('hello', 'world')", ["r3", "r4"]),
    ("tags.note is null", ["r5"]), ("tags.note is not null", ["r1", "r2", "r3", "r4"]),
    ("tags.epoch IS NOT NULL", ["r1", "r3"]), ("tags.`note` = 'hello'", ["r1"]),
    # attributes
    ("name = 'baseline'", ["r1"]), ("name = 'it''s'", ["r4"]), ("name is null", ["r5"]),
    ("name is not null", ["r1", "r2", "r3", "r4"]), ("status != 'finished'", ["r3", "r4"]),
    ("experiment = 'mnist'", ["r4", "r5"]), ("parent_run_id = 'r1'", ["r3"]),
    ("user = 'bob'", ["r2", "r5"]), ("host in ('h1', 'h3')", ["r1", "r3", "r4"]),
    ("notebook like '%.ipynb'", ["r1", "r2", "r3", "r5"]), ("git_commit is null", ["r3"]),
    ("run_id = 'r2'", ["r2"]), ("run_id > 'r3'", ["r4", "r5"]),
    ("start >= '2024-01-03'", ["r3", "r4", "r5"]),
    ("start < '2024-01-02 10:00:01'", ["r1", "r2"]), ("start = '2024-01-01 10:00:00'", ["r1"]),
    ("end is null", ["r3"]), ("end > '2024-01-04T10:00'", ["r4", "r5"]),
    ("start like '2024-01-0_ 10%'", ALL), ("start in ('2024-01-01 10:00', '2024-01-05 10:00')",
                                           ["r1", "r5"]),
    ("attributes.status = 'running'", ["r3"]), ("attr.user = 'carol'", ["r4"]),
    # and / or / not precedence and parentheses
    ("tags.note = 'Hello' or tags.note = 'world' and metrics.acc > 0.8", ["r4"]),
    ("(tags.note = 'Hello' or tags.note = 'world') and metrics.acc > 0.8", []),
    ("(tags.note = 'Hello' or tags.note = 'world') and metrics.acc < 0.8", ["r2"]),
    ("not tags.note = 'hello'", ["r2", "r3", "r4", "r5"]),
    ("not not tags.note = 'hello'", ["r1"]),
    ("not (params.lr = 0.1 or params.lr = 0.01)", ["r3", "r4", "r5"]),
    ("not params.lr = 0.1 and metrics.acc > 0.8", ["r3", "r5"]),
    ("not (params.lr = 0.1 and metrics.acc > 0.8)", ["r2", "r3", "r4", "r5"]),
    ("params.model = 'resnet' and metrics.acc > 0.8 and tags.note is not null", ["r1", "r3"]),
    ("((metrics.acc > 0.8))", ["r1", "r3", "r5"]),
    # keywords are case-insensitive; keys are not
    ("TAGS.note = 'hello' OR Params.lr = 0.01 AnD NOT metrics.acc IS NULL", ["r1", "r2"]),
    ("tags.note LIKE 'h%' Or tags.note Not In ('hello', 'world') or params.flag = TRUE",
     ["r1", "r3", "r4"]),
    ("tags.Note = 'hello'", []), ("  \n\tname\n=\n'baseline'  ", ["r1"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_filter_selects(con, text: str, expected: list[str]) -> None:
    assert select(con, text) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty_filter_means_no_filter(con, text) -> None:
    assert compile_filter(text) is None
    assert parse_filter(text) is None
    assert select(con, text) == ALL


def test_tree_shape() -> None:
    a, b, c = (Comparison(Field("tags", k), "=", 1) for k in "abc")
    assert parse_filter("tags.a = 1 or tags.b = 1 and tags.c = 1") == Or((a, And((b, c))))
    assert parse_filter("(tags.a = 1 or tags.b = 1) and tags.c = 1") == And((Or((a, b)), c))
    assert parse_filter("not tags.a = 1 or tags.b = 1") == Or((Not(a), b))
    assert parse_filter("params.model.lr in (1, 2.5)") == Comparison(
        Field("params", "model.lr"), "in", (1, 2.5))
    assert parse_filter("start is not null") == Comparison(Field("attr", "start"), "is not null")
    assert parse_filter("tags.x not like 'a'") == Comparison(Field("tags", "x"), "not like", "a")


def test_user_text_is_always_bound() -> None:
    sql, params = compile_filter("params.`'; DROP TABLE x; --` = 'a''b' or tags.t like '%--%'")
    assert "DROP" not in sql and "--" not in sql and "a'b" not in sql
    assert params == ["'; DROP TABLE x; --", "a'b", "t", "%--%"]


ERRORS = [
    ("params.lr =", 12, "expected a value (number, 'string', true, false) but found end of input"),
    ("params.lr = 0.1 and", 20, "expected a field"),
    ("bogus = 1", 1, "unknown field 'bogus'; use params.<key>, metrics.<key>, tags.<key> or one of"),
    ("foo.x = 1", 1, "unknown field 'foo.x'"),
    ("params.lr = 0.1 and pid = 3", 21, "unknown field 'pid'"),
    ("attr.bogus = 1", 1, "unknown field 'attr.bogus'"),
    ("tags.note = 'abc", 13, "unterminated string: expected a closing ' but found end of input"),
    ('tags.note = "abc\\"', 13, 'expected a closing "'),
    ("params.`abc = 1", 8, "unterminated key"),
    ("(params.lr = 0.1", 17, "expected 'and', 'or' or ')' to close the '(' at column 1 but found end"),
    ("params.lr = 0.1)", 16, "expected 'and', 'or' or end of input but found ')'"),
    ("params.lr = 0.1 garbage", 17, "but found 'garbage'"),
    ("tags.note in ()", 15, "expected a value (number, 'string', true, false) but found ')'"),
    ("tags.note in ('a' 'b')", 19, "expected ',' or ')'"),
    ("tags.note in 'a'", 14, "expected '(' after 'in'"),
    ("tags.note in ('a', 1)", 20, "same kind of value as the first in the list but found a number"),
    ("metrics.acc = 'high'", 15, "expected a number (metrics are numbers) but found a string"),
    ("metrics.acc like 'x%'", 18, "metrics are numbers"),
    ("metrics.acc = true", 15, "metrics are numbers"),
    ("tags.note like 5", 16, "expected a 'pattern' string after like but found a number"),
    ("params.flag > true", 15, "true/false work only with =, != and in"),
    ("status = false", 10, "true/false"),
    ("start > 5", 9, "expected a timestamp string like '2024-05-01 12:00:00'"),
    ("start > 'yesterday'", 9, "but found 'yesterday'"),
    ("end < '2024-01-01T00:00:00+02:00'", 7, "without timezone"),
    ("params.lr", 10, "expected an operator (=, !=, <, <=, >, >=, like, in, is null) but found end"),
    ("params.lr ~ 1", 11, "expected an operator"),
    ("params. = 1", 8, "expected a key after the '.'"),
    ("tags.note not = 'x'", 15, "expected 'like' or 'in' after 'not' but found '='"),
    ("tags.note is nul", 14, "expected 'null' or 'not null' after 'is' but found 'nul'"),
    ("= 1", 1, "expected a field"),
    ("not", 4, "expected a field"),
    ("()", 2, "expected a field (params.<key>, metrics.<key>, tags.<key> or an attribute) but "
              "found ')'"),
    ("metrics.acc > 1.2.3", 18, "found '.3'"),
    ("(" * 500, 101, "nested too deeply"),
    ("not " * 500 + "name = 'x'", 401, "nested too deeply"),
]


@pytest.mark.parametrize(("text", "column", "message"), ERRORS)
def test_errors_name_column_and_expectation(text: str, column: int, message: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(text)
    text_of_error = str(info.value)
    assert text_of_error.startswith(f"bad filter at column {column}: ")
    assert message in text_of_error
    assert "\n" not in text_of_error


def test_error_message_stays_one_line() -> None:
    with pytest.raises(FilterError) as info:
        compile_filter("start > 'a\nb'")
    assert "\n" not in str(info.value)


def test_order_by_default() -> None:
    for empty in (None, [], "", "  ", ()):
        assert compile_order_by(empty) == (["r.start_time DESC", "r.run_id"], [])


ORDERS = [
    ("-metrics.acc", ["r5", "r1", "r3", "r2", "r4"]),
    ("metrics.acc desc", ["r5", "r1", "r3", "r2", "r4"]),
    ("metrics.acc", ["r2", "r3", "r1", "r5", "r4"]),
    ("+metrics.acc", ["r2", "r3", "r1", "r5", "r4"]),
    ("metrics.acc ASC", ["r2", "r3", "r1", "r5", "r4"]),
    ("params.lr", ["r2", "r1", "r4", "r3", "r5"]),  # numbers, then text ('auto'), then missing
    ("-params.lr", ["r4", "r1", "r2", "r3", "r5"]),
    ("tags.note", ["r3", "r4", "r1", "r2", "r5"]),
    ("start", ALL), ("start desc", ALL[::-1]), ("-end", ["r5", "r4", "r2", "r1", "r3"]),
    ("-name", ["r4", "r3", "r2", "r1", "r5"]), ("name asc", ALL),
    ("experiment", ALL),  # ties broken by run_id
    (["experiment", "-metrics.acc"], ["r1", "r3", "r2", "r5", "r4"]),
    ("experiment, -metrics.acc", ["r1", "r3", "r2", "r5", "r4"]),
    (["-experiment", "tags.`note`"], ["r4", "r5", "r3", "r1", "r2"]),
    (None, ALL[::-1]),
]


@pytest.mark.parametrize(("items", "expected"), ORDERS)
def test_order_by(con, items, expected: list[str]) -> None:
    assert ordered(con, items) == expected


def test_order_by_shapes() -> None:
    exprs, params = compile_order_by(["-params.lr", "name"])
    assert params == ["lr", "lr"]
    assert exprs[0].endswith("DESC NULLS LAST") and "value_num" in exprs[0]
    assert exprs[1].endswith("DESC NULLS LAST") and "value_num" not in exprs[1]
    assert exprs[2:] == ["r.name ASC NULLS LAST", "r.run_id"]
    exprs, params = compile_order_by("metrics.`x'; DROP TABLE idx.runs; --`")
    assert "DROP" not in " ".join(exprs) and params == ["x'; DROP TABLE idx.runs; --"]


@pytest.mark.parametrize("bad", ["xyz", "-foo.bar", "metrics.acc sideways", "-name desc",
                                 "metrics.", "name,", "--name", "metrics.acc = 1", 5])
def test_order_by_errors(bad) -> None:
    with pytest.raises(FilterError) as info:
        compile_order_by([bad])
    assert str(info.value).startswith(f"bad order_by {bad!r}: use [-|+]params.<key>, metrics.<key>")


# -- property-based ----------------------------------------------------------------------------

NASTY = st.sampled_from([
    "'; DROP TABLE idx.runs; --", "--", ";", "'", "''", '"', "\\", "\\'", "a\\", "?", "$1",
    "SELECT", "or 1=1", "' OR '1'='1", "`", "%", "_", "héllo wörld ☃ 日本", "\x00", "hello", "",
    "5", "5.0", " padded ", "NULL", "true",
])
TEXTS = st.one_of(NASTY, st.text(max_size=30), st.lists(NASTY, max_size=4).map("".join))


def _double_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '""') + '"'


@settings(max_examples=200, deadline=None)
@given(value=TEXTS, double=st.booleans())
def test_any_text_value_is_bound_and_matched_exactly(con, value: str, double: bool) -> None:
    literal = _double_quoted(value) if double else quote_string(value)
    sql, params = compile_filter(f"tags.note = {literal}")
    assert (sql, params) == (compile_filter("tags.note = 'x'")[0], ["note", value])
    con.begin()
    try:
        con.execute("INSERT INTO idx.runs (run_id) VALUES ('hx')")
        con.execute("INSERT INTO idx.tags VALUES ('hx', 'note', ?)", [value])
        got = [r[0] for r in con.execute(
            f"SELECT run_id FROM idx.runs r WHERE {sql} ORDER BY run_id", params).fetchall()]
    finally:
        con.rollback()
    assert got == sorted([r for r, k, v in TAGS if k == "note" and v == value] + ["hx"])
    assert con.execute("SELECT count(*) FROM idx.runs").fetchone()[0] == len(RUNS)


TOKENS = st.sampled_from([
    "params.lr", "metrics.acc", "tags.note", "params.`a b`", "start", "end", "name", "status",
    "attr.user", "foo.x", "=", "==", "!=", "<>", "<", "<=", ">", ">=", "and", "or", "not", "(",
    ")", "like", "in", "is", "null", "'x'", '"y"', "'%'", "0.5", "-1e3", "7", "1e999", "true",
    "FALSE", ",", "'2024-01-02'", "'2024-13-45'", "`", "'", "\\", ";", "--",
])
FIELDS = st.sampled_from(["params.lr", "params.model", "param.`a b`", "metrics.acc", "metric.loss",
                          "tags.note", "tags.epoch", "start", "end", "name", "status", "attr.user"])
VALUES = st.one_of(TEXTS.map(quote_string), st.floats(allow_nan=False).map(repr),
                   st.integers().map(str), st.sampled_from(["true", "false", "'2024-01-02 10:00'"]))
COMPARISONS = st.one_of(
    st.tuples(FIELDS, st.sampled_from(["=", "==", "!=", "<>", "<", "<=", ">", ">="]), VALUES)
    .map(" ".join),
    st.tuples(FIELDS, st.sampled_from(["like", "not like"]), VALUES).map(" ".join),
    st.tuples(FIELDS, st.sampled_from(["in", "not in"]),
              st.lists(VALUES, min_size=1, max_size=3).map(", ".join).map("({})".format))
    .map(" ".join),
    st.tuples(FIELDS, st.sampled_from(["is null", "is not null"])).map(" ".join),
)
GRAMMAR = st.recursive(COMPARISONS, lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from(["and", "or", "AND", "Or"]), inner).map(" ".join),
    inner.map("not {}".format), inner.map("({})".format)), max_leaves=6)
MUTATED = st.tuples(GRAMMAR, st.integers(0, 200)).map(lambda t: t[0][:t[1]] + t[0][t[1] + 1:])
FILTER_TEXTS = st.one_of(st.text(max_size=40), st.lists(TOKENS, max_size=12).map(" ".join),
                         st.lists(TOKENS, max_size=12).map("".join), GRAMMAR, MUTATED)


@settings(max_examples=200, deadline=None)
@given(text=FILTER_TEXTS)
def test_any_text_compiles_and_runs_or_raises_filter_error(con, text: str) -> None:
    try:
        compiled = compile_filter(text)
    except FilterError as exc:
        assert str(exc).startswith("bad filter at column ") and "\n" not in str(exc)
        return
    if compiled is None:
        assert not text.strip()
        return
    sql, params = compiled
    assert sql.count("?") == len(params)
    con.execute(f"SELECT run_id FROM idx.runs r WHERE {sql}", params).fetchall()


OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
       ">": operator.gt, ">=": operator.ge}


@settings(max_examples=200, deadline=None)
@given(x=st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                   st.integers(-10**6, 10**6), st.sampled_from(sorted(ACC.values()))),
       op=st.sampled_from(sorted(OPS)))
def test_metric_threshold_matches_python(con, x: float, op: str) -> None:
    expected = sorted(r for r, v in ACC.items() if OPS[op](v, x))
    assert select(con, f"metrics.acc {op} {x!r}") == expected
