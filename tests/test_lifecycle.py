"""Orders and lifecycle stage (S3, S9): RFM per customer, the stage, customer.lifecycleStage in rules,
segments and formulas, the stage log and transitions, and the validate-time refusals.

Expected values come from an independent Python computation over the same rows (`reference`), never
from compiled output. One build per engine (DuckDB, PostgreSQL, Spark; module-scoped); the two-run
transition summary runs the incremental log on DuckDB.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest

from backends import ENGINE_NAMES, open_backend, run_models_on
from cross_engine import table_rows
from harness import (
    Table, compile_sql, customers_table, first_build, flow, history_table, incremental_build, rows, run_models, schema,
    standard_nodes, write_config,
)
from kaireon_sql.config import load_project
from kaireon_sql.compiler import compile_project
from kaireon_sql.dialect import engine
from kaireon_sql.errors import ConfigError, ConfigErrors

AS_OF = datetime(2026, 11, 20, 15, 0, 0)
DAYS = {"new": 30, "active": 60, "lapsed": 180}
ORDER_COLUMNS = {"customer_id": "VARCHAR", "order_id": "VARCHAR", "ordered_at": "TIMESTAMP", "amount": "DOUBLE",
                 "category": "VARCHAR"}
STAGES = ("new", "won_back", "active", "at_risk", "lapsed")


def ago(days: int, hour: int = 10) -> datetime:
    """A time `days` UTC calendar days before as_of's date, at `hour`."""
    return datetime.combine(AS_OF.date() - timedelta(days=days), datetime.min.time()) + timedelta(hours=hour)


def boundary_orders() -> tuple[list[str], list[tuple]]:
    """Customers at each S9 boundary and one day past it, and their orders."""
    d = DAYS
    orders = {
        "new_at": [ago(d["new"], 23)],  # first order exactly newDays ago (late in the day): new
        "new_past": [ago(d["new"] + 1, 0)],  # one day more: active
        "active_at": [ago(200), ago(d["active"])],  # last exactly activeDays ago: active
        "active_past": [ago(200), ago(d["active"] + 1)],  # at_risk
        "risk_at": [ago(400), ago(d["lapsed"])],  # at_risk
        "risk_past": [ago(400), ago(d["lapsed"] + 1)],  # lapsed
        "wb_gap_at": [ago(10 + d["lapsed"]), ago(10)],  # gap exactly lapsedDays: not won back (active)
        "wb_gap_past": [ago(11 + d["lapsed"]), ago(10)],  # gap one day longer: won_back
        "wb_active_at": [ago(d["active"] + 1 + 200), ago(d["active"])],  # long gap, last activeDays ago: won_back
        "wb_late": [ago(d["active"] + 1 + 200), ago(d["active"] + 1)],  # long gap, last too old: at_risk
        "future_only": [AS_OF + timedelta(seconds=1)],  # after as_of: ignored (lapsed)
        "future_too": [ago(40), AS_OF + timedelta(days=3)],  # the later order is ignored: active
        "at_as_of": [AS_OF],  # exactly as_of counts: new
    }
    out = []
    for cid, times in orders.items():
        for i, at in enumerate(times):
            out.append((cid, f"{cid}-{i}", at, 10.0 + i, "apparel"))
    out.append(("risk_at", "risk_at-1", ago(d["lapsed"], 20), 2.5, "home"))  # a second line of the same order
    return [*orders, "no_orders"], out


def random_orders(seed: int = 5, customers: int = 40) -> tuple[list[str], list[tuple]]:
    rnd = random.Random(seed)
    ids, out = [f"r{i}" for i in range(customers)], []
    for cid in ids:
        for j in range(rnd.choice([0, 1, 1, 2, 3, 5])):
            at = AS_OF - timedelta(seconds=rnd.randint(-5 * 86400, 500 * 86400))
            out.append((cid, f"{cid}-{j}", at, round(rnd.uniform(1, 300), 2), rnd.choice(["apparel", "home"])))
    return ids, out


