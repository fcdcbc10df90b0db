"""`attributes.<name>` in formulas (S5, S7): run attributes from the dbt var `attributes`.

Values reach SQL only as the hex of their UTF-8 text (macros/run_attributes.sql writes the
kaireon_run_attributes rows; the formula decodes them, dialect hex_text), so quotes, SQL and Jinja in a
value are data. An attribute is text; a name the run does not pass reads NULL.

- one harness build (per engine: KAIREON_CROSS_ENGINE compares every S4 table with DuckDB's) of a
  flow whose filter, score, extras and properties read hostile attributes;
- `kaireon run --attributes` through real dbt on DuckDB (the macro, the runner's encoding), and
  `dbt run` with plain values in the var (the macro's own encoding);
- the runner's and the formula checker's refusals.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import KAIREON, REPO
from harness import flow, rows, scenario, standard_nodes, write_config
from kaireon_sql import runner
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.errors import ConfigError, ConfigErrors, KaireonError

HOSTILE = {
    "quote": "it's \"quoted\" ''",
    "sql": "x'); DROP TABLE customers; --",
    "jinja": "{{ 7 * 7 }} {% do run_query('select 1') %} {# c #}",
    "backslash": "a\\'b\\",
    "unicode": "é 中文 \U0001F600\ttab\nline",
    "empty": "",
    "focus": "apparel",
    "boost_offer": "o2",
}
OFFERS = [{"id": "o1", "name": "One", "priority": 50}, {"id": "o2", "name": "Two", "priority": 40},
          {"id": "o3", "name": "Three", "priority": 30}]
EXTRAS = [{"name": k, "formula": f"attributes.{k}", "outputType": "text"} for k in HOSTILE if k != "boost_offer"]
EXTRAS += [{"name": "missing", "formula": "attributes.nope", "outputType": "text"},
           {"name": "joined", "formula": "concat(attributes.quote, '|', attributes.nope, '|', attributes.sql)",
            "outputType": "text"},
           {"name": "is_missing", "formula": "attributes.nope == 'x' ? 'yes' : 'no'", "outputType": "text"}]
NODES = standard_nodes(top_n=2, score={"method": "expression",
                                       "expression": "offer.priority + (attributes.boost_offer == offer.id ? 100 : 0)"},
                       extra=[{"id": "f", "type": "filter", "config": {"conditions": [
                           {"field": "customer.category", "operator": "eq", "valueFormula": "attributes.focus"}]}}])
NODES[-1]["config"] = {"extras": EXTRAS}
NODES.append({"id": "props", "type": "set_properties", "config": {"properties": [
    {"name": "shout", "formula": "attributes.jinja + '!'"}]}})
CONFIG = {"channels": [{"id": "email", "name": "email", "consentField": "consentEmail"}], "offers": OFFERS,
          "decisionFlows": [flow(NODES, key="attrs")]}
CUSTOMERS = [("a1", 10, 1, 5.0, "apparel", "UTC", True, True), ("a2", 10, 1, 5.0, "home", "UTC", True, True),
             ("a3", 10, 1, 5.0, None, "UTC", True, True), ("a4", 10, 1, 5.0, "apparel", "UTC", True, True)]


def expected_personalization() -> dict:
    out = {k: v for k, v in HOSTILE.items() if k != "boost_offer"}
    out.update(missing=None, joined=f"{HOSTILE['quote']}||{HOSTILE['sql']}", is_missing="no",
               shout=HOSTILE["jinja"] + "!")
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    con = scenario(tmp_path_factory.mktemp("attributes"), CONFIG, CUSTOMERS, attributes=HOSTILE)
    yield con
    con.close()


def test_hostile_attributes_are_data_on_every_engine(built):
    got = rows(built, "SELECT customer_id, offer_id, rank, personalization FROM kaireon_decisions")
    # the filter keeps customers whose category equals attributes.focus; the score boosts attributes.boost_offer
    assert sorted((r["customer_id"], r["offer_id"], r["rank"]) for r in got) == [
        ("a1", "o1", 2), ("a1", "o2", 1), ("a4", "o1", 2), ("a4", "o2", 1)]
    for r in got:
        assert json.loads(r["personalization"]) == expected_personalization()
    assert rows(built, "SELECT COUNT(*) AS n FROM customers")[0]["n"] == len(CUSTOMERS)
    rejected = {r["customer_id"] for r in rows(built, "SELECT customer_id FROM kaireon_rejections WHERE stage = 'filter'")}
    assert rejected == {"a2", "a3"}  # a NULL category fails the comparison (S5)


def _errors(tmp_path, formula: str) -> list[str]:
    nodes = standard_nodes()
    nodes[-1]["config"] = {"extras": [{"name": "x", "formula": formula}]}
    folder = write_config(tmp_path / "d", {"schemas": [__import__("harness").schema()], **CONFIG,
                                           "decisionFlows": [flow(nodes, key="bad")]})
    try:
        compile_project(load_project(folder, display_root=folder))
    except ConfigErrors as exc:
        return [str(e) for e in exc.errors]
    except ConfigError as exc:
        return [str(exc)]
    return []


@pytest.mark.parametrize("formula, message", [
    ("attributes.a.b", "unknown identifier 'attributes.a.b'"),
    ("attributes.tier * 2", "expects two numbers, got text"),
    ("attributes." + "x" * 64, "unknown identifier"),
])
def test_formula_errors(tmp_path, formula, message):
    errors = _errors(tmp_path, formula)
    assert any("field 'draftConfig.nodes[6].config.extras[0].formula'" in e and message in e for e in errors), errors


# ---- the runner ----------------------------------------------------------------------------------

def test_run_vars_pass_every_attribute_as_hex():
    variables = json.loads(runner.run_vars(None, None, None, attributes=json.dumps(
        {"a": "{{ 7*7 }}'", "n": 2.5, "i": 3, "t": True, "z": None})))
    assert variables["attributes"] == {"a": {"hex": "{{ 7*7 }}'".encode().hex()}, "n": {"hex": "2.5".encode().hex()},
                                       "i": {"hex": b"3".hex()}, "t": {"hex": b"true".hex()}, "z": None}
    assert set(variables) == {"attributes", "kaireon_as_of", "kaireon_run_id", "kaireon_channel"}
    assert all(v is None or set(v["hex"]) <= set("0123456789abcdef") for v in variables["attributes"].values())


@pytest.mark.parametrize("text, message", [
    ("[1]", "expected a JSON object"), ("{", "expected a JSON object"), ('{"1a": "x"}', "attribute name"),
    ('{"a-b": "x"}', "attribute name"), ('{"a": [1]}', "expected text, a number"), ('{"a": {"hex": "00"}}', "expected text"),
    ('{"a": NaN}', "expected text, a number"),
])
def test_run_vars_refuse_bad_attributes(text, message):
    with pytest.raises(KaireonError, match="--attributes") as info:
        runner.run_vars(None, None, None, attributes=text)
    assert message in str(info.value)


# ---- real dbt on DuckDB: `kaireon run --attributes` and the var written by hand ----------------------

CUSTOMERS_CSV = "customer_id,days,purchases,revenue,category,tz,consentEmail,consentSMS\n" + "".join(
    f"{c[0]},{c[1]},{c[2]},{c[3]},{c[4] or ''},{c[5]},{str(c[6]).lower()},{str(c[7]).lower()}\n" for c in CUSTOMERS)
HISTORY_CSV = "customer_id,offer_id,channel,outcome,occurred_at,value,creative_id,decision_flow_key\n"


@pytest.fixture(scope="module")
def dbt_project(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("attributes_dbt")
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "macros", dest / "macros")
    (dest / "models").mkdir()
    (dest / "seeds").mkdir()
    (dest / "seeds" / "customers.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")
    (dest / "seeds" / "history.csv").write_text(HISTORY_CSV, encoding="utf-8")
    write_config(dest / "decisioning", {"schemas": [__import__("harness").schema()],
                                        "interactionHistory": {"relation": "history"}, **CONFIG})
    return dest


def _decisions(project: Path) -> list[dict]:
    con = duckdb.connect(str(project / "warehouse" / "kaireon_demo.duckdb"), read_only=True)
    try:
        cur = con.execute("SELECT customer_id, offer_id, personalization FROM kaireon_decisions ORDER BY 1, 2")
        return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
    finally:
        con.close()


@pytest.mark.dbt
def test_kaireon_run_passes_hostile_attributes_intact(dbt_project):
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run([KAIREON, "run", "--as-of", "2026-11-20T15:00:00Z", "--quiet-dbt",
                           "--attributes", json.dumps(HOSTILE)], cwd=dbt_project, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    got = _decisions(dbt_project)
    assert [(r["customer_id"], r["offer_id"]) for r in got] == [("a1", "o1"), ("a1", "o2"), ("a4", "o1"), ("a4", "o2")]
    assert all(json.loads(r["personalization"]) == expected_personalization() for r in got)

    # dbt directly, the var written by hand (plain values: the macro encodes them); dbt itself renders a
    # string var as Jinja first (docs/security.md), so the plain values here hold no '{'
    plain = {"quote": "it's", "backslash": "a\\'b\\", "sql": "'); DROP TABLE customers; --", "n": 2.5, "t": True,
             "z": None}
    dbt = str(Path(sys.executable).with_name("dbt"))
    sql = "select " + ", ".join(f"{{{{ kaireon_sql.run_attribute('{k}') }}}} as {k}" for k in [*plain, "nope"])
    proc = subprocess.run([dbt, "--log-format", "json", "show", "--inline", sql, "--vars", json.dumps({"attributes": plain}),
                           "--output", "json", "--project-dir", str(dbt_project), "--profiles-dir", str(dbt_project)],
                          cwd=dbt_project, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:]
    shown = next(json.loads(json.loads(line)["data"]["preview"]) for line in proc.stdout.splitlines()
                 if '"preview"' in line)[0]
    decoded = {k: None if v is None else bytes.fromhex(v).decode() for k, v in shown.items()}
    assert decoded == {"quote": "it's", "backslash": "a\\'b\\", "sql": "'); DROP TABLE customers; --", "n": "2.5",
                       "t": "true", "z": None, "nope": None}
