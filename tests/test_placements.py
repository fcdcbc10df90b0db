"""The group node (S7 "Placements") and responseFormat grouped (S7 "Response") on DuckDB, PostgreSQL and Spark.

One config, one build per engine (module-scoped): flow `grp` decides on email and push with a group
node whose placements are, in fill order, `hero` (email, maxSlots 2), `side` (no channel: any, 1 slot),
`smsbox` (sms, which the flow does not decide on) and `pushbar` (push, maxSlots default 1); flow
`plain` has no group node. Both ask for grouped responses. Scores are offer.businessValue / 100, except
for customers of category 'latepush', whose push offers score a tenth of that, so the hand-worked
fills below follow from the offers alone:

    offers  o1 e .9 | o2 e .8 | o3 p .7 | o4 p .6 | o5 e .5 | o6 e .4   (e: email only, p: push only)
    c1 (all)          kept o1 o2 o3 o4 o5 -> hero o1 o2, side o3, pushbar o4; o5 ranked out
    c2 (no email)     kept o3 o4          -> side o3, pushbar o4 (fewer candidates than slots)
    c3 (emailonly)    kept o1 o2 o5 o6    -> hero o1 o2, side o5; o6 ranked out
    c5 (latepush)     kept o1 o2 o5 o6 o3 -> hero o1 o2, side o5, pushbar o3 (rank 5 -> 4); o6 ranked out
    c4 (no email, emailonly): no candidates

Expected fills are also computed by a Python priority fill over the candidates model's kept rows.
"""
from __future__ import annotations

import json

import pytest

from backends import ENGINE_NAMES, open_backend, run_models_on
from cross_engine import diff, table_rows
from harness import compile_sql, customers_table, flow, history_table, schema, write_config
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine
from kaireon_sql.errors import ConfigErrors

HOSTILE = {
    "o1": 'Ünïcødé "quoted" \\back\\slash {{ 7*7 }} {% if x %} it\'s',
    "o3": "tab\there\nnewline \x01 ctl -- /* 🎉 {# c #}",
}
OFFERS = [("o1", 90, ["email"]), ("o2", 80, ["email"]), ("o3", 70, ["push"]), ("o4", 60, ["push"]),
          ("o5", 50, ["email"]), ("o6", 40, ["email"])]
PLACEMENTS = [  # fill order: (id, channelId, maxSlots)
    ("hero", "email", 2), ("side", None, 1), ("smsbox", "sms", 1), ("pushbar", "push", None)]
SCORE = ("customer.category == 'latepush' && (offer.businessValue == 70 || offer.businessValue == 60) "
         "? offer.businessValue / 1000 : offer.businessValue / 100")
TOP_N = 5
CUSTOMERS = [  # customer_id, days, purchases, revenue, category, tz, consentEmail, consentSMS
    ("c1", 10, 1, 5.0, "all", "UTC", True, True),
    ("c2", 10, 1, 5.0, "all", "UTC", False, True),
    ("c3", 10, 1, 5.0, "emailonly", "UTC", True, True),
    ("c4", 10, 1, 5.0, "emailonly", "UTC", False, False),
    ("c5", 10, 1, 5.0, "latepush", "UTC", True, False),
]
HAND = {  # customer -> [(offer, placement, slot, rank)] of flow grp, worked out in the module docstring
    "c1": [("o1", "hero", 1, 1), ("o2", "hero", 2, 2), ("o3", "side", 1, 3), ("o4", "pushbar", 1, 4)],
    "c2": [("o3", "side", 1, 1), ("o4", "pushbar", 1, 2)],
    "c3": [("o1", "hero", 1, 1), ("o2", "hero", 2, 2), ("o5", "side", 1, 3)],
    "c5": [("o1", "hero", 1, 1), ("o2", "hero", 2, 2), ("o5", "side", 1, 3), ("o3", "pushbar", 1, 4)],
}
# read back (the group flow's funnel and rejections only: each read of a Spark view recomputes it)
TABLES = ("kaireon_decisions", "kaireon_decisions_grouped", "kaireon_grp__funnel", "kaireon_grp__rejections",
          "kaireon_grp__slots", "kaireon_grp__candidates")


