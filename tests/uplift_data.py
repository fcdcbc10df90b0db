"""Synthetic experiments with a known effect, for the uplift tests."""
from __future__ import annotations

import numpy as np

from kaireon_sql.uplift import table_from_arrays


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def synthetic(n: int = 8000, seed: int = 7, with_nulls: bool = False):
    """x1 drives the effect (uplift grows with x1, negative below about -0.5); x2 and cat only the
    baseline. Returns (table, true_uplift)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    cat = rng.choice(["a", "b", "c"], size=n).astype(object)
    t = rng.integers(0, 2, size=n)
    base = -1.0 + 0.5 * x2 + 0.4 * (cat == "b")
    p0, p1 = sigmoid(base), sigmoid(base + 0.4 + 0.8 * x1)
    y = (rng.random(n) < np.where(t == 1, p1, p0)).astype(int)
    columns = {"customer_id": np.arange(n), "x1": x1, "x2": x2.astype(object) if with_nulls else x2, "cat": cat,
               "treatment": t, "outcome": y}
    if with_nulls:
        columns["x2"][::97] = None
        columns["cat"] = cat.copy()
        columns["cat"][::89] = None
    return table_from_arrays(columns), p1 - p0


def with_skewed_spend(n: int = 1500, seed: int = 5):
    """`synthetic` with NULLs and a skewed non-negative number `spend` (log-transformed by the encoding)."""
    table, _ = synthetic(n=n, seed=seed, with_nulls=True)
    table.columns["spend"] = np.random.default_rng(9).lognormal(0.0, 1.5, table.n_rows)
    table.kinds["spend"] = "number"
    return table


# with_skewed_spend's columns as a warehouse table: column types and rows (NaN as NULL)
COLUMNS = {"customer_id": "INTEGER", "x1": "DOUBLE", "x2": "DOUBLE", "cat": "VARCHAR", "spend": "DOUBLE"}


def table_rows(table):
    def num(v):
        return None if np.isnan(v) else float(v)
    return [(int(i), num(a), num(b), c, num(d))
            for i, a, b, c, d in zip(*(table.columns[k] for k in ("customer_id", "x1", "x2", "cat", "spend")))]
