"""Sub-flows (S7 `call_flow`) and decision traces (S7 `includeTrace`), one build per engine.

One config, two flows: `sub` (runOrder 0) offers b, c, d with a cooldown on c, a 50% holdout, and traces
a share of its customers (decisionTraceSampleRate 0.3); `main` (runOrder 1) offers a and b (b needs
customer.days >= 50), calls `sub` and traces every customer (rate 1). Rate 0 is a DuckDB-only build.
Every expected value comes from the Python model below (md5 with hashlib), never from a run. With
KAIREON_CROSS_ENGINE the build also runs on PostgreSQL and Spark and every S4 table and the traces must
equal DuckDB's row for row.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json

import pytest

from backends import open_backend, run_models_on
from cross_engine import S4_TABLES, diff, table_rows
from harness import (compile_sql, cross_engine_names, customers_table, flow, history_table, rows, run_models,
                     schema, write_config)
from kaireon_sql.config import load_project
from kaireon_sql.compiler import compile_project
from kaireon_sql.dialect import ENGINES, engine
from kaireon_sql.errors import ConfigError, ConfigErrors

AS_OF = "2026-11-20 15:00:00"
T0 = dt.datetime.fromisoformat(AS_OF)
PRIORITY = {"a": 90, "b": 70, "c": 50, "d": 30}
CUSTOMERS = [f"c{i:02d}" for i in range(40)]


def days(i: int) -> int:
    return 10 if i % 2 == 0 else 100  # even customers fail main's rule on b


def cooled(i: int) -> bool:
    return i % 3 == 0  # an impression of c an hour ago: sub's 24 h cooldown on c blocks


def hash_uniform(*parts: str) -> float:
    return int(hashlib.md5(":".join(parts).encode("utf-8")).hexdigest()[:8], 16) / 4294967296


def holdout(key: str, customer: str, percent: float) -> bool:
    return int(hashlib.md5(f"{key}:{customer}".encode()).hexdigest()[:8], 16) % 10000 < percent * 100


def run_id(key: str) -> str:
    return f"{key}@2026-11-20T15:00:00Z"


def enrich() -> dict:
    return {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]}}


def inventory(*offers: str) -> dict:
    return {"id": "inv", "type": "inventory", "config": {"scope": "manual", "offerIds": list(offers)}}


def tail(top_n: int, trace: dict | None = None) -> list[dict]:
    out = [{"id": "score", "type": "score", "config": {"method": "priority"}},
           {"id": "rank", "type": "rank", "config": {"method": "topN", "maxCandidates": top_n}}]
    if trace is not None:
        out.append({"id": "out", "type": "response", "config": trace})
    return out


def config() -> dict:
    offers = [{"id": o, "name": o.upper(), "priority": p} for o, p in PRIORITY.items()]
    rules = [{"name": "b needs tenure", "ruleType": "attribute_condition", "scope": "offer", "scopeId": "b",
              "config": {"attribute": "customer.days", "operator": "gte", "value": 50}}]
    policies = [{"name": "rest after c", "ruleType": "cooldown", "scope": "offer", "scopeId": "c",
                 "config": {"cooldownHours": 24}}]
    sub = flow([inventory("b", "c", "d"), enrich(), {"id": "cp", "type": "contact_policy", "config": {}},
                *tail(3, {"includeTrace": True, "decisionTraceSampleRate": 0.3})],
               key="sub", runOrder=0, experiment={"enabled": True, "holdoutPercent": 50})
    main = flow([inventory("a", "b"), enrich(), {"id": "q", "type": "qualify", "config": {}},
                 {"id": "call", "type": "call_flow", "config": {"flowKey": "sub"}},
                 *tail(3, {"includeTrace": True})], key="main", runOrder=1)
    return {"schemas": [schema()], "interactionHistory": {"relation": "history"}, "offers": offers,
            "qualificationRules": rules, "contactPolicies": policies, "decisionFlows": [sub, main]}


def tables() -> dict:
    customers = [(c, days(i), 1, 1.0, "x", "UTC", True, True) for i, c in enumerate(CUSTOMERS)]
    ago = (T0 - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    history = [(c, "c", "email", "impression", ago, None, None, None) for i, c in enumerate(CUSTOMERS) if cooled(i)]
    return {"customers": customers_table(customers), "history": history_table(history)}


# ---- the independent model ----------------------------------------------------------------------

def main_candidates(i: int) -> list[tuple[str, str]]:
    """(offer, source flow) of main's candidates past the phase-1 checks: its own a and b (b when
    customer.days >= 50), then sub's that main does not consider itself (c unless cooled, d)."""
    own = [("a", "main")] + ([("b", "main")] if days(i) >= 50 else [])
    called = ([] if cooled(i) else [("c", "sub")]) + [("d", "sub")]
    return own + called