def reference(order_rows: list[tuple], customers: list[str], as_of: datetime = AS_OF, days: dict = DAYS) -> dict:
    """S9 in Python: RFM and stage per customer, from the orders at or before as_of."""
    per_order: dict[tuple, list] = {}
    for cid, oid, at, amount, _ in order_rows:
        if at <= as_of:
            o = per_order.setdefault((cid, oid), [at, 0.0])
            o[0], o[1] = min(o[0], at), o[1] + amount
    out = {}
    for cid in customers:
        mine = sorted(((at, oid, amount) for (c, oid), (at, amount) in per_order.items() if c == cid), reverse=True)
        if not mine:
            out[cid] = {"lifecycle_stage": "lapsed", "frequency": 0, "monetary": 0.0, "recency_days": None,
                        "gap_days": None, "days_since_first_order": None}
            continue
        recency = (as_of.date() - mine[0][0].date()).days
        first = (as_of.date() - mine[-1][0].date()).days
        gap = (mine[0][0].date() - mine[1][0].date()).days if len(mine) > 1 else None
        if first <= days["new"]:
            stage = "new"
        elif recency <= days["active"] and gap is not None and gap > days["lapsed"]:
            stage = "won_back"
        elif recency <= days["active"]:
            stage = "active"
        elif recency <= days["lapsed"]:
            stage = "at_risk"
        else:
            stage = "lapsed"
        out[cid] = {"lifecycle_stage": stage, "frequency": len(mine), "monetary": sum(m[2] for m in mine),
                    "recency_days": recency, "gap_days": gap, "days_since_first_order": first}
    return out


def test_the_boundary_customers_are_what_s9_says():
    """The scenario's own check: each boundary customer is the stage its comment says."""
    ids, order_rows = boundary_orders()
    want = {"new_at": "new", "new_past": "active", "active_at": "active", "active_past": "at_risk",
            "risk_at": "at_risk", "risk_past": "lapsed", "wb_gap_at": "active", "wb_gap_past": "won_back",
            "wb_active_at": "won_back", "wb_late": "at_risk", "future_only": "lapsed", "future_too": "active", "at_as_of": "new",
            "no_orders": "lapsed"}
    assert {c: r["lifecycle_stage"] for c, r in reference(order_rows, ids).items()} == want


def customer_row(cid: str) -> tuple:
    return (cid, 100, 5, 80.0, "apparel", "UTC", True, True)


def lifecycle_config(rule_values=("at_risk", "lapsed"), **extra) -> dict:
    config = {
        "schemas": [schema()], "interactionHistory": {"relation": "history"}, "orders": {"relation": "orders"},
        "categories": [{"id": "wb", "name": "Winback", "customFields": [
            {"name": "stageNote", "type": "computed", "formula": "concat('stage=', customer.lifecycleStage)",
             "outputType": "text"}]}],
        "segments": [{"id": "won", "name": "won", "formula": "customer.lifecycleStage == 'won_back'"}],
        "offers": [{"id": "winback", "name": "Winback", "priority": 60, "categoryId": "wb"},
                   {"id": "welcome_back", "name": "Welcome back", "priority": 50, "categoryId": "wb"},
                   {"id": "everyone", "name": "Everyone", "priority": 40, "categoryId": "wb"}],
        "qualificationRules": [
            {"name": "winback: at risk or lapsed", "ruleType": "attribute_condition", "scope": "offer",
             "scopeId": "winback",
             "config": {"attribute": "customer.lifecycleStage", "operator": "in", "value": list(rule_values)}},
            {"name": "welcome back: won back", "ruleType": "segment_required", "scope": "offer",
             "scopeId": "welcome_back", "config": {"segmentId": "won"}}],
        "decisionFlows": [flow(standard_nodes(top_n=5, score={"method": "priority"}), key="lc")],
    }
    config.update(extra)
    return config


CUSTOMER_IDS = boundary_orders()[0] + random_orders()[0]
ORDERS = boundary_orders()[1] + random_orders()[1]
TABLES = ("kaireon_customer_rfm", "kaireon_lifecycle", "kaireon_decisions", "kaireon_lifecycle_transitions")


