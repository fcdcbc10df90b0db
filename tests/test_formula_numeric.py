"""Numeric semantics of formulas that engines disagree on natively (S5, README "Formulas"), on DuckDB,
PostgreSQL and Spark, against independent Python references (math.fmod, IEEE doubles):

- `%` is C's fmod exactly (PostgreSQL has no float8 `%`; a - b * trunc(a / b) gave 0 for 1.0 % 0.1);
- round() rounds halves away from zero exactly (FLOOR(x + 0.5) made round(0.49999999999999994) = 1);
- + - * / give the IEEE result, NULL when it overflows, per row (PostgreSQL raised for the whole query
  on 1.79e308 * 7, and on products and quotients that underflow to zero);
- min/max SQL grows linearly with the argument count (it grew with its square);
- nesting deeper than MAX_DEPTH is a FormulaError, never a RecursionError; the evaluator never crashes.
"""
from __future__ import annotations

import math
from datetime import datetime
from fractions import Fraction

import pytest
from sqlglot import exp

from backends import ENGINE_NAMES, open_backend
from kaireon_sql.dialect import engine, render
from kaireon_sql.formula import Field, FormulaError, parse_formula
from kaireon_sql.formula.parser import MAX_DEPTH

AS_OF = datetime(2026, 11, 20, 15, 0)
AS_OF_SQL = exp.cast(exp.Literal.string("2026-11-20 15:00:00"), "TIMESTAMP")
TYPES = {"customer.x": "number", "customer.y": "number"}
# (x, y) rows: fmod pairs, rounding edges, overflow and underflow to zero
PAIRS = [(1.0, 0.1), (-1.0, 0.1), (0.49999999999999994, 3.0), (2.5, -2.5), (1e308, 1e-10), (5e-324, 0.5),
         (1.7976931348623157e308, 7.0), (1e-300, 1e300), (1e-200, 1e-200), (-1e-170, 1e-160), (7.0, 2.0),
         (123456.789, 0.001), (1e16 + 2, 3.0), (4503599627370497.0, 1e-5), (0.5, 5e-324), (-2.5, 1e308)]


def resolve(name: str) -> Field | None:
    return Field("number", exp.column(name.split(".")[1])) if name in TYPES else None


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def db(request):
    backend = open_backend(request.param)
    backend.create_table("p", {"id": "INTEGER", "x": "DOUBLE", "y": "DOUBLE"},
                         [(i, x, y) for i, (x, y) in enumerate(PAIRS)])
    yield backend
    backend.close()


def run(db, formulas: list[str]) -> dict[str, list]:
    eng = engine(db.name)
    cols = [exp.alias_(parse_formula(f).to_sql(resolve, AS_OF_SQL), f"c{i}", quoted=True) for i, f in enumerate(formulas)]
    got = db.query(render(exp.select(exp.column("id"), *cols).from_("p").order_by("id"), eng, pretty=False))
    return {f: [None if r[f"c{i}"] is None else float(r[f"c{i}"]) for r in got] for i, f in enumerate(formulas)}


def evaluate(formula: str) -> list:
    f = parse_formula(formula)
    return [f.evaluate({"customer.x": x, "customer.y": y}, TYPES, AS_OF) for x, y in PAIRS]


def ieee(op, x: float, y: float) -> float | None:
    """The IEEE double result, None when infinite (or a zero divisor)."""
    if op in "/%" and y == 0:
        return None
    r = {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else 0.0, "%": math.fmod(x, y) if y else 0.0}[op]
    return r if math.isfinite(r) else None


@pytest.mark.parametrize("op", list("+-*/%"))
def test_arithmetic_is_ieee_with_null_on_overflow(db, op):
    formula = f"customer.x {op} customer.y"
    want = [ieee(op, x, y) for x, y in PAIRS]
    assert evaluate(formula) == want
    assert run(db, [formula])[formula] == want


