"""Fixed-stage (v1) flows (S7): `stages` compile to the equivalent v2 nodes, with the same outputs.

One build (per engine, KAIREON_CROSS_ENGINE compares every S4 table with DuckDB's) holds a v1 flow and
its hand-written v2 equivalent, deciding the same customers with the same salt and run id: every output
row of one is a row of the other (but for the flow key and the config hash). The flows' compute stage
also carries every compiled transform (round, clamp, default, lookup), checked against values computed
in Python. Errors of a v1 flow name the v1 path the user wrote.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math

import pytest

from harness import rows, scenario, write_config
from kaireon_sql.config import load_project
from kaireon_sql.compiler import compile_project
from kaireon_sql.errors import ConfigError, ConfigErrors

SALT = "same-salt"
RUN_ID = "run-1"
HOLDOUT = 20

CATEGORIES = [
    {"id": "apparel", "name": "Apparel", "customFields": [
        {"name": "boost", "type": "computed", "formula": "customer.revenue / 3", "outputType": "number"},
        {"name": "label", "type": "computed", "formula": "customer.category", "outputType": "text"}]},
    {"id": "home", "name": "Home", "customFields": [
        {"name": "boost", "type": "computed", "formula": "customer.revenue * 1.5 + 0.125", "outputType": "number"},
        {"name": "label", "type": "computed", "formula": "customer.category", "outputType": "text"}]},
]
OFFERS = [
    {"id": "o1", "name": "Jacket", "categoryId": "apparel", "priority": 50},
    {"id": "o2", "name": "Scarf", "categoryId": "apparel", "priority": 40},
    {"id": "o3", "name": "Lamp", "categoryId": "home", "priority": 45},
    {"id": "o4", "name": "Rug", "categoryId": "home", "priority": 90, "status": "inactive"},
    {"id": "o5", "name": "Gift card", "priority": 60},
]
RULES = [{"id": "buyer", "name": "buyer", "ruleType": "attribute_condition",
          "config": {"attribute": "customer.purchases", "operator": "gte", "value": 1}}]
POLICIES = [
    {"id": "quiet", "name": "quiet hours", "ruleType": "time_window", "priority": 10,
     "config": {"startHour": 8, "endHour": 21, "timezone": "customer.tz"}},
    {"id": "complained", "name": "complained", "ruleType": "outcome_based",
     "config": {"outcomeType": "complaint", "lookbackDays": 30}},
]
# (round then clamp on one field is valid too; each transform reads its input's SQL, so a chain of them
# grows the SQL: kept short here, the test compiles once per engine)
TRANSFORMS = [
    {"type": "round", "field": "boost", "digits": 2},
    {"type": "clamp", "field": "capped", "min": 0, "max": 40},
    {"type": "default", "field": "label", "value": "none"},
    {"type": "lookup", "field": "label", "mapping": {"apparel": "A", "home": "H"}},
    {"type": "round", "field": "spend"},
]
COMPUTE = {"extras": [{"name": "spend", "formula": "customer.revenue", "outputType": "number"},
                      {"name": "capped", "formula": "customer.revenue / 3", "outputType": "number"}],
           "transforms": TRANSFORMS}
FLOW_CONFIG = {"channel": "email", "experiment": {"enabled": True, "holdoutPercent": HOLDOUT, "salt": SALT}}
SCORING = {"method": "expression", "expression": "offer.priority / 100 + coalesce(customer.revenue, 0) / 10000"}
CONDITIONS = [{"field": "customer.days", "operator": "gte", "value": 30}]

V1_FLOW = {"key": "legacy_v1", "name": "Legacy v1", "draftConfig": {
    "version": 1, "flowConfig": FLOW_CONFIG,
    "stages": {
        "inventory": {"scope": "all"},
        "enrichment": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]},
        "filter": {"qualification": {"ruleIds": ["buyer"]}, "contactPolicy": {"policyIds": ["quiet", "complained"]},
                   "conditions": CONDITIONS, "label": "lapsed"},
        "scoring": SCORING,
        "ranking": {"method": "topN", "maxCandidates": 3},
        "compute": COMPUTE}}}
V2_FLOW = {"key": "legacy_v2", "name": "Legacy v2", "draftConfig": {
    "version": 2, "flowConfig": FLOW_CONFIG,
    "nodes": [
        {"id": "inv", "type": "inventory", "config": {"scope": "all"}},
        {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]}},
        {"id": "qual", "type": "qualify", "config": {"ruleIds": ["buyer"]}},
        {"id": "cp", "type": "contact_policy", "config": {"policyIds": ["quiet", "complained"]}},
        {"id": "f", "type": "filter", "label": "lapsed", "config": {"conditions": CONDITIONS}},
        {"id": "score", "type": "score", "config": SCORING},
        {"id": "rank", "type": "rank", "config": {"method": "topN", "maxCandidates": 3}},
        {"id": "compute", "type": "compute", "config": COMPUTE}]}}

# customer_id, days, purchases, revenue, category, tz, consentEmail, consentSMS
CUSTOMERS = [
    ("c01", 40, 2, 12.5, "apparel", "America/New_York", True, True),  # New York 10:00: allowed
    ("c02", 40, 0, 50.0, "home", "UTC", True, True),  # no purchase: qualification
    ("c03", 40, 3, 200.0, "home", "Asia/Tokyo", True, True),  # Tokyo 00:00: quiet hours
    ("c04", 10, 3, 30.0, None, "UTC", True, True),  # not lapsed: filter 'lapsed'
    ("c05", 90, 5, 150.0, None, "Europe/London", True, True),  # boost clamped to 40, label default
    ("c06", 60, 1, -2.5, "sports", "UTC", True, True),  # boost clamped to 0; spend -2.5 rounds to -3
    ("c07", 35, 2, 13.5, "home", None, True, True),  # no time zone: quiet hours
    ("c08", 45, 4, 99.0, "apparel", "UTC", False, True),  # no email consent
    ("c09", 70, 2, 20.0, "home", "UTC", True, True),  # complained: outcome_based
    ("c10", 33, None, 20.0, "home", "UTC", True, True),  # purchases missing: qualification
    ("c31", 33, 1, None, "apparel", "UTC", True, True),  # no revenue: NULL stays NULL through every transform
    *[(f"c{i}", 30 + i, 1, 10.0 * i + 0.5, ("apparel", "home", None)[i % 3], "UTC", True, True) for i in range(11, 31)],
]
HISTORY = [("c09", "o2", "email", "complaint", "2026-11-10 12:00:00", None, None, None)]
PRIORITY = {o["id"]: o["priority"] for o in OFFERS}
CATEGORY = {o["id"]: o.get("categoryId") for o in OFFERS}


def config(*flows) -> dict:
    return {"channels": [{"id": "email", "name": "email", "consentField": "consentEmail"}],
            "categories": CATEGORIES, "offers": OFFERS, "qualificationRules": RULES, "contactPolicies": POLICIES,
            "decisionFlows": list(flows)}


# ---- the expected decisions, computed in Python ----------------------------------------------------

def round_half_away(x: float, digits: int = 0) -> float:
    scale = 10 ** digits
    return math.copysign(math.floor(abs(x) * scale + 0.5) / scale, x)


def bucket(customer_id: str) -> int:
    return int(hashlib.md5(f"{SALT}:{customer_id}".encode()).hexdigest()[:8], 16) % 10000


def eligible(c) -> bool:
    cid, days, purchases, revenue, category, tz, email, _ = c
    return (purchases is not None and purchases >= 1 and tz not in (None, "Asia/Tokyo") and cid != "c09"
            and days is not None and days >= 30 and email)


def personalization(c, offer_id: str) -> dict:
    revenue, category = c[3], c[4]
    if revenue is None:
        out = {"spend": None, "capped": None}
    else:
        out = {"spend": round_half_away(revenue), "capped": min(max(revenue / 3, 0), 40)}
    cat = CATEGORY[offer_id]
    if cat is not None:
        boost = None if revenue is None else revenue / 3 if cat == "apparel" else revenue * 1.5 + 0.125
        out["boost"] = None if boost is None else round_half_away(boost, 2)
        label = "none" if category is None else category
        out["label"] = {"apparel": "A", "home": "H"}.get(label, label)
    return out


def expected() -> dict[tuple[str, str], tuple[int, dict, str]]:
    """(customer, offer) -> (rank, personalization, experiment group) of every decision, delivered or withheld."""
    out = {}
    for c in CUSTOMERS:
        if not eligible(c):
            continue
        offers = sorted((o for o in PRIORITY if o != "o4"), key=lambda o: (-(PRIORITY[o] / 100 + (c[3] or 0) / 10000), o))
        group = "holdout" if bucket(c[0]) < HOLDOUT * 100 else "treatment"
        for rank, o in enumerate(offers[:3], start=1):
            out[(c[0], o)] = (rank, personalization(c, o), group)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build (per engine) with both flows."""
    con = scenario(tmp_path_factory.mktemp("v1"), config(V1_FLOW, V2_FLOW), CUSTOMERS, HISTORY, run_id=RUN_ID)
    yield con
    con.close()


