"""Offer budgets are always enforced (S10): with or without a budget_exhausted policy, with or without
a contact_policy node; maxImpressions, maxConversions, and totalBudget spent at costPerImpression,
per calendar period (UTC) or in total. A budget_exhausted policy only names the rejections and
places the budgets in the policy order. Expected values are worked out by hand or with
`affordable`, never copied from the output.
"""
from __future__ import annotations

import copy
import datetime as dt
import math
from decimal import Decimal

import pytest

from harness import compile_sql, customers_table, flow, history_table, rows, run_models, schema, standard_nodes, write_config
from test_config_errors import _errors, _write, base

AS_OF = "2026-11-20 15:00:00"  # a Friday; ISO week from Mon 2026-11-16, month from 2026-11-01
T0 = dt.datetime.fromisoformat(AS_OF)


def ago(days=0.0) -> str:
    return (T0 - dt.timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


def cust(cid, revenue):
    return (cid, 100, 5, revenue, "apparel", "UTC", True, True)


def ev(cid, at, offer="p", outcome="impression"):
    return (cid, offer, "email", outcome, at, None, None, None)


CUSTOMERS = [cust(f"c{i}", float(i)) for i in range(1, 9)]  # score = revenue: c8 best


def by_revenue(n: int) -> list[str]:
    """The n best customers by revenue (c8, c7, ...), sorted by id."""
    return sorted(f"c{i}" for i in range(8, 8 - max(n, 0), -1))


def build(tmp_path, offers, policies=(), nodes=None):
    config = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, "offers": offers,
              "contactPolicies": list(policies),
              "decisionFlows": [flow(nodes or standard_nodes(top_n=5, score={"method": "expression",
                                                                             "expression": "customer.revenue"}))]}
    return compile_sql(write_config(tmp_path / "decisioning", config))


def run(models, history=()):
    return run_models(models, {"customers": customers_table(CUSTOMERS), "history": history_table(list(history))},
                      as_of=AS_OF)


def decided(con, offer="p"):
    return sorted(r["customer_id"] for r in rows(con, f"select customer_id from kaireon_decisions where offer_id = '{offer}'"))


def rejected(con, offer="p"):
    return {r["customer_id"]: (r["rule_name"], r["reason"]) for r in rows(
        con, f"select customer_id, rule_name, reason from kaireon_rejections where offer_id = '{offer}'")}


IMPLICIT_TRIM = "Offer budget: the offer's remaining impressions went to better-scoring customers"


def test_budget_enforced_without_a_policy(tmp_path):
    """The old code enforced a budget only under a budget_exhausted policy."""
    models = build(tmp_path, [{"id": "p", "name": "P", "budget": {"maxImpressions": 5, "period": "monthly"}},
                              {"id": "q", "name": "Q"}])
    con = run(models, [ev("z", ago(days=1))] * 2 + [ev("z", "2026-10-31 23:59:59")])  # 2 this month
    assert decided(con) == by_revenue(3)
    assert decided(con, "q") == sorted(f"c{i}" for i in range(1, 9))  # no budget: untouched
    assert rejected(con) == {c: ("Offer budget", IMPLICIT_TRIM) for c in by_revenue(8) if c not in by_revenue(3)}
    con = run(models, [ev("z", ago(days=1))] * 5)
    assert decided(con) == []
    assert set(rejected(con).values()) == {("Offer budget", "Offer budget: impression budget of 5 used up")}


def test_budget_enforced_without_a_contact_policy_node(tmp_path):
    nodes = [n for n in standard_nodes(top_n=5, score={"method": "expression", "expression": "customer.revenue"})
             if n["type"] != "contact_policy"]
    models = build(tmp_path, [{"id": "p", "name": "P", "budget": {"maxImpressions": 2}}], nodes=nodes)
    assert decided(run(models)) == by_revenue(2)


def test_max_conversions_enforced_without_a_policy(tmp_path):
    models = build(tmp_path, [{"id": "p", "name": "P", "budget": {"maxConversions": 2, "period": "weekly"}}])
    assert decided(run(models, [ev("z", ago(days=1), outcome="convert"), ev("z", ago(days=9), outcome="convert")])) \
        == by_revenue(8)  # one this ISO week
    con = run(models, [ev("z", ago(days=1), outcome="convert")] * 2)
    assert decided(con) == []
    assert set(rejected(con).values()) == {("Offer budget", "Offer budget: conversion budget of 2 used up")}


def affordable(total: str, cost: str) -> int:
    """floor(totalBudget / costPerImpression) on the decimal values as written."""
    return math.floor(Decimal(total) / Decimal(cost))


