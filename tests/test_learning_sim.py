"""bench/learning/sim.py's bookkeeping on a tiny run (2 policies x 3 days x 200 customers through dbt on
DuckDB): the oracle's regret is 0, regret never decreases, the history holds what the runs decided and
the draws gave. Not a ranking of policies (that is the benchmark's report, bench/learning/README.md)."""
from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

pytest.importorskip("dbt.adapters.duckdb")
from bench_modules import bench_modules  # noqa: E402

(sim,) = bench_modules("learning", "sim")

SEED, DAYS, N = 7, 3, 200


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return sim.simulate(["oracle", "random"], days=DAYS, n_customers=N, seed=SEED,
                        work=tmp_path_factory.mktemp("learning"), log=lambda *_: None)


def test_truth_and_customers_are_deterministic():
    a, b = sim.make_truth(SEED), sim.make_truth(SEED)
    assert np.array_equal(a.rates, b.rates) and a.priority == b.priority
    assert not np.array_equal(a.rates, sim.make_truth(SEED + 1).rates)
    assert ((a.rates > 0) & (a.rates < 1)).all()
    ca, cb = sim.make_customers(SEED, N, a), sim.make_customers(SEED, N, b)
    assert (ca["segment_index"] == cb["segment_index"]).all() and (ca["rnd"] == cb["rnd"]).all()


def test_oracle_has_no_regret(report):
    days = report["policies"]["oracle"]["days"]
    assert len(days) == DAYS
    assert all(d["decided"] == N for d in days)
    assert all(abs(d["regret"]) < 1e-9 for d in days)
    # the oracle converts exactly the customers the best-in-hindsight policy converts (same draws)
    assert all(d["conversions"] == d["oracle_conversions"] for d in days)


def test_regret_is_cumulative_and_non_decreasing(report):
    for res in report["policies"].values():
        cum = [d["cumulative_regret"] for d in res["days"]]
        assert all(d["regret"] >= -1e-9 for d in res["days"])
        assert all(b >= a - 1e-9 for a, b in zip(cum, cum[1:]))
        assert cum[-1] == pytest.approx(sum(d["regret"] for d in res["days"]), abs=1e-5)
    assert report["policies"]["random"]["cumulative_regret"] > 0


def test_history_holds_the_decisions_and_draws(report, tmp_path_factory):
    truth = sim.make_truth(SEED)
    customers = sim.make_customers(SEED, N, truth)
    db = Path(report["policies"]["random"]["work"]) / "sim.duckdb"
    con = duckdb.connect(str(db))  # not read_only: dbt-duckdb in this process may hold the file open
    rows = con.execute("select customer_id, offer_id, outcome, occurred_at from interactions").fetchall()
    last = con.execute("select customer_id, offer_id from kaireon_decisions").fetchall()
    con.close()
    imps = [r for r in rows if r[2] == "impression"]
    convs = {(r[0], r[1], r[3].date()) for r in rows if r[2] == "convert"}
    assert len(imps) == N * DAYS
    assert len(convs) == sum(d["conversions"] for d in report["policies"]["random"]["days"])
    # the last day's conversions recomputed from its decisions, the truth and the day's draws
    seg = dict(zip(customers["customer_id"], customers["segment_index"]))
    u = dict(zip(customers["customer_id"], sim.outcome_uniforms(SEED, DAYS - 1, N)))
    day = (sim.START + sim.timedelta(days=DAYS - 1)).date()
    offer_k = {sim.make_truth(SEED).offer_id(s, k): k for s in range(len(truth.segments)) for k in range(len(truth.offers))}
    expected = {(c, o, day) for c, o in last if u[c] < truth.rates[seg[c], offer_k[o]]}
    assert {x for x in convs if x[2] == day} == expected
    regret = sum(truth.best[seg[c]] - truth.rates[seg[c], offer_k[o]] for c, o in last)
    assert report["policies"]["random"]["days"][-1]["regret"] == pytest.approx(regret, abs=1e-5)
