"""Run the benchmark flow through `kaireon compile` + `dbt build` on generated Parquet files.

    python bench/gen.py --customers 100000 --out /tmp/bench/100k
    python bench/run.py --data /tmp/bench/100k [--work /tmp/bench/100k-work] [--engine duckdb]

Sets up a dbt project in the work folder (dbt_project.yml, profiles.yml with a DuckDB file,
packages.yml pointing at this checkout, views bench_customers / bench_offers / bench_interactions
over the Parquet files, the config from bench/flow.py), then times, each as a fresh process as a
user would run them: `kaireon compile` and `dbt build --select +tag:kaireon`. Prints one JSON line.

- end_to_end_s: wall time of both commands, dbt start-up included (dbt deps and the config
  generation are set-up, not timed);
- decision_models_s: sum of dbt's execution_time over the kaireon_* models (all of them: the
  decision path plus rejections, funnel, summaries, decision log, experiment models);
- decision_path_s: the same over kaireon_decisions and the kaireon models it depends on;
- tests_s: dbt's execution_time summed over the data tests `dbt build` runs;
- peak_rss_mb: max of ru_maxrss over this process and its children (dbt runs DuckDB in-process).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
AS_OF = "2026-11-20T15:00:00Z"
sys.path.insert(0, str(HERE))
import flow  # noqa: E402

VIEWS = {"bench_customers": "customers", "bench_offers": "offers", "bench_interactions": "interactions"}


def setup(data: Path, work: Path, threads: int, rejections: str, memory_limit: str | None,
          scoring: dict | None = None) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "dbt_project.yml").write_text(
        "name: kaireon_bench\nversion: '1.0'\nconfig-version: 2\nprofile: kaireon_bench\n"
        "model-paths: [models]\ntarget-path: target\nflags:\n  send_anonymous_usage_stats: false\n",
        encoding="utf-8")
    settings = f"\n      settings:\n        memory_limit: '{memory_limit}'" if memory_limit else ""
    (work / "profiles.yml").write_text(
        "kaireon_bench:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n"
        f"      path: bench.duckdb\n      threads: {threads}{settings}\n", encoding="utf-8")
    (work / "packages.yml").write_text(f"packages:\n  - local: {REPO}\n", encoding="utf-8")
    models = work / "models" / "bench"
    models.mkdir(parents=True, exist_ok=True)
    for name, file in VIEWS.items():
        parquet = (data / f"{file}.parquet").resolve()
        (models / f"{name}.sql").write_text(
            "{{ config(materialized='view') }}\n" f"select * from read_parquet('{parquet}')\n", encoding="utf-8")
    shutil.rmtree(work / "decisioning", ignore_errors=True)
    flow.write((data / "offers.parquet").resolve(), work / "decisioning", rejections, scoring)
    for name, content in (scoring or {}).get("files", {}).items():  # e.g. a trained model's file
        path = work / "decisioning" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content), encoding="utf-8")
    if not (work / "dbt_packages").exists():
        _run([_bin("dbt"), "deps", "--project-dir", str(work), "--profiles-dir", str(work)], work)


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-5000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return elapsed


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_rev() -> str | None:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "kaireon_sql"], capture_output=True, text=True)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return None


def timings(work: Path) -> dict:
    results = json.loads((work / "target" / "run_results.json").read_text())
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    nodes = manifest["nodes"]
    models: dict[str, float] = {}
    tests = 0.0
    for r in results["results"]:
        uid = r["unique_id"]
        if uid.startswith("model.") and nodes[uid]["name"].startswith("kaireon_"):
            models[nodes[uid]["name"]] = r["execution_time"]
        elif uid.startswith("test."):
            tests += r["execution_time"]
    # kaireon_decisions and its kaireon ancestors
    by_name = {n["name"]: uid for uid, n in nodes.items() if uid.startswith("model.")}
    path, todo = set(), ["kaireon_decisions"]
    while todo:
        name = todo.pop()
        if name in path or name not in by_name:
            continue
        path.add(name)
        todo += [nodes[d]["name"] for d in nodes[by_name[name]]["depends_on"]["nodes"] if d in nodes]
    path = {n for n in path if n.startswith("kaireon_")}
    top = dict(sorted(models.items(), key=lambda kv: -kv[1])[:6])
    return {
        "decision_models_s": round(sum(models.values()), 3),
        "decision_path_s": round(sum(models[n] for n in path if n in models), 3),
        "tests_s": round(tests, 3),
        "slowest_models_s": {k: round(v, 3) for k, v in top.items()},
        "n_models": len(models), "n_tests": sum(1 for r in results["results"] if r["unique_id"].startswith("test.")),
    }


def run(data: Path, work: Path, engine: str = "duckdb", threads: int = 1, rejections: str = "all",
        memory_limit: str | None = None, tests: bool = True, scoring: dict | None = None) -> dict:
    if engine != "duckdb":
        raise SystemExit(f"engine {engine!r}: only duckdb is wired into the benchmark so far")
    setup(data, work, threads, rejections, memory_limit, scoring)
    for stale in ("bench.duckdb", "bench.duckdb.wal", "target/run_results.json"):
        (work / stale).unlink(missing_ok=True)
    common = ["--project-dir", str(work), "--profiles-dir", str(work)]
    compile_s = _run([_bin("kaireon"), "compile", *common], work)
    build = [_bin("dbt"), "build", "--select", "+tag:kaireon", "--vars", json.dumps({"as_of": AS_OF}), *common]
    if not tests:
        build += ["--exclude", "resource_type:test"]
    build_s = _run(build, work)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    con = duckdb.connect(str(work / "bench.duckdb"), read_only=True)
    customers = con.execute("select count(*) from bench_customers").fetchone()[0]
    decisions = con.execute("select count(*) from kaireon_decisions").fetchone()[0]
    withheld = con.execute("select count(*) from kaireon_withheld_decisions").fetchone()[0]
    candidates = con.execute("select count(*) from kaireon_winback__candidates").fetchone()[0]
    con.close()
    return {
        "customers": customers, "decisions": decisions, "withheld": withheld, "candidate_rows": candidates,
        "end_to_end_s": round(compile_s + build_s, 3), "compile_s": round(compile_s, 3), "dbt_build_s": round(build_s, 3),
        **timings(work),
        "peak_rss_mb": round(max(own, children) / 1024, 1),
        "engine": engine, "threads": threads, "rejections": rejections, "dbt_tests": tests,
        "versions": {"python": platform.python_version(), "duckdb": duckdb.__version__,
                     "dbt-core": _version("dbt-core"), "dbt-duckdb": _version("dbt-duckdb"),
                     "sqlglot": _version("sqlglot"), "kaireon_sql": f"{_version('kaireon-sql')} ({_git_rev()})"},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder written by bench/gen.py")
    p.add_argument("--engine", default="duckdb", choices=["duckdb"])
    p.add_argument("--work", help="dbt project folder to create (default: <data>-work)")
    p.add_argument("--threads", type=int, default=1,
                   help="dbt threads (default 1: DuckDB runs each query on every core; with 2, models run side by side on the same cores and each model's time includes waiting for the other)")
    p.add_argument("--rejections", default="all", choices=["all", "sampled", "none"],
                   help="flowConfig.rejections.volume of the flow (default all)")
    p.add_argument("--memory-limit", help="DuckDB memory_limit setting, e.g. 4GB")
    p.add_argument("--no-tests", action="store_true", help="skip the dbt data tests of the kaireon models")
    args = p.parse_args(argv)
    data = Path(args.data).resolve()
    work = Path(args.work).resolve() if args.work else data.with_name(data.name + "-work")
    print(json.dumps(run(data, work, args.engine, args.threads, args.rejections, args.memory_limit, not args.no_tests)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