def tables() -> dict[str, Table]:
    return {"customers": customers_table([customer_row(c) for c in CUSTOMER_IDS]), "history": history_table([]),
            "orders": Table(ORDER_COLUMNS, ORDERS)}


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("lifecycle") / "decisioning", lifecycle_config())


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def built(request, config_dir):
    """{table: rows} of one build on the engine."""
    backend = open_backend(request.param)
    try:
        run_models_on(backend, compile_sql(config_dir, engine(request.param)), tables())
        yield request.param, {t: table_rows(backend, t) for t in TABLES}
    finally:
        backend.close()


def _close(a, b) -> bool:
    return a == b if a is None or b is None else abs(float(a) - float(b)) < 1e-9


def test_rfm_and_stage_equal_python(built):
    name, got = built
    want = reference(ORDERS, CUSTOMER_IDS)
    lifecycle = {r["customer_id"]: r for r in got["kaireon_lifecycle"]}
    assert set(lifecycle) == set(CUSTOMER_IDS), name
    for cid, w in want.items():
        for column, value in w.items():
            assert _close(lifecycle[cid][column], value) if column in ("monetary",) else \
                lifecycle[cid][column] == value, (name, cid, column, lifecycle[cid][column], value)
    rfm = {r["customer_id"]: r for r in got["kaireon_customer_rfm"]}
    assert set(rfm) == {c for c, w in want.items() if w["frequency"] > 0}, name  # customers with an order
    for cid, r in rfm.items():
        assert (r["recency_days"], r["frequency"]) == (want[cid]["recency_days"], want[cid]["frequency"]), (name, cid)


def test_lifecycle_stage_in_rules_segments_and_formulas(built):
    """winback only for at_risk/lapsed customers (attribute rule), welcome_back only for won_back ones (a
    segment formula), everyone gets `everyone`; the computed field reads the stage."""
    name, got = built
    stage = {c: w["lifecycle_stage"] for c, w in reference(ORDERS, CUSTOMER_IDS).items()}
    offers: dict[str, set] = {}
    for r in got["kaireon_decisions"]:
        offers.setdefault(r["offer_id"], set()).add(r["customer_id"])
        assert json.loads(r["personalization"])["stageNote"] == f"stage={stage[r['customer_id']]}", name
    assert offers["winback"] == {c for c, s in stage.items() if s in ("at_risk", "lapsed")}, name
    assert offers["welcome_back"] == {c for c, s in stage.items() if s == "won_back"}, name
    assert offers["everyone"] == set(CUSTOMER_IDS), name
    assert {"at_risk", "lapsed", "won_back", "new", "active"} <= set(stage.values())  # every stage occurs


def test_first_run_transitions_are_from_nothing(built):
    name, got = built
    counts: dict[str, int] = {}
    for w in reference(ORDERS, CUSTOMER_IDS).values():
        counts[w["lifecycle_stage"]] = counts.get(w["lifecycle_stage"], 0) + 1
    assert {(r["from_stage"], r["to_stage"]): int(r["customers"]) for r in got["kaireon_lifecycle_transitions"]} \
        == {(None, s): n for s, n in counts.items()}, name
    assert all(r["previous_as_of"] is None for r in got["kaireon_lifecycle_transitions"]), name


def test_a_rule_on_the_stage_changes_who_is_eligible(tmp_path):
    """The same customers with the winback rule naming `new` instead: winback goes to the new customers."""
    models = compile_sql(write_config(tmp_path / "decisioning", lifecycle_config(rule_values=("new",))))
    con = run_models(dict(models), tables())  # DuckDB only (a plain dict): the engines are compared by `built`
    stage = {c: w["lifecycle_stage"] for c, w in reference(ORDERS, CUSTOMER_IDS).items()}
    got = {r["customer_id"] for r in rows(con, "select customer_id from kaireon_decisions where offer_id = 'winback'")}
    assert got == {c for c, s in stage.items() if s == "new"} and got


# ---- the log and the transitions over two runs (the log is incremental) ----------------------------------

