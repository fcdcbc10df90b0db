"""Numeric literals are doubles on every engine, so near-equal scores rank the same everywhere (S5).

DuckDB reads `0.1` as a DECIMAL unless told otherwise: 0.1 + 0.2 would then be exactly 0.3, and an
offer that outranks another by the last bits of a double would tie with it instead and lose on
priority. Formulas therefore write every literal as CAST(<lit> AS <the engine's double>). The
score expression below makes a deliberate near tie (0.1 + 0.2 > 0.3 > 0.7 - 0.4 as doubles) and
exact ties (0.3 == 3 / 10 == 0.6 / 2), broken by priority, then offer id.
"""
from __future__ import annotations

import re

import pytest

from backends import ENGINE_NAMES, open_backend, run_models_on
from harness import compile_sql, customers_table, flow, history_table, schema, standard_nodes, write_config
from kaireon_sql.dialect import ENGINES, engine

EXPRESSION = ("offer.businessValue == 1 ? 0.1 + 0.2 : (offer.businessValue == 4 ? 0.6 / 2 : "
              "(offer.businessValue == 5 ? 0.7 - 0.4 : (offer.businessValue == 2 ? 0.3 : offer.businessValue / 10)))")
OFFERS = [  # id, priority, businessValue -> score
    ("near", 10, 1),    # 0.1 + 0.2 = 0.30000000000000004: first despite the lowest priority
    ("tie_b", 50, 2),   # 0.3
    ("tie_a", 50, 3),   # 3 / 10 = 0.3: ties tie_b exactly, same priority, offer id decides
    ("tie_hi", 60, 4),  # 0.6 / 2 = 0.3: ties exactly, higher priority wins
    ("below", 99, 5),   # 0.7 - 0.4 = 0.29999999999999993: last despite the highest priority
]
SCORES = {"near": 0.1 + 0.2, "tie_b": 0.3, "tie_a": 3 / 10, "tie_hi": 0.6 / 2, "below": 0.7 - 0.4}
RANKS = {"near": 1, "tie_hi": 2, "tie_a": 3, "tie_b": 4, "below": 5}
DOUBLE = {"duckdb": "DOUBLE", "postgres": "DOUBLE PRECISION", "spark": "DOUBLE", "databricks": "DOUBLE",
          "snowflake": "DOUBLE", "bigquery": "FLOAT64", "trino": "DOUBLE"}


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    config = {
        "schemas": [schema()], "interactionHistory": {"relation": "history"},
        "offers": [{"id": i, "name": i, "priority": p, "businessValue": bv} for i, p, bv in OFFERS],
        "decisionFlows": [flow(standard_nodes(top_n=5, score={"method": "expression", "expression": EXPRESSION}))],
    }
    return write_config(tmp_path_factory.mktemp("ties") / "decisioning", config)


def test_python_doubles_make_the_intended_ties():
    assert SCORES["near"] > SCORES["tie_b"] == SCORES["tie_a"] == SCORES["tie_hi"] > SCORES["below"]
    assert SCORES["near"] - SCORES["tie_b"] < 1e-15 and SCORES["tie_b"] - SCORES["below"] < 1e-15


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_literals_are_doubles_in_every_dialect(config_dir, name):
    sql = "\n".join(compile_sql(config_dir, engine(name)).values())
    # constant subtrees are computed at compile time in doubles: 0.1 + 0.2, 0.6 / 2 and 0.7 - 0.4 are written
    # as their double results (the evaluator's), 0.3 as itself
    for folded in ("3.0000000000000004E-1", "2.9999999999999993E-1"):
        assert f"CAST({folded} AS {DOUBLE[name]})" in sql, f"{name}: {folded}"
    for literal in ("0.3",):
        cast = f"CAST({literal} AS {DOUBLE[name]})"
        anywhere = re.findall(rf"(?<![0-9.]){re.escape(literal)}(?![0-9])", sql)
        assert sql.count(cast) >= 1 and sql.count(cast) == len(anywhere), f"{name}: {literal} is not always {cast}"
    assert f"CAST(10 AS {DOUBLE[name]})" in sql  # integers too: 3 / 10 is a double division


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_exact_and_near_ties_rank_the_same_on_every_engine(config_dir, name):
    backend = open_backend(name)
    try:
        customers = [("c1", 100, 5, 80.0, "apparel", "UTC", True, True),
                     ("c2", 10, 0, None, "shoes", "UTC", True, False)]
        run_models_on(backend, compile_sql(config_dir, engine(name)),
                      {"customers": customers_table(customers), "history": history_table([])})
        got = backend.query("SELECT customer_id, offer_id, score, rank FROM kaireon_decisions")
    finally:
        backend.close()
    for customer in ("c1", "c2"):
        mine = {r["offer_id"]: r for r in got if r["customer_id"] == customer}
        assert {o: r["rank"] for o, r in mine.items()} == RANKS, f"{name}: {customer}"
        assert {o: float(r["score"]) for o, r in mine.items()} == SCORES, f"{name}: scores differ in the last bits"
