"""Tables for uplift modelling: read through DuckDB, checked, and split into numpy columns.

A table is a CSV or Parquet file (anything DuckDB's `read_csv_auto` / `read_parquet` reads) or a
relation in a DuckDB database file. Numeric and boolean columns become float64 arrays with NaN
for NULL; text columns become object arrays with None for NULL.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
from sqlglot import exp

from ..errors import KaireonError

# Fewer rows than this in either arm and a fit or an evaluation says nothing worth trusting.
MIN_PER_ARM = 30

_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")


class UpliftDataError(KaireonError):
    """Input that cannot be fitted, scored or evaluated; the message names the column."""


class UpliftDataWarning(UserWarning):
    """Input that was repaired (e.g. a constant feature dropped); the message names the column."""


def warn(message: str) -> None:
    warnings.warn(UpliftDataWarning(message), stacklevel=3)


@dataclass
class Table:
    """Columns of one table, in the order read; `kinds` is 'number', 'boolean' or 'text' per column."""

    columns: dict[str, np.ndarray]
    kinds: dict[str, str]
    source: str = ""
    sql_types: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def column(self, name: str, purpose: str) -> np.ndarray:
        if name not in self.columns:
            raise UpliftDataError(f"{self.source or 'the table'} has no column {name!r} ({purpose}); "
                                  f"columns are: {', '.join(self.columns)}")
        return self.columns[name]

    def require(self, names: list[str], purpose: str) -> None:
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise UpliftDataError(f"{self.source or 'the table'} lacks {purpose} column(s) {', '.join(map(repr, missing))}; "
                                  f"columns are: {', '.join(self.columns)}")

    def rows(self, mask: np.ndarray) -> "Table":
        return Table({k: v[mask] for k, v in self.columns.items()}, dict(self.kinds), self.source, dict(self.sql_types))


def table_from_arrays(columns: dict[str, object], source: str = "arrays") -> Table:
    """A Table from Python lists / numpy arrays: numbers stay numbers, strings become text."""
    out, kinds = {}, {}
    for name, values in columns.items():
        arr = np.asarray(values, dtype=object if _has_text(values) else None)
        if arr.dtype == bool:
            out[name], kinds[name] = arr.astype(float), "boolean"
        elif arr.dtype.kind in "biuf":
            out[name], kinds[name] = arr.astype(float), "number"
        else:
            arr = np.asarray(values, dtype=object)
            if all(v is None or isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in arr):
                out[name] = np.array([np.nan if v is None else float(v) for v in arr])
                kinds[name] = "number"
            else:
                out[name] = np.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                                      for v in arr], dtype=object)
                kinds[name] = "text"
    return Table(out, kinds, source)


def _has_text(values) -> bool:
    return any(isinstance(v, str) for v in (values.tolist() if isinstance(values, np.ndarray) else values))


def source_relation(source: str) -> exp.Expression:
    """A DuckDB FROM item for a file path (CSV or Parquet) or a relation name."""
    lower = source.lower()
    if lower.endswith((".parquet", ".pq")):
        return exp.Table(this=exp.func("read_parquet", exp.Literal.string(source)))
    if lower.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        return exp.Table(this=exp.func("read_csv_auto", exp.Literal.string(source)))
    return exp.to_table(source, dialect="duckdb")


def connect(database: str | None = None):
    if database and not Path(database).exists():
        raise UpliftDataError(f"no such DuckDB database: {database}")
    return duckdb.connect(database or ":memory:", read_only=bool(database))


def load_table(source: str, database: str | None = None, columns: list[str] | None = None) -> Table:
    """Read a CSV/Parquet file, or a relation of a DuckDB database, into a Table."""
    lower = source.lower()
    if lower.endswith((".parquet", ".pq", ".csv", ".csv.gz", ".tsv", ".txt")) and not Path(source).exists():
        raise UpliftDataError(f"no such file: {source}")
    con = connect(database)
    try:
        select = exp.select("*").from_(source_relation(source))
        try:
            described = con.execute("DESCRIBE " + select.sql("duckdb")).fetchall()
        except Exception as exc:  # duckdb.Error: unknown relation, unreadable file
            raise UpliftDataError(f"cannot read {source}: {str(exc).splitlines()[0]}") from None
        types = {row[0]: str(row[1]).upper() for row in described}
        wanted = list(types) if columns is None else columns
        missing = [c for c in wanted if c not in types]
        if missing:
            raise UpliftDataError(f"{source} lacks column(s) {', '.join(map(repr, missing))}; columns are: {', '.join(types)}")
        projections, kinds = [], {}
        for name in wanted:
            kinds[name] = _kind(types[name])
            column = exp.column(name, quoted=True)
            if kinds[name] == "number":
                column = exp.cast(column, "DOUBLE")
            elif kinds[name] == "boolean":
                column = exp.cast(exp.cast(column, "INT"), "DOUBLE")
            else:
                column = exp.cast(column, "VARCHAR")
            projections.append(exp.alias_(column, name, quoted=True))
        fetched = con.execute(exp.select(*projections).from_(source_relation(source)).sql("duckdb")).fetchnumpy()
    finally:
        con.close()
    out = {}
    for name in wanted:
        values = fetched[name]
        mask = np.ma.getmaskarray(values)
        if kinds[name] == "text":
            arr = np.asarray(np.ma.getdata(values), dtype=object).copy()
            arr[mask] = None
        else:
            arr = np.asarray(np.ma.getdata(values), dtype=float).copy()
            arr[mask] = np.nan
        out[name] = arr
    return Table(out, kinds, source, {n: types[n] for n in wanted})


def _kind(sql_type: str) -> str:
    if sql_type == "BOOLEAN":
        return "boolean"
    if sql_type.startswith(_NUMERIC_TYPES):
        return "number"
    return "text"


def binary_column(table: Table, name: str, role: str) -> np.ndarray:
    """A 0/1 column as int8; an error naming the column for NULLs or any other value."""
    values = table.column(name, role)
    if table.kinds.get(name) == "text":
        sample = sorted({v for v in values if v is not None})[:5]
        raise UpliftDataError(f"{role} column {name!r} must hold 0/1 values, found text such as {sample}")
    nulls = int(np.isnan(values).sum())
    if nulls:
        raise UpliftDataError(f"{role} column {name!r} has {nulls} NULL value(s); every row needs 0 or 1")
    bad = sorted(set(np.unique(values)) - {0.0, 1.0})
    if bad:
        shown = ", ".join(repr(float(v)) for v in bad[:5])
        raise UpliftDataError(f"{role} column {name!r} must hold only 0 and 1, found {shown}"
                              + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
    return values.astype(np.int8)


def treatment_and_outcome(table: Table, treatment: str, outcome: str,
                          min_per_arm: int = MIN_PER_ARM) -> tuple[np.ndarray, np.ndarray]:
    """The checked treatment (0/1, both groups, >= min_per_arm each) and outcome (0/1) columns."""
    t = binary_column(table, treatment, "treatment")
    y = binary_column(table, outcome, "outcome")
    n_t, n_c = int(t.sum()), int(len(t) - t.sum())
    if n_t == 0 or n_c == 0:
        only = "treated (1)" if n_c == 0 else "control (0)"
        raise UpliftDataError(f"treatment column {treatment!r} has one group only: all {len(t)} rows are {only}; "
                              "uplift needs treated and control (holdout) rows")
    if min(n_t, n_c) < min_per_arm:
        raise UpliftDataError(f"treatment column {treatment!r}: {n_t} treated and {n_c} control rows; each arm needs at "
                              f"least {min_per_arm} rows to learn or measure uplift")
    for arm, name in ((1, "treated"), (0, "control")):
        rate = y[t == arm].mean()
        if rate in (0.0, 1.0):
            warn(f"outcome column {outcome!r} is {int(rate)} for every {name} row; the uplift estimate will be weak")
    return t, y