def test_fmod_examples_exactly(db):
    got = run(db, ["customer.x % customer.y"])["customer.x % customer.y"]
    assert got[0] == math.fmod(1.0, 0.1) == 0.09999999999999995
    assert got[1] == -0.09999999999999995
    assert got[4] == math.fmod(1e308, 1e-10)


def test_round_half_away_from_zero_exactly(db):
    formulas = ["round(customer.x)", "round(customer.y)", "round(customer.x, 3)", "round(customer.x * 7, -2)"]
    got = run(db, formulas)

    def exact_round(x: float) -> float:  # on the exact binary value
        q = Fraction(x)
        n = math.floor(abs(q) + Fraction(1, 2))
        return math.copysign(float(n), x) if n else 0.0

    assert got["round(customer.x)"] == [exact_round(x) for x, _ in PAIRS]
    assert got["round(customer.y)"] == [exact_round(y) for _, y in PAIRS]
    assert got["round(customer.x)"][2] == 0.0  # 0.49999999999999994 is below one half
    assert got["round(customer.y)"][3] == -3.0  # -2.5 away from zero
    for f in formulas:
        assert got[f] == evaluate(f), f


def test_min_max_sql_is_linear_in_arguments():
    def size(n: int, eng: str) -> int:
        text = "max(" + ", ".join(f"customer.x * {i}" for i in range(n)) + ")"
        return len(render(parse_formula(text).to_sql(resolve, AS_OF_SQL), engine(eng), pretty=False))

    for eng in ("duckdb", "postgres", "spark", "bigquery", "trino"):
        assert size(200, eng) < 2.2 * size(100, eng), eng


def test_min_max_skip_nulls_with_many_arguments(db):
    text = "min(" + ", ".join(["customer.x * 1e308", "customer.y", "customer.x"] * 40) + ")"
    want = [min(v for v in (ieee("*", x, 1e308), y, x) if v is not None) for x, y in PAIRS]
    assert evaluate(text) == want
    assert run(db, [text])[text] == want


def nested(depth: int) -> str:
    """A formula `depth` levels deep mixing the operators and functions."""
    text = "customer.x"
    for i in range(depth - 1):
        text = ["abs({})", "({}) * 1.5", "round({}, 2)", "({}) % 7", "min({}, customer.y)", "0 - ({})",
                "if(customer.y > 1, {}, 2)", "({}) / 3"][i % 8].format(text)
    return text


@pytest.mark.parametrize("text", ["(" * 100 + "1" + ")" * 100, "(" * 10_000 + "1" + ")" * 10_000, "-" * 500 + "customer.x",
                                  "abs(" * 100 + "customer.x" + ")" * 100, " + ".join(["customer.x"] * 500),
                                  nested(MAX_DEPTH + 1)])
def test_too_deep_formula_is_a_clear_error(text):
    with pytest.raises(FormulaError, match=f"nested too deeply \\(more than {MAX_DEPTH} levels"):
        parse_formula(text).check(resolve)


def test_deepest_formula_runs_on_every_engine(db):
    text = nested(MAX_DEPTH)
    got = run(db, [text])[text]
    want = evaluate(text)
    assert [g is None for g in got] == [w is None for w in want]
    assert all(math.isclose(g, w, rel_tol=1e-9) for g, w in zip(got, want) if w is not None)


@pytest.mark.parametrize("x", [math.inf, -math.inf, math.nan, 1e308, -1.7976931348623157e308, 5e-324, 0.0])
@pytest.mark.parametrize("formula", ["round(customer.x)", "round(customer.x, 15)", "round(customer.x, -15)",
                                     "floor(customer.x)", "ceil(customer.x * 10)", "customer.x / 1e-300",
                                     "customer.x % 1e-300", "abs(customer.x) * customer.x"])
def test_evaluator_never_crashes(formula, x):
    value = parse_formula(formula).evaluate({"customer.x": x, "customer.y": 1.0}, TYPES, AS_OF)
    assert value is None or math.isfinite(value)
    if not math.isfinite(x):
        assert value is None  # a NaN or +-inf input is missing