def _run(con, models: dict[str, str], as_of: datetime, first: bool) -> None:
    """One build at `as_of` on `con`: every model rebuilt, the log appended as dbt's incremental run does."""
    con.execute("DROP TABLE IF EXISTS kaireon_run_params")
    con.execute("CREATE TABLE kaireon_run_params AS SELECT CAST(? AS TIMESTAMP) AS as_of, CAST(? AS VARCHAR) AS "
                "as_of_text, CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS VARCHAR) AS channel",
                [as_of, as_of.isoformat() + "Z"])
    for name in ("kaireon_orders", "kaireon_customer_rfm", "kaireon_lifecycle", "kaireon_lifecycle_log",
                 "kaireon_lifecycle_transitions"):
        sql = models[name].replace("{{ ref('", '"').replace("') }}", '"')
        sql = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
        if name == "kaireon_lifecycle_log" and not first:
            con.execute(f'INSERT INTO "{name}" {incremental_build(sql, name)}')
            continue
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
        con.execute(f'CREATE TABLE "{name}" AS {first_build(sql)}')


def test_transitions_over_two_runs_and_a_repeated_run(tmp_path):
    import duckdb

    models = compile_sql(write_config(tmp_path / "decisioning", lifecycle_config()))
    con = duckdb.connect()
    for name, table in tables().items():
        cols = ", ".join(f'"{c}" {t}' for c, t in table.columns.items())
        con.execute(f'CREATE TABLE "{name}" ({cols})')
        if table.rows:
            con.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" for _ in table.columns)})', table.rows)
    second = AS_OF + timedelta(days=45)
    _run(con, models, AS_OF, first=True)
    _run(con, models, second, first=False)
    before = reference(ORDERS, CUSTOMER_IDS)
    after = reference(ORDERS, CUSTOMER_IDS, as_of=second)
    want: dict[tuple, int] = {}
    for cid in CUSTOMER_IDS:
        key = (before[cid]["lifecycle_stage"], after[cid]["lifecycle_stage"])
        want[key] = want.get(key, 0) + 1
    got = rows(con, "select * from kaireon_lifecycle_transitions")
    assert {(r["from_stage"], r["to_stage"]): r["customers"] for r in got} == want
    assert {r["previous_as_of"] for r in got} == {AS_OF} and any(f != t for f, t in want)
    logged = rows(con, "select as_of, count(*) as n from kaireon_lifecycle_log group by as_of order by as_of")
    assert [(r["as_of"], r["n"]) for r in logged] == [(AS_OF, len(CUSTOMER_IDS)), (second, len(CUSTOMER_IDS))]
    _run(con, models, second, first=False)  # the same as_of again: the log adds nothing, the summary is the same
    assert rows(con, "select count(*) as n from kaireon_lifecycle_log")[0]["n"] == 2 * len(CUSTOMER_IDS)
    assert {(r["from_stage"], r["to_stage"]): r["customers"]
            for r in rows(con, "select * from kaireon_lifecycle_transitions")} == want


# ---- what is built, and what is refused -------------------------------------------------------------------

def _compile(tmp_path, config: dict):
    return compile_project(load_project(write_config(tmp_path / "decisioning", config)))


def _errors(tmp_path, config: dict) -> list[str]:
    try:
        _compile(tmp_path, config)
    except (ConfigErrors, ConfigError) as exc:
        return [str(e) for e in getattr(exc, "errors", [exc])]
    return []


def test_no_orders_builds_no_lifecycle_models(tmp_path):
    config = lifecycle_config()
    for key in ("orders", "categories", "segments", "qualificationRules"):
        config.pop(key)
    config["offers"] = [{"id": "a", "name": "A"}]
    names = [m.name for m in _compile(tmp_path, config)]
    assert not [n for n in names if "lifecycle" in n or n in ("kaireon_orders", "kaireon_customer_rfm")]
    names = [m.name for m in _compile(tmp_path / "with", {**config, "orders": {}})]  # orders: the default relation
    assert {"kaireon_orders", "kaireon_customer_rfm", "kaireon_lifecycle", "kaireon_lifecycle_log",
            "kaireon_lifecycle_transitions"} <= set(names)
    stg = next(m for m in _compile(tmp_path / "with2", {**config, "orders": {}}) if m.name == "kaireon_orders")
    assert "ref('orders')" in __import__("kaireon_sql.dialect", fromlist=["render"]).render(stg.sql, engine("duckdb"))


def _rule(value, operator="eq"):
    return {"name": "stage rule", "ruleType": "attribute_condition", "scope": "global",
            "config": {"attribute": "customer.lifecycleStage", "operator": operator, "value": value}}


