"""The walk's cost (issue 13): the decision path of two checkouts on the same data, interleaved.

    python bench/gen.py --customers 1000000 --out /tmp/walkbench/1m
    git worktree add /tmp/walk_main_wt d4de4eb
    python bench/walk.py --data /tmp/walkbench/1m --base /tmp/walk_main_wt [--runs 2]

For each flow (the benchmark flow of bench/flow.py, and the same with a channel-scoped cap stacked on its
customer cap) and each checkout (--base, and this one), compiles the config with that checkout's compiler
(a subprocess with it first on PYTHONPATH) and runs the rendered DuckDB SQL in one DuckDB database over the
Parquet files: the models upstream of the candidates once (untimed, the base's SQL), then, --runs times and
alternating between the checkouts, the decision path: the flow's candidates model (checks, scores, the caps
and the rank) and its decisions model. Prints one JSON line per flow with each checkout's median seconds
and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import flow  # noqa: E402

AS_OF = "2026-11-20 15:00:00"
REF = re.compile(r"\{\{ ref\('([A-Za-z0-9_]+)'\) \}\}")
INCREMENTAL = re.compile(r"\{% if is_incremental\(\) %\}.*?\{% else %\}(.*?)\{% endif %\}", re.DOTALL)
TIMED = ("kaireon_winback__candidates", "kaireon_winback__decisions")
COMPILE = """
import json, sys
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine, render
eng = engine("duckdb")
print(json.dumps([(m.name, m.sql if isinstance(m.sql, str) else render(m.sql, eng))
                  for m in compile_project(load_project(sys.argv[1]))]))
"""
STACKED = {"name": "email 1 a week", "ruleType": "frequency_cap", "scope": "channel", "scopeId": "email",
           "config": {"maxPerWeek": 1}}


def configs(data: Path, work: Path) -> dict[str, Path]:
    out = {}
    for name in ("benchmark", "stacked"):
        config = flow.build_config((data / "offers.parquet").resolve(), rejections="none")
        if name == "stacked":
            config["contactPolicies"].insert(2, STACKED)
        folder = work / name / "decisioning"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "bench.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        out[name] = folder
    return out


def compiled(checkout: Path, folder: Path) -> list[tuple[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.run([sys.executable, "-c", COMPILE, str(folder)], capture_output=True, text=True, env=env,
                          check=True)
    return [tuple(m) for m in json.loads(proc.stdout)]


def body(sql: str) -> str:
    sql = INCREMENTAL.sub(lambda m: m.group(1), "\n".join(line for line in sql.splitlines() if not line.startswith("--")))
    return REF.sub(lambda m: '"' + m.group(1) + '"', sql)


def prepare(con: duckdb.DuckDBPyConnection, data: Path, models: list[tuple[str, str]]) -> None:
    for view, file in flow_views().items():
        con.execute(f"create or replace view {view} as select * from read_parquet('{(data / file).resolve()}')")
    con.execute("create or replace table kaireon_run_params as select cast(? as timestamp) as as_of, "
                "cast(? as varchar) as as_of_text, cast(null as varchar) as run_id, cast(null as varchar) as channel",
                [AS_OF, AS_OF.replace(" ", "T") + "Z"])
    for name, sql in models:
        if name == TIMED[0]:
            return
        if name != "kaireon_run_params":
            con.execute(f'create or replace table "{name}" as {body(sql)}')


def flow_views() -> dict[str, str]:
    return {"bench_customers": "customers.parquet", "bench_offers": "offers.parquet",
            "bench_interactions": "interactions.parquet"}


def timed(con: duckdb.DuckDBPyConnection, models: list[tuple[str, str]]) -> float:
    sql = dict(models)
    start = time.perf_counter()
    for name in TIMED:
        con.execute(f'create or replace table "{name}" as {body(sql[name])}')
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="bench/gen.py output folder")
    p.add_argument("--base", required=True, help="checkout to compare with (e.g. a worktree of main)")
    p.add_argument("--work", default=None, help="scratch folder (default: DATA/walk-work)")
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args(argv)
    data, base, here = Path(args.data), Path(args.base).resolve(), HERE.parent
    work = Path(args.work) if args.work else data / "walk-work"
    for name, folder in configs(data, work).items():
        sql = {"base": compiled(base, folder), "this": compiled(here, folder)}
        con = duckdb.connect(str(work / f"{name}.duckdb"))
        prepare(con, data, sql["base"])
        seconds = {"base": [], "this": []}
        for _ in range(args.runs):
            for which in ("base", "this"):
                seconds[which].append(round(timed(con, sql[which]), 2))
        medians = {k: statistics.median(v) for k, v in seconds.items()}
        rows = con.execute(f'select count(*) from "{TIMED[0]}"').fetchone()[0]
        print(json.dumps({"flow": name, "candidates": rows, "runs": seconds, "median_s": medians,
                          "ratio": round(medians["this"] / medians["base"], 2)}), flush=True)
        con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
