"""Run the hand-written yardstick (bench/yardstick.sql) and check it against the compiled flow.

    python bench/yardstick.py --data /tmp/bench/100k [--work /tmp/bench/100k-work] [--repeat 3]

Runs `create table yardstick_decisions as <yardstick.sql>` on a fresh DuckDB file (as dbt
materialises a table model) --repeat times and keeps the fastest; then, when the work folder of
bench/run.py holds a built bench.duckdb, compares the rows with its kaireon_decisions:
(customer_id, offer_id, channel, rank) must be the same set and the scores equal to 1e-9.
Prints one JSON line; exit status 1 when the decisions differ.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
AS_OF = "2026-11-20 15:00:00"


def sql(data: Path, as_of: str = AS_OF) -> str:
    text = (HERE / "yardstick.sql").read_text(encoding="utf-8")
    for name in ("customers", "offers", "interactions"):
        text = text.replace("{" + name + "}", str((data / f"{name}.parquet").resolve()))
    return text.replace("{as_of}", as_of)


def run_yardstick(data: Path, db: Path, repeat: int = 1, threads: int | None = None) -> float:
    query = sql(data)
    best = None
    for _ in range(repeat):
        for suffix in ("", ".wal"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        con = duckdb.connect(str(db))
        if threads:
            con.execute(f"set threads = {threads}")
        start = time.perf_counter()
        con.execute(f"create table yardstick_decisions as {query}")
        elapsed = time.perf_counter() - start
        con.close()
        best = elapsed if best is None else min(best, elapsed)
    return best


def compare(db: Path, compiled_db: Path) -> dict:
    con = duckdb.connect(str(db))
    con.execute(f"attach '{compiled_db}' as compiled (read_only)")
    con.execute("""create temp table k as select customer_id, offer_id, channel, "rank"::bigint as rank, score
                   from compiled.main.kaireon_decisions""")
    counts = con.execute("select (select count(*) from k), (select count(*) from yardstick_decisions)").fetchone()
    only_compiled = con.execute("""select count(*) from (select customer_id, offer_id, channel, rank from k
                                   except all select customer_id, offer_id, channel, rank from yardstick_decisions)""").fetchone()[0]
    only_yardstick = con.execute("""select count(*) from (select customer_id, offer_id, channel, rank from yardstick_decisions
                                    except all select customer_id, offer_id, channel, rank from k)""").fetchone()[0]
    max_diff = con.execute("""select max(abs(k.score - y.score)) from k join yardstick_decisions y
                              using (customer_id, offer_id, channel, rank)""").fetchone()[0]
    sample = con.execute("""(select 'compiled only' as side, * from (select customer_id, offer_id, channel, rank from k
                             except select customer_id, offer_id, channel, rank from yardstick_decisions) limit 3)
                            union all
                            (select 'yardstick only', * from (select customer_id, offer_id, channel, rank from yardstick_decisions
                             except select customer_id, offer_id, channel, rank from k) limit 3)""").fetchall()
    con.close()
    same = only_compiled == 0 and only_yardstick == 0 and (max_diff is None or max_diff <= 1e-9)
    return {"match": same, "compiled_rows": counts[0], "yardstick_rows": counts[1], "only_compiled": only_compiled,
            "only_yardstick": only_yardstick, "max_score_diff": max_diff, "sample_differences": [list(map(str, r)) for r in sample]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder written by bench/gen.py")
    p.add_argument("--work", help="bench/run.py's work folder (default: <data>-work)")
    p.add_argument("--repeat", type=int, default=1, help="runs of the yardstick; the fastest is reported")
    p.add_argument("--threads", type=int, help="DuckDB threads (default: DuckDB's, all cores)")
    args = p.parse_args(argv)
    data = Path(args.data).resolve()
    work = Path(args.work).resolve() if args.work else data.with_name(data.name + "-work")
    work.mkdir(parents=True, exist_ok=True)
    db = work / "yardstick.duckdb"
    seconds = run_yardstick(data, db, args.repeat, args.threads)
    out = {"yardstick_s": round(seconds, 3), "repeat": args.repeat,
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "duckdb": duckdb.__version__}
    compiled = work / "bench.duckdb"
    if compiled.exists():
        out.update(compare(db, compiled))
        results = work / "target" / "run_results.json"
        if results.exists():
            sys.path.insert(0, str(HERE))
            from run import timings  # noqa: PLC0415

            t = timings(work)
            out["decision_path_s"] = t["decision_path_s"]
            out["decision_models_s"] = t["decision_models_s"]
            out["ratio_decision_path"] = round(t["decision_path_s"] / seconds, 2)
            out["ratio_all_models"] = round(t["decision_models_s"] / seconds, 2)
    print(json.dumps(out))
    return 0 if out.get("match", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
