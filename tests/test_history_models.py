"""Interaction history models (S3): the daily summary, behavioral metric models, metrics read by
formulas, and the decision log's first build.

Expected values are computed in Python from the generated rows, never copied from compiled output.
"""
from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from harness import flow, rows, scenario, schema, standard_nodes, write_config
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project

from kaireon_sql.errors import ConfigError, ConfigErrors

AS_OF_TEXT = "2026-11-20 15:00:00"
AS_OF = datetime(2026, 11, 20, 15, 0, 0)
POSITIVE = {"click", "convert"}
NEGATIVE = {"dismiss", "complaint", "unsubscribe", "hard_bounce", "spam_report"}
DIMENSION_COLUMNS = {"offer": "offer_id", "channel": "channel", "creative": "creative_id", "outcome": "outcome"}
H = ("customer_id", "offer_id", "channel", "outcome", "occurred_at", "value", "creative_id", "decision_flow_key")


def cust(cid, purchases=5, category="apparel"):
    return (cid, 100, purchases, 80.0, category, "UTC", True, True)


def priority_flow(**kw):
    return flow(standard_nodes(top_n=10, score={"method": "priority"}), **kw)


def base_config(**extra):
    config = {"offers": [{"id": "a", "name": "A", "priority": 50}, {"id": "b", "name": "B", "priority": 40}],
              "decisionFlows": [priority_flow()]}
    config.update(extra)
    return config


def history_rows(seed: int = 7, n: int = 400) -> list[tuple]:
    """Interactions from 40 days before as_of to 2 days after, on whole seconds, with boundary rows."""
    rnd = random.Random(seed)
    outcomes = ["impression"] * 4 + ["click", "convert", "dismiss", "complaint", "open", "purchase_view"]
    out = []
    for _ in range(n):
        at = AS_OF - timedelta(seconds=rnd.randint(-2 * 86400, 40 * 86400))
        value = None if rnd.random() < 0.4 else round(rnd.uniform(-20, 200), 2)
        out.append((f"c{rnd.randint(1, 6)}", rnd.choice("ab"), rnd.choice(["email", "sms"]), rnd.choice(outcomes),
                    at, value, rnd.choice([None, "cr1", "cr2"]), rnd.choice([None, "winback"])))
    for days in (7, 10, 14, 30):  # exactly at a window's start (outside), one second later (inside)
        out.append(("c1", "a", "email", "impression", AS_OF - timedelta(days=days), 5.0, "cr1", None))
        out.append(("c1", "a", "email", "impression", AS_OF - timedelta(days=days) + timedelta(seconds=1), 7.0, "cr1", None))
    out.append(("c2", "b", "sms", "convert", AS_OF, 11.0, None, None))  # exactly as_of: inside
    out.append(("c2", "b", "sms", "convert", AS_OF + timedelta(seconds=1), 13.0, None, None))  # after as_of: ignored
    return out


# ---- the daily summary ------------------------------------------------------------------------------

def test_interaction_summary_daily_matches_python(tmp_path):
    hist = history_rows()
    con = scenario(tmp_path, base_config(), [cust("c1")], hist, as_of=AS_OF_TEXT)
    want: dict[tuple, dict] = {}
    for r in map(lambda t: dict(zip(H, t)), hist):
        if r["occurred_at"] > AS_OF:
            continue
        key = (r["customer_id"], r["offer_id"], r["channel"], r["outcome"], r["occurred_at"].date())
        g = want.setdefault(key, {"n": 0, "values": [], "first": r["occurred_at"], "last": r["occurred_at"]})
        g["n"] += 1
        if r["value"] is not None:
            g["values"].append(r["value"])
        g["first"], g["last"] = min(g["first"], r["occurred_at"]), max(g["last"], r["occurred_at"])
    got = {(r["customer_id"], r["offer_id"], r["channel"], r["outcome"], r["interaction_date"]): r
           for r in rows(con, "select * from kaireon_interaction_summary_daily")}
    assert set(got) == set(want)
    for key, g in want.items():
        r = got[key]
        assert r["interactions"] == g["n"], key
        assert r["total_value"] == (pytest.approx(sum(g["values"])) if g["values"] else None), key
        assert (r["first_at"], r["last_at"]) == (g["first"], g["last"]), key
    assert sum(r["interactions"] for r in got.values()) == sum(1 for t in hist if t[4] <= AS_OF)


# ---- behavioral metric models ---------------------------------------------------------------------

