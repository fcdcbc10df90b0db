"""`kaireon run` then `kaireon experiments` on the demo: the seed-000 readout of the 2026-10-15 winback
run, checked against a computation straight from the demo CSVs."""
from __future__ import annotations

import xml.etree.ElementTree as ET
import csv
from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from conftest import REPO, copy_demo, kaireon

pytestmark = pytest.mark.dbt
SEEDS = REPO / "seeds" / "demo"


def oracle() -> dict:
    """Units: the past run's customers who would have received an offer; outcomes: converts in 14 days."""
    with open(SEEDS / "demo_past_assignments.csv", newline="", encoding="utf-8") as fh:
        units = {r["customer_id"]: (r["experiment_group"], datetime.fromisoformat(r["as_of"]))
                 for r in csv.DictReader(fh) if r["would_receive"] == "true" and r["decision_flow_key"] == "winback"}
    revenue = {cid: 0.0 for cid in units}
    converted = set()
    with open(SEEDS / "demo_interaction_history.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["customer_id"] in units and r["outcome"] == "convert":
                at = units[r["customer_id"]][1]
                if at < datetime.fromisoformat(r["occurred_at"]) <= at + timedelta(days=14):
                    converted.add(r["customer_id"])
                    revenue[r["customer_id"]] += float(r["value"] or 0)
    rev = {g: np.array([revenue[c] for c, (grp, _) in units.items() if grp == g]) for g in ("treatment", "holdout")}
    conv = {g: sum(1 for c, (grp, _) in units.items() if grp == g and c in converted) for g in rev}
    n_t = len(rev["treatment"])
    diff = rev["treatment"].mean() - rev["holdout"].mean()
    se = np.sqrt(rev["treatment"].var(ddof=1) / n_t + rev["holdout"].var(ddof=1) / len(rev["holdout"]))
    z = stats.norm.ppf(0.975)
    return {"n": {g: len(r) for g, r in rev.items()}, "conv": conv, "incremental": diff * n_t,
            "low": (diff - z * se) * n_t, "high": (diff + z * se) * n_t,
            "p_revenue": 2 * stats.norm.sf(abs(diff / se))}


def test_demo_readout(tmp_path):
    project = copy_demo(tmp_path)
    kaireon("run", "--as-of", "2026-11-20T15:00:00Z", "--quiet-dbt", cwd=project)
    proc = kaireon("experiments", "--chart", "lift.svg", cwd=project)
    want = oracle()
    lines = proc.stdout.splitlines()
    assert lines[0] == (f"winback drives ${want['incremental']:,.0f} incremental revenue, "
                        f"95% CI [${want['low']:,.0f}, ${want['high']:,.0f}]")
    assert want["low"] > 0  # the demo's campaign pays
    text = proc.stdout
    assert f"x {want['n']['treatment']} treated customers" in text
    assert f"p = {want['p_revenue']:.3f}" in text
    assert f"({want['conv']['treatment']}/{want['n']['treatment']}," in text
    assert f"({want['conv']['holdout']}/{want['n']['holdout']}," in text
    assert "nan" not in text.lower() and "sample-ratio mismatch" not in text
    svg = (project / "lift.svg").read_text(encoding="utf-8")
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg" and "winback" in svg

    missing = kaireon("experiments", "--flow", "no_such_flow", cwd=project, check=False)
    assert missing.returncode == 1 and "no flow with key 'no_such_flow'" in missing.stderr
