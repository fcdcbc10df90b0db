"""Cost of the group node (S7 placements) on DuckDB: the decision path with and without it.

    .venv/bin/python bench/placements.py [--customers 100000 200000] [--offers 30] [--runs 3] [--threads 2]

Two flows of one config, the same except for the group node: customers x `offers` offers (half email
only, half push only), a score expression that varies by customer, topN 5; flow `grouped` adds a group
node filling `hero` (email, 2 slots), `side` (any channel, 1) and `pushbar` (push, 1). Each model is
built in-process as CREATE TABLE AS of the SQL `kaireon compile` writes (DuckDB, `--threads`);
`decision path` is the time of the flow's customers, candidates, slots (group only) and decisions
models, best of `runs`. Prints one JSON line per size and flow.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import sqlglot
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kaireon_sql.compiler import compile_project  # noqa: E402
from kaireon_sql.config import load_project  # noqa: E402
from kaireon_sql.dialect import ENGINES, render  # noqa: E402

_REF = re.compile(r"\{\{ ref\('([A-Za-z0-9_]+)'\) \}\}")
_INCREMENTAL = re.compile(r"\{% if is_incremental\(\) %\}.*?\{% else %\}(.*?)\{% endif %\}", re.DOTALL)
SCORE = "((offer.businessValue * (customer.days % 7 + 1) + customer.days) % 97) / 97"


def _flow(key: str, group: bool) -> dict:
    nodes = [
        {"id": "inv", "type": "inventory", "config": {"scope": "all"}},
        {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer"}]}},
        {"id": "score", "type": "score", "config": {"method": "expression", "expression": SCORE}},
        {"id": "rank", "type": "rank", "config": {"method": "topN", "maxCandidates": 5}},
    ]
    if group:
        nodes.append({"id": "grp", "type": "group", "config": {"placementIds": ["hero", "side", "pushbar"]}})
    return {"key": key, "name": key, "draftConfig": {"version": 2, "flowConfig": {"channel": ["email", "push"]},
                                                     "nodes": nodes}}


def config(offers: int) -> dict:
    return {
        "schemas": [{"id": "customer", "name": "customer", "relation": "customers", "fields": [
            {"name": "customer_id", "dataType": "varchar", "isUnique": True},
            {"name": "days", "dataType": "integer"}, {"name": "consentEmail", "dataType": "boolean"}]}],
        "interactionHistory": {"relation": "history"},
        "channels": [{"id": "email", "name": "Email", "consentField": "consentEmail"},
                     {"id": "push", "name": "Push", "requiresConsent": False}],
        "placements": [{"id": "hero", "name": "hero", "channelId": "email", "maxSlots": 2},
                       {"id": "side", "name": "side"}, {"id": "pushbar", "name": "pushbar", "channelId": "push"}],
        "offers": [{"id": f"o{i:02d}", "name": f"offer {i}", "priority": i % 5, "businessValue": 10 + i,
                    "channels": ["email" if i % 2 else "push"]} for i in range(offers)],
        "decisionFlows": [_flow("plain", False), _flow("grouped", True)],
    }


def _models(offers: int) -> list[tuple[str, str]]:
    folder = Path(tempfile.mkdtemp()) / "decisioning"
    folder.mkdir(parents=True)
    (folder / "config.yml").write_text(yaml.safe_dump(config(offers), sort_keys=False), encoding="utf-8")
    out = []
    for m in compile_project(load_project(folder)):
        sql = m.sql if isinstance(m.sql, str) else render(m.sql, ENGINES["duckdb"])
        body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
        out.append((m.name, _REF.sub(lambda g: f'"{g.group(1)}"', _INCREMENTAL.sub(lambda g: g.group(1), body))))
    return out


def _inputs(con: duckdb.DuckDBPyConnection, customers: int) -> None:
    con.execute(f"CREATE TABLE customers AS SELECT 'c' || CAST(i AS VARCHAR) AS customer_id, "
                f"CAST(i % 365 AS INTEGER) AS days, i % 4 <> 0 AS \"consentEmail\" FROM range({customers}) r(i)")
    con.execute("CREATE TABLE history (customer_id VARCHAR, offer_id VARCHAR, channel VARCHAR, outcome VARCHAR, "
                "occurred_at TIMESTAMP, value DOUBLE, creative_id VARCHAR, decision_flow_key VARCHAR)")
    con.execute("CREATE TABLE kaireon_run_params AS SELECT TIMESTAMP '2026-11-20 15:00:00' AS as_of, "
                "'2026-11-20T15:00:00Z' AS as_of_text, CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS VARCHAR) AS channel")


PATH = ("customers", "candidates", "slots", "decisions")


def _run(models: list[tuple[str, str]], customers: int, threads: int) -> dict[str, float]:
    """Seconds per model of one build."""
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    _inputs(con, customers)
    times = {}
    for name, sql in models:
        if name == "kaireon_run_params" or "optional_relation" in sql:
            continue
        start = time.perf_counter()
        con.execute(f'CREATE TABLE "{name}" AS {sql}')
        times[name] = time.perf_counter() - start
    con.close()
    return times


def _count(models: list[tuple[str, str]], customers: int, key: str) -> dict[str, int]:
    """Rows of the flow's candidates (kept: rank <= 5) and decisions, from one more build."""
    con = duckdb.connect()
    _inputs(con, customers)
    for name, sql in models:
        if name != "kaireon_run_params" and "optional_relation" not in sql:
            con.execute(f'CREATE TABLE "{name}" AS {sql}')
    count = lambda q: con.execute(q).fetchone()[0]  # noqa: E731
    out = {"candidates": count(f'SELECT count(*) FROM "kaireon_{key}__candidates"'),
           "kept": count(f'SELECT count(*) FROM "kaireon_{key}__candidates" WHERE "rank" <= 5'),
           "decisions": count(f'SELECT count(*) FROM "kaireon_{key}__decisions"')}
    con.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100000, 200000])
    parser.add_argument("--offers", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--count", action="store_true", help="also count candidates, kept and decisions")
    args = parser.parse_args()
    models = _models(args.offers)
    for customers in args.customers:
        runs = [_run(models, customers, args.threads) for _ in range(args.runs)]
        for key in ("plain", "grouped"):
            names = [f"kaireon_{key}__{part}" for part in PATH if f"kaireon_{key}__{part}" in runs[0]]
            path = min(sum(r[n] for n in names) for r in runs)
            parts = {n.split("__")[1]: round(min(r[n] for r in runs), 3) for n in names}
            rows = _count(models, customers, key) if args.count else None
            print(json.dumps({"customers": customers, "offers": args.offers, "flow": key,
                              "decision_path_s": round(path, 3), "best_per_model_s": parts, "rows": rows,
                              "runs": args.runs,
                              "threads": args.threads, "machine": platform.machine(), "python": platform.python_version(),
                              "duckdb": duckdb.__version__, "sqlglot": sqlglot.__version__}))


if __name__ == "__main__":
    main()
