"""The S5 semantics matrix: each construct's SQL per dialect, and its result on every executed engine.

For each construct, `validate_all` pins the SQL we emit for all seven dialects (sqlglot's style:
one table documents what every engine gets), and one batched query over a small input table,
run on DuckDB, PostgreSQL and Spark, is compared with the Python expectation (hand-written values,
cross-checked with the formula engine's evaluator). Snowflake, BigQuery, Databricks and Trino are
only transpiled: their SQL is checked here and in the golden files, never executed.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlglot import exp

from backends import ENGINE_NAMES, open_backend
from kaireon_sql.dialect import (ENGINES, engine, hex8_to_int, hour_of, iso_day_of_week, json_object, local_time,
                                 md5_bucket, md5_hex, render, truncate)
from kaireon_sql.errors import Location
from kaireon_sql.flow.conditions import predicate
from kaireon_sql.formula import Field, parse_formula

DIALECTS = ("duckdb", "postgres", "spark", "snowflake", "bigquery", "databricks", "trino")
AS_OF = datetime(2026, 11, 20, 15, 0)
AS_OF_SQL = exp.cast(exp.Literal.string("2026-11-20 15:00:00"), "TIMESTAMP")
WHERE = Location("semantics_matrix.yml")

# ---- inputs: one table, one row per case; every construct reads the columns it needs --------------
COLUMNS = {"id": "INTEGER", "i1": "INTEGER", "i2": "INTEGER", "x": "DOUBLE", "y": "DOUBLE", "s": "VARCHAR",
           "t": "VARCHAR", "b": "BOOLEAN", "ts": "TIMESTAMP", "zone": "VARCHAR"}
_TS = [datetime(2026, 10, 31, 12), datetime(2026, 11, 2, 12), datetime(2026, 10, 24, 12), datetime(2026, 10, 26, 12),
       datetime(2026, 11, 1, 3, 30), datetime(2026, 3, 8, 23, 59), datetime(2027, 1, 3, 0, 0), None]
_ZONES = ["America/New_York", "America/New_York", "Europe/Berlin", "Europe/Berlin", "America/New_York",
          "America/New_York", "Europe/Berlin", "Europe/Berlin"]
INPUT = {  # column -> values by row (id 1..8)
    "i1": [7, 7, -7, 7, None, 0, -7, 9],
    "i2": [2, 0, 2, -2, 2, 0, -2, 3],
    "x": [2.5, -2.5, 0.125, -0.125, None, 5.5, -5.5, 1.005],
    "y": [2.0, 0.0, 2.0, None, 1.0, None, 2.0, 7.3],
    "s": ["ab", None, "", "kundé", "x", None, "it's", "a.c"],
    "t": ["cd", "cd", None, "_東京", "", None, "s", "abc"],
    "b": [True, False, None, True, False, None, True, False],
    "ts": _TS,
    "zone": _ZONES,
}
ROWS = [tuple([i + 1, *(INPUT[c][i] for c in list(COLUMNS)[1:])]) for i in range(8)]
FIELDS = {"customer.i1": ("i1", "number"), "customer.i2": ("i2", "number"), "customer.x": ("x", "number"),
          "customer.y": ("y", "number"), "customer.d": ("d", "number"), "customer.s": ("s", "text"),
          "customer.t": ("t", "text"), "customer.b": ("b", "boolean")}


def resolve(name: str) -> Field | None:
    found = FIELDS.get(name)
    return None if found is None else Field(found[1], exp.column(found[0]))


def formula_sql(text: str, eng_name: str) -> exp.Expression:
    return parse_formula(text).to_sql(resolve, AS_OF_SQL, engine(eng_name))


def evaluate(text: str, row: int) -> object:
    """The formula engine's Python evaluator on one input row (decimal column d = x)."""
    values = {k: (INPUT["x"] if c == "d" else INPUT[c])[row] for k, (c, _) in FIELDS.items()}
    return parse_formula(text).evaluate(values, {k: t for k, (_, t) in FIELDS.items()}, AS_OF)


def validate_all(build, write: dict[str, str]) -> None:
    """sqlglot's validate_all: the SQL `build(engine)` renders to, per dialect."""
    assert set(write) == set(DIALECTS)
    for name, expected in write.items():
        assert render(build(engine(name)), engine(name), pretty=False) == expected, name


# ---- the executed engines ---------------------------------------------------------------------------

@pytest.fixture(scope="module", params=ENGINE_NAMES)
def db(request):
    backend = open_backend(request.param)
    backend.create_table("v_base", COLUMNS, ROWS)
    # a DECIMAL column (as dbt sources often have), built by each engine from the double column
    backend.create_as("v", f"SELECT *, CAST(x AS DECIMAL(12, 4)) AS {backend.ident('d')} FROM v_base")
    yield backend
    backend.close()


def run(db, columns: dict[str, exp.Expression]) -> dict[str, list]:
    """One query: each column's values by row id."""
    select = exp.select(exp.column("id"), *[exp.alias_(e, name, quoted=True) for name, e in columns.items()])
    sql = render(select.from_("v").order_by("id"), db.engine, pretty=False)
    rows = db.query(sql)
    return {name: [_plain(r[name]) for r in rows] for name in columns}


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value


def check_formulas(db, expected: dict[str, list]) -> None:
    """Each formula gives the expected values on `db`, and the Python evaluator agrees."""
    got = run(db, {text: formula_sql(text, db.name) for text in expected})
    for text, values in expected.items():
        assert [evaluate(text, i) for i in range(len(ROWS))] == values, f"evaluator: {text}"
        assert got[text] == values, f"{db.name}: {text}"


# ---- numbers ---------------------------------------------------------------------------------------