@pytest.mark.parametrize("total,cost,spent,used_up", [
    ("1.0", "0.3", 0, None),  # 3 impressions (3.33..): 0.9 spent, 0.1 left is not one impression
    ("0.3", "0.1", 1, None),  # 3 exactly (0.3 / 0.1 is 2.9999... in binary floating point)
    ("10", "2.5", 2, None),   # 4, 2 spent this month
    ("2", "0.25", 8, "Offer budget: total budget of 2 at 0.25 per impression used up"),  # 8, all spent
])
def test_total_budget_at_cost_per_impression(tmp_path, total, cost, spent, used_up):
    models = build(tmp_path, [{"id": "p", "name": "P",
                               "budget": {"totalBudget": float(total), "costPerImpression": float(cost),
                                          "period": "monthly"}}])
    con = run(models, [ev("z", ago(days=2))] * spent + [ev("z", "2026-10-15 00:00:00")] * 3)  # October: not counted
    left = affordable(total, cost) - spent
    assert decided(con) == by_revenue(left)
    assert (left <= 0) == (used_up is not None)
    if used_up is not None:
        assert set(rejected(con).values()) == {("Offer budget", used_up)}
    else:
        assert set(rejected(con).values()) <= {("Offer budget", IMPLICIT_TRIM)}


def test_the_smaller_of_max_impressions_and_total_budget_binds(tmp_path):
    models = build(tmp_path, [
        {"id": "p", "name": "P", "budget": {"maxImpressions": 6, "totalBudget": 10.0, "costPerImpression": 2.0}},
        {"id": "q", "name": "Q", "budget": {"maxImpressions": 2, "totalBudget": 10.0, "costPerImpression": 2.0}}])
    con = run(models, [ev("z", ago(days=400))] * 5 + [ev("z", ago(days=400), offer="q")] * 2)  # period total
    assert decided(con) == [] and decided(con, "q") == []
    assert set(rejected(con).values()) == {("Offer budget", "Offer budget: total budget of 10 at 2 per impression used up")}
    assert set(rejected(con, "q").values()) == {("Offer budget", "Offer budget: impression budget of 2 used up")}
    assert decided(run(models, [ev("z", ago(days=400))] * 3)) == by_revenue(2)  # 5 affordable, 3 spent


# ---- what a budget_exhausted policy adds: its name and its place in the policy order ----------------------

CAP = {"name": "cap", "ruleType": "customer_total_cap", "priority": -5, "config": {"maxTotal": 1, "periodType": "daily"}}


def test_without_a_policy_the_budget_comes_after_every_policy(tmp_path):
    models = build(tmp_path, [{"id": "p", "name": "P", "budget": {"maxImpressions": 1}}], [CAP])
    con = run(models, [ev("c8", ago(days=0.1))])  # c8 at the cap; the budget is also used up
    assert rejected(con)["c8"][0] == "cap"  # the cap (priority -5) comes before the implicit budget


@pytest.mark.parametrize("status", ["active", "inactive"])
def test_a_policy_names_and_places_the_budget(tmp_path, status):
    policy = {"name": "Budgets", "ruleType": "budget_exhausted", "status": status}
    models = build(tmp_path, [{"id": "p", "name": "P", "budget": {"maxImpressions": 1}}], [CAP, policy])
    con = run(models, [ev("c8", ago(days=0.1))])
    if status == "active":  # priority 0 before the cap's -5
        assert rejected(con)["c8"] == ("Budgets", "Budget exhausted 'Budgets': impression budget of 1 used up")
    else:  # an inactive policy does not switch the budget off
        assert rejected(con)["c8"][0] == "cap"
        assert rejected(con)["c1"] == ("Offer budget", "Offer budget: impression budget of 1 used up")
    assert decided(con) == []


# ---- refused at validate time ----------------------------------------------------------------------------

def with_budget(budget):
    def fn(c):
        c["offers"][0]["budget"] = budget
    return fn


def with_policy(**policy):
    def fn(c):
        c["contactPolicies"].append({"name": "bad", "ruleType": "budget_exhausted", **policy})
    return fn


@pytest.mark.parametrize("change,fragments", [
    (with_budget({"totalBudget": 100}), ["offers[0] 'A'", "budget.costPerImpression", "'totalBudget' needs"]),
    (with_budget({"costPerImpression": 0.1, "maxImpressions": 10}), ["offers[0] 'A'", "budget.totalBudget",
                                                                       "set 'totalBudget' or remove"]),
    (with_budget({"period": "monthly"}), ["offers[0] 'A'", "budget", "needs 'maxImpressions'"]),
    (with_budget({"totalBudget": 10, "costPerImpression": 0}), ["offers[0] 'A'", "budget.costPerImpression"]),
    (with_policy(bypassable=True), ["contactPolicies[2] 'bad'", "bypassable", "always enforced"]),
    (with_policy(scope="offer", scopeId="a"), ["contactPolicies[2] 'bad'", "scope", "expected scope 'global'"]),
    (lambda c: (with_policy()(c), c["contactPolicies"].append({"name": "bad2", "ruleType": "budget_exhausted"})),
     ["contactPolicies[3] 'bad2'", "ruleType", "two budget_exhausted policies ('bad' and 'bad2')"]),
], ids=["total-without-cost", "cost-without-total", "no-limit", "zero-cost", "bypassable", "scoped", "two"])
def test_budget_config_refused(tmp_path, change, fragments):
    config = copy.deepcopy(base())
    change(config)
    errors = _errors(_write(tmp_path / "decisioning", {"config.yml": config}))
    assert any(all(f in e for f in fragments) for e in errors), errors