def _nodes(group: bool) -> list[dict]:
    nodes = [
        {"id": "inv", "type": "inventory", "config": {"scope": "all"}},
        {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]}},
        {"id": "qual", "type": "qualify", "config": {"mode": "all"}},
        {"id": "score", "type": "score", "config": {"method": "expression", "expression": SCORE}},
        {"id": "rank", "type": "rank", "config": {"method": "topN", "maxCandidates": TOP_N if group else 2}},
        {"id": "compute", "type": "compute", "config": {"extras": [
            {"name": "greeting", "formula": "concat('hi ', offer.name)", "outputType": "text"}]}},
        {"id": "resp", "type": "response", "config": {"responseFormat": "grouped"}},
    ]
    if group:
        nodes.insert(5, {"id": "grp", "type": "group", "config": {
            "strategy": "priority_fill", "placementIds": [p for p, _, _ in PLACEMENTS]}})
    return nodes


def _config() -> dict:
    placements = [{"id": p, "name": p, **({"channelId": c} if c else {}), **({"maxSlots": s} if s else {})}
                  for p, c, s in PLACEMENTS]
    push_rule = {"ruleType": "attribute_condition", "scope": "offer",
                 "config": {"attribute": "customer.category", "operator": "neq", "value": "emailonly"}}
    return {
        "schemas": [schema()], "interactionHistory": {"relation": "history"},
        "channels": [{"id": "email", "name": "Email", "consentField": "consentEmail"},
                     {"id": "sms", "name": "SMS", "consentField": "consentSMS"},
                     {"id": "push", "name": "Push", "requiresConsent": False}],
        "placements": placements,
        "offers": [{"id": o, "name": HOSTILE.get(o, o), "priority": 0, "businessValue": bv, "channels": ch}
                   for o, bv, ch in OFFERS],
        "qualificationRules": [{**push_rule, "name": f"no push for emailonly {o}", "scopeId": o} for o in ("o3", "o4")],
        "decisionFlows": [flow(_nodes(True), key="grp", channel=["email", "push"]),
                          flow(_nodes(False), key="plain", channel=["email", "push"])],
    }


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("placements") / "decisioning", _config())


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def built(request, config_dir):
    """{table: rows} of one build on the engine."""
    backend = open_backend(request.param)
    try:
        run_models_on(backend, compile_sql(config_dir, engine(request.param)),
                      {"customers": customers_table(CUSTOMERS), "history": history_table([])})
        yield request.param, {t: table_rows(backend, t) for t in TABLES}
    finally:
        backend.close()


_REFERENCE: dict[str, dict] = {}


def _flow_rows(got: dict, table: str, key: str) -> list[dict]:
    return [r for r in got[table] if r["decision_flow_key"] == key]


def priority_fill(kept: list[dict]) -> dict[tuple, tuple]:
    """S7's fill, in Python: (customer, offer, channel) -> (placement, slot, rank among the slotted)."""
    out: dict[tuple, tuple] = {}
    by_customer: dict[str, list[dict]] = {}
    for r in kept:
        by_customer.setdefault(r["customer_id"], []).append(r)
    for customer, rows in by_customer.items():
        rows.sort(key=lambda r: r["rank"])
        taken: dict[tuple, tuple[str, int]] = {}
        for placement, channel, slots in PLACEMENTS:
            fits = [r for r in rows if (r["offer_id"], r["channel"]) not in taken
                    and (channel is None or r["channel"] == channel)]
            for slot, r in enumerate(fits[:slots or 1], start=1):
                taken[(r["offer_id"], r["channel"])] = (placement, slot)
        slotted = [r for r in rows if (r["offer_id"], r["channel"]) in taken]
        for rank, r in enumerate(slotted, start=1):
            out[(customer, r["offer_id"], r["channel"])] = (*taken[(r["offer_id"], r["channel"])], rank)
    return out