METRICS = [
    {"id": "imp7", "name": "Impressions 7d", "aggregation": "count", "sourceField": "impressions", "windowDays": 7},
    {"id": "pos_offer", "name": "Positive per offer", "aggregation": "count", "sourceField": "positive",
     "windowDays": 30, "dimensions": ["offer"]},
    {"id": "neg_channel", "name": "Negative per channel", "aggregation": "count", "sourceField": "negative",
     "windowDays": 14, "dimensions": ["channel"]},
    {"id": "neutral", "name": "Neutral responses", "aggregation": "count", "sourceField": "neutral", "windowDays": 30},
    {"id": "pos_sum", "name": "Positive (sum)", "aggregation": "sum", "sourceField": "positive", "windowDays": 30},
    {"id": "value_sum", "name": "Value per offer and channel", "aggregation": "sum", "sourceField": "totalValue",
     "windowDays": 30, "dimensions": ["offer", "channel"]},
    {"id": "value_avg", "name": "Average value", "aggregation": "avg", "sourceField": "totalValue", "windowDays": 30},
    {"id": "value_min", "name": "Min value per creative", "aggregation": "min", "sourceField": "totalValue",
     "windowDays": 10, "dimensions": ["creative"]},
    {"id": "value_max", "name": "Max value per outcome", "aggregation": "max", "sourceField": "totalValue",
     "windowDays": 10, "dimensions": ["outcome"]},
    {"id": "conv_rate", "name": "Convert rate per offer", "aggregation": "ratio", "sourceField": "converts",
     "denominatorField": "impressions", "windowDays": 30, "dimensions": ["offer"]},
    {"id": "half_day", "name": "Impressions 12h", "aggregation": "count", "sourceField": "impressions", "windowDays": 0.5},
    {"id": "off", "name": "Inactive", "aggregation": "count", "sourceField": "impressions", "status": "inactive"},
]


def _matches(source: str, r: dict) -> bool:
    if source == "totalValue":
        return r["value"] is not None
    return {
        "impressions": r["outcome"] == "impression",
        "converts": r["outcome"] == "convert",
        "positive": r["outcome"] in POSITIVE,
        "negative": r["outcome"] in NEGATIVE,
        "neutral": r["outcome"] not in POSITIVE | NEGATIVE | {"impression"},
    }[source]


def oracle(metric: dict, hist: list[tuple]) -> dict[tuple, float | None]:
    """Metric value per (customer, *dimensions) over rows with as_of - window < occurred_at <= as_of."""
    start = AS_OF - timedelta(days=metric["windowDays"])
    groups = defaultdict(list)
    for r in map(lambda t: dict(zip(H, t)), hist):
        if start < r["occurred_at"] <= AS_OF:
            groups[(r["customer_id"], *(r[DIMENSION_COLUMNS[d]] for d in metric.get("dimensions", [])))].append(r)
    out = {}
    for key, rs in groups.items():
        src, agg = metric["sourceField"], metric["aggregation"]
        count = sum(_matches(src, r) for r in rs)
        if agg == "ratio":
            den = sum(_matches(metric["denominatorField"], r) for r in rs)
            out[key] = count / den if den else None
        elif agg == "count" or (agg == "sum" and src != "totalValue"):
            out[key] = count
        else:
            values = [r["value"] for r in rs if _matches(src, r) and r["value"] is not None]
            out[key] = {"sum": sum, "avg": lambda v: sum(v) / len(v), "min": min, "max": max}[agg](values) if values else None
    return out


def test_metric_models_match_python(tmp_path):
    hist = history_rows()
    con = scenario(tmp_path, base_config(behavioralMetrics=METRICS), [cust("c1")], hist, as_of=AS_OF_TEXT)
    tables = {r["table_name"] for r in rows(con, "select table_name from information_schema.tables")}
    assert "kaireon_metric__off" not in tables  # inactive metrics get no model
    for metric in METRICS[:-1]:
        keys = ["customer_id", *(DIMENSION_COLUMNS[d] for d in metric.get("dimensions", []))]
        got_rows = rows(con, f'select * from "kaireon_metric__{metric["id"]}"')
        assert all(list(r) == [*keys, "value"] for r in got_rows), metric["id"]
        got = {tuple(r[k] for k in keys): r["value"] for r in got_rows}
        want = oracle(metric, hist)
        assert set(got) == set(want), metric["id"]
        for key, value in want.items():
            assert got[key] == (pytest.approx(value) if value is not None else None), (metric["id"], key)


