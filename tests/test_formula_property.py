"""Differential property tests: compiled SQL == Python evaluator, row by row.

Two parts: the first (DuckDB, bounded magnitudes, exact equality) below; the second (end of the file)
runs formulas up to depth 8 over NaN, +-inf, huge and tiny doubles on DuckDB, PostgreSQL and Spark.

Random well-typed formula trees are generated directly as AST nodes, rendered to formula
text (which must parse back to the same tree), compiled, and run over a batch of random
rows in one DuckDB query.

In the first part magnitudes are bounded (|x| in {0} U [1e-6, 1e6], tree depth <= 4) and
equality is exact: every operation compiles to the same IEEE double operations the evaluator
performs.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from kaireon_sql.dialect import lower
from kaireon_sql.formula import Field, parse_formula
from kaireon_sql.formula.nodes import Binary, Bool, Call, Ident, Num, Str, Ternary, Unary, to_text

AS_OF = datetime(2024, 3, 10, 8, 30)
AS_OF_SQL = exp.cast(exp.Literal.string("2024-03-10 08:30:00"), "timestamp")

COLUMNS = {  # identifier -> (column, duckdb type, field type)
    "customer.n1": ("n1", "DOUBLE", "number"),
    "customer.n2": ("n2", "DOUBLE", "number"),
    "offer.n3": ("n3", "DOUBLE", "number"),
    "attributes.i1": ("i1", "INTEGER", "number"),
    "loyaltyScore": ("loyalty", "DOUBLE", "number"),
    "customer.s1": ("s1", "VARCHAR", "text"),
    "offer.s2": ("s2", "VARCHAR", "text"),
    "customer.b1": ("b1", "BOOLEAN", "boolean"),
    "attributes.b2": ("b2", "BOOLEAN", "boolean"),
    "customer.ts1": ("ts1", "TIMESTAMP", "timestamp"),
    "customer.ts2": ("ts2", "TIMESTAMP", "timestamp"),
}
TYPES = {k: v[2] for k, v in COLUMNS.items()}
BY_TYPE = {t: [k for k, v in TYPES.items() if v == t] for t in ("number", "text", "boolean", "timestamp")}


def resolver(name: str) -> Field | None:
    c = COLUMNS.get(name)
    return None if c is None else Field(c[2], exp.column(c[0], table="t"))


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    cols = ", ".join(f"{c_} {t}" for c_, t, _ in COLUMNS.values())
    c.execute(f"CREATE TABLE t (rid INTEGER, {cols})")
    yield c
    c.close()


# ------------------------------------------------------------------ data strategies
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1.005, 0.1, 3.0, 7.0, 1e6, -1e6, 1e-6]
bounded = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda x: x == 0 or abs(x) >= 1e-6)
number_value = st.one_of(st.none(), st.sampled_from(SPECIAL), bounded)
safe_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
text_value = st.one_of(st.none(), st.sampled_from(["", "a", "b", "ab", "it's", "é", "; --"]), st.text(safe_chars, max_size=4))
ts_value = st.one_of(st.none(), st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 12, 31)))
VALUE = {
    "number": number_value,
    "text": text_value,
    "boolean": st.one_of(st.none(), st.booleans()),
    "timestamp": ts_value,
}


def row_strategy():
    cols = {k: VALUE[t] for k, t in TYPES.items()}
    cols["attributes.i1"] = st.one_of(st.none(), st.integers(-1000, 1000))
    return st.fixed_dictionaries(cols)


# ------------------------------------------------------------------ formula strategies
literal_num = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 3.0, 0.5, 2.5, 0.1, 1.005, 7.0, 100.0, 1e-6, 123456.789]),
    st.floats(min_value=1e-6, max_value=1e6),
).map(Num)


@lru_cache(maxsize=None)  # build each strategy once; rebuilding per draw is slow
def numeric(depth: int) -> st.SearchStrategy:
    """Nodes usable as numbers: 'number' or 'boolean' typed."""
    leaves = st.one_of(literal_num, st.sampled_from(BY_TYPE["number"]).map(Ident), boolean(0))
    if depth == 0:
        return leaves
    sub = numeric(depth - 1)
    digits = st.integers(-3, 6).map(lambda n: Unary("-", Num(float(-n))) if n < 0 else Num(float(n)))
    ts = st.one_of(
        st.sampled_from(BY_TYPE["timestamp"]).map(Ident),
        st.lists(st.sampled_from(BY_TYPE["timestamp"]).map(Ident), min_size=1, max_size=3).map(
            lambda a: Call("coalesce", tuple(a))
        ),
    )
    return st.one_of(
        leaves,
        sub.map(lambda a: Unary("-", a)),
        st.builds(Binary, st.sampled_from("+-*/%"), sub, sub),
        st.builds(Ternary, sub, sub, sub),
        st.builds(lambda f, a: Call(f, (a,)), st.sampled_from(["abs", "floor", "ceil"]), sub),
        st.builds(lambda a, n: Call("round", (a,) if n is None else (a, n)), sub, st.none() | digits),
        st.builds(lambda f, a: Call(f, tuple(a)), st.sampled_from(["min", "max", "coalesce"]), st.lists(sub, min_size=1, max_size=3)),
        st.builds(lambda c, a, b: Call("if", (c, a, b)), sub, sub, sub),
        ts.map(lambda t: Call("days_since", (t,))),
        boolean(depth),
    )


@lru_cache(maxsize=None)  # build each strategy once; rebuilding per draw is slow
def boolean(depth: int) -> st.SearchStrategy:
    leaves = st.one_of(st.sampled_from(BY_TYPE["boolean"]).map(Ident), st.booleans().map(Bool))
    if depth == 0:
        return leaves
    num = numeric(depth - 1)
    txt = text(depth - 1)
    cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    return st.one_of(
        leaves,
        st.builds(Binary, cmp, num, num),
        st.builds(Binary, cmp, txt, txt),
        st.builds(Binary, st.sampled_from(["&&", "||"]), num, num),
        num.map(lambda a: Unary("!", a)),
    )


@lru_cache(maxsize=None)  # build each strategy once; rebuilding per draw is slow
def text(depth: int) -> st.SearchStrategy:
    leaves = st.one_of(
        st.sampled_from(BY_TYPE["text"]).map(Ident),
        st.one_of(st.sampled_from(["", "x", "it's", 'q"', "\\", "'; DROP TABLE t; --"]), st.text(safe_chars, max_size=3)).map(Str),
    )
    if depth == 0:
        return leaves
    sub = text(depth - 1)
    num = numeric(depth - 1)
    return st.one_of(
        leaves,
        st.builds(Binary, st.just("+"), sub, sub),
        st.lists(sub, min_size=1, max_size=3).map(lambda a: Call("concat", tuple(a))),
        st.lists(sub, min_size=1, max_size=3).map(lambda a: Call("coalesce", tuple(a))),
        st.builds(Ternary, num, sub, sub),
        st.builds(lambda c, a, b: Call("if", (c, a, b)), num, sub, sub),
    )


formulas = st.integers(1, 4).flatmap(lambda d: st.one_of(numeric(d), text(d)))


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b and type(a) is type(b)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tree=formulas, rows=st.lists(row_strategy(), min_size=1, max_size=12))
def test_duckdb_matches_python(con, tree, rows):
    text_ = to_text(tree)
    f = parse_formula(text_)
    assert to_text(f.tree) == text_  # the printer and the parser agree
    expr = lower(f.to_sql(resolver, AS_OF_SQL), engine_named("duckdb"))  # the tree is engine-neutral

    con.execute("DELETE FROM t")
    con.executemany(
        f"INSERT INTO t VALUES (?{', ?' * len(COLUMNS)})",
        [[i] + [r[k] for k in COLUMNS] for i, r in enumerate(rows)],
    )
    sql = exp.select(expr.as_("r")).from_("t").order_by("rid").sql("duckdb")
    db = [r[0] for r in con.execute(sql).fetchall()]
    py = [f.evaluate(r, TYPES, AS_OF) for r in rows]
    for row, a, b in zip(rows, py, db):
        assert same(a, b), f"{text_}\nrow={row}\npython={a!r} duckdb={b!r}\nsql={sql}"


# ====================================================================== three engines, extreme values
# Formulas of depth up to 8 over inputs and literals that include NaN, +-inf, 1e308, the largest and
# smallest doubles; compiled for DuckDB, PostgreSQL and Spark and compared with the Python evaluator
# (numbers to 1e-9 relative, texts exactly, NULLs equal). Many formulas run in one SELECT per engine
# (one column each over a small input table): Spark's per-query latency would dominate otherwise.

import math  # noqa: E402

from backends import ENGINE_NAMES, open_backend  # noqa: E402
from kaireon_sql.dialect import engine as engine_named, render  # noqa: E402

EXTREME = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 0.49999999999999994, 0.1, 7.0, 1e308, -1e308,
           1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-300,
           1e300, 1e154, 4503599627370497.0, 1e16, 123456.789]
NON_FINITE = [math.nan, math.inf, -math.inf]
extreme_literal = st.one_of(st.sampled_from([x for x in EXTREME if math.copysign(1, x) > 0]),
                            st.floats(min_value=0, allow_nan=False, allow_infinity=False)).map(Num)
BATCH = 150  # formulas per query
BATCHES = 8  # queries per engine (hypothesis examples)


def _rows() -> list[dict]:
    """Input rows: every number column meets NaN, +-inf, huge, tiny and ordinary values."""
    numbers = EXTREME + NON_FINITE + [None]
    texts = [None, "", "a", "b", "ab", "it's", "é", "東京", "; --", "B"]
    rows = []
    for i in range(14):
        rows.append({
            "customer.n1": numbers[i % len(numbers)], "customer.n2": numbers[(i * 7 + 3) % len(numbers)],
            "offer.n3": numbers[(i * 11 + 5) % len(numbers)], "attributes.i1": [None, 0, 7, -3, 1000][i % 5],
            "loyaltyScore": numbers[(i * 5 + 1) % len(numbers)],
            "customer.s1": texts[i % len(texts)], "offer.s2": texts[(i * 3 + 1) % len(texts)],
            "customer.b1": [True, False, None][i % 3], "attributes.b2": [None, True, False][i % 3],
            "customer.ts1": [None, datetime(2024, 3, 9, 23, 59), datetime(1999, 12, 31)][i % 3],
            "customer.ts2": [datetime(2030, 1, 1), None][i % 2],
        })
    return rows


ROWS = _rows()


@lru_cache(maxsize=None)
def x_numeric(depth: int) -> st.SearchStrategy:
    """Like numeric(), with extreme literals and more weight on leaves so depth-8 trees stay small."""
    leaves = st.one_of(extreme_literal, st.sampled_from(BY_TYPE["number"]).map(Ident), boolean(0))
    if depth == 0:
        return leaves
    sub = x_numeric(depth - 1)
    digits = st.integers(-15, 15).map(lambda n: Unary("-", Num(float(-n))) if n < 0 else Num(float(n)))
    return st.one_of(
        leaves, leaves,
        sub.map(lambda a: Unary("-", a)),
        st.builds(Binary, st.sampled_from("+-*/%"), sub, sub),
        st.builds(Binary, st.sampled_from("+-*/%"), sub, sub),
        st.builds(Ternary, x_boolean(depth - 1), sub, sub),
        st.builds(lambda f, a: Call(f, (a,)), st.sampled_from(["abs", "floor", "ceil"]), sub),
        st.builds(lambda a, n: Call("round", (a,) if n is None else (a, n)), sub, st.none() | digits),
        st.builds(lambda f, a: Call(f, tuple(a)), st.sampled_from(["min", "max", "coalesce"]), st.lists(sub, min_size=1, max_size=3)),
        st.builds(lambda c, a, b: Call("if", (c, a, b)), sub, sub, sub),
        st.sampled_from(BY_TYPE["timestamp"]).map(lambda t: Call("days_since", (Ident(t),))),
        x_boolean(depth),
    )


@lru_cache(maxsize=None)
def x_boolean(depth: int) -> st.SearchStrategy:
    leaves = st.one_of(st.sampled_from(BY_TYPE["boolean"]).map(Ident), st.booleans().map(Bool))
    if depth == 0:
        return leaves
    num, txt = x_numeric(depth - 1), x_text(depth - 1)
    cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    return st.one_of(leaves, st.builds(Binary, cmp, num, num), st.builds(Binary, cmp, txt, txt),
                     st.builds(Binary, st.sampled_from(["&&", "||"]), num, num), num.map(lambda a: Unary("!", a)))


@lru_cache(maxsize=None)
def x_text(depth: int) -> st.SearchStrategy:
    leaves = st.one_of(st.sampled_from(BY_TYPE["text"]).map(Ident),
                       st.one_of(st.sampled_from(["", "x", "it's", 'q"', "\\", "é"]), st.text(safe_chars, max_size=3)).map(Str))
    if depth == 0:
        return leaves
    sub = x_text(depth - 1)
    return st.one_of(leaves, leaves, st.builds(Binary, st.just("+"), sub, sub),
                     st.lists(sub, min_size=1, max_size=3).map(lambda a: Call("concat", tuple(a))),
                     st.lists(sub, min_size=1, max_size=3).map(lambda a: Call("coalesce", tuple(a))),
                     st.builds(Ternary, x_numeric(depth - 1), sub, sub))


x_formulas = st.integers(1, 8).flatmap(lambda d: st.one_of(x_numeric(d), x_text(d)))


def agree(py, db) -> bool:
    if py is None or db is None:
        return py is None and db is None
    if isinstance(py, str) or isinstance(db, str):
        return py == db
    return math.isclose(py, float(db), rel_tol=1e-9, abs_tol=0.0)


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def xdb(request):
    backend = open_backend(request.param)
    columns = {"rid": "INTEGER", **{c: t for c, t, _ in COLUMNS.values()}}
    backend.create_table("t", columns, [tuple([i] + [r[k] for k in COLUMNS]) for i, r in enumerate(ROWS)])
    yield backend
    backend.close()


def check_batch(xdb, trees) -> None:
    eng = engine_named(xdb.name)
    formulas = [parse_formula(to_text(tree)) for tree in trees]
    columns = [exp.alias_(f.to_sql(resolver, AS_OF_SQL), f"c{i}", quoted=True) for i, f in enumerate(formulas)]
    sql = render(exp.select(exp.column("rid"), *columns).from_("t").order_by("rid"), eng, pretty=False)
    try:
        got = xdb.query(sql)
    except Exception as exc:  # name the formula that fails: one query each
        for f, column in zip(formulas, columns):
            try:
                xdb.query(render(exp.select(column.copy()).from_("t"), eng, pretty=False))
            except Exception:
                pytest.fail(f"{xdb.name} fails on {f.text}: {exc}")
        raise
    assert len(got) == len(ROWS)
    for i, f in enumerate(formulas):
        for row, out in zip(ROWS, got):
            py = f.evaluate(row, TYPES, AS_OF)
            assert agree(py, out[f"c{i}"]), f"{xdb.name}: {f.text}\nrow={row}\npython={py!r} {xdb.name}={out[f'c{i}']!r}"


FUZZ = dict(deadline=None, derandomize=True, database=None,
            phases=[Phase.explicit, Phase.generate],  # shrinking a batch of formulas takes longer than it helps
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


@settings(max_examples=16, **FUZZ)
@given(trees=st.lists(x_formulas, min_size=BATCH, max_size=BATCH))
def test_engines_match_python_on_extreme_values(xdb, trees):
    """DuckDB and PostgreSQL: 16 queries of 150 formulas x 14 rows."""
    if xdb.name == "spark":
        pytest.skip("Spark runs fewer batches (test_spark_matches_python_on_extreme_values)")
    check_batch(xdb, trees)


@settings(max_examples=8, **FUZZ)
@given(trees=st.lists(x_formulas, min_size=BATCH, max_size=BATCH))
def test_spark_matches_python_on_extreme_values(xdb, trees):
    """Spark plans a query of 150 deep formulas in seconds: 8 queries of 150 formulas x 14 rows."""
    if xdb.name != "spark":
        pytest.skip("see test_engines_match_python_on_extreme_values")
    check_batch(xdb, trees)
