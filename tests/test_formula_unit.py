"""Unit tests of the formula engine: parser, errors, semantics (Python and DuckDB)."""
from __future__ import annotations

import math
from datetime import datetime

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from kaireon_sql.dialect import engine, lower
from kaireon_sql.formula import Field, FormulaError, parse_formula
from kaireon_sql.formula.nodes import to_text

DUCKDB = engine("duckdb")

AS_OF = datetime(2024, 3, 10, 8, 30)
AS_OF_SQL = exp.cast(exp.Literal.string("2024-03-10 08:30:00"), "timestamp")

# identifier -> (column, duckdb type, field type)
COLUMNS = {
    "customer.x": ("x", "DOUBLE", "number"),
    "customer.y": ("y", "DOUBLE", "number"),
    "offer.n": ("n", "INTEGER", "number"),
    "attributes.s": ("s", "VARCHAR", "text"),
    "customer.u": ("u", "VARCHAR", "text"),
    "customer.b": ("b", "BOOLEAN", "boolean"),
    "customer.t": ("t", "TIMESTAMP", "timestamp"),
    "loyaltyScore": ("loyalty", "DOUBLE", "number"),
}
TYPES = {k: v[2] for k, v in COLUMNS.items()}


def resolver(name: str) -> Field | None:
    c = COLUMNS.get(name)
    return None if c is None else Field(c[2], exp.column(c[0], table="t"))


def run_duckdb(formula: str, rows: list[dict]) -> list:
    """Compile `formula`, run it over `rows` in DuckDB, return one result per row."""
    expr = lower(parse_formula(formula).to_sql(resolver, AS_OF_SQL), DUCKDB)  # the tree is engine-neutral
    con = duckdb.connect()
    cols = ", ".join(f"{c} {t}" for c, t, _ in COLUMNS.values())
    con.execute(f"CREATE TABLE t (rid INTEGER, {cols})")
    con.executemany(
        f"INSERT INTO t VALUES (?{', ?' * len(COLUMNS)})",
        [[i] + [r.get(k) for k in COLUMNS] for i, r in enumerate(rows)],
    )
    sql = exp.select(expr.as_("r")).from_("t").order_by("rid").sql("duckdb")
    return [r[0] for r in con.execute(sql).fetchall()]


def both(formula: str, row: dict | None = None):
    """Evaluate in Python and in DuckDB; assert they agree; return the value."""
    row = row or {}
    py = parse_formula(formula).evaluate(row, TYPES, AS_OF)
    db = run_duckdb(formula, [row])[0]
    assert same(py, db), (formula, row, py, db)
    return py


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b and type(a) is type(b)


# ------------------------------------------------------------------ parsing
@pytest.mark.parametrize(
    "text,expected",
    [
        ("1 + 2 * 3", "(1.0 + (2.0 * 3.0))"),
        ("(1 + 2) * 3", "((1.0 + 2.0) * 3.0)"),
        ("1 - 2 - 3", "((1.0 - 2.0) - 3.0)"),
        ("-2 * 3", "(-(2.0) * 3.0)"),
        ("1 < 2 == 1", "((1.0 < 2.0) == 1.0)"),
        ("a || b && c", "(a || (b && c))"),
        ("!a && b", "(!(a) && b)"),
        ("a ? b : c ? d : e", "(a ? b : (c ? d : e))"),
        ("a || b ? 1 : 2", "((a || b) ? 1.0 : 2.0)"),
        ("1e3 + .5 + 0.1", "((1000.0 + 0.5) + 0.1)"),
        ("round(customer.x, 2)", "round(customer.x, 2.0)"),
        ("'it\\'s' + \"q\\\"\\\\\"", "('it\\'s' + 'q\"\\\\')"),
        ("true != false", "(true != false)"),
    ],
)
def test_precedence(text, expected):
    assert to_text(parse_formula(text).tree) == expected


def test_identifiers_in_order_deduplicated():
    f = parse_formula("customer.x + max(offer.n, customer.x) > loyaltyScore ? attributes.s : customer.u")
    assert f.identifiers() == ["customer.x", "offer.n", "loyaltyScore", "attributes.s", "customer.u"]


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "text,column,fragment",
    [
        ("1 +", 4, "expected a number, string, name or '('"),
        ("(1 + 2", 7, "expected ')'"),
        ("1 2", 3, "unexpected number 2"),
        ("a = 1", 3, "use '=='"),
        ("a & b", 3, "use '&&'"),
        ("'abc", 1, "unterminated string"),
        ("1 ? 2", 6, "expected ':'"),
        ("", 1, "empty formula"),
        ("max(1,", 7, "expected a number"),
        ("customer.", 10, "expected a name after '.'"),
        ("'\\q'", 2, "unknown escape"),
        ("1.2.3", 1, "malformed number"),
        ("customer.x(1)", 1, "not a function name"),
    ],
)
def test_syntax_errors(text, column, fragment):
    with pytest.raises(FormulaError) as ei:
        parse_formula(text)
    e = ei.value
    assert e.column == column and e.position == column - 1, str(e)
    assert fragment in str(e) and f"at column {column}" in str(e)