@pytest.mark.parametrize("change, where, expected", [
    ({"qualificationRules": [_rule("churned")]}, "qualificationRules[0] 'stage rule': field 'config.value'",
     "unknown lifecycle stage 'churned'; expected one of: new, won_back, active, at_risk, lapsed"),
    ({"qualificationRules": [_rule(["lapsed", "churned"], "in")]}, "field 'config.value'",
     "unknown lifecycle stage 'churned'"),
    ({"qualificationRules": [_rule("lapsed", "gt")]}, "field 'config.value'", "operator 'gt' does not apply"),
    ({"segments": [{"id": "won", "name": "gone", "formula": "customer.lifecycleStage == 'churned'"}]},
     "segments[0] 'gone': field 'formula'",
     "'customer.lifecycleStage' is never 'churned' at column 28; expected one of: new, won_back"),
    ({"categories": [{"id": "wb", "name": "Winback", "customFields": [
        {"name": "x", "type": "computed", "formula": "if('Churned' != customer.lifecycleStage, 1, 0)",
         "outputType": "number"}]}]}, "categories[0] 'Winback': field 'customFields[0].formula'", "is never 'Churned' at column 4"),
    ({"lifecycle": {"newDays": 0}}, "lifecycle: field 'newDays'", "expected a number > 0, got 0"),
    ({"lifecycle": {"activeDays": 1.5}}, "lifecycle: field 'activeDays'", "expected a whole number"),
    ({"lifecycle": {"lapsedDays": "180"}}, "lifecycle: field 'lapsedDays'", "expected a whole number"),
    ({"lifecycle": {"activeDays": 200}}, "lifecycle: field 'activeDays'", "at most lapsedDays (180"),
    ({"lifecycle": {"newDays": 90, "lapsedDays": 60, "activeDays": 30}}, "lifecycle: field 'newDays'",
     "at most lapsedDays (60"),
])
def test_bad_lifecycle_config_is_refused(tmp_path, change, where, expected):
    config = lifecycle_config()
    config.update(change)
    errors = _errors(tmp_path, config)
    assert any(where in e and expected in e for e in errors), errors
    assert all("config.yml" in e for e in errors), errors


@pytest.mark.parametrize("change, where", [
    ({"qualificationRules": [_rule("lapsed")]}, "qualificationRules[0] 'stage rule': field 'config.attribute'"),
    ({"segments": [{"name": "gone", "formula": "customer.lifecycleStage == 'lapsed'"}]},
     "segments[0] 'gone': field 'formula'"),
    ({"lifecycle": {"newDays": 10}}, "config.yml: lifecycle: "),
])
def test_lifecycle_without_orders_is_refused(tmp_path, change, where):
    config = lifecycle_config()
    for key in ("orders", "categories", "segments", "qualificationRules"):
        config.pop(key)
    config["offers"] = [{"id": "a", "name": "A"}]
    config.update(change)
    errors = _errors(tmp_path, config)
    assert any(where in e and "no orders relation is configured" in e and "orders: {relation:" in e
               for e in errors), errors


def test_filter_on_the_stage_is_checked_and_compiles(tmp_path):
    node = {"id": "flt", "type": "filter", "config": {"mode": "all", "conditions": [
        {"field": "customer.lifecycleStage", "operator": "neq", "value": "gone"}]}}
    config = lifecycle_config(decisionFlows=[flow(standard_nodes(score={"method": "priority"}, extra=[node]), key="lc")])
    errors = _errors(tmp_path, config)
    assert any("config.conditions[0].value" in e and "unknown lifecycle stage 'gone'" in e for e in errors), errors
    node["config"]["conditions"][0]["value"] = "lapsed"
    con = run_models(dict(compile_sql(write_config(tmp_path / "ok" / "decisioning", config))), tables())  # DuckDB only
    stage = {c: w["lifecycle_stage"] for c, w in reference(ORDERS, CUSTOMER_IDS).items()}
    got = {r["customer_id"] for r in rows(con, "select customer_id from kaireon_decisions")}
    assert got == {c for c, s in stage.items() if s != "lapsed"}


