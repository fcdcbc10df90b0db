"""Configs whose models test_engine_neutral.py renders for every engine from one compiled tree.

Together they reach every engine-neutral node of kaireon_sql/dialect/nodes.py: local time and ISO
days in a configured and in a customer's zone, known zones, calendar truncation, holdout md5 buckets,
regex rules, JSON personalization, and formulas whose numbers need guards, fmod, rounding, min/max.
tests/golden/neutral_scenarios.json holds the sha256 of every file the compiler wrote for them
before trees were engine-neutral (one compile per engine), so equality is byte-identity.
"""
from __future__ import annotations

from harness import flow, schema, standard_nodes

OFFERS = [{"id": "o1", "name": "O1", "priority": 50, "categoryId": "cat"},
          {"id": "o2", "name": "O2", "priority": 60}]
CATEGORY = {"id": "cat", "name": "Cat", "customFields": [
    {"name": "tier", "type": "text"},
    {"name": "boost", "type": "computed", "formula": "round(customer.revenue * 1.5, 2)", "outputType": "number"}]}


def rich() -> dict:
    nodes = standard_nodes(top_n=2, score={"method": "expression",
                                           "expression": "customer.revenue / (customer.days + 1) % 7 + max(customer.purchases, 3)"})
    nodes[-1]["config"] = {"extras": [
        {"name": "spend", "formula": "floor(customer.revenue * 2) - ceil(customer.days / 3) + min(1, customer.purchases)"},
        {"name": "note", "formula": "concat(customer.category, '!')", "outputType": "text"}]}
    nodes.append({"id": "props", "type": "set_properties", "config": {"properties": [
        {"name": "rounded", "formula": "round(customer.revenue, -1) + round(customer.days)"},
        {"name": "label", "value": "tab\there \"q\" \\ \x02"}]}})
    return {
        "schemas": [schema()], "interactionHistory": {"relation": "history"},
        "categories": [CATEGORY], "offers": OFFERS,
        "qualificationRules": [
            {"name": "cat regex", "ruleType": "attribute_condition",
             "config": {"attribute": "customer.category", "operator": "regex", "value": "^h.m|x$"}}],
        "contactPolicies": [
            {"name": "Local hours", "ruleType": "time_window",
             "config": {"startHour": 8, "endHour": 21, "timezone": "customer.tz"}},
            {"name": "Office hours", "ruleType": "time_window",
             "config": {"startHour": 9, "endHour": 17, "timezone": "Europe/Paris", "daysOfWeek": ["Mon", "Tue", "Wed", "Thu", "Fri"]}},
            {"name": "weekly", "ruleType": "customer_total_cap", "config": {"maxTotal": 3, "periodType": "weekly"}},
            {"name": "monthly", "ruleType": "customer_total_cap", "config": {"maxTotal": 9, "periodType": "monthly"}}],
        "decisionFlows": [flow(nodes, experiment={"enabled": True, "holdoutPercent": 20, "assignmentsRelation": "past",
                                                  "outcomeWindowDays": 14})],
    }


def scale() -> dict:
    """bench/compile_scale.py's config, small: offer-scoped rules and policies."""
    from test_compile_scale import compile_scale

    return compile_scale.config(offers=30, rules=10, policies=10)


SCENARIOS = {"rich": rich, "scale": scale}