@pytest.mark.parametrize(
    "text,column,fragment",
    [
        ("1 + sqrt(2)", 5, "unknown function 'sqrt' at column 5; known: abs, ceil, coalesce"),
        ("customer.nope * 2", 1, "unknown identifier 'customer.nope'"),
        ("2 * bare", 5, "unknown identifier 'bare'"),
        ("round(1, 2, 3)", 1, "round() takes 1 to 2 arguments, got 3"),
        ("abs()", 1, "abs() takes exactly 1 argument, got 0"),
        ("if(1, 2)", 1, "if() takes exactly 3 arguments, got 2"),
        ("min()", 1, "min() takes at least 1 argument"),
        ("customer.x + 'a'", 12, "operator '+' expects two numbers or two texts, got number and text"),
        ("'a' - 'b'", 5, "operator '-' expects two numbers"),
        ("customer.u < 1", 12, "expects two numbers or two texts, got text and number"),
        ("customer.u ? 1 : 2", 1, "the ternary condition expects a number, got text"),
        ("1 ? 'a' : 2", 3, "ternary branches must have the same type"),
        ("if(1, 'a', 2)", 12, "if() arguments must all have the same type"),
        ("coalesce(customer.x, customer.u)", 22, "coalesce() arguments must all have the same type"),
        ("abs('a')", 5, "abs() expects a number for argument 1, got text"),
        ("concat('a', 1)", 13, "concat() expects text"),
        ("round(customer.x, customer.x)", 19, "integer literal"),
        ("round(customer.x, 1.5)", 19, "integer literal"),
        ("customer.t + 1", 1, "timestamp can only be used inside days_since()"),
        ("customer.t", 1, "not a timestamp"),
        ("days_since(customer.x)", 12, "days_since() expects a timestamp"),
        ("!customer.u", 2, "operator '!' expects a number, got text"),
    ],
)
def test_check_errors(text, column, fragment):
    f = parse_formula(text)
    with pytest.raises(FormulaError) as ei:
        f.check(resolver)
    assert ei.value.column == column, str(ei.value)
    assert fragment in str(ei.value)
    with pytest.raises(FormulaError):  # to_sql and evaluate check too
        f.to_sql(resolver, AS_OF_SQL)
    with pytest.raises(FormulaError):
        f.evaluate({}, TYPES, AS_OF)


def test_result_types():
    assert parse_formula("customer.b").check(resolver) == "number"
    assert parse_formula("customer.x > 1").check(resolver) == "number"
    assert parse_formula("concat(customer.u, 'x')").check(resolver) == "text"
    assert parse_formula("days_since(coalesce(customer.t, customer.t))").check(resolver) == "number"


# ------------------------------------------------------------------ semantics (Python == DuckDB)
@pytest.mark.parametrize(
    "text,row,expected",
    [
        ("7 / 2", {}, 3.5),
        ("1 / 0", {}, None),
        ("customer.x / customer.y", {"customer.x": 1.0, "customer.y": -0.0}, None),
        ("5 % 0", {}, None),
        ("-7 % 3", {}, -1.0),
        ("7 % -3", {}, 1.0),
        ("5.5 % 2", {}, 1.5),
        ("round(2.5)", {}, 3.0),
        ("round(-2.5)", {}, -3.0),
        ("round(0.5)", {}, 1.0),
        ("round(1.005, 2)", {}, 1.0),  # 1.005 is 1.00499999... as a double
        ("round(1.015, 2)", {}, 1.01),  # 1.015 * 100 == 101.49999999999999 in doubles
        ("round(2.675, 2)", {}, 2.68),
        ("round(1234.5, -2)", {}, 1200.0),
        ("round(-1250, -2)", {}, -1300.0),
        ("round(customer.x)", {}, None),
        ("customer.x + 1", {}, None),
        ("customer.x > 1", {}, None),
        ("customer.x > 1 ? 'yes' : 'no'", {}, "no"),
        ("if(customer.x, 1, 2)", {}, 2.0),
        ("if(customer.b, 1, 2)", {"customer.b": None}, 2.0),
        ("if(customer.b, 1, 2)", {"customer.b": True}, 1.0),
        ("min(customer.x, 3, customer.y)", {"customer.y": 2.0}, 2.0),
        ("max(customer.x, -3, customer.y)", {}, -3.0),
        ("min(customer.x, customer.y)", {}, None),
        ("max(1, 5, 3)", {}, 5.0),
        ("concat(customer.u, '-', attributes.s)", {"attributes.s": "z"}, "-z"),
        ("concat(customer.u)", {}, ""),
        ("customer.u + 'x'", {"customer.u": "ab"}, "abx"),
        ("customer.u + 'x'", {}, None),
        ("'abc' < 'abd'", {}, 1.0),
        ("'b' == 'b'", {}, 1.0),
        ("2 >= 3", {}, 0.0),
        ("coalesce(customer.x, customer.y, 4)", {"customer.y": 2.0}, 2.0),
        ("coalesce(customer.u, 'none')", {}, "none"),
        ("abs(-3) + floor(-2.5) + ceil(2.1)", {}, 3.0 - 3.0 + 3.0),
        ("customer.b * 10 + !customer.b", {"customer.b": True}, 10.0),
        ("customer.b + 1", {}, None),
        ("true + true", {}, 2.0),
        ("offer.n / 2", {"offer.n": 7}, 3.5),  # integer columns are doubles too
        ("days_since(customer.t)", {"customer.t": datetime(2024, 3, 9, 23, 59)}, 1.0),
        ("days_since(customer.t)", {"customer.t": datetime(2024, 3, 10, 0, 0)}, 0.0),
        ("days_since(customer.t)", {"customer.t": datetime(2023, 3, 10, 9, 0)}, 366.0),
        ("days_since(customer.t)", {"customer.t": datetime(2024, 3, 11, 1, 0)}, -1.0),
        ("days_since(customer.t)", {}, None),
        ("0.1 + 0.2", {}, 0.1 + 0.2),
        ("1.2345678901234567 * 3", {}, 1.2345678901234567 * 3),
        ("loyaltyScore * 2", {"loyaltyScore": 4.0}, 8.0),
        ("-(-3)", {}, 3.0),
        ("- -3", {}, 3.0),
    ],
)
def test_semantics(text, row, expected):
    got = both(text, row)
    assert same(got, expected), (got, expected)


