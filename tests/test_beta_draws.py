"""Seeded Beta draws in SQL (kaireon_sql.dialect.beta_draw, SPEC S8 thompson_bandit; docs/sampling.md).

On DuckDB, PostgreSQL and Spark: 100k draws at each of five shapes pass a Kolmogorov-Smirnov test against
scipy.stats.beta at the 1% level (one query per engine), and a handful of rows, chosen to exercise the
retries and the shapes below 1, equal the Python reference computed from the same md5s (to 1e-12).
"""
from __future__ import annotations

import hashlib

import pytest
from backends import open_backend
from scipy import stats
from sqlglot import exp

from kaireon_sql.dialect import beta_draw, beta_draw_reference, engine, hash_uniform, render, uniforms
from kaireon_sql.dialect.sampling import X_BLOCKS, Y_BLOCKS, gamma_draw, gamma_draw_reference, reference_log_gamma

KS_SHAPES = [(0.5, 0.5), (1.0, 1.0), (2.0, 50.0), (40.0, 3.0), (300.0, 2000.0)]
DRAWS = 100_000
PARTS = [exp.Literal.string("ks"), exp.Literal.string("run"), exp.column("i")]


def _values(rows: list[tuple], name: str) -> str:
    """An inline table of doubles (a, b, i) in the engine's syntax (test harness SQL, not compiled SQL)."""
    double = "DOUBLE PRECISION" if name == "postgres" else "DOUBLE"
    body = ", ".join("(" + ", ".join(f"CAST({v!r} AS {double})" if isinstance(v, float) else str(v) for v in row) + ")"
                     for row in rows)
    return f"(VALUES {body}) AS s(a, b, i)" if name != "spark" else f"VALUES {body} AS s(a, b, i)"


def _draw_sql(name: str, draw: exp.Expression, source: str) -> str:
    select = render(exp.select(exp.column("a"), exp.column("b"), exp.column("i"), exp.alias_(draw, "x")),
                    engine(name), pretty=False)
    return f"{select} FROM {source}"


def _ks_source(name: str) -> str:
    """Every (shape, i) pair, i in 0 .. DRAWS-1, from the engine's own row generator."""
    shapes = _values([(a, b, 0) for a, b in KS_SHAPES], name)
    numbers = {"duckdb": f"range({DRAWS}) AS r(i)", "postgres": f"generate_series(0, {DRAWS - 1}) AS r(i)",
               "spark": f"(SELECT id AS i FROM range({DRAWS})) AS r"}[name]
    return f"(SELECT s.a, s.b, r.i FROM {numbers} CROSS JOIN {shapes}) AS t"


def _retry_rows() -> list[tuple]:
    """Rows whose draws use retries (X from its first and second retry blocks, Y likewise), shapes below 1, tiny
    and huge shapes: found with the Python reference, so the SQL is checked on every path it has."""
    rows = [(a, b, i) for a, b in KS_SHAPES for i in range(3)]
    rows += [(1e-3, 5.0, 7), (0.01, 0.02, 8), (1.0, 1e6, 9), (1e-300, 1.0, 10), (123456.0, 2.5, 11)]
    wanted = {("x", 2): None, ("x", 4): None, ("y", 2): None, ("y", 4): None}
    for i in range(20_000):
        log_x = reference_log_gamma(["ks", "run", i], 1.0, 0, X_BLOCKS)[1]
        log_y = reference_log_gamma(["ks", "run", i], 1.0, 1, Y_BLOCKS)[1]
        for (side, n), found in wanted.items():
            if found is None and (log_x if side == "x" else log_y) >= n:
                wanted[(side, n)] = i
        if all(v is not None for v in wanted.values()):
            break
    assert all(v is not None for v in wanted.values()), wanted
    return rows + [(1.0, 1.0, i) for i in sorted(set(wanted.values()))]


@pytest.fixture(scope="module", params=["duckdb", "postgres", "spark"])
def backend(request):
    b = open_backend(request.param)
    yield b
    b.close()


def _draws_by_shape(backend) -> dict[tuple[float, float], list[float]]:
    sql = _draw_sql(backend.name, beta_draw(exp.column("a"), exp.column("b"), PARTS), _ks_source(backend.name))
    if backend.name == "spark":  # 5 rows of arrays: collecting 500k Row objects costs more than the draws
        rows = backend.query(f"SELECT a, b, collect_list(x) AS xs FROM ({sql}) AS d GROUP BY a, b")
        return {(float(r["a"]), float(r["b"])): [float(x) for x in r["xs"]] for r in rows}
    out: dict[tuple[float, float], list[float]] = {}
    for r in backend.query(sql):
        out.setdefault((float(r["a"]), float(r["b"])), []).append(float(r["x"]))
    return out


def test_draws_pass_kolmogorov_smirnov(backend):
    draws = _draws_by_shape(backend)
    assert sorted(draws) == sorted(KS_SHAPES)
    for a, b in KS_SHAPES:
        xs = draws[(a, b)]
        assert len(xs) == DRAWS and all(0.0 < x < 1.0 for x in xs), (a, b)
        p = stats.kstest(xs, stats.beta(a, b).cdf).pvalue
        assert p > 0.01, f"Beta({a}, {b}) on {backend.name}: KS p-value {p}"


def test_draws_equal_the_python_reference(backend):
    """Also: a shape that is not positive gives NULL (same query: Spark plans the draw in seconds)."""
    rows = _retry_rows() + [(0.0, 1.0, 1), (1.0, -2.0, 2)]
    got = backend.query(_draw_sql(backend.name, beta_draw(exp.column("a"), exp.column("b"), PARTS),
                                  _values(rows, backend.name)))
    assert len(got) == len(rows)
    for r in got:
        ref = beta_draw_reference(float(r["a"]), float(r["b"]), ["ks", "run", int(r["i"])])
        if ref is None:
            assert r["x"] is None, r
            continue
        assert 0.0 < float(r["x"]) < 1.0
        assert float(r["x"]) == pytest.approx(ref, rel=1e-12, abs=1e-300), r
    assert sum(r["x"] is None for r in got) == 2
    assert beta_draw_reference(None, 1.0, ["ks"]) is None


def test_gamma_and_uniforms_equal_the_python_reference(backend):
    rows = [(0.3, 0.0, 1), (1.0, 0.0, 2), (7.5, 0.0, 3), (2000.0, 0.0, 4)]
    draw = gamma_draw(exp.column("a"), PARTS)
    got = backend.query(_draw_sql(backend.name, draw, _values(rows, backend.name)))
    for r in got:
        assert float(r["x"]) == pytest.approx(gamma_draw_reference(float(r["a"]), ["ks", "run", int(r["i"])]),
                                              rel=1e-12)
    cols = [exp.alias_(u, f"u{k}") for k, u in enumerate([hash_uniform(PARTS), *uniforms(PARTS, 6)])]
    sql = render(exp.select(exp.column("i"), *cols), engine(backend.name), pretty=False)
    for r in backend.query(f"{sql} FROM {_values(rows, backend.name)}"):
        key = f"ks:run:{int(r['i'])}"
        blocks = [hashlib.md5(key.encode()).hexdigest(), hashlib.md5((key + ":1").encode()).hexdigest()]
        want = [int(blocks[k // 4][8 * (k % 4):8 * (k % 4) + 8], 16) / 4294967296 for k in range(6)]
        assert [float(r[f"u{k}"]) for k in range(7)] == [want[0], *want]
