"""Cost of the match_creatives node (S7) in the candidates model, on DuckDB.

    .venv/bin/python bench/creatives.py [--customers 200000] [--offers 10] [--runs 3] [--threads 2]

Two flows over the same inputs: `plain` (inventory, enrich, contact_policy, score, rank topN 3) and
`ab` (the same with a match_creatives node and a 50/50 A/B split on every offer: two creatives of
weight 1 each, so every candidate costs one md5). Every candidate of customers x offers is eligible.
Each flow's models are built in order in an in-memory DuckDB (the SQL `kaireon compile` writes, refs
replaced by table names, as tests/harness.py does); the time is the best of `runs` of the candidates
model's CREATE TABLE AS (and of the decisions). Prints one JSON line per flow.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kaireon_sql.compiler import compile_project  # noqa: E402
from kaireon_sql.config import load_project  # noqa: E402
from kaireon_sql.dialect import engine, render  # noqa: E402

_REF = re.compile(r"\{\{ ref\('([A-Za-z0-9_]+)'\) \}\}")
_INCREMENTAL = re.compile(r"\{% if is_incremental\(\) %\}.*?\{% else %\}(.*?)\{% endif %\}", re.DOTALL)
_OPTIONAL = re.compile(r"\{\{ kaireon_sql\.optional_relation\('[A-Za-z0-9_]+', \[([^\]]*)\], \[([^\]]*)\]\) \}\}")


def _no_rows(m: re.Match) -> str:
    names, types = ([v.strip().strip("'") for v in g.split(",")] for g in m.groups())
    return "(SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in zip(names, types)) + " LIMIT 0)"


def config(offers: int, creatives: bool) -> dict:
    nodes = [{"id": "inv", "type": "inventory", "config": {"scope": "all"}},
             {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer"}]}},
             {"id": "cp", "type": "contact_policy", "config": {}},
             {"id": "score", "type": "score", "config": {"method": "priority"}},
             {"id": "rank", "type": "rank", "config": {"method": "topN", "maxCandidates": 3}}]
    if creatives:
        nodes.insert(1, {"id": "mc", "type": "match_creatives", "config": {}})
    return {
        "schemas": [{"id": "customer", "name": "customer", "relation": "customers", "fields": [
            {"name": "customer_id", "dataType": "varchar", "isUnique": True},
            {"name": "days", "dataType": "integer"}]}],
        "interactionHistory": {"relation": "history"},
        "channels": [{"id": "email", "name": "email", "requiresConsent": False}],
        "offers": [{"id": f"o{i:02d}", "name": f"Offer {i}", "priority": i} for i in range(offers)],
        "creatives": ([{"id": f"o{i:02d}_{v}", "name": f"Offer {i} {v}", "offerId": f"o{i:02d}"}
                       for i in range(offers) for v in ("A", "B")] if creatives else []),
        "contactPolicies": [{"name": "weekly", "ruleType": "frequency_cap", "config": {"maxPerWeek": 3}}],
        "decisionFlows": [{"key": "ab" if creatives else "plain", "name": "bench", "draftConfig": {
            "version": 2, "flowConfig": {"channel": "email"}, "nodes": nodes}}],
    }


def models(cfg: dict) -> list[tuple[str, str]]:
    folder = Path(tempfile.mkdtemp()) / "decisioning"
    folder.mkdir(parents=True)
    (folder / "config.yml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    out = []
    for m in compile_project(load_project(folder)):
        sql = m.sql if isinstance(m.sql, str) else render(m.sql, engine("duckdb"))
        body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
        body = _OPTIONAL.sub(_no_rows, _INCREMENTAL.sub(lambda x: x.group(1), body))
        out.append((m.name, _REF.sub(lambda x: f'"{x.group(1)}"', body)))
    return out


def inputs(con: duckdb.DuckDBPyConnection, customers: int) -> None:
    con.execute(f"CREATE TABLE customers AS SELECT 'c' || CAST(i AS VARCHAR) AS customer_id, CAST(i % 365 AS INTEGER) "
                f"AS days FROM range({customers}) r(i)")
    con.execute("CREATE TABLE history (customer_id VARCHAR, offer_id VARCHAR, channel VARCHAR, outcome VARCHAR, "
                "occurred_at TIMESTAMP, value DOUBLE, creative_id VARCHAR, decision_flow_key VARCHAR)")
    con.execute("CREATE TABLE kaireon_run_params AS SELECT TIMESTAMP '2026-11-20 15:00:00' AS as_of, "
                "'2026-11-20T15:00:00Z' AS as_of_text, CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS VARCHAR) AS channel")


def measure(customers: int, offers: int, runs: int, threads: int, creatives: bool) -> dict:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    inputs(con, customers)
    built = [(n, s) for n, s in models(config(offers, creatives)) if n != "kaireon_run_params"]
    times: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, sql in built:
            con.execute(f'DROP TABLE IF EXISTS "{name}"')
            start = time.perf_counter()
            con.execute(f'CREATE TABLE "{name}" AS {sql}')
            times.setdefault(name, []).append(time.perf_counter() - start)
    key = "ab" if creatives else "plain"
    candidates = con.execute(f'SELECT count(*) FROM "kaireon_{key}__candidates"').fetchone()[0]
    return {"flow": key, "customers": customers, "offers": offers, "candidates": candidates, "threads": threads,
            "candidates_s": round(min(times[f"kaireon_{key}__candidates"]), 3),
            "decisions_s": round(min(times[f"kaireon_{key}__decisions"]), 3),
            "all_models_s": round(sum(min(t) for t in times.values()), 3),
            "machine": f"{platform.machine()} {os.cpu_count()} cpus", "duckdb": duckdb.__version__}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--offers", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    for creatives in (False, True):
        print(json.dumps(measure(args.customers, args.offers, args.runs, args.threads, creatives)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
