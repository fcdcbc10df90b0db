"""A NaN or +-inf in a numeric customer field is a missing value (S5), on every executed engine.

DuckDB, PostgreSQL and Spark order NaN above every number and make NaN = NaN true, so without the
rule `revenue >= 50` passed a NaN revenue. The customer model reads every numeric field through
`dialect.finite_or_null`; formulas read their inputs the same way.
"""
from __future__ import annotations

import math

import pytest

from backends import ENGINE_NAMES, open_backend, run_models_on
from cross_engine import table_rows
from harness import compile_sql, customers_table, flow, history_table, standard_nodes, write_config, schema
from kaireon_sql.dialect import engine

AS_OF = "2026-11-20 15:00:00"
REVENUE = {"c_nan": math.nan, "c_inf": math.inf, "c_ninf": -math.inf, "c_null": None, "c_80": 80.0, "c_40": 40.0,
           "c_huge": 1.7976931348623157e308}


def customers():
    return [(cid, 100, 5, revenue, "apparel", "UTC", True, True) for cid, revenue in REVENUE.items()]


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    offers = [{"id": "o_rule", "name": "Rule", "priority": 50}, {"id": "o_any", "name": "Any", "priority": 40}]
    rules = [{"name": "revenue at least 50", "ruleType": "attribute_condition", "scope": "offer", "scopeId": "o_rule",
              "config": {"attribute": "customer.revenue", "operator": "gte", "value": 50}}]
    score = {"method": "expression", "expression": "coalesce(customer.revenue * 2, -1)"}
    config = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, "offers": offers,
              "qualificationRules": rules, "decisionFlows": [flow(standard_nodes(top_n=5, score=score))]}
    return write_config(tmp_path_factory.mktemp("nan") / "decisioning", config)


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_nan_and_infinity_are_missing_in_rules_and_formulas(config_dir, name):
    backend = open_backend(name)
    try:
        tables = {"customers": customers_table(customers()), "history": history_table([])}
        run_models_on(backend, compile_sql(config_dir, engine(name)), tables, as_of=AS_OF)
        decisions = table_rows(backend, "kaireon_decisions")
        rejections = table_rows(backend, "kaireon_rejections")
    finally:
        backend.close()
    got = {(r["customer_id"], r["offer_id"]) for r in decisions}
    # the rule passes only finite revenues of at least 50 (NaN, inf and -inf are missing: the rule fails)
    assert {c for c, o in got if o == "o_rule"} == {"c_80", "c_huge"}
    assert {r["customer_id"] for r in rejections if r["offer_id"] == "o_rule"} == set(REVENUE) - {"c_80", "c_huge"}
    # the formula reads NaN / inf as NULL (coalesce gives -1); 1.79e308 * 2 overflows: NULL, per row, not an error
    scores = {r["customer_id"]: float(r["score"]) for r in decisions if r["offer_id"] == "o_any"}
    assert scores == {"c_nan": -1.0, "c_inf": -1.0, "c_ninf": -1.0, "c_null": -1.0, "c_80": 160.0, "c_40": 80.0,
                      "c_huge": -1.0}