def test_metric_window_boundaries_and_zero_denominator(tmp_path):
    t = AS_OF - timedelta(days=7)
    hist = [
        ("c1", "a", "email", "impression", t, None, None, None),  # exactly as_of - 7d: outside
        ("c1", "a", "email", "impression", t + timedelta(seconds=1), None, None, None),
        ("c1", "a", "email", "impression", AS_OF, None, None, None),  # exactly as_of: inside
        ("c1", "a", "email", "impression", AS_OF + timedelta(seconds=1), None, None, None),  # after as_of
        ("c2", "a", "email", "convert", AS_OF - timedelta(days=1), 9.0, None, None),  # converts, no impression
        ("c3", "b", "email", "impression", AS_OF - timedelta(days=1), None, None, None),
        ("c4", "b", "email", "impression", t - timedelta(days=1), None, None, None),  # only outside the window
    ]
    metrics = [
        {"id": "imp7", "name": "Impressions 7d", "aggregation": "count", "sourceField": "impressions", "windowDays": 7},
        {"id": "cr7", "name": "Convert rate 7d", "aggregation": "ratio", "sourceField": "converts",
         "denominatorField": "impressions", "windowDays": 7},
    ]
    con = scenario(tmp_path, base_config(behavioralMetrics=metrics), [cust("c1")], hist, as_of=AS_OF_TEXT)
    assert {r["customer_id"]: r["value"] for r in rows(con, "select * from kaireon_metric__imp7")} == {
        "c1": 2, "c2": 0, "c3": 1}  # c4: no row in the window, so no row at all
    assert {r["customer_id"]: r["value"] for r in rows(con, "select * from kaireon_metric__cr7")} == {
        "c1": 0.0, "c2": None, "c3": 0.0}


def test_metric_model_names_must_differ(tmp_path):
    metrics = [{"name": "Opens 7d", "aggregation": "count", "sourceField": "impressions"},
               {"name": "opens-7d", "aggregation": "count", "sourceField": "impressions"}]
    folder = write_config(tmp_path / "decisioning", {"schemas": [schema()], **base_config(behavioralMetrics=metrics)})
    with pytest.raises((ConfigError, ConfigErrors), match="same model name 'kaireon_metric__opens_7d'"):
        compile_project(load_project(folder))


# ---- formulas reading metrics ----------------------------------------------------------------------

FORMULA_METRICS = [
    {"id": "imp7", "name": "Impressions 7d", "aggregation": "count", "sourceField": "impressions", "windowDays": 7},
    {"id": "cr_offer", "name": "Convert rate per offer", "aggregation": "ratio", "sourceField": "converts",
     "denominatorField": "impressions", "windowDays": 30, "dimensions": ["offer"]},
    {"id": "rev30", "name": "revenue30", "aggregation": "sum", "sourceField": "totalValue", "windowDays": 30},
    {"id": "by_creative", "name": "By creative", "aggregation": "count", "sourceField": "impressions",
     "dimensions": ["offer", "creative"]},
]
FORMULA_HISTORY = [
    ("x1", "a", "email", "impression", AS_OF - timedelta(days=1), None, None, None),
    ("x1", "a", "email", "impression", AS_OF - timedelta(days=2), None, None, None),
    ("x1", "a", "email", "convert", AS_OF - timedelta(days=2), 30.0, None, None),
    ("x1", "b", "email", "impression", AS_OF - timedelta(days=20), None, None, None),  # outside 7d, inside 30d
    ("x1", "a", "email", "impression", AS_OF + timedelta(days=1), None, None, None),  # after as_of
]


def _formula_flow(score_expression: str, extra_nodes=()) -> dict:
    nodes = standard_nodes(top_n=10, score={"method": "expression", "expression": score_expression})
    nodes[-1]["config"] = {"extras": [{"name": "revenue", "formula": "coalesce(metrics.rev30, -1)"}]}
    return flow(nodes + list(extra_nodes))


