"""Cost of each rank method (S7) against topN on DuckDB: customers x 30 offers, every pair a candidate.

One flow per method (maxCandidates 3; diversity one per category; round_robin by category; explore_exploit
with explorationRate 0.2), compiled by kaireon-sql and run model by model in one DuckDB connection (no dbt):
the customers table is generated in SQL; each method's decision path (the flow's customers, candidates and
decisions models) is timed in CPU seconds of the process (all DuckDB threads; robust on a shared machine)
and wall seconds, best CPU of --runs. Prints a Markdown table and appends JSON lines to --out.

    python bench/rank_methods.py --customers 1000000 --runs 3
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from harness import _REF, compile_sql, first_build, schema  # noqa: E402  (the tests' DuckDB runner)

METHODS = {"topN": {}, "diversity": {"maxPerGroup": 1}, "round_robin": {}, "explore_exploit": {"explorationRate": 0.2}}
OFFERS = 30
CATEGORIES = 10


def config(method: str) -> dict:
    offers = [{"id": f"o{i:02d}", "name": f"O{i}", "categoryId": f"cat{i % CATEGORIES}", "businessValue": (i * 7) % 30,
               "margin": (i * 3) % 5, "priority": i % 4} for i in range(OFFERS)]
    nodes = [{"id": "inv", "type": "inventory", "config": {"scope": "all"}},
             {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]}},
             {"id": "score", "type": "score", "config": {"method": "expression",
                                                          "expression": "offer.businessValue + customer.days * offer.margin"}},
             {"id": "rank", "type": "rank", "config": {"method": method, "maxCandidates": 3, **METHODS[method]}}]
    return {"schemas": [schema()], "interactionHistory": {"relation": "history"},
            "categories": [{"id": f"cat{c}", "name": f"Cat {c}"} for c in range(CATEGORIES)], "offers": offers,
            "decisionFlows": [{"key": "bench", "name": "bench", "draftConfig": {
                "version": 2, "flowConfig": {"channel": "email"}, "nodes": nodes}}]}


def _inputs(con, customers: int) -> None:
    con.execute(f"""CREATE TABLE customers AS SELECT 'c' || i AS customer_id, CAST(i % 97 AS INTEGER) AS days,
        CAST(i % 5 AS INTEGER) AS purchases, CAST(i % 1000 AS DOUBLE) AS revenue, 'x' AS category, 'UTC' AS tz,
        TRUE AS "consentEmail", TRUE AS "consentSMS" FROM range({customers}) t(i)""")
    con.execute("""CREATE TABLE history (customer_id VARCHAR, offer_id VARCHAR, channel VARCHAR, outcome VARCHAR,
        occurred_at TIMESTAMP, value DOUBLE, creative_id VARCHAR, decision_flow_key VARCHAR)""")
    con.execute("""CREATE TABLE kaireon_run_params AS SELECT TIMESTAMP '2026-11-20 15:00:00' AS as_of,
        '2026-11-20T15:00:00Z' AS as_of_text, CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS VARCHAR) AS channel""")


def run_once(method: str, customers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "decisioning"
        folder.mkdir()
        (folder / "config.yml").write_text(yaml.safe_dump(config(method), sort_keys=False), encoding="utf-8")
        models = compile_sql(folder)
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count() or 1}")
    _inputs(con, customers)
    path = cpu = 0.0
    for name, sql in models.items():
        if name == "kaireon_run_params":
            continue
        body = first_build("\n".join(line for line in sql.splitlines() if not line.startswith("--")))
        start, start_cpu = time.perf_counter(), time.process_time()
        con.execute(f'CREATE TABLE "{name}" AS {_REF.sub(lambda m: chr(34) + m.group(1) + chr(34), body)}')
        if name.startswith("kaireon_bench__") and name.split("__")[1] in ("customers", "candidates", "decisions"):
            path += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
    candidates = con.execute('SELECT count(*) FROM "kaireon_bench__candidates"').fetchone()[0]
    decided = con.execute("SELECT count(*) FROM kaireon_decisions").fetchone()[0]
    con.close()
    return {"method": method, "customers": customers, "candidates": candidates, "decisions": decided, "path_s": path,
            "path_cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "rank_methods.jsonl")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    results = []
    for method in METHODS:
        runs = [run_once(method, args.customers) for _ in range(args.runs)]
        best = min(runs, key=lambda r: r["path_cpu_s"])
        best.update(runs_s=[round(r["path_s"], 3) for r in runs], runs_cpu_s=[round(r["path_cpu_s"], 3) for r in runs], commit=commit, nproc=os.cpu_count(),
                    load=os.getloadavg()[0], machine=platform.processor() or platform.machine(),
                    duckdb=duckdb.__version__, at=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        results.append(best)
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(best) + "\n")
    top = results[0]["path_cpu_s"]
    print("| method | customers | candidate rows | decisions | decision path CPU (s) | vs topN | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['method']} | {r['customers']:,} | {r['candidates']:,} | {r['decisions']:,} | {r['path_cpu_s']:.2f} "
              f"| {r['path_cpu_s'] / top:.2f}x | {r['path_s']:.2f} |")


if __name__ == "__main__":
    main()
