"""Hostile config strings reach SQL only as escaped literals, survive dbt's Jinja, and come back intact.

Every place a config string reaches SQL is fed each hostile value. For each pair: the compiled
DuckDB SQL parses (sqlglot) as one SELECT whose string literals hold the value intact; the
written model files hold no Jinja delimiter besides ref()/source() and the run-params macro;
and running the models in DuckDB gives the value back unchanged in the output tables.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Callable

import pytest
import sqlglot
from sqlglot import exp

from harness import (
    DUCKDB, Table, customers_table, first_build, flow, history_table, rows, run_models, schema, standard_nodes,
    write_config,
)
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import jinja_safe_parts, render
from kaireon_sql.writer import model_files

HOSTILE = {
    "single_quote": "it's",
    "double_quote": 'say "hi"',
    "backslash": "C:\\path\\to\\",
    "injection": "'; DROP TABLE x; --",
    "block_comment": "/* not a comment */",
    "jinja_expression": "{{ ref('x') }}",
    "jinja_statement": "{% if %}",
    "jinja_comment": "{# note #}{{{",
    "dollar_quotes": "$$ $tag$ $$",
    "newline": "line one\nline two",
    "tab": "col\tcol",
    "unicode": "Ünïcødé ✓ 東京",
    "rtl_override": "abc\u202edef",
    "emoji": "🎉👍🏽👨‍👩‍👧",
    "long": ("x'\"\\{{%#" * 600) + "end",
}

AS_OF = "2026-11-20 15:00:00"
JINJA_ALLOWED = re.compile(r"\{\{ (ref\('[A-Za-z0-9_]+'\)|source\('[A-Za-z0-9_]+', '[A-Za-z0-9_]+'\)|kaireon_sql\.run_params\(\)|kaireon_sql\.run_attribute\('[A-Za-z0-9_]+'\)|this) \}\}"
                           r"|\{% (if is_incremental\(\)|else|endif) %\}")  # {{ this }} and the guard of incremental models


def customer(cid: str, category: str = "x", purchases: int = 5) -> tuple:
    return (cid, 100, purchases, 80.0, category, "UTC", True, True)


def base_config() -> dict:
    return {
        "schemas": [schema()],
        "interactionHistory": {"relation": "history"},
        "categories": [{"id": "c1", "name": "Cat1"}],
        "offers": [{"id": "o1", "name": "Offer 1", "categoryId": "c1", "priority": 10}],
        "decisionFlows": [flow(standard_nodes(score={"method": "priority"}))],
    }


def formula_string(value: str) -> str:
    """A formula string literal for `value` (formulas escape \\' \\" \\\\ \\n \\t)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")
    return f"'{escaped}'"


def regex_literal(value: str) -> str:
    """A regular expression matching exactly `value` (RE2 and Python agree on \\-escaped punctuation)."""
    return "^" + "".join("\\" + c if c in "\\.^$|?*+()[]{}" else c for c in value) + "$"


@dataclass
class Place:
    config: dict
    customers: list[tuple]
    literal: str  # the string that must appear as an intact SQL string literal
    check: Callable  # (con, value) -> None, asserts on the output tables
    tables: dict[str, Table] = field(default_factory=dict)
    history: list[tuple] = field(default_factory=list)


def decided(con) -> list[dict]:
    return rows(con, "select customer_id, offer_id, offer_name, category_name, channel, decision_flow_key, "
                     "personalization from kaireon_decisions order by customer_id, offer_id")


def only_c1_decided(con, _value) -> None:
    assert [r["customer_id"] for r in decided(con)] == ["c1"]


def _flow_nodes(config: dict) -> list[dict]:
    return config["decisionFlows"][0]["draftConfig"]["nodes"]


def _rule(config: dict, name: str, cfg: dict, rule_type: str = "attribute_condition") -> dict:
    config["qualificationRules"] = [{"name": name, "ruleType": rule_type, "config": cfg}]
    return config


def offer_id(v):
    c = base_config()
    c["offers"][0]["id"] = v

    def check(con, v):
        assert [r["offer_id"] for r in decided(con)] == [v]
    return Place(c, [customer("c1")], v, check)


def offer_name(v):
    c = base_config()
    c["offers"][0]["name"] = v

    def check(con, v):
        assert [r["offer_name"] for r in decided(con)] == [v]
    return Place(c, [customer("c1")], v, check)


def category_name(v):
    c = base_config()
    c["categories"][0]["name"] = v

    def check(con, v):
        assert [r["category_name"] for r in decided(con)] == [v]
    return Place(c, [customer("c1")], v, check)


def _attribute_rule(cfg: dict, c1: str, c2: str, literal: str):
    def make(v):
        c = _rule(base_config(), "attr", {"attribute": "customer.category", **cfg(v)})

        def check(con, v):
            only_c1_decided(con, v)
            assert rows(con, "select customer_id, rule_name from kaireon_rejections") == [
                {"customer_id": "c2", "rule_name": "attr"}]
        return Place(c, [customer("c1", c1(v)), customer("c2", c2(v))], literal(v), check)
    return make


rule_eq = _attribute_rule(lambda v: {"operator": "eq", "value": v}, lambda v: v, lambda v: v + "x", lambda v: v)
rule_in = _attribute_rule(lambda v: {"operator": "in", "value": [v, "zzz"]}, lambda v: v, lambda v: "x" + v, lambda v: v)
rule_contains = _attribute_rule(lambda v: {"operator": "contains", "value": v}, lambda v: "<<" + v + ">>",
                                lambda v: "nothing", lambda v: v)
rule_starts_with = _attribute_rule(lambda v: {"operator": "starts_with", "value": v}, lambda v: v + " tail",
                                   lambda v: "~" + v, lambda v: v)
rule_regex = _attribute_rule(lambda v: {"operator": "regex", "value": regex_literal(v)}, lambda v: v,
                             lambda v: v + "x", lambda v: "(?s)" + regex_literal(v))  # DuckDB's form of the dialect


def rule_name(v):
    c = _rule(base_config(), v, {"attribute": "customer.purchases", "operator": "gte", "value": 3})

    def check(con, v):
        only_c1_decided(con, v)
        got = rows(con, "select customer_id, stage, rule_name, reason from kaireon_rejections")
        assert [(r["customer_id"], r["stage"], r["rule_name"]) for r in got] == [("c2", "qualification", v)]
        assert got[0]["reason"].startswith(f"Qualification rule '{v}' not met")
    return Place(c, [customer("c1"), customer("c2", purchases=1)], v, check)


def policy_name_time_window(v):
    c = base_config()
    c["contactPolicies"] = [{"name": v, "ruleType": "time_window", "config": {"startHour": 1, "endHour": 2}}]

    def check(con, v):
        assert decided(con) == []
        got = rows(con, "select stage, rule_name, reason from kaireon_rejections")
        assert [(r["stage"], r["rule_name"]) for r in got] == [("contact_policy", v)]
        assert got[0]["reason"].startswith("Time window: current hour 15")
    return Place(c, [customer("c1")], v, check)


def policy_name_total_cap(v):
    c = base_config()
    c["contactPolicies"] = [{"name": v, "ruleType": "customer_total_cap", "config": {"maxTotal": 1}}]

    def check(con, v):
        only_c1_decided(con, v)
        got = rows(con, "select customer_id, rule_name, reason from kaireon_rejections")
        assert [(r["customer_id"], r["rule_name"]) for r in got] == [("c2", v)]
        assert got[0]["reason"].startswith(f"Customer total cap '{v}': 1 of 1 contacts used")
    history = [("c2", "o1", "email", "impression", "2026-11-10 10:00:00", None, None, None)]
    return Place(c, [customer("c1"), customer("c2")], f"Customer total cap '{v}': ", check, history=history)


def filter_value(v):
    c = base_config()
    _flow_nodes(c).insert(3, {"id": "flt", "type": "filter", "label": v,
                              "config": {"conditions": [{"field": "customer.category", "operator": "eq", "value": v}]}})

    def check(con, v):
        only_c1_decided(con, v)
        got = rows(con, "select customer_id, stage, rule_name from kaireon_rejections")
        assert got == [{"customer_id": "c2", "stage": "filter", "rule_name": v}]
    return Place(c, [customer("c1", v), customer("c2", v + "y")], v, check)


def _personalization(con) -> dict:
    got = decided(con)
    assert len(got) == 1
    return json.loads(got[0]["personalization"])


def property_value(v):
    c = base_config()
    _flow_nodes(c).append({"id": "props", "type": "set_properties", "config": {"properties": [{"name": "p", "value": v}]}})

    def check(con, v):
        assert _personalization(con) == {"p": v}
    return Place(c, [customer("c1")], v, check)


def property_name(v):
    c = base_config()
    _flow_nodes(c).append({"id": "props", "type": "set_properties", "config": {"properties": [{"name": v, "value": 1}]}})

    def check(con, v):
        assert _personalization(con) == {v: 1}
    # A JSON key reaches SQL inside the literal that opens the object: '{"<key as JSON>":'
    return Place(c, [customer("c1")], "{" + json.dumps(v, ensure_ascii=False) + ":", check)


def computed_formula_literal(v):
    c = base_config()
    c["categories"][0]["customFields"] = [
        {"name": "greeting", "type": "computed", "formula": f"concat({formula_string(v)}, customer.category)",
         "outputType": "text"},
    ]

    def check(con, v):
        assert _personalization(con) == {"greeting": v + "!"}
    return Place(c, [customer("c1", "!")], v, check)


def offer_custom_text(v):
    c = base_config()
    c["categories"][0]["customFields"] = [{"name": "tier", "type": "text"}]
    c["offers"][0]["customFields"] = {"tier": v}
    _flow_nodes(c).append({"id": "props", "type": "set_properties",
                           "config": {"properties": [{"name": "t", "formula": "offer.tier"}]}})

    def check(con, v):
        assert _personalization(con) == {"t": v}
    return Place(c, [customer("c1")], v, check)


def _segment_place(segment: dict, member_value: Callable[[str], str], ref: Callable[[str], str]):
    def make(v):
        c = base_config()
        seg = {k: (f(v) if callable(f) else f) for k, f in segment.items()}
        c["segments"] = [{**seg, "relation": "members"}]
        _rule(c, "in segment", {"segmentId": ref(v)}, rule_type="segment_required")
        members = Table({"customer_id": "VARCHAR", "segment": "VARCHAR"},
                        [("c1", member_value(v)), ("c2", member_value(v) + "x")])
        return Place(c, [customer("c1"), customer("c2")], member_value(v), only_c1_decided, tables={"members": members})
    return make


segment_name = _segment_place({"id": "s1", "name": lambda v: v}, lambda v: v, lambda v: "s1")
segment_value = _segment_place({"id": "s1", "name": "S", "segmentValue": lambda v: v}, lambda v: v, lambda v: "s1")
segment_id = _segment_place({"id": lambda v: v, "name": "S", "segmentValue": "gold"}, lambda v: "gold", lambda v: v)


def channel_undeclared(v):
    c = base_config()
    # a channel needs a consent field or requiresConsent: false (S10), so it is declared by name only
    c["channels"] = [{"name": v, "requiresConsent": False}]
    c["decisionFlows"][0]["draftConfig"]["flowConfig"]["channel"] = v

    def check(con, v):
        assert [r["channel"] for r in decided(con)] == [v]
    return Place(c, [customer("c1")], v, check)


def channel_declared(v):
    c = base_config()
    c["channels"] = [{"id": v, "name": v, "requiresConsent": False}]
    c["decisionFlows"][0]["draftConfig"]["flowConfig"]["channel"] = v

    def check(con, v):
        assert [r["channel"] for r in decided(con)] == [v]
    return Place(c, [customer("c1")], v, check)


def flow_key(v):
    c = base_config()
    c["decisionFlows"][0]["key"] = v

    def check(con, v):
        assert [r["decision_flow_key"] for r in decided(con)] == [v]
        runs = rows(con, "select run_id, decision_flow_key from kaireon_funnel")
        assert runs == [{"run_id": f"{v}@2026-11-20T15:00:00Z", "decision_flow_key": v}]
    return Place(c, [customer("c1")], v, check)


def experiment_salt(v):
    c = base_config()
    c["decisionFlows"][0]["draftConfig"]["flowConfig"]["experiment"] = {
        "enabled": True, "holdoutPercent": 50, "salt": v}
    ids = [f"c{i}" for i in range(8)]

    def check(con, v):
        got = {r["customer_id"]: r["bucket"] for r in rows(con, "select customer_id, bucket from kaireon_assignments")}
        want = {cid: int(hashlib.md5(f"{v}:{cid}".encode("utf-8")).hexdigest()[:8], 16) % 10000 for cid in ids}
        assert got == want
    return Place(c, [customer(cid) for cid in ids], v + ":", check)  # compiled as salt || ':' || customer_id


def _calling_flow(config: dict) -> list[dict]:
    """The flow `f` on offer o1 calling the flow `key` of the caller's choosing, with includeTrace."""
    nodes = standard_nodes(score={"method": "priority"})
    nodes[0]["config"] = {"scope": "manual", "offerIds": ["o1"]}
    nodes.insert(4, {"id": "call", "type": "call_flow", "config": {"flowKey": "sub"}})
    nodes.append({"id": "out", "type": "response", "config": {"includeTrace": True}})
    config["offers"].append({"id": "o2", "name": "Offer 2", "categoryId": "c1", "priority": 5})
    config["decisionFlows"] = [flow(standard_nodes(score={"method": "priority"}), key="sub", runOrder=-1),
                               flow(nodes)]
    return nodes


def called_flow_key(v):
    """A called flow's key: a model name through model_slug, a literal in kaireon_traces.source_flow_key."""
    c = base_config()
    _calling_flow(c)[4]["config"]["flowKey"] = v
    c["decisionFlows"][0]["key"] = v

    def check(con, v):
        got = rows(con, "select offer_id from kaireon_decisions where decision_flow_key = 'f' order by offer_id")
        assert [r["offer_id"] for r in got] == ["o1", "o2"]
        traces = rows(con, "select offer_id, source_flow_key from kaireon_traces order by offer_id")
        assert traces == [{"offer_id": "o1", "source_flow_key": "f"}, {"offer_id": "o2", "source_flow_key": v}]
    return Place(c, [customer("c1")], v, check)


def trace_rule_name(v):
    """A rule name in the traces' checks JSON (escaped by the engine-neutral JSON text)."""
    c = _rule(base_config(), v, {"attribute": "customer.purchases", "operator": "gte", "value": 3})
    c["decisionFlows"][0]["draftConfig"]["nodes"].append(
        {"id": "out", "type": "response", "config": {"includeTrace": True}})

    def check(con, v):
        got = rows(con, "select customer_id, checks, fate, fate_rule from kaireon_traces order by customer_id")
        assert [(r["customer_id"], r["fate"], r["fate_rule"]) for r in got] == [("c1", "decided", None),
                                                                              ("c2", "rejected", v)]
        assert json.loads(got[1]["checks"])[-1] == {"stage": "qualification", "rule": v, "passed": False}
    return Place(c, [customer("c1"), customer("c2", purchases=1)], v, check)


PLACES: dict[str, Callable[[str], Place]] = {
    "offer_id": offer_id, "offer_name": offer_name, "category_name": category_name,
    "rule_eq": rule_eq, "rule_in": rule_in, "rule_contains": rule_contains, "rule_starts_with": rule_starts_with,
    "rule_regex": rule_regex, "rule_name": rule_name, "policy_name_time_window": policy_name_time_window,
    "policy_name_total_cap": policy_name_total_cap, "filter_value": filter_value, "property_value": property_value,
    "property_name": property_name, "computed_formula_literal": computed_formula_literal,
    "offer_custom_text": offer_custom_text, "segment_name": segment_name, "segment_value": segment_value,
    "segment_id": segment_id, "channel_undeclared": channel_undeclared, "channel_declared": channel_declared,
    "flow_key": flow_key, "experiment_salt": experiment_salt,
    "called_flow_key": called_flow_key, "trace_rule_name": trace_rule_name,
}


# ---- SQL checks ------------------------------------------------------------------------------------

def _unjinja(sql: str) -> str:
    sql = first_build(sql)
    sql = re.sub(r"\{\{ ref\('([A-Za-z0-9_]+)'\) \}\}", r'"\1"', sql)
    return re.sub(r"\{\{ source\('([A-Za-z0-9_]+)', '([A-Za-z0-9_]+)'\) \}\}", r'"\1"."\2"', sql)


def _chain(e: exp.Expression) -> list[str] | None:
    """The parts of a `'a' || 'b' || ...` chain of string literals (in order), else None. Iterative: chains are long."""
    parts, stack = [], [e]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Paren):
            stack.append(node.this)
        elif isinstance(node, exp.DPipe):
            stack.extend([node.expression, node.this])
        elif isinstance(node, exp.Literal) and node.is_string:
            parts.append(node.this)
        else:
            return None
    return parts