def test_formulas_read_metrics(tmp_path):
    config = base_config(
        behavioralMetrics=FORMULA_METRICS,
        categories=[{"id": "wb", "name": "Winback", "customFields": [
            {"name": "recentImpressions", "type": "computed", "outputType": "number", "formula": "metrics.imp7"},
            {"name": "convertRate", "type": "computed", "outputType": "number",
             "formula": "coalesce(metrics.cr_offer, -1)"},
        ]}],
        offers=[{"id": "a", "name": "A", "priority": 50, "categoryId": "wb"},
                {"id": "b", "name": "B", "priority": 40, "categoryId": "wb"}],
        decisionFlows=[_formula_flow(
            "metrics.imp7 * 10 + coalesce(metrics.cr_offer, 0) * 100 + offer.priority / 100",
            [{"id": "props", "type": "set_properties",
              "config": {"properties": [{"name": "impressionsPlusOne", "formula": "metrics.imp7 + 1"}]}}])],
    )
    con = scenario(tmp_path, config, [cust("x1"), cust("x2")], FORMULA_HISTORY, as_of=AS_OF_TEXT)
    got = {(r["customer_id"], r["offer_id"]): r for r in
           rows(con, "select customer_id, offer_id, score, personalization from kaireon_decisions")}
    # x1: 2 impressions in 7 days; offer a: 1 convert / 2 impressions; offer b: 0 converts / 1 impression
    # x2: no history: the count reads 0, the ratio and the value sum are NULL
    want_score = {("x1", "a"): 20 + 50 + 0.5, ("x1", "b"): 20 + 0 + 0.4, ("x2", "a"): 0.5, ("x2", "b"): 0.4}
    assert {k: pytest.approx(v) for k, v in want_score.items()} == {k: r["score"] for k, r in got.items()}
    want_rate = {("x1", "a"): 0.5, ("x1", "b"): 0.0, ("x2", "a"): -1, ("x2", "b"): -1}
    for key, r in got.items():
        p = json.loads(r["personalization"])
        imps = 2 if key[0] == "x1" else 0
        assert p["recentImpressions"] == imps, key
        assert p["impressionsPlusOne"] == imps + 1, key
        assert p["convertRate"] == pytest.approx(want_rate[key]), key
        assert p["revenue"] == (30 if key[0] == "x1" else -1), key
    ranks = {(r["customer_id"], r["rank"]): r["offer_id"] for r in rows(con, "select * from kaireon_decisions")}
    assert ranks[("x1", 1)] == "a" and ranks[("x2", 1)] == "a"


def test_filter_value_formula_reads_metrics(tmp_path):
    filter_node = {"id": "flt", "type": "filter", "config": {"conditions": [
        {"field": "customer.purchases", "operator": "gt", "valueFormula": "metrics.imp7"}]}}
    nodes = standard_nodes(top_n=10, score={"method": "priority"}, extra=[filter_node])
    config = base_config(behavioralMetrics=FORMULA_METRICS, decisionFlows=[flow(nodes)])
    # x1 has 2 impressions in 7 days: purchases 2 is not > 2; x2 has none: purchases 1 > 0
    con = scenario(tmp_path, config, [cust("x1", purchases=2), cust("x2", purchases=1)], FORMULA_HISTORY, as_of=AS_OF_TEXT)
    assert {r["customer_id"] for r in rows(con, "select customer_id from kaireon_decisions")} == {"x2"}


@pytest.mark.parametrize("formula, message", [
    ("metrics.by_creative + 1", "'metrics.by_creative': metric 'By creative' has dimension(s) creative, which a "
                                "candidate row cannot pick; formulas read metrics with no dimension or the 'offer' dimension"),
    ("metrics.nope * 2", "'metrics.nope' names no behavioral metric; expected one of: 'imp7', 'cr_offer'"),
])
def test_formula_metric_errors_name_the_formula(tmp_path, formula, message):
    config = {"schemas": [schema()], **base_config(behavioralMetrics=FORMULA_METRICS, decisionFlows=[_formula_flow(formula)])}
    folder = write_config(tmp_path / "decisioning", config)
    with pytest.raises((ConfigError, ConfigErrors)) as info:
        compile_project(load_project(folder))
    text = str(info.value)
    assert "decisionFlows[0] 'f'" in text and "draftConfig.nodes[4].config.expression" in text, text
    assert message in text, text


# ---- the decision log, first build ------------------------------------------------------------------

def test_decision_log_first_build_holds_decisions_and_withheld(tmp_path):
    config = base_config(decisionFlows=[flow(standard_nodes(top_n=2, score={"method": "priority"}),
                                             experiment={"enabled": True, "holdoutPercent": 40})])
    customers = [cust(f"k{i}") for i in range(30)]
    con = scenario(tmp_path, config, customers, as_of=AS_OF_TEXT, run_id="r1")
    cols = "run_id, as_of, decision_flow_key, customer_id, channel, rank, offer_id, score, personalization, experiment_group"
    log = rows(con, f"select {cols}, delivered from kaireon_decision_log")
    decided = rows(con, f"select {cols} from kaireon_decisions")
    withheld = rows(con, f"select {cols} from kaireon_withheld_decisions")
    assert decided and withheld
    as_set = lambda rs: sorted(tuple(r.values()) for r in rs)  # noqa: E731
    assert as_set(log) == as_set([{**r, "delivered": True} for r in decided] + [{**r, "delivered": False} for r in withheld])
    assert {r["run_id"] for r in log} == {"r1"}
