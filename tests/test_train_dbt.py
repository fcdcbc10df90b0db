"""`kaireon train` end to end through dbt on DuckDB (slow: two `kaireon run`s and two trainings, ~2 min;
set KAIREON_SLOW=1 to run it).

The demo project with a gradient_boosted and a neural_cf model that no flow scores with yet
(bootstrapping: the winback flow's decisions fill the gradient_boosted model's feature log), outcomes
drawn from a known rule after the run, `kaireon train` for both, then the flow switched to the
gradient_boosted model: its candidates' propensities equal the model file's prediction over the
features (the Python reference, itself equal to scikit-learn's predict_proba to 1e-12,
tests/test_train_engines.py).
"""
from __future__ import annotations

import csv
import json
import math
import os
import random

import duckdb
import pytest

from conftest import copy_demo, kaireon
from kaireon_sql.plan.trained import Feature
from kaireon_sql.train import gbm

pytestmark = [pytest.mark.dbt, pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("KAIREON_SLOW"), reason="slow (~2 min): set KAIREON_SLOW=1")]

MODELS = """algorithmModels:
  - id: gbm
    name: GBM propensity
    modelType: gradient_boosted
    config:
      features: [customer.daysSinceLastPurchase, customer.lifetimeRevenue, customer.primaryCategory, offer.margin]
      maxIter: 20
      minSamplesLeaf: 5
  - id: ncf
    name: NCF propensity
    modelType: neural_cf
    config: {factors: 4, epochs: 100}
"""


def _append_outcomes(project):
    """An impression of every customer x winback offer an hour after the run, a click a day later with a known p."""
    rng = random.Random(1)
    with open(project / "seeds/demo/demo_customers.csv", newline="") as f:
        customers = list(csv.DictReader(f))
    with open(project / "seeds/demo/demo_interaction_history.csv", "a", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        for c in customers:
            for offer in ("winback_apparel", "winback_electronics", "winback_home"):
                out.writerow([c["customer_id"], offer, "email", "impression", "2026-11-20 16:00:00", "", "", "winback"])
                z = -1 + float(c["lifetimeRevenue"] or 0) / 200 - float(c["daysSinceLastPurchase"] or 0) / 300
                if rng.random() < 1 / (1 + math.exp(-z)):
                    out.writerow([c["customer_id"], offer, "email", "click", "2026-11-21 10:00:00", "", "", "winback"])


def test_train_then_score_in_the_warehouse(tmp_path):
    project = copy_demo(tmp_path)
    (project / "decisioning" / "trained.yml").write_text(MODELS)
    early = kaireon("train", "gbm", cwd=project, check=False)  # nothing built yet: a clear error
    assert early.returncode == 1 and "kaireon train: error" in early.stderr
    _append_outcomes(project)
    kaireon("run", "--as-of", "2026-11-20T15:00:00Z", "--quiet-dbt", cwd=project)
    out = kaireon("train", "gbm", "--as-of", "2026-11-23T00:00:00Z", "--seed", "3", cwd=project).stdout
    assert "on 541 rows" in out and "models/gbm.json" in out  # the 541 delivered decisions, features as logged
    first = (project / "decisioning/models/gbm.json").read_text()
    kaireon("train", "gbm", "--as-of", "2026-11-23T00:00:00Z", "--seed", "3", cwd=project)
    assert (project / "decisioning/models/gbm.json").read_text() == first  # seeded: same rows, same file
    assert "neural_cf" in kaireon("train", "ncf", "--as-of", "2026-11-23T00:00:00Z", cwd=project).stdout

    flow = project / "decisioning" / "winback.yml"
    flow.write_text(flow.read_text().replace("modelId: winback_uplift", "modelId: gbm"))
    # December: the impressions appended above no longer count against the monthly 3-touch cap
    kaireon("run", "--as-of", "2026-12-02T15:00:00Z", "--quiet-dbt", cwd=project)
    con = duckdb.connect(str(project / "warehouse" / "kaireon_demo.duckdb"), read_only=True)
    try:
        rows = con.execute(
            'select k.propensity, c."cust__daysSinceLastPurchase", c."cust__lifetimeRevenue", c."cust__primaryCategory", '
            "o.margin from kaireon_winback__candidates k join kaireon_winback__customers c using (customer_id) "
            "join kaireon_offers o using (offer_id)").fetchall()
        logged = con.execute("select count(distinct run_id) from kaireon_model__gbm__feature_log").fetchone()[0]
    finally:
        con.close()
    assert logged == 2  # each run appended its decisions once
    data = json.loads(first)
    features = [Feature(f["name"], f["kind"], tuple(f.get("categories", ()))) for f in data["features"]]
    want = gbm.predict_file(data, gbm.matrix(features, [r[1:] for r in rows]))
    assert rows and max(abs(r[0] - w) for r, w in zip(rows, want)) < 1e-12
