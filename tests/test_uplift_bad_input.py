"""Bad input gets an error or a warning that names the column; nothing turns into NaN."""
from __future__ import annotations

import numpy as np
import pytest

from kaireon_sql.uplift import UpliftDataError, UpliftDataWarning, fit_uplift, table_from_arrays
from uplift_data import synthetic


def _table(**override):
    rng = np.random.default_rng(0)
    n = 400
    cols = {"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n).astype(object), "t": rng.integers(0, 2, n),
            "y": rng.integers(0, 2, n)}
    cols.update(override)
    return table_from_arrays(cols)


def test_treatment_with_one_group_only():
    with pytest.raises(UpliftDataError, match="treatment column 't' has one group only: all 400 rows are treated"):
        fit_uplift(_table(t=np.ones(400, int)), "t", "y", ["x"])


def test_treatment_and_outcome_must_be_binary():
    with pytest.raises(UpliftDataError, match="outcome column 'y' must hold only 0 and 1, found 2.0"):
        fit_uplift(_table(y=np.r_[np.zeros(399), 2]), "t", "y", ["x"])
    with pytest.raises(UpliftDataError, match="treatment column 't' must hold 0/1 values, found text"):
        fit_uplift(_table(t=np.array(["yes", "no"] * 200, dtype=object)), "t", "y", ["x"])
    with pytest.raises(UpliftDataError, match="outcome column 'y' has 1 NULL"):
        fit_uplift(_table(y=np.r_[np.zeros(399), np.nan]), "t", "y", ["x"])


def test_holdout_too_small():
    t = np.r_[np.ones(390, int), np.zeros(10, int)]
    with pytest.raises(UpliftDataError, match="390 treated and 10 control rows; each arm needs at least 30"):
        fit_uplift(_table(t=t), "t", "y", ["x"])


def test_constant_and_all_null_features_are_dropped_with_a_warning():
    table = _table(k=np.full(400, 3.0), n=np.full(400, np.nan), s=np.array(["only"] * 400, dtype=object))
    with pytest.warns(UpliftDataWarning) as caught:
        model = fit_uplift(table, "t", "y", ["x", "k", "n", "s", "c"])
    messages = " | ".join(str(w.message) for w in caught)
    assert "feature 'k' is constant (3.0); dropped" in messages
    assert "feature 'n' is NULL in every row; dropped" in messages
    assert "feature 's' is constant ('only'); dropped" in messages
    assert model.features == ["x", "c"]
    assert len(model.training["warnings"]) == 3


def test_no_usable_feature():
    with pytest.raises(UpliftDataError, match="no usable feature"), pytest.warns(UpliftDataWarning):
        fit_uplift(_table(k=np.full(400, 1.0)), "t", "y", ["k"])


def test_missing_columns_are_named():
    with pytest.raises(UpliftDataError, match="lacks feature column\\(s\\) 'nope'"):
        fit_uplift(_table(), "t", "y", ["x", "nope"])
    with pytest.raises(UpliftDataError, match="no column 'treat'"):
        fit_uplift(_table(), "treat", "y", ["x"])
    with pytest.raises(UpliftDataError, match="cannot also be a feature"):
        fit_uplift(_table(), "t", "y", ["x", "y"])


def test_features_missing_or_retyped_at_scoring_time():
    table, _ = synthetic(n=1000)
    model = fit_uplift(table, "treatment", "outcome", ["x1", "x2", "cat"])
    lacking = table_from_arrays({"x1": [0.1], "cat": ["a"]})
    with pytest.raises(UpliftDataError, match="lacks feature column\\(s\\) 'x2'"):
        model.predict(lacking)
    retyped = table_from_arrays({"x1": ["high"], "x2": [0.0], "cat": ["a"]})
    with pytest.raises(UpliftDataError, match="feature 'x1' was numeric .* but is text here"):
        model.predict(retyped)
    with pytest.raises(UpliftDataError, match="feature 'x1' has infinite values"):
        model.predict(table_from_arrays({"x1": [np.inf], "x2": [0.0], "cat": ["a"]}))


def test_nulls_and_unseen_levels_score_without_nan():
    table, _ = synthetic(n=1000)
    model = fit_uplift(table, "treatment", "outcome", ["x1", "x2", "cat"])
    odd = table_from_arrays({"x1": [None, 0.5], "x2": [None, None], "cat": [None, "never seen"]})
    pred = model.predict(odd)
    for key in ("p_with_offer", "p_without_offer", "uplift"):
        assert np.isfinite(pred[key]).all()


def test_unknown_learner_and_bad_l2():
    with pytest.raises(UpliftDataError, match="unknown learner 'q'"):
        fit_uplift(_table(), "t", "y", ["x"], "q")
    with pytest.raises(UpliftDataError, match="l2 must be >= 0"):
        fit_uplift(_table(), "t", "y", ["x"], l2=-1)