def _per_flow(con, table: str) -> dict[str, list]:
    """Rows per flow without what names the flow (its key, config hash and the decision_id hashed from them)."""
    got = rows(con, f'SELECT * FROM "{table}"')
    out = {}
    for key in ("legacy_v1", "legacy_v2"):
        flow_rows = [{k: v for k, v in r.items() if k not in ("decision_flow_key", "config_hash", "decision_id")}
                     for r in got if r["decision_flow_key"] == key]
        out[key] = sorted(flow_rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


@pytest.mark.parametrize("table", ["kaireon_decisions", "kaireon_withheld_decisions", "kaireon_assignments",
                                   "kaireon_rejections", "kaireon_funnel"])
def test_v1_flow_gives_the_rows_of_its_v2_equivalent(built, table):
    by_flow = _per_flow(built, table)
    assert by_flow["legacy_v1"], f"{table}: the scenario must produce rows"
    assert by_flow["legacy_v1"] == by_flow["legacy_v2"]


def test_decisions_and_transformed_personalization_match_python(built):
    want = expected()
    assert {g for _, _, g in want.values()} == {"treatment", "holdout"}, "the scenario needs both groups"
    got = {}
    for table in ("kaireon_decisions", "kaireon_withheld_decisions"):
        for r in rows(built, f"SELECT customer_id, offer_id, rank, personalization, experiment_group FROM \"{table}\" "
                             "WHERE decision_flow_key = 'legacy_v1'"):
            got[(r["customer_id"], r["offer_id"])] = (r["rank"], json.loads(r["personalization"]), r["experiment_group"])
    assert set(got) == set(want)
    for key, (rank, values, group) in want.items():
        g_rank, g_values, g_group = got[key]
        assert (g_rank, g_group) == (rank, group), key
        assert set(g_values) == set(values), (key, g_values)
        for name, value in values.items():
            same = (value == g_values[name] if value is None or isinstance(value, str)
                    else math.isclose(value, g_values[name], abs_tol=1e-9))
            assert same, (key, name, value, g_values[name])
    # the edge cases the customers were chosen for
    assert got[("c05", "o1")][1]["capped"] == 40 and got[("c05", "o1")][1]["label"] == "none"
    assert got[("c06", "o1")][1]["capped"] == 0 and got[("c06", "o5")][1]["spend"] == -3
    assert got[("c06", "o1")][1]["boost"] == -0.83 and got[("c01", "o3")][1]["boost"] == 18.88
    assert got[("c06", "o1")][1]["label"] == "sports" and got[("c01", "o1")][1]["label"] == "A"
    assert got[("c31", "o1")][1] == {"boost": None, "capped": None, "spend": None, "label": "A"}
    assert got[("c01", "o1")][1]["boost"] == 4.17 and got[("c01", "o5")][1]["spend"] == 13


def test_each_stage_rejects_as_its_v2_node(built):
    got = {(r["customer_id"], r["stage"], r["rule_name"]) for r in rows(
        built, "SELECT customer_id, stage, rule_name FROM kaireon_rejections WHERE decision_flow_key = 'legacy_v1'")}
    for expected_row in [("c02", "qualification", "buyer"), ("c10", "qualification", "buyer"),
                         ("c03", "contact_policy", "quiet hours"), ("c07", "contact_policy", "quiet hours"),
                         ("c09", "contact_policy", "complained"), ("c04", "filter", "lapsed")]:
        assert expected_row in got, (expected_row, sorted(got))
    assert any(c == "c08" and stage == "consent" for c, stage, _ in got)


# ---- errors name the v1 path ------------------------------------------------------------------------

def _errors(tmp_path, flow) -> list[str]:
    folder = write_config(tmp_path / "decisioning", {
        "schemas": [__import__("harness").schema()], "interactionHistory": {"relation": "history"}, **config(flow)})
    try:
        compile_project(load_project(folder, display_root=folder))
    except ConfigErrors as exc:
        return [str(e) for e in exc.errors]
    except ConfigError as exc:
        return [str(exc)]
    return []


def _v1(**stages) -> dict:
    flow = copy.deepcopy(V1_FLOW)
    for name, value in stages.items():
        if value is None:
            flow["draftConfig"]["stages"].pop(name)
        else:
            flow["draftConfig"]["stages"][name] = value
    return flow


@pytest.mark.parametrize("stages, fragments", [
    ({"inventory": {"scope": "category"}},
     ["field 'draftConfig.stages.inventory.categoryIds'", "needs a non-empty 'categoryIds'"]),
    ({"inventory": {"scope": "category", "categoryIds": ["nope"]}},
     ["field 'draftConfig.stages.inventory.categoryIds[0]'", "nope"]),
    ({"enrichment": None}, ["field 'draftConfig.stages.enrichment'", "required field is missing"]),
    ({"filter": {"qualification": {"ruleIds": ["missing_rule"]}}},
     ["field 'draftConfig.stages.filter.qualification.ruleIds[0]'", "missing_rule"]),
    ({"filter": {"contactPolicy": {"policyIds": ["nope"]}}},
     ["field 'draftConfig.stages.filter.contactPolicy.policyIds[0]'", "nope"]),
    ({"filter": {"mode": "any"}}, ["field 'draftConfig.stages.filter.mode'", "only read with 'conditions'"]),
    ({"filter": {"conditions": [{"field": "customer.days", "operator": "gte", "valueFormula": "customer.nope"}]}},
     ["field 'draftConfig.stages.filter.conditions[0].valueFormula'", "unknown identifier 'customer.nope'"]),
    ({"scoring": {"method": "expression", "expression": "offer.priority +"}},
     ["field 'draftConfig.stages.scoring.expression'", "offer.priority +"]),
    ({"scoring": {"method": "model"}}, ["field 'draftConfig.stages.scoring.modelId'", "expected 'modelId'"]),
    ({"ranking": {"maxCandidates": 0}}, ["field 'draftConfig.stages.ranking.maxCandidates'"]),
    ({"ranking": {"topN": 3}}, ["field 'draftConfig.stages.ranking.topN'", "unknown field"]),
    ({"scoring2": {}}, ["field 'draftConfig.stages.scoring2'", "unknown field", "expected one of: inventory, enrichment"]),
    ({"compute": {"transforms": [{"type": "round", "field": "nope"}]}},
     ["field 'draftConfig.stages.compute.transforms[0].field'", "'nope'", "expected one of: boost, label"]),
    ({"compute": {"transforms": [{"type": "round", "field": "label"}]}},
     ["field 'draftConfig.stages.compute.transforms[0]'", "round transform of 'label' (a text)", "expects a number"]),
    ({"compute": {"transforms": [{"type": "format", "field": "boost", "pattern": "%.1f"}]}},
     ["field 'draftConfig.stages.compute.transforms[0]'", "format transforms are not supported yet"]),
], ids=lambda v: json.dumps(v)[:60] if isinstance(v, dict) else None)
def test_v1_errors_name_the_v1_path(tmp_path, stages, fragments):
    errors = _errors(tmp_path, _v1(**stages))
    assert any(all(f in e for f in ["decisionFlows[0] 'Legacy v1'", *fragments]) for e in errors), errors


def test_version_1_without_stages_and_stages_with_version_2_are_refused(tmp_path):
    no_stages = {"key": "k", "name": "k", "draftConfig": {"version": 1, "flowConfig": FLOW_CONFIG}}
    assert any("field 'draftConfig.stages'" in e and "required field is missing" in e
               for e in _errors(tmp_path, no_stages))
    both = {"key": "k", "name": "k", "draftConfig": {"version": 2, "stages": {}, "nodes": []}}
    errors = _errors(tmp_path, both)
    assert any("field 'draftConfig.version'" in e for e in errors), errors


def test_v1_compiles_to_the_v2_nodes(tmp_path):
    folder = write_config(tmp_path / "d", {"schemas": [__import__("harness").schema()], **config(V1_FLOW)})
    flow = load_project(folder).flows[0]
    nodes = flow.definition.nodes
    assert [(n.id, n.type) for n in nodes] == [
        ("inventory", "inventory"), ("enrichment", "enrich"), ("qualification", "qualify"),
        ("contactPolicy", "contact_policy"), ("filter", "filter"), ("scoring", "score"), ("ranking", "rank"),
        ("compute", "compute")]
    assert nodes[4].label == "lapsed" and flow.definition.version == 2 and flow.version == 1