def test_true_division_sql():
    validate_all(lambda e: formula_sql("customer.i1 / customer.i2", e.name), {
        'duckdb': 'LIST_TRANSFORM([CASE WHEN ABS(CAST("i1" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("i1" AS DOUBLE) END / NULLIF(CASE WHEN ABS(CAST("i2" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("i2" AS DOUBLE) END, 0)], LAMBDA "_kc1d45c27d1" : CASE WHEN ABS(_kc1d45c27d1) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN _kc1d45c27d1 END)[1]',
        'postgres': '(SELECT CASE WHEN (ABS(_kdf2bc228f9) >= CAST(1.0 AS DOUBLE PRECISION)) AND (ABS(_k184c2fb52b) >= CAST(4.440892098500626e-16 AS DOUBLE PRECISION)) THEN CAST(_k184c2fb52b AS DOUBLE PRECISION) / _kdf2bc228f9 WHEN (ABS(_kdf2bc228f9) >= CAST(1.0 AS DOUBLE PRECISION)) AND (ABS(_k184c2fb52b) < CAST(4.440892098500626e-16 AS DOUBLE PRECISION)) THEN CASE WHEN (ABS(_k184c2fb52b) * CAST(8.997827589086393e+161 AS DOUBLE PRECISION)) * CAST(4.4989137945431964e+161 AS DOUBLE PRECISION) <= ABS(_kdf2bc228f9) THEN CAST(0.0 AS DOUBLE PRECISION) ELSE CAST(_k184c2fb52b AS DOUBLE PRECISION) / _kdf2bc228f9 END WHEN ABS(_kdf2bc228f9) >= CAST(1.0 AS DOUBLE PRECISION) THEN CAST(_k184c2fb52b AS DOUBLE PRECISION) / _kdf2bc228f9 WHEN ABS(_k184c2fb52b) <= CAST(7.888609052210118e-31 AS DOUBLE PRECISION) THEN CAST(_k184c2fb52b AS DOUBLE PRECISION) / _kdf2bc228f9 WHEN ABS(_k184c2fb52b) < CAST(3.022314549036573e+23 AS DOUBLE PRECISION) THEN CASE WHEN ABS(CAST(_k184c2fb52b AS DOUBLE PRECISION) / (_kdf2bc228f9 * CAST(3.273390607896142e+150 AS DOUBLE PRECISION))) < CAST(5.491838128104488e+157 AS DOUBLE PRECISION) THEN CAST(_k184c2fb52b AS DOUBLE PRECISION) / _kdf2bc228f9 ELSE CAST(NULL AS DOUBLE PRECISION) END WHEN ABS(CAST(((_k184c2fb52b * CAST(2.7133285516175262e-166 AS DOUBLE PRECISION)) * CAST(2.7133285516175262e-166 AS DOUBLE PRECISION)) AS DOUBLE PRECISION) / _kdf2bc228f9) < CAST(1.3234889800848443e-23 AS DOUBLE PRECISION) THEN CAST(_k184c2fb52b AS DOUBLE PRECISION) / _kdf2bc228f9 ELSE CAST(NULL AS DOUBLE PRECISION) END FROM (SELECT CASE WHEN ABS(CAST("i1" AS DOUBLE PRECISION)) <= CAST(1.7976931348623157e+308 AS DOUBLE PRECISION) THEN CAST("i1" AS DOUBLE PRECISION) END AS "_k184c2fb52b", NULLIF(CASE WHEN ABS(CAST("i2" AS DOUBLE PRECISION)) <= CAST(1.7976931348623157e+308 AS DOUBLE PRECISION) THEN CAST("i2" AS DOUBLE PRECISION) END, 0) AS "_kdf2bc228f9" OFFSET 0) AS "_l")',
        'spark': 'TRANSFORM(ARRAY(CASE WHEN ABS(CAST(`i1` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`i1` AS DOUBLE) END / NULLIF(CASE WHEN ABS(CAST(`i2` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`i2` AS DOUBLE) END, 0)), `_kc1d45c27d1` -> CASE WHEN ABS(_kc1d45c27d1) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN _kc1d45c27d1 END)[0]',
        'snowflake': '(SELECT CASE WHEN ABS(_kc1d45c27d1) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN _kc1d45c27d1 END FROM (SELECT CASE WHEN ABS(CAST("i1" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("i1" AS DOUBLE) END / NULLIF(CASE WHEN ABS(CAST("i2" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("i2" AS DOUBLE) END, 0) AS "_kc1d45c27d1") AS "_l")',
        'bigquery': '(SELECT CASE WHEN ABS(_kc1d45c27d1) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN _kc1d45c27d1 END FROM (SELECT CASE WHEN ABS(CAST(`i1` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`i1` AS FLOAT64) END / NULLIF(CASE WHEN ABS(CAST(`i2` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`i2` AS FLOAT64) END, 0) AS `_kc1d45c27d1`) AS `_l`)',
        'databricks': 'TRANSFORM(ARRAY(CASE WHEN ABS(CAST(`i1` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`i1` AS DOUBLE) END / NULLIF(CASE WHEN ABS(CAST(`i2` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`i2` AS DOUBLE) END, 0)), `_kc1d45c27d1` -> CASE WHEN ABS(_kc1d45c27d1) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN _kc1d45c27d1 END)[0]',
        'trino': '(SELECT CASE WHEN ABS(_kc1d45c27d1) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN _kc1d45c27d1 END FROM (SELECT CAST(CASE WHEN ABS(CAST("i1" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("i1" AS DOUBLE) END AS DOUBLE) / NULLIF(CASE WHEN ABS(CAST("i2" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("i2" AS DOUBLE) END, 0) AS "_kc1d45c27d1") AS "_l")',
    })


def test_true_division_and_zero_divisor(db):
    check_formulas(db, {
        "customer.i1 / customer.i2": [3.5, None, -3.5, -3.5, None, None, 3.5, 3.0],
        "customer.x / customer.y": [1.25, None, 0.0625, None, None, None, -2.75, 1.005 / 7.3],
    })


