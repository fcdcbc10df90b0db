"""S7: offer budgets apply after the walk (global per offer, best score first across customers), and a
customer who loses a candidate to a budget gets the next candidate that fits, in one back-fill pass: the
customers who lost one are walked again without the candidates the budget cut and without the candidates of
offers with nothing left; what they newly keep shares each offer's leftover budget, best score first; a
candidate cut in that second allocation is a rejection of the budget, with no further pass. On DuckDB,
PostgreSQL and Spark (rows compared, one build per engine). Worked by hand in the comments.
"""
from __future__ import annotations

import pytest

from harness import compile_sql, customers_table, flow, history_table, rows, run_models, schema, standard_nodes, write_config

AS_OF = "2026-11-20 15:00:00"
CUT = "Offer budget: the offer's remaining impressions went to better-scoring customers"


def cust(cid, revenue):
    return (cid, 100, 5, revenue, "apparel", "UTC", True, True)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    # score = revenue + priority / 100: o1 > o2 > o3 for every customer, customers a > b > c > d for every offer
    offers = [{"id": "o1", "name": "O1", "priority": 3, "budget": {"maxImpressions": 1}},
              {"id": "o2", "name": "O2", "priority": 2, "budget": {"maxImpressions": 2}},
              {"id": "o3", "name": "O3", "priority": 1}]
    score = {"method": "expression", "expression": "customer.revenue + offer.priority / 100"}
    config = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, "offers": offers,
              "decisionFlows": [flow(standard_nodes(top_n=1, score=score))]}
    models = compile_sql(write_config(tmp_path_factory.mktemp("walk_budgets") / "decisioning", config))
    customers = [cust("a", 4.0), cust("b", 3.0), cust("c", 2.0), cust("d", 1.0)]
    return run_models(models, {"customers": customers_table(customers), "history": history_table([])}, as_of=AS_OF)


def test_budget_then_one_back_fill_pass(con):
    # walk: everyone keeps o1 (N = 1). o1's budget of 1 goes to a (best score); b, c, d lose it.
    # back-fill: b, c, d walked again without o1: each keeps o2; o2's budget of 2 goes to b and c (best
    # scores); d loses o2 too and, with one pass, gets nothing (o3 was ranked out in its second walk)
    got = {r["customer_id"]: (r["offer_id"], r["rank"]) for r in rows(con, "select * from kaireon_decisions")}
    assert got == {"a": ("o1", 1), "b": ("o2", 1), "c": ("o2", 1)}
    rejected = {(r["customer_id"], r["offer_id"]): (r["rule_name"], r["reason"])
                for r in rows(con, "select * from kaireon_rejections")}
    assert rejected == {("b", "o1"): ("Offer budget", CUT), ("c", "o1"): ("Offer budget", CUT),
                        ("d", "o1"): ("Offer budget", CUT), ("d", "o2"): ("Offer budget", CUT)}