def test_hand_worked_fills(built):
    name, got = built
    mine: dict[str, list] = {}
    for r in sorted(_flow_rows(got, "kaireon_decisions", "grp"), key=lambda r: (r["customer_id"], r["rank"])):
        mine.setdefault(r["customer_id"], []).append((r["offer_id"], r["placement_id"], r["slot"], r["rank"]))
    assert mine == HAND, name


def test_fills_equal_a_python_priority_fill_of_the_kept_candidates(built):
    name, got = built
    kept = [r for r in got["kaireon_grp__candidates"] if r["rank"] is not None and r["rank"] <= TOP_N]
    expected = priority_fill(kept)
    decided = {(r["customer_id"], r["offer_id"], r["channel"]): (r["placement_id"], r["slot"], r["rank"])
               for r in _flow_rows(got, "kaireon_decisions", "grp")}
    assert decided == expected, name
    assert len(kept) > len(decided)  # some kept candidates found no slot: ranked out


def test_ranked_out_are_not_rejections_and_funnel_counts_slotted(built):
    name, got = built
    rejected = {(r["customer_id"], r["offer_id"]) for r in got["kaireon_grp__rejections"]}
    assert ("c3", "o3") in rejected  # the qualification rule
    assert not {("c1", "o5"), ("c3", "o6"), ("c5", "o6")} & rejected, name
    [funnel] = got["kaireon_grp__funnel"]
    assert funnel["decided"] == len(_flow_rows(got, "kaireon_decisions", "grp")) == 13, name


def test_placement_on_a_channel_the_flow_does_not_decide_gets_nothing(built):
    name, got = built
    assert "smsbox" not in {r["placement_id"] for r in got["kaireon_grp__slots"]}, name
    assert {r["channel"] for r in _flow_rows(got, "kaireon_decisions", "grp") if r["placement_id"] == "side"} \
        == {"email", "push"}  # no channelId: any channel


def test_rank_contiguous_and_one_decision_per_slot(built):
    name, got = built
    decisions = _flow_rows(got, "kaireon_decisions", "grp")
    by_customer: dict[str, list[int]] = {}
    for r in decisions:
        by_customer.setdefault(r["customer_id"], []).append(r["rank"])
    assert all(sorted(v) == list(range(1, len(v) + 1)) for v in by_customer.values()), name
    slots = [(r["customer_id"], r["placement_id"], r["slot"]) for r in decisions]
    assert len(slots) == len(set(slots))
    assert all(r["placement_id"] is None and r["slot"] is None for r in _flow_rows(got, "kaireon_decisions", "plain"))


def _parsed_groups(got: dict, key: str) -> dict[tuple, list[dict]]:
    return {(r["customer_id"], r["placement_id"], r["channel"]): json.loads(r["decisions"])
            for r in _flow_rows(got, "kaireon_decisions_grouped", key)}


def _element(r: dict) -> dict:
    keys = ("rank", "slot", "offer_id", "offer_name", "category_name", "channel", "placement_id", "priority",
            "explored", "creative_id", "creative_name", "model_id", "channel_preference", "send_hour_local",
            "discount_pct")
    return {**{k: r[k] for k in keys}, "score": pytest.approx(float(r["score"]), abs=1e-12),
            "personalization": json.loads(r["personalization"])}


