"""Each learner recovers a known effect from a synthetic experiment, deterministically."""
from __future__ import annotations

import numpy as np
import pytest

from kaireon_sql.uplift import UpliftModel, fit_arrays, fit_uplift
from uplift_data import synthetic

FEATURES = ["x1", "x2", "cat"]


@pytest.fixture(scope="module")
def data():
    return synthetic()


@pytest.mark.parametrize("learner", ["t", "s", "x", "ct"])
def test_learner_recovers_the_true_effect(data, learner):
    table, true_uplift = data
    model = fit_uplift(table, "treatment", "outcome", FEATURES, learner)
    pred = model.predict(table)
    assert np.corrcoef(pred["uplift"], true_uplift)[0, 1] > 0.8
    assert abs(pred["uplift"].mean() - true_uplift.mean()) < 0.03
    x1 = table.columns["x1"]
    assert pred["uplift"][x1 > 1].mean() > 0.15  # truly about +0.3
    assert pred["uplift"][x1 < -1.5].mean() < 0  # truly negative: sleeping dogs
    assert (pred["segment"][x1 < -1.5] == "sleeping_dog").mean() > 0.8
    assert ((pred["p_with_offer"] > 0) & (pred["p_with_offer"] < 1)).all()
    # x1 explains the uplift: it leads the top features for most rows
    assert np.mean([s.startswith("x1:") for s in pred["top_features"]]) > 0.6


@pytest.mark.parametrize("learner", ["t", "s"])
def test_difference_learners_predict_uplift_as_the_difference(data, learner):
    table, _ = data
    pred = fit_uplift(table, "treatment", "outcome", FEATURES, learner).predict(table)
    np.testing.assert_array_equal(pred["uplift"], pred["p_with_offer"] - pred["p_without_offer"])


def test_fit_is_deterministic_and_round_trips_through_json(tmp_path):
    table, _ = synthetic(n=3000, seed=2)
    a = fit_uplift(table, "treatment", "outcome", FEATURES, "x", l2="auto", seed=3)
    b = fit_uplift(table, "treatment", "outcome", FEATURES, "x", l2="auto", seed=3)
    a.training.pop("fit_seconds"), b.training.pop("fit_seconds")
    assert a.to_json() == b.to_json()
    a.save(tmp_path / "m.json")
    again = UpliftModel.load(tmp_path / "m.json")
    for key in ("p_with_offer", "p_without_offer", "uplift"):
        np.testing.assert_array_equal(again.predict(table)[key], a.predict(table)[key])
    assert again.predict(table)["top_features"].tolist() == a.predict(table)["top_features"].tolist()


def test_fit_from_arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 2))
    t = rng.integers(0, 2, 3000)
    y = (rng.random(3000) < 0.2 + 0.2 * t * (x[:, 0] > 0)).astype(int)
    model = fit_arrays(x, t, y, ["history", "recency"], learner="t")
    assert model.features == ["history", "recency"]
    u = model.predict_z(np.column_stack([c.encode(x[:, j]) for j, c in enumerate(model.encoding.columns)]))["uplift"]
    assert u[x[:, 0] > 0.5].mean() > u[x[:, 0] < -0.5].mean() + 0.1


def test_class_transformation_reweights_unbalanced_arms():
    table, true_uplift = synthetic(n=9000, seed=11)
    keep = (table.columns["treatment"] == 0) | (np.arange(9000) % 3 == 0)  # about 1 treated to 3 control
    model = fit_uplift(table.rows(keep), "treatment", "outcome", FEATURES, "ct")
    assert abs(model.uplift(table).mean() - true_uplift.mean()) < 0.04
