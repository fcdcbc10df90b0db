"""Cost of seeded Beta draws in SQL (kaireon_sql.dialect.beta_draw) on DuckDB.

    .venv/bin/python bench/beta_draws.py [--rows 10000000] [--threads 2] [--runs 3]

Each variant materialises `rows` draws (CREATE TABLE AS over range(rows)) with the parts of a
thompson_bandit draw (salt, run id, customer id, offer id as text); the time is the best of `runs`,
the table dropped between runs. Variants: `hash_uniform` (one md5 a row: the floor of any seeded
draw), `beta_draw` at shapes varying per row the way posteriors do (alpha = 1 + i % 50, beta =
1 + i % 997), and at fixed shapes (1, 1) (the slowest rejection rate) and (0.5, 0.5) (shapes below 1 use
one more md5). Prints one JSON line per variant (machine, versions, seconds, draws per second).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kaireon_sql.dialect import ENGINES, beta_draw, hash_uniform, render  # noqa: E402

PARTS = [exp.Literal.string("salt"), exp.Literal.string("run-1"), exp.column("customer_id"), exp.column("offer_id")]
SHAPES = {
    "beta_draw(1 + i % 50, 1 + i % 997)": (exp.column("k"), exp.column("m")),
    "beta_draw(1, 1)": (exp.Literal.number(1), exp.Literal.number(1)),
    "beta_draw(0.5, 0.5)": (exp.Literal.number(0.5), exp.Literal.number(0.5)),
}


def _rows_sql(rows: int) -> str:
    """The input rows: customer ids (i // 30) and offer ids (i % 30) as text, shapes from i."""
    return (f"SELECT CAST(i // 30 AS VARCHAR) AS customer_id, 'offer_' || CAST(i % 30 AS VARCHAR) AS offer_id, "
            f"CAST(1 + i % 50 AS DOUBLE) AS k, CAST(1 + i % 997 AS DOUBLE) AS m FROM range({rows}) r(i)")


def _select(draw: exp.Expression, rows: int) -> str:
    body = render(exp.select(exp.alias_(draw, "x")), ENGINES["duckdb"], pretty=False)
    return f"{body} FROM ({_rows_sql(rows)}) AS t"


def _time(con: duckdb.DuckDBPyConnection, sql: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        con.execute(f"CREATE TABLE draws AS {sql}")
        best = min(best, time.perf_counter() - start)
        con.execute("DROP TABLE draws")
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    variants = {"hash_uniform": hash_uniform(PARTS)}
    variants.update({name: beta_draw(a, b, PARTS) for name, (a, b) in SHAPES.items()})
    machine = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "python": platform.python_version(), "duckdb": duckdb.__version__, "sqlglot": sqlglot.__version__}
    for name, draw in variants.items():
        seconds = _time(con, _select(draw, args.rows), args.runs)
        print(json.dumps({"variant": name, "rows": args.rows, "threads": args.threads, "seconds": round(seconds, 2),
                          "draws_per_second": round(args.rows / seconds), **machine}), flush=True)


if __name__ == "__main__":
    main()
