"""The decision log through real dbt: incremental, one append per run, re-runs add nothing."""
from __future__ import annotations

import duckdb
import pytest

from conftest import copy_demo, kaireon

pytestmark = pytest.mark.dbt
COLUMNS = ("run_id, as_of, decision_flow_key, decision_flow_version, config_hash, customer_id, channel, rank, "
           "offer_id, offer_name, category_name, priority, score, personalization, experiment_group")


def _run(project, *args: str) -> dict[str, list[tuple]]:
    """`kaireon run` with `args`, then the log and this run's decisions and withheld decisions."""
    kaireon("run", *args, "--quiet-dbt", cwd=project)
    con = duckdb.connect(str(project / "warehouse" / "kaireon_demo.duckdb"), read_only=True)
    try:
        def q(sql):
            return sorted(con.execute(sql).fetchall(), key=repr)
        return {
            "log": q(f"select {COLUMNS}, delivered from kaireon_decision_log"),
            "current": q(f"select {COLUMNS}, true from kaireon_decisions union all "
                         f"select {COLUMNS}, false from kaireon_withheld_decisions"),
        }
    finally:
        con.close()


def test_decision_log_appends_each_run_once(tmp_path):
    project = copy_demo(tmp_path)
    first = _run(project, "--as-of", "2026-11-20T15:00:00Z")
    assert first["log"] == first["current"]
    delivered = [r for r in first["log"] if r[-1]]
    withheld = [r for r in first["log"] if not r[-1]]
    assert len(delivered) == 541 and len(withheld) == 87  # the demo's decisions and withheld decisions
    assert {r[-2] for r in delivered} == {"treatment"} and {r[-2] for r in withheld} == {"holdout"}
    assert {r[0] for r in first["log"]} == {"winback@2026-11-20T15:00:00Z"}

    again = _run(project, "--as-of", "2026-11-20T15:00:00Z")  # same as_of, same default run_id
    assert again["log"] == first["log"]

    next_day = _run(project, "--as-of", "2026-11-21T15:00:00Z")
    assert next_day["current"] and {r[0] for r in next_day["current"]} == {"winback@2026-11-21T15:00:00Z"}
    assert next_day["log"] == sorted(first["log"] + next_day["current"], key=repr)

    rerun = _run(project, "--as-of", "2026-11-21T15:00:00Z", "--run-id", "winback@2026-11-21T15:00:00Z")
    assert rerun["log"] == next_day["log"]
