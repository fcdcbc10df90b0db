"""The scale benchmark (bench/, issue 6) kept working at a tiny N. No timing is asserted here.

Each case runs the three commands as bench/README.md does: generate Parquet files, compile and
`dbt build` the flow (bench/run.py), and run the hand-written yardstick, which must give the same
decisions row for row. The funnel and the rejections are checked against each other and the data.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _json(script: str, *args, cwd: Path) -> dict:
    proc = subprocess.run([sys.executable, str(BENCH / script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("customers, offers, rejections", [(400, 30, "all"), (150, 300, "sampled")])
def test_bench_runs_and_matches_the_yardstick(tmp_path, customers, offers, rejections):
    data, work = tmp_path / "data", tmp_path / "work"
    subprocess.run([sys.executable, str(BENCH / "gen.py"), "--customers", str(customers), "--offers", str(offers),
                    "--out", str(data)], check=True, capture_output=True, timeout=300)
    result = _json("run.py", "--data", data, "--work", work, "--rejections", rejections, cwd=tmp_path)
    assert result["customers"] == customers and result["engine"] == "duckdb"
    assert result["decisions"] > 0 and result["peak_rss_mb"] > 0
    yardstick = _json("yardstick.py", "--data", data, "--work", work, cwd=tmp_path)
    assert yardstick["match"] is True
    assert yardstick["compiled_rows"] == yardstick["yardstick_rows"] == result["decisions"]

    con = duckdb.connect(str(work / "bench.duckdb"), read_only=True)
    try:
        one = lambda sql: con.execute(sql).fetchone()
        funnel = dict(zip([d[0] for d in con.execute("select * from kaireon_funnel").description],
                          one("select * from kaireon_funnel")))
        # every offer is a candidate on its own channel only: customers x offers pairs in all
        assert funnel["customers"] == customers and funnel["total_candidates"] == customers * offers
        # the category join: a customer's pairs past qualification are offers of their category
        eligible = one("""
            select count(*) from read_parquet('{d}/customers.parquet') c
            join read_parquet('{d}/offers.parquet') o on o.category = c.primary_category
            where c.days_since_last_purchase between 90 and 365 and c.lifetime_purchases >= 3
              and c.lifetime_revenue >= 50
              and (o.channel = 'push' or (o.channel = 'email' and coalesce(c.consent_email, false))
                   or (o.channel = 'sms' and coalesce(c.consent_sms, false)))""".format(d=data))[0]
        assert funnel["after_qualification"] == eligible
        assert funnel["decided"] == result["decisions"]
        rejected = one("select count(*) from kaireon_rejections")[0]
        dropped = funnel["total_candidates"] - funnel["after_contact_policy"]
        if rejections == "all":
            assert rejected == dropped  # one row per dropped pair
        else:  # a sample of customers, with every rejection of theirs
            assert 0 < rejected < dropped
            per_customer = con.execute("select customer_id, count(*) from kaireon_rejections group by 1").fetchall()
            survivors = dict(con.execute("select customer_id, count(*) from kaireon_winback__candidates "
                                         "where reject_code is null group by 1").fetchall())
            assert all(n + survivors.get(c, 0) == offers for c, n in per_customer)
    finally:
        con.close()