def main_decided(i: int) -> list[str]:
    ordered = sorted(main_candidates(i), key=lambda x: (-PRIORITY[x[0]], x[0]))
    return [o for o, _ in ordered[:3]]


# ---- one build per engine -------------------------------------------------------------------------

TRACES = ("kaireon_traces", "kaireon_main__called")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = write_config(tmp_path_factory.mktemp("calls") / "decisioning", config())
    models = compile_sql(folder)
    models.config_dir = None  # DuckDB here; the other engines once each in test_same_rows_on_every_engine
    con = run_models(models, tables(), as_of=AS_OF)
    return folder, con


def test_same_rows_on_every_engine(built):
    """The S4 tables and kaireon_traces on PostgreSQL and Spark equal DuckDB's (one build each)."""
    folder, _ = built
    engines = cross_engine_names()
    if not engines:
        pytest.skip("KAIREON_CROSS_ENGINE not set")
    results = {}
    for name in ["duckdb", *engines]:
        backend = open_backend(name)
        try:
            run_models_on(backend, compile_sql(folder, engine(name)), tables(), as_of=AS_OF)
            results[name] = {t: table_rows(backend, t) for t in (*S4_TABLES, *TRACES)}
        finally:
            backend.close()
    reference = results.pop("duckdb")
    for name, got in results.items():
        for table, expected in reference.items():
            assert diff(expected, got[table]) is None, f"{name} differs from duckdb in {table}: {diff(expected, got[table])}"


def test_sub_flow_candidates_join_and_overlap_is_the_callers(built):
    _, con = built
    got = {}
    for r in rows(con, "select customer_id, offer_id, rank from kaireon_decisions where decision_flow_key = 'main'"):
        got.setdefault(r["customer_id"], []).append((r["rank"], r["offer_id"]))
    expected = {c: main_decided(i) for i, c in enumerate(CUSTOMERS)}
    assert {c: [o for _, o in sorted(v)] for c, v in got.items()} == expected
    # overlap: b is main's own offer; sub's b (which sub passes for every customer) never revives main's rejection
    even = [c for i, c in enumerate(CUSTOMERS) if days(i) < 50]
    assert not any("b" in expected[c] for c in even)
    sub_b = {r["customer_id"] for r in rows(con, "select customer_id from kaireon_sub__candidates "
                                                "where offer_id = 'b' and check_code is null")}
    assert set(even) <= sub_b
    # the called candidates are scored by main's score node: priority / 100
    scores = {(r["offer_id"], r["score"]) for r in rows(con, "select offer_id, score from kaireon_main__decisions")}
    assert scores == {(o, PRIORITY[o] / 100) for o, _ in scores}


def test_called_flows_rejections_stay_its_own(built):
    _, con = built
    sub = rows(con, "select customer_id, offer_id, stage, rule_name from kaireon_rejections where decision_flow_key = 'sub'")
    assert {(r["customer_id"], r["offer_id"], r["stage"], r["rule_name"]) for r in sub} == {
        (c, "c", "contact_policy", "rest after c") for i, c in enumerate(CUSTOMERS) if cooled(i)}
    main = rows(con, "select customer_id, offer_id, stage, rule_name from kaireon_rejections where decision_flow_key = 'main'")
    assert {(r["customer_id"], r["offer_id"], r["stage"], r["rule_name"]) for r in main} == {
        (c, "b", "qualification", "b needs tenure") for i, c in enumerate(CUSTOMERS) if days(i) < 50}


def _traces(con, key: str) -> dict:
    return {(r["customer_id"], r["offer_id"]): r for r in
            rows(con, "select * from kaireon_traces where decision_flow_key = ?", [key])}


