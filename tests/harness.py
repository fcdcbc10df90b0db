"""Run compiled models in an in-memory DuckDB without dbt, for fast scenario tests.

The models are the exact SQL `kaireon compile` writes; only `{{ ref('x') }}` is replaced by the
table name and the run-params macro by a literal row. Tests of the dbt path itself (macros,
seeds, dbt tests) build the demo with real dbt in test_demo_dbt.py.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine, render

DUCKDB = engine("duckdb")
_REF = re.compile(r"\{\{ ref\('([A-Za-z0-9_]+)'\) \}\}")
_INCREMENTAL = re.compile(r"\{% if is_incremental\(\) %\}.*?\{% else %\}(.*?)\{% endif %\}", re.DOTALL)


_OPTIONAL = re.compile(r"\{\{ kaireon_sql\.optional_relation\('[A-Za-z0-9_]+', \[([^\]]*)\], \[([^\]]*)\]\) \}\}")


def _no_rows(m: re.Match) -> str:
    """macros/optional_relation.sql before the relation's first build: its typed columns, no rows."""
    names, types = ([v.strip().strip("'") for v in g.split(",")] for g in m.groups())
    return "(SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in zip(names, types)) + " LIMIT 0)"


def first_build(sql: str) -> str:
    """An incremental model as dbt builds it the first time (or with --full-refresh): the else branch;
    a relation read as earlier builds left it (optional_relation) has no rows yet."""
    return _OPTIONAL.sub(_no_rows, _INCREMENTAL.sub(lambda m: m.group(1), sql))


def incremental_build(sql: str, this: str = "this") -> str:
    """An incremental model as dbt builds it on a later run: the guarded condition, {{ this }} as `this`."""
    return re.sub(r"\{% if is_incremental\(\) %\}(.*?)\{% else %\}.*?\{% endif %\}", lambda m: m.group(1), sql,
                  flags=re.DOTALL).replace("{{ this }}", f'"{this}"')


@dataclass
class Table:
    columns: dict[str, str]  # name -> DuckDB type
    rows: list[tuple]