def test_grouped_json_equals_the_decisions(built):
    name, got = built
    for key, grouping, order in (("grp", "placement_id", "slot"), ("plain", "channel", "rank")):
        expected: dict[tuple, list[dict]] = {}
        for r in sorted(_flow_rows(got, "kaireon_decisions", key), key=lambda r: r[order]):
            group = (r["customer_id"], r["placement_id"], r["channel"] if grouping == "channel" else
                     {"hero": "email", "pushbar": "push"}.get(r["placement_id"], r["channel"]))
            expected.setdefault(group, []).append(_element(r))
        parsed = _parsed_groups(got, key)
        assert parsed == expected, (name, key)
        counts = {(r["customer_id"], r["placement_id"], r["channel"]): r["decision_count"]
                  for r in _flow_rows(got, "kaireon_decisions_grouped", key)}
        assert counts == {k: len(v) for k, v in expected.items()}
    side = _parsed_groups(got, "grp")
    assert [e["offer_name"] for e in side[("c1", "hero", "email")]] == [HOSTILE["o1"], "o2"]
    assert side[("c1", "hero", "email")][0]["personalization"] == {"greeting": "hi " + HOSTILE["o1"]}
    assert [e["offer_name"] for e in side[("c2", "side", "push")]] == [HOSTILE["o3"]]


def test_same_rows_on_every_engine(built):
    """Every table equals DuckDB's row for row, and the grouped JSON parses to the same values."""
    name, got = built
    if name == "duckdb":
        _REFERENCE.update(got)
        return
    if not _REFERENCE:
        pytest.skip("the DuckDB build runs first")
    for table in TABLES:
        assert diff(_REFERENCE[table], got[table]) is None, (name, table, diff(_REFERENCE[table], got[table]))
    for key in ("grp", "plain"):
        assert _parsed_groups(got, key) == _parsed_groups(_REFERENCE, key), (name, key)


# ---- compile-time: dbt tests and validate-time errors ----------------------------------------------

def test_decisions_test_one_decision_per_placement_slot(config_dir):
    models = {m.name: m for m in compile_project(load_project(config_dir))}
    unique = {"kaireon_sql.unique_combination": {"arguments": {"columns": [
        "run_id", "decision_flow_key", "customer_id", "placement_id", "slot"]}}}
    assert unique in models["kaireon_grp__decisions"].tests and unique not in models["kaireon_plain__decisions"].tests
    assert "kaireon_plain__slots" not in models and "kaireon_grp__decisions_grouped" in models
    assert "kaireon_decisions_grouped" in models


def _errors(tmp_path, change) -> str:
    config = _config()
    change(config)
    with pytest.raises(ConfigErrors) as info:
        compile_project(load_project(write_config(tmp_path / "decisioning", config)))
    return str(info.value)


def _group(config: dict) -> dict:
    return config["decisionFlows"][0]["draftConfig"]["nodes"][5]["config"]


def test_unknown_placement_is_a_clear_error(tmp_path):
    message = _errors(tmp_path, lambda c: _group(c)["placementIds"].append("nowhere"))
    assert "nodes[5].config.placementIds[4]" in message and "unknown placement 'nowhere'" in message


def test_empty_and_repeated_placement_ids_are_refused(tmp_path):
    message = _errors(tmp_path, lambda c: _group(c).update(placementIds=[]))
    assert "placementIds" in message and "non-empty" in message
    message = _errors(tmp_path / "b", lambda c: _group(c).update(placementIds=["hero", "side", "hero"]))
    assert "placementIds[2]" in message and "listed twice" in message


def test_group_without_rank_node_is_refused(tmp_path):
    def drop_rank(config):
        nodes = config["decisionFlows"][0]["draftConfig"]["nodes"]
        nodes[:] = [n for n in nodes if n["type"] != "rank"]
    message = _errors(tmp_path, drop_rank)
    assert "nodes[4].type" in message and "expected a 'rank' node" in message


def test_inactive_placement_and_bad_max_slots_are_refused(tmp_path):
    message = _errors(tmp_path, lambda c: c["placements"][1].update(status="inactive"))
    assert "placementIds[1]" in message and "placement 'side' has status 'inactive'" in message
    message = _errors(tmp_path / "b", lambda c: c["placements"][0].update(maxSlots=0))
    assert "maxSlots" in message