def test_modulo_sql():
    validate_all(lambda e: formula_sql("customer.x % customer.y", e.name), {
        'duckdb': 'CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END % NULLIF(CASE WHEN ABS(CAST("y" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("y" AS DOUBLE) END, 0)',
        'postgres': '(SELECT (SELECT CASE WHEN ABS(_k7007f78e0e) < ABS(_k73f2934c11) THEN _k7007f78e0e ELSE SIGN(_k7007f78e0e) * CAST(CAST((CAST((_k3c066a084f & 4503599627370495) + CASE WHEN (_k3c066a084f >> 52) & 2047 > 0 THEN 4503599627370496 ELSE 0 END AS DECIMAL) * POWER(CAST(2 AS DECIMAL), ((GREATEST((_k3c066a084f >> 52) & 2047, 1) - 1075) - (GREATEST((_k00c3027e55 >> 52) & 2047, 1) - 1075))) % CAST((_k00c3027e55 & 4503599627370495) + CASE WHEN (_k00c3027e55 >> 52) & 2047 > 0 THEN 4503599627370496 ELSE 0 END AS DECIMAL)) AS BIGINT) AS DOUBLE PRECISION) * POWER(CAST(2.0 AS DOUBLE PRECISION), (GREATEST((_k00c3027e55 >> 52) & 2047, 1) - 1075)) END FROM (SELECT CAST(CAST(\'x\' || ENCODE(FLOAT8SEND(_k7007f78e0e), \'hex\') AS BIT(64)) AS BIGINT) AS "_k3c066a084f", CAST(CAST(\'x\' || ENCODE(FLOAT8SEND(_k73f2934c11), \'hex\') AS BIT(64)) AS BIGINT) AS "_k00c3027e55" OFFSET 0) AS "_l") FROM (SELECT CASE WHEN ABS(CAST("x" AS DOUBLE PRECISION)) <= CAST(1.7976931348623157e+308 AS DOUBLE PRECISION) THEN CAST("x" AS DOUBLE PRECISION) END AS "_k7007f78e0e", NULLIF(CASE WHEN ABS(CAST("y" AS DOUBLE PRECISION)) <= CAST(1.7976931348623157e+308 AS DOUBLE PRECISION) THEN CAST("y" AS DOUBLE PRECISION) END, 0) AS "_k73f2934c11" OFFSET 0) AS "_l")',
        'spark': 'CASE WHEN ABS(CAST(`x` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`x` AS DOUBLE) END % NULLIF(CASE WHEN ABS(CAST(`y` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`y` AS DOUBLE) END, 0)',
        'snowflake': 'CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END % NULLIF(CASE WHEN ABS(CAST("y" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("y" AS DOUBLE) END, 0)',
        'bigquery': 'CASE WHEN ABS(CAST(`x` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`x` AS FLOAT64) END - NULLIF(CASE WHEN ABS(CAST(`y` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`y` AS FLOAT64) END, 0) * TRUNC(CASE WHEN ABS(CAST(`x` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`x` AS FLOAT64) END / NULLIF(CASE WHEN ABS(CAST(`y` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`y` AS FLOAT64) END, 0))',
        'databricks': 'CASE WHEN ABS(CAST(`x` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`x` AS DOUBLE) END % NULLIF(CASE WHEN ABS(CAST(`y` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`y` AS DOUBLE) END, 0)',
        'trino': 'CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END % NULLIF(CASE WHEN ABS(CAST("y" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("y" AS DOUBLE) END, 0)',
    })


def test_modulo_sign_of_dividend_and_zero_divisor(db):
    check_formulas(db, {
        "customer.i1 % customer.i2": [1.0, None, -1.0, 1.0, None, None, -1.0, 0.0],
        "customer.x % customer.y": [0.5, None, 0.125, None, None, None, -1.5, 1.005],
    })


