"""The hostile corpus (tests/hostile_corpus.py) through real dbt: one project, every value in every
config field that reaches a generated file, one `dbt parse` and one `dbt build` per engine.

- dbt parse: every model and column description in target/manifest.json equals the text the
  compiler meant (no Jinja ran in it, none broke parsing), each raw_code is the file as written and
  holds no Jinja but ref()/source()/the run-params macro, and an environment secret that the corpus
  asks for through env_var() appears in no file dbt wrote.
- dbt build on DuckDB and PostgreSQL: no statement from a value ran (no table `pwned`), and the
  values come back intact in the output tables (ids, names, channels, flow keys, rule names,
  personalization, holdout buckets).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import hostile_corpus as hc
from backends import pg_params, postgres_or_skip
from conftest import KAIREON, REPO
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project

from test_hostile_values import JINJA_ALLOWED

pytestmark = pytest.mark.dbt
DBT = str(Path(sys.executable).with_name("dbt"))
AS_OF = "2026-11-20T15:00:00Z"
SOURCES = """version: 2
sources:
  - name: raw
    schema: "{{ target.schema }}"
    tables: [{name: customers}, {name: history}, {name: members}, {name: scores}]
"""


def _env(**extra) -> dict:
    return {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", hc.SECRET_ENV: hc.SECRET, **extra}


def _run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{' '.join(args[:3])} exited {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return proc


def _project(dest: Path) -> Path:
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "macros", dest / "macros")
    (dest / "seeds").mkdir()
    (dest / "models").mkdir()
    (dest / "warehouse").mkdir()  # the profile's DuckDB file (kaireon run makes the folder; dbt does not)
    (dest / "models" / "raw_sources.yml").write_text(SOURCES, encoding="utf-8")
    hc.write_corpus_config(dest / "decisioning")
    return dest


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return _project(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def parsed(project):
    """The DuckDB-compiled project after `kaireon compile` and `dbt parse`: (manifest, intended models)."""
    env = _env()
    _run([KAIREON, "compile"], project, env)
    _run([DBT, "parse", "--project-dir", str(project), "--profiles-dir", str(project)], project, env)
    manifest = json.loads((project / "target" / "manifest.json").read_text(encoding="utf-8"))
    intended = compile_project(load_project(project / "decisioning"))
    return manifest, intended


def _secret_free(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".sql", ".yml", ".txt", ".log", ".csv"):
            assert hc.SECRET not in path.read_text(encoding="utf-8", errors="replace"), f"the secret is in {path}"


def test_manifest_descriptions_are_the_intended_text(parsed, project):
    manifest, intended = parsed
    nodes = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {m.name for m in intended} <= set(nodes)
    for m in intended:
        node = nodes[m.name]
        assert node["description"] == m.description, m.name
        for column, spec in m.columns.items():
            assert node["columns"][column]["description"] == spec.get("description", ""), (m.name, column)
        path = project / "models" / "kaireon" / f"{m.name}.sql"
        assert node["raw_code"] == path.read_bytes().decode("utf-8").rstrip()  # dbt strips the final newline
        rest = JINJA_ALLOWED.sub("", node["raw_code"])
        assert not any(d in rest for d in ("{{", "{%", "{#")), f"{m.name}: a Jinja delimiter outside ref()/source()"
    # the corpus' values reach descriptions: flow keys, metric names
    described = "\n".join(m.description for m in intended)
    for value in (hc.CORPUS["env_var"], hc.CORPUS["unbalanced_open"], hc.CORPUS["raw_block"], hc.CORPUS["endraw"]):
        assert value in described
    _secret_free(project / "target")
    _secret_free(project / "logs")


@pytest.mark.parametrize("variables,message", [
    ({"as_of": "2026-11-20T15:00:00+99:99"}, "offset +99:99 is out of range"),
    ({"as_of": "2026-02-29T10:00:00Z"}, "not a valid date and time"),
    ({"run_id": "run1\n"}, "var 'run_id': expected 1-200 letters"),  # a final newline, which '$' admits
])
def test_run_params_macro_refuses_what_kaireon_run_refuses(parsed, project, variables, message):
    """dbt run directly (not through `kaireon run`): the macro checks the same grammar."""
    proc = subprocess.run([DBT, "compile", "--select", "kaireon_run_params", "--vars", json.dumps(variables),
                           "--project-dir", str(project), "--profiles-dir", str(project)],
                          cwd=project, capture_output=True, text=True, env=_env())
    assert proc.returncode != 0 and message in proc.stdout, proc.stdout[-3000:]


def _inputs() -> dict[str, tuple[dict[str, str], list[tuple]]]:
    return {
        "customers": ({"customer_id": "text", hc.COLUMN_CATEGORY: "text"}, hc.customers()),
        "history": ({"customer_id": "text", "offer_id": "text", "channel": "text", "outcome": "text",
                     "occurred_at": "timestamp", "value": "double", "creative_id": "text", "decision_flow_key": "text"}, []),
        "members": ({hc.COLUMN_MEMBER: "text", hc.COLUMN_SEGMENT: "text"}, hc.members()),
        "scores": ({"customer_id": "text", "offer_id": "text", "propensity": "double", "uplift": "double"}, []),
    }


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _create_inputs(execute, types: dict[str, str]) -> None:
    for table, (columns, rows) in _inputs().items():
        cols = ", ".join(f"{_quote(c)} {types.get(t, t)}" for c, t in columns.items())
        execute(f"CREATE TABLE {_quote(table)} ({cols})", None)
        for row in rows:
            execute(f"INSERT INTO {_quote(table)} VALUES ({', '.join(['%s'] * len(row))})", row)


def _check_outputs(query) -> None:
    """`query(sql)` -> list of dicts, on the engine's output tables."""
    vals = hc.values()
    keys = [f["key"] for f in hc.corpus_config()["decisionFlows"]]
    salt = hc.CORPUS["run_query"]
    tables = {r["t"] for r in query("select table_name as t from information_schema.tables")}
    assert "pwned" not in tables
    got = query("select decision_flow_key, customer_id, offer_id, offer_name, category_name, channel, personalization, "
                "creative_id, creative_name, 'd' as kind from kaireon_decisions union all select decision_flow_key, "
                "customer_id, offer_id, offer_name, category_name, channel, personalization, creative_id, creative_name, "
                "'w' as kind from kaireon_withheld_decisions")
    by_flow: dict[str, dict[str, dict]] = {k: {} for k in keys}
    for r in got:
        assert r["customer_id"] not in by_flow[r["decision_flow_key"]], r
        by_flow[r["decision_flow_key"]][r["customer_id"]] = r
    # flow one (channel ch_hostile) decides every customer, flow two (channel two) only offers without a
    # channel list; each flow's filter drops the customer whose category is its filter value
    dropped = {keys[0]: vals.index(hc.CORPUS["raw_block"]), keys[1]: vals.index(hc.CORPUS["unbalanced_stmt"])}
    expected = {keys[0]: [i for i in range(len(vals)) if i != dropped[keys[0]]],
                keys[1]: [i for i in range(len(vals)) if i % 3 == 0 and i != dropped[keys[1]]]}
    for key, channel in zip(keys, (hc.CHANNEL_ONE, hc.CHANNEL_TWO)):
        assert sorted(by_flow[key]) == [f"c{i:02d}" for i in expected[key]], key
        for i in expected[key]:
            r, v = by_flow[key][f"c{i:02d}"], vals[i]
            assert (r["offer_id"], r["offer_name"], r["category_name"], r["channel"]) == (v, hc.offer_name(v), v, channel)
            assert (r["creative_id"], r["creative_name"]) == (_creative(f"c{i:02d}", v) if key == keys[0] else (None, None))
            assert json.loads(r["personalization"], strict=False) == {
                "greeting": v + "!", hc.CORPUS["env_var"]: salt, "t": v if i % 2 == 0 else "default:" + v,
                hc.CORPUS["raw_block"]: hc.CORPUS["endraw"], hc.CORPUS["line_separator"]: hc.CORPUS["control"]}
    # holdout groups of flow one from the hostile salt, as S5 computes them
    buckets = {r["customer_id"]: r["bucket"] for r in query(
        "select customer_id, bucket from kaireon_assignments where decision_flow_key = " + _sql_text(keys[0]))}
    assert buckets == {f"c{i:02d}": int(hashlib.md5(f"{salt}:c{i:02d}".encode()).hexdigest()[:8], 16) % 10000
                       for i in range(len(vals))}
    kinds = {r["kind"] for r in by_flow[keys[0]].values()}
    assert kinds == {"d", "w"}
    # each customer's other offers are dropped by those offers' rules, named intact
    names = ({hc.rule_name(v) for v in vals} | {"segment rule:" + hc.CORPUS[k] for k in hc.SEGMENT_RULES}
             | {hc.CORPUS["endraw"]})  # the label of flow one's filter node
    rejected = query("select customer_id, offer_id, rule_name from kaireon_rejections where decision_flow_key = "
                     + _sql_text(keys[0]))
    assert {r["rule_name"] for r in rejected} <= names
    assert {hc.rule_name(v) for v in vals[1:]} <= {r["rule_name"] for r in rejected}
    assert len(rejected) == len(vals) * (len(vals) - 1) + 1  # + the filtered customer's own offer
    # flow two's models (S8): the override for offer 0, else champion-challenger by the hostile salt
    models = {r["customer_id"]: r["model_id"] for r in query(
        "select customer_id, model_id from kaireon_decisions where decision_flow_key = " + _sql_text(keys[1]))}

    def chosen(i: int) -> str:
        if i == 0:
            return hc.OVERRIDE
        u = int(hashlib.md5(f"{hc.CHALLENGER_SALT}:c{i:02d}".encode()).hexdigest()[:8], 16) / 4294967296
        return hc.CHALLENGER if u < 0.5 else hc.CHAMPION
    assert models == {f"c{i:02d}": chosen(i) for i in expected[keys[1]]}
    # flow two's rank (explore_exploit, S7) by the hostile salt and the run id
    explored = {r["customer_id"]: r["explored"] for r in query(
        "select customer_id, explored from kaireon_decisions where decision_flow_key = " + _sql_text(keys[1]))}
    assert explored == {f"c{i:02d}": int(hashlib.md5(f"{hc.EXPLORE_SALT}:{keys[1]}@{AS_OF}:c{i:02d}".encode())
                                         .hexdigest()[:8], 16) / 4294967296 < 0.5 for i in expected[keys[1]]}
    # flow one's group node puts each decision in the hostile placement; its grouped response holds them intact
    slotted = query("select customer_id, offer_id, placement_id, slot from kaireon_decisions where decision_flow_key = "
                    + _sql_text(keys[0]))
    assert slotted and all((r["placement_id"], r["slot"]) == (hc.PLACEMENT, 1) for r in slotted)
    grouped = query("select customer_id, placement_id, channel, decisions from kaireon_decisions_grouped")
    assert sorted(r["customer_id"] for r in grouped) == sorted(r["customer_id"] for r in slotted)
    for r in grouped:
        [element] = json.loads(r["decisions"])
        v = vals[int(r["customer_id"][1:])]
        assert (r["placement_id"], r["channel"]) == (hc.PLACEMENT, hc.CHANNEL_ONE)
        assert (element["offer_id"], element["offer_name"], element["placement_id"], element["slot"]) == (
            v, hc.offer_name(v), hc.PLACEMENT, 1)
        assert element["personalization"][hc.CORPUS["raw_block"]] == hc.CORPUS["endraw"]
    funnel = query("select decision_flow_key, run_id from kaireon_funnel")
    assert sorted((r["decision_flow_key"], r["run_id"]) for r in funnel) == sorted((k, f"{k}@{AS_OF}") for k in keys)


