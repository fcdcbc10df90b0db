"""The discount learner through real dbt (DuckDB): the winback demo with tiers, two `kaireon run`s. Run 1's
decisions reach kaireon_decision_log (with discount_pct); impressions and conversions of them are appended to
the history; run 2's posterior (through kaireon_attribution's decision behind, read from the log) counts them,
and its choices equal a Python computation from the same rows and uniforms."""
from __future__ import annotations

import csv
import hashlib
import math
from datetime import datetime, timedelta

import duckdb
import pytest
import yaml

from conftest import copy_demo, kaireon
from kaireon_sql.config import load_project
from kaireon_sql.dialect import beta_draw_reference

pytestmark = pytest.mark.dbt
T1, T2 = "2026-11-20T15:00:00Z", "2026-11-22T15:00:00Z"
TIERS = [0, 10, 20]


def _with_tiers(project) -> None:
    path = project / "decisioning" / "winback.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    flow = next(f for f in config["decisionFlows"] if f["key"] == "winback")
    definition = flow.get("draftConfig") or flow["config"]
    definition["flowConfig"].update({"discountTiers": TIERS, "discount": {"groupBy": "primaryCategory"}})
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _query(project, sql: str) -> list[dict]:
    con = duckdb.connect(str(project / "warehouse" / "kaireon_demo.duckdb"), read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def _converts(customer: str, offer: str, tier: float) -> bool:
    u = int(hashlib.md5(f"{customer}|{offer}".encode()).hexdigest()[:8], 16) / 2 ** 32
    return u < 0.15 + tier / 40


def test_two_runs_through_the_decision_log(tmp_path):
    project = copy_demo(tmp_path)
    _with_tiers(project)
    kaireon("run", "--as-of", T1, "--quiet-dbt", cwd=project)
    run1 = _query(project, "select customer_id, offer_id, channel, discount_pct from kaireon_decision_log "
                           "where delivered")
    assert run1 and {r["discount_pct"] for r in run1} <= {0.0, 10.0, 20.0}
    at = datetime.fromisoformat(T1[:-1]) + timedelta(hours=2)
    converted = set()
    seed = project / "seeds" / "demo" / "demo_interaction_history.csv"
    lines = seed.read_text(encoding="utf-8").splitlines(keepends=True)  # the demo's rows after T1 go: only ours
    seed.write_text("".join(lines[:1] + [ln for ln in lines[1:] if ln.split(",")[4] <= T1[:-1].replace("T", " ")]),
                    encoding="utf-8")
    with open(seed, "a", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        for r in run1:
            out.writerow([r["customer_id"], r["offer_id"], r["channel"], "impression", at.isoformat(" "), "", "", ""])
            if _converts(r["customer_id"], r["offer_id"], r["discount_pct"]):
                converted.add((r["customer_id"], r["offer_id"]))
                out.writerow([r["customer_id"], r["offer_id"], r["channel"], "convert",
                              (at + timedelta(hours=5)).isoformat(" "), "20", "", ""])
    summary = kaireon("run", "--as-of", T2, "--quiet-dbt", cwd=project).stdout

    group = {r["customer_id"]: r["primaryCategory"]
             for r in csv.DictReader(open(project / "seeds" / "demo" / "demo_customers.csv", encoding="utf-8"))}
    counts: dict[tuple, list[int]] = {}
    for r in run1:
        n_k = counts.setdefault((r["discount_pct"], group[r["customer_id"]] or None), [0, 0])
        n_k[0] += 1
        n_k[1] += (r["customer_id"], r["offer_id"]) in converted
    got = {(r["discount_pct"], r["group_value"]): [r["n"], r["k"]]
           for r in _query(project, "select * from kaireon_winback__discount_posterior")}
    assert got == counts and sum(k for _, k in counts.values()) > 0

    offers = {o.ref: o.revenue_value for o in load_project(project / "decisioning").offers}
    choices = _query(project, "select * from kaireon_winback__discounts")
    assert choices
    for c in choices:
        best = None
        for t in TIERS:
            n, k = counts.get((float(t), group[c["customer_id"]] or None), (0, 0))
            draw = beta_draw_reference(1.0 + k, 1.0 + n - k, ["winback", f"winback@{T2}", c["customer_id"], str(t)])
            ev = draw * (offers[c["offer_id"]] or 1.0) * (1 - t / 100)
            if best is None or ev > best[1]:
                best = (float(t), ev, draw)
        assert c["discount_pct"] == best[0] and math.isclose(c["draw"], best[2], rel_tol=1e-12), (c, best)
    readout = _query(project, "select * from kaireon_discount_readout")
    assert {(r["discount_pct"], r["group_value"]): [r["decisions"], r["conversions"]] for r in readout} == counts
    given = {}
    for d in _query(project, "select discount_pct from kaireon_decisions"):
        given[d["discount_pct"]] = given.get(d["discount_pct"], 0) + 1
    line = "  discount tiers: " + ", ".join(f"{t:g}% {n}" for t, n in sorted(given.items()))
    assert line in summary, summary
    printed = kaireon("discounts", cwd=project).stdout.splitlines()
    assert printed[0].startswith("flow winback: mean discount per converted decision ")
    assert len(printed) == 1 + len(counts), printed