def string_literals(tree: exp.Expression) -> set[str]:
    """Every string literal of a tree, with Jinja-safe concatenations of literals joined back."""
    out = set()
    for node in tree.walk():
        if isinstance(node, exp.Literal) and node.is_string:
            out.add(node.this)
        elif isinstance(node, exp.DPipe) and not isinstance(node.parent, (exp.DPipe, exp.Paren)):
            parts = _chain(node)
            if parts is not None:
                out.add("".join(parts))
        elif isinstance(node, exp.Paren) and isinstance(node.this, exp.DPipe):
            parts = _chain(node)
            if parts is not None:
                out.add("".join(parts))
    return out


def check_sql(models, literal: str) -> None:
    found = False
    for m in models:
        if isinstance(m.sql, str):
            continue
        sql = render(m.sql, DUCKDB)
        statements = sqlglot.parse(_unjinja(sql), read="duckdb")
        assert len(statements) == 1, f"{m.name}: {len(statements)} statements"
        tree = statements[0]
        assert isinstance(tree, (exp.Select, exp.Union)), f"{m.name}: {type(tree).__name__}"
        assert not list(tree.find_all(exp.Drop, exp.Delete, exp.Insert, exp.Update, exp.Create, exp.Command))
        found = found or literal in string_literals(tree)
    assert found, f"{literal!r} is not an intact string literal of any model"