def test_round_sql():
    validate_all(lambda e: formula_sql("round(customer.x, 2)", e.name), {
        'duckdb': 'LIST_TRANSFORM([CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END], LAMBDA "_k7007f78e0e" : CASE WHEN ABS(_k7007f78e0e) >= CAST(4503599627370496.0 AS DOUBLE) THEN _k7007f78e0e ELSE (CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS DOUBLE) - TRUNC(_k7007f78e0e * CAST(100.0 AS DOUBLE))) >= CAST(0.5 AS DOUBLE) THEN TRUNC(_k7007f78e0e * CAST(100.0 AS DOUBLE)) + SIGN(_k7007f78e0e * CAST(100.0 AS DOUBLE)) ELSE TRUNC(_k7007f78e0e * CAST(100.0 AS DOUBLE)) END) / CAST(100.0 AS DOUBLE) END)[1]',
        'postgres': '(SELECT CASE WHEN ABS(_k7007f78e0e) >= CAST(4503599627370496.0 AS DOUBLE PRECISION) THEN _k7007f78e0e ELSE (CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS DOUBLE PRECISION) - TRUNC(_k7007f78e0e * CAST(100.0 AS DOUBLE PRECISION))) >= CAST(0.5 AS DOUBLE PRECISION) THEN TRUNC(_k7007f78e0e * CAST(100.0 AS DOUBLE PRECISION)) + SIGN(_k7007f78e0e * CAST(100.0 AS DOUBLE PRECISION)) ELSE TRUNC(_k7007f78e0e * CAST(100.0 AS DOUBLE PRECISION)) END) / CAST(100.0 AS DOUBLE PRECISION) END FROM (SELECT CASE WHEN ABS(CAST("x" AS DOUBLE PRECISION)) <= CAST(1.7976931348623157e+308 AS DOUBLE PRECISION) THEN CAST("x" AS DOUBLE PRECISION) END AS "_k7007f78e0e" OFFSET 0) AS "_l")',
        'spark': 'TRANSFORM(ARRAY(CASE WHEN ABS(CAST(`x` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`x` AS DOUBLE) END), `_k7007f78e0e` -> CASE WHEN ABS(_k7007f78e0e) >= CAST(4503599627370496.0 AS DOUBLE) THEN _k7007f78e0e ELSE (TRANSFORM(ARRAY(CASE WHEN _k7007f78e0e * CAST(100.0 AS DOUBLE) < CAST(0.0 AS DOUBLE) THEN CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS DOUBLE)) >= CAST(4503599627370496.0 AS DOUBLE) THEN _k7007f78e0e * CAST(100.0 AS DOUBLE) ELSE CAST(CEIL(_k7007f78e0e * CAST(100.0 AS DOUBLE)) AS DOUBLE) END ELSE CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS DOUBLE)) >= CAST(4503599627370496.0 AS DOUBLE) THEN _k7007f78e0e * CAST(100.0 AS DOUBLE) ELSE CAST(FLOOR(_k7007f78e0e * CAST(100.0 AS DOUBLE)) AS DOUBLE) END END), `_ke680534b98` -> CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS DOUBLE) - _ke680534b98) >= CAST(0.5 AS DOUBLE) THEN _ke680534b98 + SIGN(_k7007f78e0e * CAST(100.0 AS DOUBLE)) ELSE _ke680534b98 END)[0]) / CAST(100.0 AS DOUBLE) END)[0]',
        'snowflake': '(SELECT CASE WHEN ABS(_k7007f78e0e) >= CAST(4503599627370496.0 AS DOUBLE) THEN _k7007f78e0e ELSE (CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS DOUBLE) - TRUNC(_k7007f78e0e * CAST(100.0 AS DOUBLE))) >= CAST(0.5 AS DOUBLE) THEN TRUNC(_k7007f78e0e * CAST(100.0 AS DOUBLE)) + SIGN(_k7007f78e0e * CAST(100.0 AS DOUBLE)) ELSE TRUNC(_k7007f78e0e * CAST(100.0 AS DOUBLE)) END) / CAST(100.0 AS DOUBLE) END FROM (SELECT CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END AS "_k7007f78e0e") AS "_l")',
        'bigquery': '(SELECT CASE WHEN ABS(_k7007f78e0e) >= CAST(4503599627370496.0 AS FLOAT64) THEN _k7007f78e0e ELSE (CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS FLOAT64) - TRUNC(_k7007f78e0e * CAST(100.0 AS FLOAT64))) >= CAST(0.5 AS FLOAT64) THEN TRUNC(_k7007f78e0e * CAST(100.0 AS FLOAT64)) + SIGN(_k7007f78e0e * CAST(100.0 AS FLOAT64)) ELSE TRUNC(_k7007f78e0e * CAST(100.0 AS FLOAT64)) END) / CAST(100.0 AS FLOAT64) END FROM (SELECT CASE WHEN ABS(CAST(`x` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`x` AS FLOAT64) END AS `_k7007f78e0e`) AS `_l`)',
        'databricks': 'TRANSFORM(ARRAY(CASE WHEN ABS(CAST(`x` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`x` AS DOUBLE) END), `_k7007f78e0e` -> CASE WHEN ABS(_k7007f78e0e) >= CAST(4503599627370496.0 AS DOUBLE) THEN _k7007f78e0e ELSE (TRANSFORM(ARRAY(CASE WHEN _k7007f78e0e * CAST(100.0 AS DOUBLE) < CAST(0.0 AS DOUBLE) THEN CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS DOUBLE)) >= CAST(4503599627370496.0 AS DOUBLE) THEN _k7007f78e0e * CAST(100.0 AS DOUBLE) ELSE CAST(CEIL(_k7007f78e0e * CAST(100.0 AS DOUBLE)) AS DOUBLE) END ELSE CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS DOUBLE)) >= CAST(4503599627370496.0 AS DOUBLE) THEN _k7007f78e0e * CAST(100.0 AS DOUBLE) ELSE CAST(FLOOR(_k7007f78e0e * CAST(100.0 AS DOUBLE)) AS DOUBLE) END END), `_ke680534b98` -> CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS DOUBLE) - _ke680534b98) >= CAST(0.5 AS DOUBLE) THEN _ke680534b98 + SIGN(_k7007f78e0e * CAST(100.0 AS DOUBLE)) ELSE _ke680534b98 END)[0]) / CAST(100.0 AS DOUBLE) END)[0]',
        'trino': '(SELECT CASE WHEN ABS(_k7007f78e0e) >= CAST(4503599627370496.0 AS DOUBLE) THEN _k7007f78e0e ELSE (CASE WHEN ABS(_k7007f78e0e * CAST(100.0 AS DOUBLE) - TRUNCATE(_k7007f78e0e * CAST(100.0 AS DOUBLE))) >= CAST(0.5 AS DOUBLE) THEN TRUNCATE(_k7007f78e0e * CAST(100.0 AS DOUBLE)) + SIGN(_k7007f78e0e * CAST(100.0 AS DOUBLE)) ELSE TRUNCATE(_k7007f78e0e * CAST(100.0 AS DOUBLE)) END) / CAST(100.0 AS DOUBLE) END FROM (SELECT CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END AS "_k7007f78e0e") AS "_l")',
    })


def test_round_half_away_from_zero_on_doubles_and_decimals(db):
    # x: 2.5, -2.5, 0.125, -0.125, NULL, 5.5, -5.5, 1.005 (1.005 is 1.00499.. as a double); d = x as DECIMAL(12, 4)
    whole = [3.0, -3.0, 0.0, -0.0, None, 6.0, -6.0, 1.0]
    cents = [2.5, -2.5, 0.13, -0.13, None, 5.5, -5.5, 1.0]
    check_formulas(db, {"round(customer.x)": whole, "round(customer.x, 2)": cents,
                        "round(customer.d)": whole, "round(customer.d, 2)": cents})


# ---- NULL, conditions, min/max ---------------------------------------------------------------------

