"""Run one config on every engine and compare output tables row for row (scores to 1e-9)."""
from __future__ import annotations

import csv
import math
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from backends import Backend, open_backend, run_models_on
from harness import Table, compile_sql
from kaireon_sql.dialect import engine

S4_TABLES = ("kaireon_decisions", "kaireon_withheld_decisions", "kaireon_assignments", "kaireon_rejections",
             "kaireon_funnel")


def csv_table(path: Path, types: dict[str, str]) -> Table:
    """A CSV seed as a harness Table with explicit (DuckDB-spelled) types."""
    convert = {
        "VARCHAR": lambda v: v, "INTEGER": int, "DOUBLE": float, "BOOLEAN": lambda v: v.lower() == "true",
        "TIMESTAMP": datetime.fromisoformat,
    }
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = [tuple(None if r[c] == "" else convert[t](r[c]) for c, t in types.items()) for r in reader]
    return Table(types, rows)


def normalise(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value) if False else value
    return value


def table_rows(backend: Backend, table: str) -> list[dict]:
    rows = [{k: normalise(v) for k, v in r.items()} for r in backend.query(f"SELECT * FROM {backend.ident(table)}")]
    return sorted(rows, key=lambda r: [("" if r[k] is None else str(r[k]) if not isinstance(r[k], float) else f"{r[k]:.6f}")
                                       for k in sorted(r)])


def same_value(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def diff(reference: list[dict], other: list[dict]) -> str | None:
    """None when equal, else a short description of the first difference."""
    if len(reference) != len(other):
        return f"{len(reference)} rows vs {len(other)} rows"
    for i, (a, b) in enumerate(zip(reference, other)):
        if set(a) != set(b):
            return f"columns {sorted(a)} vs {sorted(b)}"
        for k in a:
            if not same_value(a[k], b[k]):
                return f"row {i} column {k}: {a[k]!r} vs {b[k]!r}"
    return None


def run_everywhere(config_dir: Path, tables: dict[str, Table], engines: list[str], **run) -> dict[str, dict[str, list[dict]]]:
    """{engine: {table: rows}} for the S4 tables, each engine running SQL compiled for it."""
    out = {}
    for name in engines:
        backend = open_backend(name)
        try:
            run_models_on(backend, compile_sql(config_dir, engine(name)), tables, **run)
            out[name] = {t: table_rows(backend, t) for t in S4_TABLES}
        finally:
            backend.close()
    return out


def assert_same_on_engines(config_dir: Path, tables: dict[str, Table], engines: list[str], **run) -> None:
    """Every S4 table on each of `engines` equals DuckDB's, row for row (S5)."""
    results = run_everywhere(config_dir, tables, ["duckdb", *[e for e in engines if e != "duckdb"]], **run)
    reference = results.pop("duckdb")
    for name, got in results.items():
        for table in S4_TABLES:
            problem = diff(reference[table], got[table])
            assert problem is None, f"{name} differs from duckdb in {table}: {problem}"
