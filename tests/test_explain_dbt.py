"""`kaireon explain CUSTOMER` (issue 16 item 4) on the demo built by dbt (both flows: winback, and cross_sell
with includeTrace and its sub-flow): each fate compared with the run's tables read directly from DuckDB."""
import hashlib
import json
import re

import duckdb
import pytest

from conftest import copy_demo, kaireon
from kaireon_sql import explain
from kaireon_sql.dialect import engine, render

pytestmark = pytest.mark.dbt
AS_OF = "2026-11-20T15:00:00Z"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    project = copy_demo(tmp_path_factory.mktemp("explain"), cross_sell=True)
    kaireon("run", "--as-of", AS_OF, "--quiet", cwd=project)
    return project


def _db(project, read_only=True):
    return duckdb.connect(str(project / "warehouse" / "kaireon_demo.duckdb"), read_only=read_only)


def _q(project, sql, *params):
    con = _db(project)
    try:
        cur = con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def _explain(project, capsys, *args) -> tuple[int, str, str]:
    """The installed command (a subprocess: dbt-duckdb keeps its connection to the file open in its process)."""
    proc = kaireon("explain", *args, cwd=project, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _json(project, capsys, *args) -> dict:
    code, out, err = _explain(project, capsys, *args, "--output", "json")
    assert code == 0, err
    return json.loads(out)


def decision_id(*parts: str) -> str:
    return hashlib.md5("".join(f"{len(v)}:{v}" for v in parts).encode()).hexdigest()


def _flow(data: dict, key: str) -> dict:
    return next(f for f in data["flows"] if f["flow"] == key)


def test_a_decided_customer_matches_the_tables(demo, capsys):
    data = _json(demo, capsys, "cust_lapsed_1", "--flow", "winback")
    assert data["customer_id"] == "cust_lapsed_1" and [f["flow"] for f in data["flows"]] == ["winback"]
    story = _flow(data, "winback")
    assignment = _q(demo, "select * from kaireon_assignments where decision_flow_key = 'winback' and customer_id = ?",
                    "cust_lapsed_1")[0]
    assert (story["experiment_group"], story["bucket"], story["run_id"]) == (
        assignment["experiment_group"], assignment["bucket"], assignment["run_id"])
    decided = _q(demo, "select * from kaireon_decisions where decision_flow_key = 'winback' and customer_id = ?",
                 "cust_lapsed_1")
    got = [c for c in story["candidates"] if c["fate"] == "decided"]
    assert [(c["offer_id"], c["channel"], c["rank"], c["decision_id"]) for c in got] == [
        (d["offer_id"], d["channel"], d["rank"], d["decision_id"]) for d in decided]
    assert got[0]["score"] == pytest.approx(decided[0]["score"], abs=1e-12)
    assert got[0]["decision_id"] == decision_id(assignment["run_id"], "winback", "cust_lapsed_1", "winback_apparel", "email")
    rejected = _q(demo, "select offer_id, channel, stage, rule_name, reason from kaireon_rejections "
                        "where decision_flow_key = 'winback' and customer_id = ? order by offer_id", "cust_lapsed_1")
    assert sorted((c["offer_id"], c["channel"], c["stage"], c["rule_name"], c["reason"])
                  for c in story["candidates"] if c["fate"] == "rejected") == [tuple(r.values()) for r in rejected]
    assert story["counts"] == {"decided": 1, "withheld": 0, "ranked_out": 0, "rejected": 2}
    assert any("no includeTrace" in n for n in story["notes"])


def test_text_output_every_flow(demo, capsys):
    code, out, _ = _explain(demo, capsys, "cust_lapsed_1")
    assert code == 0
    heads = [line for line in out.splitlines() if line.startswith("customer cust_lapsed_1, flow ")]
    assert [re.search(r"flow (\S+),", h).group(1) for h in heads] == ["winback", "loyalty_boost", "cross_sell"]
    assert "DECIDED: rank 1" in out
    assert ("REJECTED at qualification by 'electronics — matches prior category': Qualification rule "
            "'electronics — matches prior category' not met") in out


def _direct(project, customer: str) -> list[explain.FlowStory]:
    """The explain query itself run on the DuckDB file (refs as table names), assembled as the command does."""
    from kaireon_sql.config import load_project

    flows = explain.flow_settings(load_project(project / "decisioning"))
    sql = render(explain.explain_query(customer, [(s.key, s.slug) for s in flows], True), engine("duckdb"))
    sql = re.sub(r"\{\{ ref\('([A-Za-z0-9_]+)'\) \}\}", r'"\1"', sql)
    rows = [explain.unmarked({k: (None if v is None else str(v) if explain.FIELDS[k] == explain.TEXT else v)
                              for k, v in r.items()}) for r in _q(project, sql)]
    return explain.stories(rows, flows, customer, None)


def test_a_withheld_customer(demo):
    row = _q(demo, "select customer_id from kaireon_withheld_decisions where decision_flow_key = 'winback' "
                   "order by customer_id limit 1")[0]
    story = next(s for s in _direct(demo, row["customer_id"]) if s.flow == "winback")
    withheld = _q(demo, "select offer_id, channel, rank from kaireon_withheld_decisions where decision_flow_key = 'winback' "
                        "and customer_id = ?", row["customer_id"])
    assert story.experiment_group == "holdout"
    assert [(c.offer_id, c.channel, c.rank) for c in story.candidates if c.fate == "withheld"] == [
        tuple(w.values()) for w in withheld]
    assert not any(c.fate == "decided" for c in story.candidates)
    assert any("holdout" in n for n in story.notes)


def test_a_customer_with_only_rejections(demo):
    row = _q(demo, """select customer_id from kaireon_rejections r where decision_flow_key = 'winback'
                      and not exists (select 1 from kaireon_decision_log l where l.customer_id = r.customer_id
                                      and l.decision_flow_key = 'winback')
                      and not exists (select 1 from kaireon_winback__candidates k where k.customer_id = r.customer_id)
                      order by customer_id limit 1""")[0]
    story = next(s for s in _direct(demo, row["customer_id"]) if s.flow == "winback")
    rejections = _q(demo, "select offer_id, channel, stage, rule_name, reason from kaireon_rejections "
                          "where decision_flow_key = 'winback' and customer_id = ?", row["customer_id"])
    assert {c.fate for c in story.candidates} == {"rejected"}
    assert sorted((c.offer_id, c.channel, c.stage, c.rule_name, c.reason) for c in story.candidates) == sorted(
        tuple(r.values()) for r in rejections)


def test_a_traced_customer_shows_every_check(demo, capsys):
    customer = _q(demo, "select min(customer_id) as c from kaireon_traces where fate = 'decided'")[0]["c"]
    story = _flow(_json(demo, capsys, customer, "--flow", "cross_sell"), "cross_sell")
    traces = _q(demo, "select * from kaireon_traces where customer_id = ?", customer)
    assert story["traced"] is True and len(story["candidates"]) == len(traces)
    by_key = {(t["offer_id"], t["channel"]): t for t in traces}
    for c in story["candidates"]:
        t = by_key[(c["offer_id"], c["channel"])]
        assert c["fate"] == t["fate"] and c["checks"] == json.loads(t["checks"])
        assert c["score"] == pytest.approx(t["score"], abs=1e-12)
        assert (c["stage"], c["rule_name"], c["reason"]) == (t["fate_stage"], t["fate_rule"], t["fate_reason"])
    decided = _q(demo, "select offer_id, channel, rank, placement_id, slot, creative_id from kaireon_decisions "
                       "where decision_flow_key = 'cross_sell' and customer_id = ?", customer)
    assert sorted((c["offer_id"], c["channel"], c["rank"], c["placement_id"], c["slot"], c["creative_id"])
                  for c in story["candidates"] if c["fate"] == "decided") == sorted(tuple(d.values()) for d in decided)
    assert not any("trace" in n for n in story["notes"])


def test_unknown_customer_flow_and_run(demo, capsys):
    code, out, err = _explain(demo, capsys, "no_such_customer")
    assert code == 1 and "unknown customer 'no_such_customer'" in err and out == ""
    code, _, err = _explain(demo, capsys, "cust_lapsed_1", "--flow", "nope")
    assert code == 1 and "no flow with key 'nope'" in err
    code, _, err = _explain(demo, capsys, "cust_lapsed_1", "--flow", "winback", "--run", "winback@1999")
    assert code == 1 and "no run 'winback@1999' of flow winback" in err and "winback@2026-11-20T15:00:00Z" in err


def test_hostile_customer_ids(demo, capsys):
    """Quotes, SQL and Jinja in the id are data: the demo's cust_quote_'1 is found, the others are unknown."""
    data = _json(demo, capsys, "cust_quote_'1", "--flow", "winback")
    assert _flow(data, "winback")["experiment_group"] in ("treatment", "holdout")
    for hostile in ("x' or '1'='1", "{{ exceptions.raise_compiler_error('pwned') }}", "a\\'; drop table kaireon_funnel; --"):
        code, _, err = _explain(demo, capsys, hostile, "--flow", "winback")
        assert code == 1 and "unknown customer" in err, err  # the query ran: the id was a literal, not SQL or Jinja
    assert _q(demo, "select count(*) as n from kaireon_funnel")[0]["n"] == 3


def test_an_earlier_run_from_the_decision_log(demo, capsys):
    con = _db(demo, read_only=False)
    try:  # an earlier run of winback, as a build a day before would have logged it
        con.execute("insert into kaireon_decision_log select * replace ('winback@2026-11-19T15:00:00Z' as run_id, "
                    "as_of - interval 1 day as as_of) from kaireon_decision_log where decision_flow_key = 'winback'")
    finally:
        con.close()
    story = _flow(_json(demo, capsys, "cust_lapsed_1", "--flow", "winback", "--run", "winback@2026-11-19T15:00:00Z"),
                  "winback")
    assert story["latest"] is False and story["run_id"] == "winback@2026-11-19T15:00:00Z"
    assert [(c["offer_id"], c["fate"]) for c in story["candidates"]] == [("winback_apparel", "decided")]
    assert any("not the latest build" in n for n in story["notes"])


def test_a_contract_mismatch_fails_the_build(demo):
    """The S4 views' contracts are enforced, not decoration: a declared type that differs from the view's
    column stops dbt before the view is replaced (last in this module: it edits and restores the yml)."""
    import subprocess
    import sys
    from pathlib import Path

    properties = demo / "models" / "kaireon" / "_kaireon_models.yml"
    original = properties.read_text(encoding="utf-8")
    start = original.index("- name: kaireon_funnel\n")
    at = original.index("  - name: customers\n", start)
    end = original.index("data_type: BIGINT", at)
    properties.write_text(original[:end] + "data_type: BOOLEAN" + original[end + len("data_type: BIGINT"):],
                          encoding="utf-8")
    try:
        dbt = str(Path(sys.executable).with_name("dbt"))
        proc = subprocess.run([dbt, "run", "-s", "kaireon_funnel", "--project-dir", str(demo), "--profiles-dir",
                               str(demo)], cwd=demo, capture_output=True, text=True,
                              env={**__import__("os").environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    finally:
        properties.write_text(original, encoding="utf-8")
    assert proc.returncode != 0 and "enforced contract" in proc.stdout, proc.stdout[-2000:]
    assert "customers" in proc.stdout