def test_null_arithmetic_and_comparison_sql():
    validate_all(lambda e: formula_sql("customer.y > 1 ? customer.x + 1 : 0", e.name), {
        'duckdb': 'CASE WHEN CASE WHEN ABS(CAST("y" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("y" AS DOUBLE) END > CAST(1 AS DOUBLE) THEN LIST_TRANSFORM([CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END + CAST(1 AS DOUBLE)], LAMBDA "_k11b91fedf5" : CASE WHEN ABS(_k11b91fedf5) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN _k11b91fedf5 END)[1] ELSE CAST(0 AS DOUBLE) END',
        'postgres': 'CASE WHEN CASE WHEN ABS(CAST("y" AS DOUBLE PRECISION)) <= CAST(1.7976931348623157e+308 AS DOUBLE PRECISION) THEN CAST("y" AS DOUBLE PRECISION) END > CAST(1 AS DOUBLE PRECISION) THEN (SELECT CASE WHEN ABS(_k7007f78e0e) < CAST(1.0 AS DOUBLE PRECISION) THEN _k7007f78e0e + CAST(1 AS DOUBLE PRECISION) WHEN ABS((_k7007f78e0e * CAST(0.5 AS DOUBLE PRECISION)) + (CAST(1 AS DOUBLE PRECISION) * CAST(0.5 AS DOUBLE PRECISION))) < CAST(8.98846567431158e+307 AS DOUBLE PRECISION) THEN _k7007f78e0e + CAST(1 AS DOUBLE PRECISION) ELSE CAST(NULL AS DOUBLE PRECISION) END FROM (SELECT CASE WHEN ABS(CAST("x" AS DOUBLE PRECISION)) <= CAST(1.7976931348623157e+308 AS DOUBLE PRECISION) THEN CAST("x" AS DOUBLE PRECISION) END AS "_k7007f78e0e" OFFSET 0) AS "_l") ELSE CAST(0 AS DOUBLE PRECISION) END',
        'spark': 'CASE WHEN CASE WHEN ABS(CAST(`y` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`y` AS DOUBLE) END > CAST(1 AS DOUBLE) THEN TRANSFORM(ARRAY(CASE WHEN ABS(CAST(`x` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`x` AS DOUBLE) END + CAST(1 AS DOUBLE)), `_k11b91fedf5` -> CASE WHEN ABS(_k11b91fedf5) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN _k11b91fedf5 END)[0] ELSE CAST(0 AS DOUBLE) END',
        'snowflake': 'CASE WHEN CASE WHEN ABS(CAST("y" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("y" AS DOUBLE) END > CAST(1 AS DOUBLE) THEN (SELECT CASE WHEN ABS(_k11b91fedf5) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN _k11b91fedf5 END FROM (SELECT CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END + CAST(1 AS DOUBLE) AS "_k11b91fedf5") AS "_l") ELSE CAST(0 AS DOUBLE) END',
        'bigquery': 'CASE WHEN CASE WHEN ABS(CAST(`y` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`y` AS FLOAT64) END > CAST(1 AS FLOAT64) THEN (SELECT CASE WHEN ABS(_k11b91fedf5) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN _k11b91fedf5 END FROM (SELECT CASE WHEN ABS(CAST(`x` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`x` AS FLOAT64) END + CAST(1 AS FLOAT64) AS `_k11b91fedf5`) AS `_l`) ELSE CAST(0 AS FLOAT64) END',
        'databricks': 'CASE WHEN CASE WHEN ABS(CAST(`y` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`y` AS DOUBLE) END > CAST(1 AS DOUBLE) THEN TRANSFORM(ARRAY(CASE WHEN ABS(CAST(`x` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`x` AS DOUBLE) END + CAST(1 AS DOUBLE)), `_k11b91fedf5` -> CASE WHEN ABS(_k11b91fedf5) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN _k11b91fedf5 END)[0] ELSE CAST(0 AS DOUBLE) END',
        'trino': 'CASE WHEN CASE WHEN ABS(CAST("y" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("y" AS DOUBLE) END > CAST(1 AS DOUBLE) THEN (SELECT CASE WHEN ABS(_k11b91fedf5) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN _k11b91fedf5 END FROM (SELECT CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END + CAST(1 AS DOUBLE) AS "_k11b91fedf5") AS "_l") ELSE CAST(0 AS DOUBLE) END',
    })


def test_null_propagates_and_null_condition_takes_else(db):
    check_formulas(db, {
        "customer.x + 1": [3.5, -1.5, 1.125, 0.875, None, 6.5, -4.5, 1.005 + 1],
        "customer.x * customer.y": [5.0, -0.0, 0.25, None, None, None, -11.0, 1.005 * 7.3],
        "customer.y > 1": [1.0, 0.0, 1.0, None, 0.0, None, 1.0, 1.0],
        "customer.x == customer.y": [0.0, 0.0, 0.0, None, None, None, 0.0, 0.0],
        "customer.y > 1 ? 10 : 20": [10.0, 20.0, 10.0, 20.0, 20.0, 20.0, 10.0, 10.0],
        "if(customer.b, 1, 2)": [1.0, 2.0, 2.0, 1.0, 2.0, 2.0, 1.0, 2.0],
        "coalesce(customer.y, customer.x, -1)": [2.0, 0.0, 2.0, -0.125, 1.0, 5.5, 2.0, 7.3],
    })


def test_min_max_sql():
    validate_all(lambda e: formula_sql("min(customer.x, customer.y)", e.name), {
        'duckdb': 'LEAST(CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END, CASE WHEN ABS(CAST("y" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("y" AS DOUBLE) END)',
        'postgres': 'LEAST(CASE WHEN ABS(CAST("x" AS DOUBLE PRECISION)) <= CAST(1.7976931348623157e+308 AS DOUBLE PRECISION) THEN CAST("x" AS DOUBLE PRECISION) END, CASE WHEN ABS(CAST("y" AS DOUBLE PRECISION)) <= CAST(1.7976931348623157e+308 AS DOUBLE PRECISION) THEN CAST("y" AS DOUBLE PRECISION) END)',
        'spark': 'LEAST(CASE WHEN ABS(CAST(`x` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`x` AS DOUBLE) END, CASE WHEN ABS(CAST(`y` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`y` AS DOUBLE) END)',
        'snowflake': 'LEAST_IGNORE_NULLS(CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END, CASE WHEN ABS(CAST("y" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("y" AS DOUBLE) END)',
        'bigquery': '(SELECT LEAST(COALESCE(_k7007f78e0e, COALESCE(_k7007f78e0e, _k5eff3aab48)), COALESCE(_k5eff3aab48, COALESCE(_k7007f78e0e, _k5eff3aab48))) FROM (SELECT CASE WHEN ABS(CAST(`x` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`x` AS FLOAT64) END AS `_k7007f78e0e`, CASE WHEN ABS(CAST(`y` AS FLOAT64)) <= CAST(1.7976931348623157e+308 AS FLOAT64) THEN CAST(`y` AS FLOAT64) END AS `_k5eff3aab48`) AS `_l`)',
        'databricks': 'LEAST(CASE WHEN ABS(CAST(`x` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`x` AS DOUBLE) END, CASE WHEN ABS(CAST(`y` AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST(`y` AS DOUBLE) END)',
        'trino': '(SELECT LEAST(COALESCE(_k7007f78e0e, COALESCE(_k7007f78e0e, _k5eff3aab48)), COALESCE(_k5eff3aab48, COALESCE(_k7007f78e0e, _k5eff3aab48))) FROM (SELECT CASE WHEN ABS(CAST("x" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("x" AS DOUBLE) END AS "_k7007f78e0e", CASE WHEN ABS(CAST("y" AS DOUBLE)) <= CAST(1.7976931348623157e+308 AS DOUBLE) THEN CAST("y" AS DOUBLE) END AS "_k5eff3aab48") AS "_l")',
    })