def test_traces_hold_every_candidate_with_its_fate(built):
    _, con = built
    traces = _traces(con, "main")
    expected = {}
    for i, c in enumerate(CUSTOMERS):
        decided = main_decided(i)
        for offer, source in main_candidates(i):
            expected[(c, offer)] = (source, "decided" if offer in decided else "ranked_out", None)
        if days(i) < 50:
            expected[(c, "b")] = ("main", "rejected", "qualification")
    assert {k: (r["source_flow_key"], r["fate"], r["fate_stage"]) for k, r in traces.items()} == expected
    # fates agree with the decisions and rejections tables
    decisions = {(r["customer_id"], r["offer_id"]) for r in
                 rows(con, "select customer_id, offer_id from kaireon_decisions where decision_flow_key = 'main'")}
    assert decisions == {k for k, r in traces.items() if r["fate"] == "decided"}
    rejected = {(r["customer_id"], r["offer_id"]) for r in
                rows(con, "select customer_id, offer_id from kaireon_rejections where decision_flow_key = 'main'")}
    assert rejected == {k for k, r in traces.items() if r["fate"] == "rejected"}
    # the check results: main's checks (consent on email, the rule on b), in execution order
    for (c, offer), r in traces.items():
        checks = json.loads(r["checks"])
        if r["source_flow_key"] == "sub":
            assert checks == [] and r["failed_checks"] == 0
            continue
        failed = offer == "b" and days(CUSTOMERS.index(c)) < 50
        assert checks == [{"stage": "consent", "rule": "Consent (email)", "passed": True},
                          {"stage": "qualification", "rule": "b needs tenure", "passed": not failed}]
        assert r["failed_checks"] == int(failed)
        assert r["score"] == pytest.approx(PRIORITY[offer] / 100)
        assert (r["rank"] is None) == failed


def test_trace_sample_rate_a_share(built):
    _, con = built
    traces = _traces(con, "sub")
    sampled = {c for c in CUSTOMERS if hash_uniform("trace", run_id("sub"), c) < 0.3}
    assert 0 < len(sampled) < len(CUSTOMERS)
    assert {c for c, _ in traces} == sampled
    for c in sampled:  # every candidate of a sampled customer: b and d kept (decided or withheld), c unless cooled
        kept = "withheld" if holdout("sub", c, 50) else "decided"
        assert traces[(c, "b")]["fate"] == kept and traces[(c, "d")]["fate"] == kept
        blocked = cooled(CUSTOMERS.index(c))
        assert traces[(c, "c")]["fate"] == ("rejected" if blocked else kept)
        assert traces[(c, "c")]["fate_rule"] == ("rest after c" if blocked else None)
    assert len(_traces(con, "main")) == sum(len(main_candidates(i)) + (days(i) < 50) for i in range(len(CUSTOMERS)))


def test_the_calling_flows_experiment_applies(built):
    """sub holds out half of its customers; main has no holdout: main delivers sub's candidates to all."""
    _, con = built
    held = {c for c in CUSTOMERS if holdout("sub", c, 50)}
    assert 0 < len(held) < len(CUSTOMERS)
    got = rows(con, "select customer_id, offer_id, experiment_group from kaireon_decisions where decision_flow_key = 'main'")
    assert {r["experiment_group"] for r in got} == {"treatment"}
    assert held <= {r["customer_id"] for r in got if r["offer_id"] in ("c", "d")}  # sub's offers, delivered
    assert rows(con, "select count(*) as n from kaireon_withheld_decisions where decision_flow_key = 'main'")[0]["n"] == 0


def test_trace_sample_rate_zero_and_no_trace(tmp_path):
    """Rate 0 traces nobody; a flow without includeTrace has no traces model (DuckDB only: no other engine)."""
    cfg = config()
    sub, main = cfg["decisionFlows"]
    sub["draftConfig"]["nodes"][-1]["config"] = {"includeTrace": True, "decisionTraceSampleRate": 0}
    main["draftConfig"]["nodes"].pop()  # no response node
    models = compile_sql(write_config(tmp_path / "decisioning", cfg))
    assert "kaireon_sub__traces" in models and "kaireon_main__traces" not in models
    models.config_dir = None
    con = run_models(models, tables(), as_of=AS_OF)
    assert rows(con, "select count(*) as n from kaireon_traces")[0]["n"] == 0
    assert rows(con, "select count(*) as n from kaireon_sub__candidates")[0]["n"] > 0
    cfg["decisionFlows"] = [sub]
    sub["draftConfig"]["nodes"].pop()
    models = compile_sql(write_config(tmp_path / "none" / "decisioning", cfg))
    assert not any("traces" in m for m in models)


# ---- validate-time refusals -------------------------------------------------------------------------

