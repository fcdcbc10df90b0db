"""On the real Hillstrom e-mail experiment (../shared beside the repo; skipped without it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kaireon_sql.dialect import engine, render
from kaireon_sql.uplift import fit_uplift, load_table, model_sql, qini_auc_score
from kaireon_sql.uplift.dataset import source_relation
from kaireon_sql.uplift.learners import stratified_folds

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hillstrom" / "hillstrom_train.csv"
FEATURES = ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]

pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"Hillstrom data not found at {DATA}")


@pytest.fixture(scope="module")
def womens():
    table = load_table(str(DATA), columns=FEATURES + ["segment", "visit"])
    table = table.rows(np.isin(table.columns["segment"], ["Womens E-Mail", "No E-Mail"]))
    table.columns["treatment"] = (table.columns["segment"] == "Womens E-Mail").astype(float)
    table.kinds["treatment"] = "number"
    return table


def test_held_out_qini_is_positive_for_visits(womens):
    t, y = womens.columns["treatment"].astype(int), womens.columns["visit"].astype(int)
    fold = stratified_folds(t, y, 5, seed=0)
    train, test = womens.rows(fold != 0), womens.rows(fold == 0)
    for learner in ("t", "x"):
        model = fit_uplift(train, "treatment", "visit", FEATURES, learner)
        assert qini_auc_score(y[fold == 0], model.uplift(test), t[fold == 0]) > 0.03


def test_sql_equals_python_on_the_csv(womens):
    import duckdb

    model = fit_uplift(womens, "treatment", "visit", FEATURES, "s")
    eng = engine("duckdb")
    select = model_sql(model, source_relation(str(DATA)), keep=("recency",))  # its `segment` column would collide
    rows = duckdb.connect().execute(render(select, eng)).fetchall()
    full = load_table(str(DATA), columns=FEATURES)
    want = model.predict(full)
    np.testing.assert_allclose([r[3] for r in rows], want["uplift"], atol=1e-9)
    assert [r[5] for r in rows] == want["top_features"].tolist()