def test_min_max_skip_null(db):
    check_formulas(db, {
        "min(customer.x, customer.y)": [2.0, -2.5, 0.125, -0.125, 1.0, 5.5, -5.5, 1.005],
        "max(customer.x, customer.y, customer.i1)": [7.0, 7.0, 2.0, 7.0, 1.0, 5.5, 2.0, 9.0],
        "max(customer.x, customer.y)": [2.5, 0.0, 2.0, -0.125, 1.0, 5.5, 2.0, 7.3],
    })


# ---- text ------------------------------------------------------------------------------------------

def test_text_concatenation_sql():
    validate_all(lambda e: formula_sql("concat(customer.s, '-') + customer.t", e.name), {
        "duckdb": '(COALESCE("s", \'\') || COALESCE(\'-\', \'\')) || "t"',
        "postgres": '(COALESCE("s", \'\') || COALESCE(\'-\', \'\')) || "t"',
        "spark": "(COALESCE(`s`, '') || COALESCE('-', '')) || `t`",
        "snowflake": '(COALESCE("s", \'\') || COALESCE(\'-\', \'\')) || "t"',
        "bigquery": "(COALESCE(`s`, '') || COALESCE('-', '')) || `t`",
        "databricks": "(COALESCE(`s`, '') || COALESCE('-', '')) || `t`",
        "trino": '(COALESCE("s", \'\') || COALESCE(\'-\', \'\')) || "t"',
    })


def test_concat_treats_null_as_empty_and_plus_propagates_null(db):
    check_formulas(db, {
        "concat(customer.s, customer.t)": ["abcd", "cd", "", "kundé_東京", "x", "", "it'ss", "a.cabc"],
        "customer.s + customer.t": ["abcd", None, None, "kundé_東京", "x", None, "it'ss", "a.cabc"],
    })


# attribute rule operators (kaireon_sql/flow/conditions.py) on the text column s
OPERATORS = {
    "in": ("in", ["ab", "x"], "fail"),
    "not_in": ("not_in", ["ab", "x"], "fail"),
    "contains": ("contains", "b", "fail"),
    "starts_with": ("starts_with", "kun", "fail"),
    "regex": ("regex", "^a.c$", "fail"),
    "regex_partial": ("regex", "t'", "fail"),
    "regex_missing_pass": ("regex", "z", "pass"),
    "eq": ("eq", "", "fail"),
}


def test_attribute_operators_sql():
    validate_all(lambda e: predicate(exp.column("s"), "text", "regex", "^a.c$", "fail", WHERE), {
        "duckdb": """CASE WHEN "s" IS NULL THEN FALSE ELSE REGEXP_MATCHES("s", '^a.c$') END""",
        "postgres": """CASE WHEN "s" IS NULL THEN FALSE ELSE "s" ~ '^a.c$' END""",
        "spark": "CASE WHEN `s` IS NULL THEN FALSE ELSE `s` RLIKE '^a.c$' END",
        "snowflake": """CASE WHEN "s" IS NULL THEN FALSE ELSE REGEXP_INSTR("s", '^a.c$') > 0 END""",
        "bigquery": "CASE WHEN `s` IS NULL THEN FALSE ELSE REGEXP_CONTAINS(`s`, '^a.c$') END",
        "databricks": "CASE WHEN `s` IS NULL THEN FALSE ELSE REGEXP_LIKE(`s`, '^a.c$') END",
        "trino": """CASE WHEN "s" IS NULL THEN FALSE ELSE REGEXP_LIKE("s", '^a.c$') END""",
    })
    validate_all(lambda e: predicate(exp.column("s"), "text", "contains", "b", "fail", WHERE).args["default"], {
        "duckdb": """STRPOS("s", 'b') > 0""",
        "postgres": """POSITION('b' IN "s") > 0""",
        "spark": "LOCATE('b', `s`) > 0",
        "snowflake": """CHARINDEX('b', "s") > 0""",
        "bigquery": "INSTR(`s`, 'b') > 0",
        "databricks": "LOCATE('b', `s`) > 0",
        "trino": """STRPOS("s", 'b') > 0""",
    })
    validate_all(lambda e: exp.StartsWith(this=exp.column("s"), expression=exp.Literal.string("kun")), {
        "duckdb": """STARTS_WITH("s", 'kun')""",
        "postgres": """STARTS_WITH("s", 'kun')""",
        "spark": "STARTSWITH(`s`, 'kun')",
        "snowflake": """STARTSWITH("s", 'kun')""",
        "bigquery": "STARTS_WITH(`s`, 'kun')",
        "databricks": "STARTSWITH(`s`, 'kun')",
        "trino": """STARTS_WITH("s", 'kun')""",
    })


def test_attribute_operators(db):
    # s: 'ab', NULL, '', 'kundé', 'x', NULL, "it's", 'a.c'
    expected = {
        "in": [True, False, False, False, True, False, False, False],
        "not_in": [False, False, True, True, False, False, True, True],
        "contains": [True, False, False, False, False, False, False, False],
        "starts_with": [False, False, False, True, False, False, False, False],
        "regex": [False, False, False, False, False, False, False, True],
        "regex_partial": [False, False, False, False, False, False, True, False],
        "regex_missing_pass": [False, True, False, False, False, True, False, False],
        "eq": [False, False, True, False, False, False, False, False],
    }
    got = run(db, {k: predicate(exp.column("s"), "text", op, value, missing, WHERE)
                   for k, (op, value, missing) in OPERATORS.items()})
    assert got == expected


def test_booleans(db):
    # b: TRUE, FALSE, NULL, TRUE, FALSE, NULL, TRUE, FALSE; y > 1: T, F, T, NULL, F, NULL, T, T
    check_formulas(db, {
        "customer.b && customer.y > 1": [1.0, 0.0, None, None, 0.0, None, 1.0, 0.0],
        "customer.b || customer.y > 1": [1.0, 0.0, 1.0, 1.0, 0.0, None, 1.0, 1.0],
        "!customer.b": [0.0, 1.0, None, 0.0, 1.0, None, 0.0, 1.0],
        "customer.b == true": [1.0, 0.0, None, 1.0, 0.0, None, 1.0, 0.0],
    })