# Kleene logic: NULL is "unknown"; results are 1/0/NULL.
T, F, N = 1.0, 0.0, None


@pytest.mark.parametrize("a", [T, F, N])
@pytest.mark.parametrize("b", [T, F, N])
def test_kleene(a, b):
    row = {"customer.x": a, "customer.y": b}
    tv = {T: True, F: False, N: None}
    ta, tb = tv[a], tv[b]
    exp_and = F if (ta is False or tb is False) else (N if (ta is None or tb is None) else T)
    exp_or = T if (ta is True or tb is True) else (N if (ta is None or tb is None) else F)
    assert same(both("customer.x && customer.y", row), exp_and)
    assert same(both("customer.x || customer.y", row), exp_or)
    assert same(both("!customer.x", row), None if ta is None else (F if ta else T))
    # numbers as truth: any non-zero value is true
    assert both("-2.5 && 0.1", row) == T


# ------------------------------------------------------------------ hostile strings
HOSTILE = [
    "it's",
    '"double"',
    "'; DROP TABLE x; --",
    "/* comment */",
    "back\\slash\\",
    "tab\tnewline\n",
    "unicode: é 中文 🎉 \u202e",
    "$$ dollar $$",
    "{{ jinja }} {% if %}",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_string_literals(value):
    text = to_text(parse_formula("'x'").tree.__class__(value))  # Str node -> formula text
    f = parse_formula(f"concat({text}, customer.u)")
    sql = lower(f.to_sql(resolver, AS_OF_SQL), DUCKDB)
    rendered = exp.select(sql).sql("duckdb")
    lits = [l.this for l in sqlglot.parse_one(rendered, read="duckdb").find_all(exp.Literal) if l.is_string]
    assert value in lits
    assert both(f"concat({text}, customer.u)", {"customer.u": "!"}) == value + "!"
    assert both(f"{text} == attributes.s", {"attributes.s": value}) == 1.0


def test_double_quoted_escapes():
    assert parse_formula('"a\\"b\'c\\\\"').evaluate({}, {}, AS_OF) == "a\"b'c\\"


def test_literals_are_doubles_not_decimals():
    # a constant subtree is computed at compile time (in doubles, as the evaluator does): 0.1 * 3 != 0.3
    sql = lower(parse_formula("0.1 * 3").to_sql(resolver, AS_OF_SQL), DUCKDB).sql("duckdb")
    assert sql == "CAST(3.0000000000000004E-1 AS DOUBLE)"
    assert "CAST(0.1 AS DOUBLE)" in lower(parse_formula("customer.x * 0.1").to_sql(resolver, AS_OF_SQL), DUCKDB).sql("duckdb")
    con = duckdb.connect()
    assert con.execute(f"SELECT typeof({sql})").fetchone()[0] == "DOUBLE"
    assert both("0.1 * 3") == 0.1 * 3 != 0.3


def test_many_rows_in_one_query():
    rows = [{"customer.x": float(i) - 5, "customer.y": float(i % 3)} for i in range(20)]
    f = "round(customer.x / customer.y, 1) + customer.x % customer.y"
    db = run_duckdb(f, rows)
    py = [parse_formula(f).evaluate(r, TYPES, AS_OF) for r in rows]
    assert all(same(a, b) for a, b in zip(py, db)), (py, db)
    assert py[0] is None and not math.isnan(py[1])
