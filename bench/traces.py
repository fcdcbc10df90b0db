"""Cost of decision traces (S7 includeTrace, docs/traces.md) on DuckDB, in-process.

    .venv/bin/python bench/traces.py [--root /tmp/bench] [--customers 200000] [--rates 0 0.05 1] [--runs 3]

The benchmark flow (bench/flow.py, 30 offers) over bench/gen.py's data (generated when missing), compiled
once per variant: without includeTrace, and with includeTrace at each rate. Every model is created in one
DuckDB database in build order (refs replaced by table names, as tests/harness.py does; no dbt), each
timed. Prints one JSON line per variant: the decision path (kaireon_decisions and the kaireon models it
reads), the traces model (and kaireon_traces, a view), its rows, the rejections model for comparison, the
best of `runs` for each.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import flow  # noqa: E402
from harness import _REF, first_build  # noqa: E402

from kaireon_sql.compiler import compile_project  # noqa: E402
from kaireon_sql.config import load_project  # noqa: E402
from kaireon_sql.dialect import engine, render  # noqa: E402

AS_OF = "2026-11-20 15:00:00"
PATH = ("kaireon_offers", "kaireon_stg_interactions", "kaireon_winback__customers", "kaireon_winback__candidates",
        "kaireon_winback__decisions")


def models_for(data: Path, rate: float | None) -> list[tuple[str, str]]:
    config = flow.build_config((data / "offers.parquet").resolve())
    out = next(n for n in config["decisionFlows"][0]["draftConfig"]["nodes"] if n["type"] == "response")
    if rate is not None:
        out["config"] = {"includeTrace": True, "decisionTraceSampleRate": rate}
    folder = Path(tempfile.mkdtemp()) / "decisioning"
    folder.mkdir(parents=True)
    (folder / "bench.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    duck = engine("duckdb")
    return [(m.name, m.sql if isinstance(m.sql, str) else render(m.sql, duck))
            for m in compile_project(load_project(folder))]


def build(data: Path, models: list[tuple[str, str]]) -> dict[str, float]:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    for view, file in (("bench_customers", "customers"), ("bench_offers", "offers"), ("bench_interactions", "interactions")):
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{(data / (file + '.parquet')).resolve()}')")
    con.execute("CREATE TABLE kaireon_run_params AS SELECT CAST(? AS TIMESTAMP) AS as_of, CAST(? AS VARCHAR) AS "
                "as_of_text, CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS VARCHAR) AS channel",
                [AS_OF, AS_OF.replace(" ", "T") + "Z"])
    times = {}
    for name, sql in models:
        if name == "kaireon_run_params":
            continue
        body = first_build("\n".join(line for line in sql.splitlines() if not line.startswith("--")))
        start = time.perf_counter()
        con.execute(f'CREATE TABLE "{name}" AS {_REF.sub(lambda m: chr(34) + m.group(1) + chr(34), body)}')
        times[name] = time.perf_counter() - start
    times["trace_rows"] = con.execute("SELECT count(*) FROM kaireon_winback__traces").fetchone()[0] \
        if "kaireon_winback__traces" in times else 0
    times["candidate_rows"] = con.execute("SELECT count(*) FROM kaireon_winback__candidates").fetchone()[0]
    con.close()
    return times


def measure(data: Path, rate: float | None, runs: int) -> dict:
    models = models_for(data, rate)
    done = [build(data, models) for _ in range(runs)]
    best = lambda names: round(min(sum(r.get(n, 0.0) for n in names) for r in done), 3)  # noqa: E731
    return {
        "customers": duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{data / 'customers.parquet'}')").fetchone()[0],
        "include_trace": rate is not None, "rate": rate, "runs": runs,
        "decision_path_s": best(PATH), "traces_s": best(("kaireon_winback__traces", "kaireon_traces")),
        "rejections_s": best(("kaireon_winback__rejections",)), "all_models_s": best([n for n, _ in models]),
        "trace_rows": done[0]["trace_rows"], "candidate_rows": done[0]["candidate_rows"],
        "machine": {"cores": os.cpu_count(), "os": platform.platform()}, "duckdb": duckdb.__version__,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/tmp/bench")
    p.add_argument("--customers", type=int, default=200_000)
    p.add_argument("--rates", type=float, nargs="+", default=[0.05, 1.0])
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    data = Path(args.root) / f"{args.customers // 1000}k"
    if not (data / "interactions.parquet").exists():
        subprocess.run([sys.executable, str(HERE / "gen.py"), "--customers", str(args.customers), "--out", str(data)],
                       check=True, capture_output=True)
    for rate in [None, *args.rates]:
        print(json.dumps(measure(data, rate, args.runs)), flush=True)


if __name__ == "__main__":
    main()