def write_config(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return folder


class CompiledModels(dict):
    """Model name -> rendered SQL, remembering the config it came from (to recompile per engine)."""

    config_dir: Path | None = None


def compile_sql(config_dir: Path, eng=DUCKDB) -> CompiledModels:
    """Model name -> rendered SQL, in dependency order."""
    project = load_project(config_dir)
    out = CompiledModels((m.name, m.sql if isinstance(m.sql, str) else render(m.sql, eng))
                         for m in compile_project(project))
    out.config_dir = config_dir
    return out


def run_models(models: dict[str, str], tables: dict[str, Table], as_of: str = "2026-11-20 15:00:00",
               run_id: str | None = None, channel: str | None = None,
               attributes: dict | None = None) -> duckdb.DuckDBPyConnection:
    config_dir = getattr(models, "config_dir", None)
    if config_dir is not None and cross_engine_names():
        # Every scenario also runs on the other engines (S5): each S4 table must equal DuckDB's.
        from cross_engine import assert_same_on_engines

        assert_same_on_engines(config_dir, tables, cross_engine_names(), as_of=as_of, run_id=run_id, channel=channel,
                               attributes=attributes)
    con = duckdb.connect()
    for name, table in tables.items():
        cols = ", ".join(f'"{c}" {t}' for c, t in table.columns.items())
        con.execute(f'CREATE TABLE "{name}" ({cols})')
        if table.rows:
            marks = ", ".join("?" for _ in table.columns)
            con.executemany(f'INSERT INTO "{name}" VALUES ({marks})', table.rows)
    as_of_text = as_of.replace(" ", "T") + "Z"
    con.execute(
        "CREATE TABLE kaireon_run_params AS SELECT CAST(? AS TIMESTAMP) AS as_of, CAST(? AS VARCHAR) AS as_of_text, "
        "CAST(? AS VARCHAR) AS run_id, CAST(? AS VARCHAR) AS channel",
        [as_of, as_of_text, run_id, channel],
    )
    from backends import with_attributes  # noqa: PLC0415

    for name, sql in models.items():
        if name == "kaireon_run_params":
            continue
        sql = with_attributes(sql, attributes, "VARCHAR")
        body = first_build("\n".join(line for line in sql.splitlines() if not line.startswith("--")))
        con.execute(f'CREATE TABLE "{name}" AS {_REF.sub(lambda m: chr(34) + m.group(1) + chr(34), body)}')
    return con


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


# ---- a small reusable scenario: customers, history, and a flow built from parts -----------------

CUSTOMER_COLUMNS = {
    "customer_id": "VARCHAR", "days": "INTEGER", "purchases": "INTEGER", "revenue": "DOUBLE",
    "category": "VARCHAR", "tz": "VARCHAR", "consentEmail": "BOOLEAN", "consentSMS": "BOOLEAN",
}
HISTORY_COLUMNS = {
    "customer_id": "VARCHAR", "offer_id": "VARCHAR", "channel": "VARCHAR", "outcome": "VARCHAR",
    "occurred_at": "TIMESTAMP", "value": "DOUBLE", "creative_id": "VARCHAR", "decision_flow_key": "VARCHAR",
}


def schema(relation: str = "customers") -> dict:
    return {
        "id": "customer", "name": "customer", "relation": relation,
        "fields": [
            {"name": "customer_id", "dataType": "varchar", "isUnique": True},
            {"name": "days", "dataType": "integer"},
            {"name": "purchases", "dataType": "integer"},
            {"name": "revenue", "dataType": "decimal"},
            {"name": "category", "dataType": "varchar"},
            {"name": "tz", "dataType": "varchar"},
            {"name": "consentEmail", "dataType": "boolean"},
            {"name": "consentSMS", "dataType": "boolean"},
        ],
    }


def flow(nodes: list[dict], key: str = "f", experiment: dict | None = None, channel="email", **flow_config) -> dict:
    fc = {"channel": channel, **flow_config}
    if experiment is not None:
        fc["experiment"] = experiment
    return {"key": key, "name": key, "draftConfig": {"version": 2, "flowConfig": fc, "nodes": nodes}}


def standard_nodes(top_n: int = 3, score: dict | None = None, extra: list[dict] | None = None) -> list[dict]:
    return [
        {"id": "inv", "type": "inventory", "config": {"scope": "all"}},
        {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]}},
        {"id": "qual", "type": "qualify", "config": {"mode": "all"}},
        *(extra or []),
        {"id": "cp", "type": "contact_policy", "config": {"mode": "all"}},
        {"id": "score", "type": "score", "config": score or {"method": "formula", "formula": {"propensityWeight": 1}}},
        {"id": "rank", "type": "rank", "config": {"method": "topN", "maxCandidates": top_n}},
        {"id": "compute", "type": "compute", "config": {}},
    ]


def customers_table(rows: list[tuple]) -> Table:
    return Table(CUSTOMER_COLUMNS, rows)


def history_table(rows: list[tuple]) -> Table:
    return Table(HISTORY_COLUMNS, rows)


def scenario(tmp_path: Path, config: dict, customers: list[tuple], history: list[tuple] = (), **run) -> duckdb.DuckDBPyConnection:
    base = {"schemas": [schema()], "interactionHistory": {"relation": "history"}}
    base.update(config)
    models = compile_sql(write_config(tmp_path / "decisioning", base))
    tables = {"customers": customers_table(list(customers)), "history": history_table(list(history))}
    tables.update(run.pop("tables", {}))
    return run_models(models, tables, **run)


def cross_engine_names() -> list[str]:
    """Engines every scenario is also run on (KAIREON_CROSS_ENGINE=postgres,spark), compared with DuckDB."""
    return [e.strip() for e in os.environ.get("KAIREON_CROSS_ENGINE", "").split(",") if e.strip()]