def _errors(tmp_path, cfg: dict) -> list[str]:
    folder = write_config(tmp_path / "decisioning", cfg)
    try:
        compile_project(load_project(folder))
    except ConfigErrors as exc:
        return [str(e) for e in exc.errors]
    except ConfigError as exc:
        return [str(exc)]
    return []


def _flows(cfg: dict) -> dict:
    return {f["key"]: f["draftConfig"]["nodes"] for f in cfg["decisionFlows"]}


def _call(target: str, node_id: str = "call2") -> dict:
    return {"id": node_id, "type": "call_flow", "config": {"flowKey": target}}


def test_a_cycle_of_two_flows_is_refused(tmp_path):
    cfg = config()
    _flows(cfg)["sub"].insert(3, _call("main"))
    errors = _errors(tmp_path, cfg)
    assert any("decisionFlows[0] 'sub'" in e and "field 'draftConfig.nodes[3].config.flowKey'" in e
               and "a cycle of calls: 'sub' -> 'main' -> 'sub'" in e for e in errors), errors
    assert any("decisionFlows[1] 'main'" in e and "'main' -> 'sub' -> 'main'" in e for e in errors), errors


def test_a_self_call_is_refused(tmp_path):
    cfg = config()
    _flows(cfg)["sub"].insert(3, _call("sub"))
    errors = _errors(tmp_path, cfg)
    assert any("decisionFlows[0] 'sub'" in e and "config.flowKey" in e and "calls itself" in e for e in errors), errors


def test_unknown_flow_key_is_refused(tmp_path):
    cfg = config()
    _flows(cfg)["main"][3]["config"]["flowKey"] = "nope"
    errors = _errors(tmp_path, cfg)
    assert any("decisionFlows[1] 'main'" in e and "draftConfig.nodes[3].config.flowKey" in e and "'nope'" in e
               for e in errors), errors


def test_a_called_flow_decided_later_is_refused(tmp_path):
    cfg = config()
    cfg["decisionFlows"][0]["draftConfig"]["flowConfig"]["runOrder"] = 5
    errors = _errors(tmp_path, cfg)
    assert any("decisionFlows[1] 'main'" in e and "config.flowKey" in e and "decided after 'main'" in e
               and "lower runOrder" in e for e in errors), errors


@pytest.mark.parametrize("node", [
    {"id": "q", "type": "qualify", "config": {}},  # main's own qualify node, moved after the call
    {"id": "late", "type": "contact_policy", "config": {}},
    {"id": "late", "type": "filter", "config": {"conditions": [{"field": "customer.days", "operator": "gt", "value": 1}]}},
])
def test_a_phase_one_node_after_the_call_is_refused(tmp_path, node):
    cfg = config()
    nodes = _flows(cfg)["main"]
    nodes[:] = [n for n in nodes if n["id"] != node["id"]]
    at = next(i for i, n in enumerate(nodes) if n["type"] == "call_flow") + 1
    nodes.insert(at, copy.deepcopy(node))
    errors = _errors(tmp_path, cfg)
    assert any("decisionFlows[1] 'main'" in e and f"draftConfig.nodes[{at}].type" in e
               and f"a {node['type']!r} node cannot follow the call_flow node 'call'" in e for e in errors), errors


def test_merge_replace_and_two_calls_are_refused(tmp_path):
    cfg = config()
    _flows(cfg)["main"][3]["config"]["merge"] = "replace"
    errors = _errors(tmp_path, cfg)
    assert any("decisionFlows[1] 'main'" in e and "config.merge" in e and "expected 'append'" in e
               for e in errors), errors
    cfg = config()
    _flows(cfg)["main"].insert(4, _call("sub", "call_again"))
    errors = _errors(tmp_path / "two", cfg)
    assert any("decisionFlows[1] 'main'" in e and "at most one 'call_flow' node" in e for e in errors), errors


def test_sample_rate_without_include_trace_is_refused(tmp_path):
    cfg = config()
    _flows(cfg)["main"][-1]["config"] = {"decisionTraceSampleRate": 0.5}
    errors = _errors(tmp_path, cfg)
    assert any("decisionFlows[1] 'main'" in e and "decisionTraceSampleRate" in e and "includeTrace" in e
               for e in errors), errors


def test_renders_for_every_engine(built):
    """The called-candidates and traces trees render for all seven engines (no engine choice in them)."""
    folder, _ = built
    for name in ENGINES:
        models = compile_sql(folder, engine(name))
        assert "kaireon_main__called" in models and "kaireon_traces" in models