def test_orders_declared_twice_is_refused(tmp_path):
    folder = write_config(tmp_path / "decisioning", lifecycle_config())
    (folder / "more.yml").write_text("orders: {relation: other_orders}\n", encoding="utf-8")
    with pytest.raises(ConfigErrors, match="'orders' is declared in more than one file"):
        load_project(folder)


# ---- docs/lifecycle.md's worked example --------------------------------------------------------------------

EXAMPLE_ORDERS = [
    ("ana", "o1", datetime(2026, 11, 2, 9), 40.0, "apparel"), ("ben", "o2", datetime(2025, 12, 1, 12), 80.0, "home"),
    ("ben", "o3", datetime(2026, 10, 1, 18), 55.0, "home"), ("cai", "o4", datetime(2026, 6, 1, 10), 30.0, "apparel"),
    ("cai", "o5", datetime(2026, 9, 15, 10), 25.0, "apparel"),
    ("dee", "o6", datetime(2026, 8, 1, 8), 60.0, "electronics"),
    ("dee", "o7", datetime(2026, 10, 25, 20), 45.0, "electronics"), ("eve", "o8", datetime(2026, 3, 1, 11), 120.0, "home"),
    ("gus", "o9", datetime(2026, 11, 21, 9), 35.0, "apparel")]
EXAMPLE_IDS = ["ana", "ben", "cai", "dee", "eve", "fay", "gus"]


def test_the_worked_example_prints_what_the_docs_say(tmp_path):
    import duckdb

    from kaireon_sql.dialect import render
    from kaireon_sql.run_summary import _transitions_part, stage_summary

    models = compile_sql(write_config(tmp_path / "decisioning", lifecycle_config()))
    con = duckdb.connect()
    con.execute('CREATE TABLE customers ("customer_id" VARCHAR)')
    con.executemany("INSERT INTO customers VALUES (?)", [(c,) for c in EXAMPLE_IDS])
    con.execute(f'CREATE TABLE orders ({", ".join(f"{c} {t}" for c, t in ORDER_COLUMNS.items())})')
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", EXAMPLE_ORDERS)
    first = reference(EXAMPLE_ORDERS, EXAMPLE_IDS)
    _run(con, models, AS_OF, first=True)
    assert {r["customer_id"]: r["lifecycle_stage"] for r in rows(con, "select * from kaireon_lifecycle")} == \
        {c: w["lifecycle_stage"] for c, w in first.items()}
    _run(con, models, datetime(2026, 12, 20, 15), first=False)
    part = render(_transitions_part(), engine("duckdb")).replace("{{ ref('", '"').replace("') }}", '"')
    summary = stage_summary(rows(con, part))
    doc = (__import__("pathlib").Path(__file__).parent.parent / "docs" / "lifecycle.md").read_text(encoding="utf-8")
    block = doc[doc.index("```\nlifecycle: ") + 4:]
    assert summary.lines() == block[:block.index("```")].rstrip("\n").split("\n")


def test_thresholds_change_the_flows_config_hash(tmp_path):
    from kaireon_sql.plan.context import FlowContext

    def flow_hash(folder, **extra):
        project = load_project(write_config(tmp_path / folder / "decisioning", lifecycle_config(**extra)))
        return FlowContext(project, project.flows[0]).config_hash

    base = flow_hash("a")
    assert flow_hash("b", lifecycle={"activeDays": 90}) != base
    assert flow_hash("c", lifecycle={"description": "documentation only"}) == base
    assert flow_hash("d", orders={"relation": "other_orders"}) != base


def test_a_declared_lifecycle_stage_field_is_that_field(tmp_path):
    """A schema field named lifecycleStage is read as any field: no orders needed, any value allowed."""
    config = lifecycle_config()
    for key in ("orders", "categories", "segments"):
        config.pop(key)
    config["schemas"][0]["fields"].append({"name": "lifecycleStage", "dataType": "varchar"})
    config["offers"] = [{"id": "winback", "name": "Winback"}]
    config["qualificationRules"] = [_rule("churned")]
    assert _errors(tmp_path, config) == []
    assert "lifecycle" not in " ".join(m.name for m in _compile(tmp_path / "b", config))