def _creative(customer: str, offer: str) -> tuple[str, str]:
    """S7: flow one's creative of a decision, from md5: "cr2:" + offer (weight 3, first by id) or "cr:" + offer."""
    u = int(hashlib.md5(f"{hc.MATCH_SALT}:{customer}:{offer}:{hc.CHANNEL_ONE}".encode()).hexdigest()[:8], 16) / 4294967296
    return ("cr2:" + offer, offer) if u < 0.75 else ("cr:" + offer, "crname:" + offer)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _build(project: Path, env: dict, target: str | None = None) -> None:
    target_args = ["--target", target] if target else []
    _run([KAIREON, "compile", *target_args], project, env)
    _run([DBT, "build", "--select", "+tag:kaireon", "--vars", json.dumps({"as_of": AS_OF}), "--project-dir",
          str(project), "--profiles-dir", str(project), *target_args], project, env)


def test_dbt_build_duckdb_values_intact(parsed, project):
    path = project / "warehouse" / "kaireon_demo.duckdb"
    con = duckdb.connect(str(path))
    _create_inputs(lambda sql, params: con.execute(sql.replace("%s", "?"), params), {})
    con.close()
    _build(project, _env())
    con = duckdb.connect(str(path), read_only=True)

    def query(sql):
        cur = con.execute(sql)
        return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
    try:
        _check_outputs(query)
    finally:
        con.close()
    _secret_free(project / "target")
    _secret_free(project / "logs")




def test_dbt_build_postgres_values_intact(tmp_path):
    psycopg2 = postgres_or_skip()
    project = _project(tmp_path)
    schema = f"kaireon_hostile_{os.getpid()}"
    con = psycopg2.connect(**pg_params())
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
            cur.execute(f'SET search_path TO "{schema}"')
            _create_inputs(lambda sql, params: cur.execute(sql, params), {"double": "double precision"})
        _build(project, _env(KAIREON_PG_SCHEMA=schema), target="postgres")
        with con.cursor() as cur:
            cur.execute(f'SET search_path TO "{schema}"')

            def query(sql):
                if "information_schema.tables" in sql:
                    sql += f" where table_schema = '{schema}'"
                cur.execute(sql.replace("%", "%%"))
                return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
            _check_outputs(query)
        _secret_free(project / "target")
        _secret_free(project / "logs")
    finally:
        with con.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        con.close()