def check_files(models) -> None:
    for name, content in model_files(models, DUCKDB, "decisioning/").items():
        if not name.endswith(".sql"):
            continue
        rest = JINJA_ALLOWED.sub("", content)
        for delimiter in ("{{", "{%", "{#"):
            assert delimiter not in rest, f"{name} holds a Jinja delimiter {delimiter!r} outside ref()/source()"


@pytest.mark.parametrize("value_id", list(HOSTILE))
@pytest.mark.parametrize("place", list(PLACES))
def test_hostile_value_reaches_sql_only_as_a_literal(tmp_path, place, value_id):
    value = HOSTILE[value_id]
    p = PLACES[place](value)
    folder = write_config(tmp_path / "decisioning", copy.deepcopy(p.config))
    models = compile_project(load_project(folder))
    check_sql(models, p.literal)
    check_files(models)
    sql = {m.name: m.sql if isinstance(m.sql, str) else render(m.sql, DUCKDB) for m in models}
    tables = {"customers": customers_table(p.customers), "history": history_table(p.history), **p.tables}
    con = run_models(sql, tables, as_of=AS_OF)
    p.check(con, value)


def test_jinja_safe_parts():
    assert jinja_safe_parts("plain") == ["plain"]
    assert jinja_safe_parts("a{{b") == ["a{", "{b"]
    assert jinja_safe_parts("{{{%{#x") == ["{", "{", "{", "%{", "#x"]
    for value in HOSTILE.values():
        parts = jinja_safe_parts(value)
        assert "".join(parts) == value
        assert not any(d in part for part in parts for d in ("{{", "{%", "{#"))


def test_literal_with_jinja_is_split_on_every_engine():
    from kaireon_sql.dialect import ENGINES

    query = exp.select(exp.alias_(exp.Literal.string("{{ ref('x') }}{% if %}{# c #}"), "v"))
    for eng in ENGINES.values():
        sql = render(query, eng, pretty=False)
        assert "{{" not in sql and "{%" not in sql and "{#" not in sql, (eng.name, sql)
        tree = sqlglot.parse_one(sql, read=eng.sqlglot)
        assert tree.sql(eng.sqlglot) and tree.find(exp.Alias)