# ---- time --------------------------------------------------------------------------------------------

def _local(i: int) -> datetime | None:
    ts = _TS[i]
    return None if ts is None else ts.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(_ZONES[i])).replace(tzinfo=None)


def test_time_sql():
    zone, ts = exp.column("zone"), exp.column("ts")
    validate_all(lambda e: hour_of(local_time(ts, zone, e)), {
        "duckdb": """CAST(EXTRACT(HOUR FROM "ts" AT TIME ZONE 'UTC' AT TIME ZONE "zone") AS INT)""",
        "postgres": """CAST(EXTRACT(HOUR FROM "ts" AT TIME ZONE 'UTC' AT TIME ZONE "zone") AS INT)""",
        "spark": "CAST(EXTRACT(HOUR FROM FROM_UTC_TIMESTAMP(`ts`, `zone`)) AS INT)",
        "snowflake": """CAST(DATE_PART(HOUR, CONVERT_TIMEZONE('UTC', "zone", "ts")) AS INT)""",
        "bigquery": "CAST(EXTRACT(HOUR FROM DATETIME(TIMESTAMP(`ts`), `zone`)) AS INT64)",
        "databricks": "CAST(EXTRACT(HOUR FROM FROM_UTC_TIMESTAMP(`ts`, `zone`)) AS INT)",
        "trino": """CAST(EXTRACT(HOUR FROM CAST(AT_TIMEZONE(WITH_TIMEZONE("ts", 'UTC'), "zone") AS TIMESTAMP)) """
                 """AS INTEGER)""",
    })
    validate_all(lambda e: iso_day_of_week(ts, e), {
        "duckdb": 'ISODOW("ts")',
        "postgres": 'CAST(EXTRACT(ISODOW FROM "ts") AS INT)',
        "spark": "(((DAYOFWEEK(`ts`) + 5) % 7) + 1)",
        "snowflake": 'DAYOFWEEKISO("ts")',
        "bigquery": "((MOD(EXTRACT(DAYOFWEEK FROM `ts`) + 5, 7)) + 1)",
        "databricks": "(((DAYOFWEEK(`ts`) + 5) % 7) + 1)",
        "trino": 'DAY_OF_WEEK("ts")',
    })
    validate_all(lambda e: truncate(ts, "WEEK", e), {
        "duckdb": """DATE_TRUNC('WEEK', "ts")""",
        "postgres": """DATE_TRUNC('WEEK', "ts")""",
        "spark": "DATE_TRUNC('WEEK', `ts`)",
        "snowflake": """DATEADD(DAY, 1 - DAYOFWEEKISO("ts"), DATE_TRUNC('DAY', "ts"))""",
        "bigquery": "DATETIME_TRUNC(`ts`, ISOWEEK)",
        "databricks": "DATE_TRUNC('WEEK', `ts`)",
        "trino": """DATE_TRUNC('WEEK', "ts")""",
    })


def test_local_time_across_dst_week_month_and_iso_day(db):
    zone, ts = exp.column("zone"), exp.column("ts")
    got = run(db, {
        "hour": hour_of(local_time(ts.copy(), zone.copy(), db.engine)),
        "local_dow": iso_day_of_week(local_time(ts.copy(), zone.copy(), db.engine), db.engine),
        "dow": iso_day_of_week(ts.copy(), db.engine),
        "week": truncate(ts.copy(), "WEEK", db.engine),
        "month": truncate(ts.copy(), "MONTH", db.engine),
    })
    # New York: EDT (UTC-4) on 2026-10-31, EST (UTC-5) on 2026-11-02; Berlin: CEST until 2026-10-25, CET after
    assert got["hour"][:4] == [8, 7, 14, 13]
    assert got["hour"] == [None if _local(i) is None else _local(i).hour for i in range(8)]
    assert got["local_dow"] == [None if _local(i) is None else _local(i).isoweekday() for i in range(8)]
    assert got["dow"] == [None if t is None else t.isoweekday() for t in _TS]
    monday = [None if t is None else datetime.fromordinal(t.toordinal() - t.weekday()) for t in _TS]
    assert got["week"] == monday
    assert got["week"][6] == datetime(2026, 12, 28)  # a Sunday: its ISO week started in the previous year
    assert got["month"] == [None if t is None else datetime(t.year, t.month, 1) for t in _TS]


# ---- md5 holdout bucket --------------------------------------------------------------------------------

IDS = ["abc", "kundé_ß_東京", "😀🎉", "", "f:cust-001", "f:Ünïcödé 👩‍👩‍👧", "x" * 200]


def test_md5_bucket_sql():
    validate_all(lambda e: md5_bucket(exp.column("s"), 10000, e), {
        "duckdb": """(CAST('0x' || SUBSTRING(MD5("s"), 1, 8) AS BIGINT)) % 10000""",
        "postgres": """(CAST(CAST('x' || SUBSTRING(MD5("s") FROM 1 FOR 8) AS BIT(32)) AS BIGINT)) % 10000""",
        "spark": "(CAST(CONV(SUBSTRING(MD5(`s`), 1, 8), 16, 10) AS BIGINT)) % 10000",
        "snowflake": """(TO_NUMBER(SUBSTRING(MD5("s"), 1, 8), 'XXXXXXXX')) % 10000""",
        "bigquery": "MOD(CAST('0x' || SUBSTRING(TO_HEX(MD5(`s`)), 1, 8) AS INT64), 10000)",
        "databricks": "(CAST(CONV(SUBSTRING(MD5(`s`), 1, 8), 16, 10) AS BIGINT)) % 10000",
        "trino": """(FROM_BASE(SUBSTR(LOWER(TO_HEX(MD5(TO_UTF8("s")))), 1, 8), 16)) % 10000""",
    })


