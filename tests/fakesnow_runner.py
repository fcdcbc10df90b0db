"""Run Snowflake SQL through fakesnow, in fakesnow's own environment (tests/test_snowflake_fakesnow.py).

fakesnow pins its own sqlglot (it translates Snowflake SQL to DuckDB with it), which is not the sqlglot
kaireon_sql compiles with, so the two live in separate environments: the test renders every statement
with the project's sqlglot and hands the text to this script on stdin, as JSON:

    {"tables": {name: {"columns": [[column, snowflake type], ...], "rows": [[value, ...], ...]}},
     "models": [[name, "table" | "view", select sql], ...],
     "checks": [[name, select sql], ...],
     "read": [relation, ...]}

Input tables are created through fakesnow with quoted names, as dbt seeds them with quote_columns, and
filled through fakesnow's DuckDB connection (the seed loading is not what is tested). Each model is
created as `CREATE TABLE|VIEW "name" AS <select>`. The answer on stdout, as JSON:

    {"columns": {relation: [column name as fakesnow reports it, ...]}, "rows": {relation: [{...}, ...]},
     "checks": {name: number of rows}, "error": null | {"statement": name, "message": text}}

Timestamps are written as {"$ts": ISO text}, decimals as floats.
"""
from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime
from decimal import Decimal

import fakesnow
import fakesnow.transforms
import pyarrow
import snowflake.connector


def _json(value):
    if isinstance(value, datetime):
        return {"$ts": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _keep(expression):
    return expression


# fakesnow wraps the argument of every SUM and AVG in TRY_CAST(... AS DOUBLE) (Snowflake casts text to a
# number there), which makes a SUM of integers a DOUBLE ('3.0' as text); Snowflake's is a NUMBER ('3').
# The models never sum text, so the transform is switched off and DuckDB's integer sum kept.
fakesnow.transforms.numeric_agg_implicit_cast = _keep


def run(job: dict) -> dict:
    out = {"columns": {}, "rows": {}, "checks": {}, "error": None}
    with fakesnow.patch():
        con = snowflake.connector.connect(database="kaireon", schema="demo")
        cur = con.cursor()
        step = "?"
        try:
            for name, table in job["tables"].items():
                step = f"seed {name}"
                cur.execute(f"CREATE TABLE {_q(name)} ({', '.join(f'{_q(c)} {t}' for c, t in table['columns'])})")
                if table["rows"]:  # through fakesnow's DuckDB connection: one INSERT per row would take minutes
                    columns = [c for c, _ in table["columns"]]
                    rows = pyarrow.table({c: [r[i] for r in table["rows"]] for i, c in enumerate(columns)})
                    con._duck_conn.register("kaireon_seed_rows", rows)
                    con._duck_conn.execute(f"INSERT INTO {_q(name)} SELECT * FROM kaireon_seed_rows")
                    con._duck_conn.unregister("kaireon_seed_rows")
            for name, kind, sql in job["models"]:
                step, started = name, time.perf_counter()
                cur.execute(f"CREATE {kind.upper()} {_q(name)} AS {sql}")
                out.setdefault("seconds", {})[name] = round(time.perf_counter() - started, 2)
                out["columns"][name] = [d[0] for d in cur.execute(f"SELECT * FROM {_q(name)} LIMIT 0").description]
            for name, sql in job["checks"]:
                step = f"check {name}"
                out["checks"][name] = len(cur.execute(sql).fetchall())
            for name in job["read"]:
                step = f"read {name}"
                cur.execute(f"SELECT * FROM {_q(name)}")
                names = [d[0] for d in cur.description]
                out["rows"][name] = [dict(zip(names, r)) for r in cur.fetchall()]
        except Exception as exc:  # reported to the test, which fails with the statement's name
            out["error"] = {"statement": step, "message": f"{type(exc).__name__}: {exc}"}
        finally:
            con.close()
    return out


if __name__ == "__main__":
    sys.stdout.write(json.dumps(run(json.load(sys.stdin)), default=_json))
