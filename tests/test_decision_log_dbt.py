"""The decision log through real dbt: incremental, one append per run, re-runs add nothing."""
from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime

import duckdb
import pytest

from conftest import REPO, copy_demo, kaireon
from test_lifecycle import reference

pytestmark = pytest.mark.dbt
COLUMNS = ("run_id, as_of, decision_flow_key, decision_flow_version, config_hash, customer_id, channel, rank, "
           "offer_id, offer_name, category_name, priority, score, personalization, experiment_group")


def _run(project, *args: str) -> dict[str, list[tuple]]:
    """`kaireon run` with `args`, then the log and this run's decisions and withheld decisions (and the
    lifecycle log, transitions and the printed summary, S9)."""
    proc = kaireon("run", *args, "--quiet-dbt", cwd=project)
    con = duckdb.connect(str(project / "warehouse" / "kaireon_demo.duckdb"), read_only=True)
    try:
        def q(sql):
            return sorted(con.execute(sql).fetchall(), key=repr)
        return {
            "log": q(f"select {COLUMNS}, delivered from kaireon_decision_log"),
            "current": q(f"select {COLUMNS}, true from kaireon_decisions union all "
                         f"select {COLUMNS}, false from kaireon_withheld_decisions"),
            "lifecycle_log": q("select as_of, customer_id, lifecycle_stage from kaireon_lifecycle_log"),
            "transitions": q("select previous_as_of, from_stage, to_stage, customers from kaireon_lifecycle_transitions"),
            "printed": proc.stdout.splitlines(),
        }
    finally:
        con.close()


def _demo_stages(as_of: datetime) -> dict[str, str]:
    """S9 from the demo CSVs in Python (tests/test_lifecycle.py reference)."""
    with open(REPO / "seeds" / "demo" / "demo_orders.csv", newline="", encoding="utf-8") as fh:
        orders = [(r["customer_id"], r["order_id"], datetime.fromisoformat(r["ordered_at"]), float(r["amount"]),
                   r["category"]) for r in csv.DictReader(fh)]
    with open(REPO / "seeds" / "demo" / "demo_customers.csv", newline="", encoding="utf-8") as fh:
        customers = [r["customer_id"] for r in csv.DictReader(fh)]
    return {c: r["lifecycle_stage"] for c, r in reference(orders, customers, as_of=as_of).items()}


def test_decision_log_and_lifecycle_log_append_each_run_once(tmp_path):
    """One demo project, five runs (each a whole demo build): the decision log appends once per run and re-runs
    add nothing; kaireon_lifecycle_log appends once per as_of, and the transitions since the previous logged
    run and the printed summary equal Python's S9 on the demo CSVs."""
    project = copy_demo(tmp_path)
    first_at, next_at, later_at = datetime(2026, 11, 20, 15), datetime(2026, 11, 21, 15), datetime(2027, 1, 10, 15)
    first = _run(project, "--as-of", "2026-11-20T15:00:00Z")
    assert first["log"] == first["current"]
    delivered = [r for r in first["log"] if r[-1]]
    withheld = [r for r in first["log"] if not r[-1]]
    assert len(delivered) == 541 and len(withheld) == 87  # the demo's decisions and withheld decisions
    assert {r[-2] for r in delivered} == {"treatment"} and {r[-2] for r in withheld} == {"holdout"}
    assert {r[0] for r in first["log"]} == {"winback@2026-11-20T15:00:00Z"}
    before = _demo_stages(first_at)
    assert first["lifecycle_log"] == sorted(((first_at, c, s) for c, s in before.items()), key=repr)
    assert "  transitions: none yet (the first logged run)" in first["printed"]

    again = _run(project, "--as-of", "2026-11-20T15:00:00Z")  # same as_of, same default run_id
    assert again["log"] == first["log"] and again["lifecycle_log"] == first["lifecycle_log"]

    next_day = _run(project, "--as-of", "2026-11-21T15:00:00Z")
    assert next_day["current"] and {r[0] for r in next_day["current"]} == {"winback@2026-11-21T15:00:00Z"}
    assert next_day["log"] == sorted(first["log"] + next_day["current"], key=repr)

    rerun = _run(project, "--as-of", "2026-11-21T15:00:00Z", "--run-id", "winback@2026-11-21T15:00:00Z")
    assert rerun["log"] == next_day["log"] and rerun["lifecycle_log"] == next_day["lifecycle_log"]

    later = _run(project, "--as-of", "2027-01-10T15:00:00Z")
    previous, after = _demo_stages(next_at), _demo_stages(later_at)
    assert len(later["lifecycle_log"]) == 3 * len(before)
    moves = Counter((previous[c], after[c]) for c in previous)
    assert {(f, t): n for _, f, t, n in later["transitions"]} == dict(moves)
    assert {r[0] for r in later["transitions"]} == {next_at}
    moved = sum(n for (f, t), n in moves.items() if f != t)
    assert moved and any(line.startswith(f"  transitions since 2026-11-21 15:00:00: {moved} moved")
                         for line in later["printed"])