def test_md5_bucket_matches_hashlib(db):
    name = "ids_md5"
    db.create_table(name, {"id": "INTEGER", "s": "VARCHAR"}, [(i, s) for i, s in enumerate(IDS)])
    s = exp.column("s")
    prefix = exp.Substring(this=md5_hex(s.copy(), db.engine), start=exp.Literal.number(1), length=exp.Literal.number(8))
    select = exp.select(exp.column("id"), exp.alias_(md5_hex(s.copy(), db.engine), "hex", quoted=True),
                        exp.alias_(hex8_to_int(prefix, db.engine), "prefix", quoted=True),
                        exp.alias_(md5_bucket(s.copy(), 10000, db.engine), "bucket", quoted=True)).from_(name).order_by("id")
    rows = db.query(render(select, db.engine, pretty=False))
    digests = [hashlib.md5(s.encode("utf-8")).hexdigest() for s in IDS]
    assert [r["hex"] for r in rows] == digests
    assert [r["prefix"] for r in rows] == [int(d[:8], 16) for d in digests]
    assert [r["bucket"] for r in rows] == [int(d[:8], 16) % 10000 for d in digests]
    assert any(int(d[:8], 16) >= 2**31 for d in digests)  # a prefix beyond a signed 32-bit int is covered


# ---- portable JSON text ----------------------------------------------------------------------------------

JSON_ROWS = [  # (number, boolean, text)
    (3.0, True, 'he said "hi"'),
    (-7.0, False, "back\\slash \\n"),
    (0.5, None, "line\nbreak\r\ttab"),
    (-2.25, True, "kundé_ß_東京 😀"),
    (0.1, False, ""),
    (123456.789, True, None),
    (None, None, "'; --"),
    (0.0, True, "{{ not jinja }}"),
    (1e14, False, "x"),
]


def test_json_object_sql():
    pairs = lambda: [("n", "number", exp.column("n")), ("b", "boolean", exp.column("b"))]  # noqa: E731
    validate_all(lambda e: json_object(pairs(), e), {
        "duckdb": """'{"n":' || CASE WHEN "n" IS NULL THEN 'null' WHEN "n" = FLOOR("n") AND ABS("n") < 1e15 THEN """
                  """CAST(CAST("n" AS BIGINT) AS TEXT) ELSE CAST("n" AS TEXT) END || ',"b":' || CASE WHEN "b" THEN """
                  """'true' WHEN NOT "b" THEN 'false' ELSE 'null' END || '}'""",
        "postgres": """'{"n":' || CASE WHEN "n" IS NULL THEN 'null' WHEN "n" = FLOOR("n") AND ABS("n") < 1e15 THEN """
                    """CAST(CAST("n" AS BIGINT) AS VARCHAR) ELSE CAST("n" AS VARCHAR) END || ',"b":' || CASE WHEN """
                    """"b" THEN 'true' WHEN NOT "b" THEN 'false' ELSE 'null' END || '}'""",
        "spark": """'{"n":' || CASE WHEN `n` IS NULL THEN 'null' WHEN `n` = FLOOR(`n`) AND ABS(`n`) < 1e15 THEN """
                 """CAST(CAST(`n` AS BIGINT) AS STRING) ELSE CAST(`n` AS STRING) END || ',"b":' || CASE WHEN `b` """
                 """THEN 'true' WHEN NOT `b` THEN 'false' ELSE 'null' END || '}'""",
        "snowflake": """'{"n":' || CASE WHEN "n" IS NULL THEN 'null' WHEN "n" = FLOOR("n") AND ABS("n") < 1e15 THEN """
                     """CAST(CAST("n" AS BIGINT) AS VARCHAR) ELSE CAST("n" AS VARCHAR) END || ',"b":' || CASE WHEN """
                     """"b" THEN 'true' WHEN NOT "b" THEN 'false' ELSE 'null' END || '}'""",
        "bigquery": """'{"n":' || CASE WHEN `n` IS NULL THEN 'null' WHEN `n` = FLOOR(`n`) AND ABS(`n`) < 1e15 THEN """
                    """CAST(CAST(`n` AS INT64) AS STRING) ELSE CAST(`n` AS STRING) END || ',"b":' || CASE WHEN `b` """
                    """THEN 'true' WHEN NOT `b` THEN 'false' ELSE 'null' END || '}'""",
        "databricks": """'{"n":' || CASE WHEN `n` IS NULL THEN 'null' WHEN `n` = FLOOR(`n`) AND ABS(`n`) < 1e15 THEN """
                      """CAST(CAST(`n` AS BIGINT) AS STRING) ELSE CAST(`n` AS STRING) END || ',"b":' || CASE WHEN `b` """
                      """THEN 'true' WHEN NOT `b` THEN 'false' ELSE 'null' END || '}'""",
        "trino": """'{"n":' || CASE WHEN "n" IS NULL THEN 'null' WHEN "n" = FLOOR("n") AND ABS("n") < 1e15 THEN """
                 """CAST(CAST("n" AS BIGINT) AS VARCHAR) ELSE CAST("n" AS VARCHAR) END || ',"b":' || CASE WHEN "b" """
                 """THEN 'true' WHEN NOT "b" THEN 'false' ELSE 'null' END || '}'""",
    })


def _py_json(n, b, s) -> str:
    number = None if n is None else (int(n) if n == int(n) and abs(n) < 1e15 else n)
    return json.dumps({"n": number, "b": b, "s": s}, ensure_ascii=False, separators=(",", ":"))


def test_json_object_text_is_byte_identical(db):
    name = "json_in"
    db.create_table(name, {"id": "INTEGER", "n": "DOUBLE", "b": "BOOLEAN", "s": "VARCHAR"},
                    [(i, *r) for i, r in enumerate(JSON_ROWS)])
    obj = json_object([("n", "number", exp.column("n")), ("b", "boolean", exp.column("b")),
                       ("s", "text", exp.column("s"))], db.engine)
    select = exp.select(exp.column("id"), exp.alias_(obj, "j", quoted=True)).from_(name).order_by("id")
    got = [r["j"] for r in db.query(render(select, db.engine, pretty=False))]
    assert got == [_py_json(*r) for r in JSON_ROWS]
    assert [json.loads(j) for j in got] == [json.loads(_py_json(*r)) for r in JSON_ROWS]


def test_every_dialect_is_covered():
    assert set(DIALECTS) == set(ENGINES)
