"""The uplift random forest (`learner="forest"`): it finds a known effect, is seeded, saves and loads
as flat trees, refuses malformed tree files, and its warehouse scores equal the Python model's to
1e-9 on DuckDB, PostgreSQL and Spark."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from sqlglot import exp

from backends import open_backend
from kaireon_sql.dialect import render
from kaireon_sql.trees import Tree
from kaireon_sql.uplift import Thresholds, UpliftDataError, UpliftModel, fit_uplift, model_sql, qini_auc_score
from kaireon_sql.uplift.forest import ForestParams, TreeHead, bin_edges, fit_forest, predict_tree
from uplift_data import COLUMNS, table_rows, synthetic, with_skewed_spend

FEATURES = ["x1", "x2", "cat", "spend"]
SMALL = ForestParams(n_trees=8, max_depth=4, min_leaf=20)


@pytest.fixture(scope="module")
def data():
    return with_skewed_spend()


@pytest.fixture(scope="module")
def forest_model(data):
    with pytest.warns(UserWarning, match="NULL"):
        return fit_uplift(data, "treatment", "outcome", FEATURES, "forest", seed=3, forest=SMALL,
                          thresholds=Thresholds(target_uplift=0.1, exclude_uplift=0.02))


def test_forest_ranks_by_the_true_effect():
    table, true_uplift = synthetic(n=8000, seed=11)
    model = fit_uplift(table, "treatment", "outcome", ["x1", "x2", "cat"], "forest",
                       forest=ForestParams(n_trees=40, max_depth=4, min_leaf=100))
    predicted = model.uplift(table)
    assert np.corrcoef(predicted, true_uplift)[0, 1] > 0.8
    test, _ = synthetic(n=8000, seed=12)
    assert qini_auc_score(test.columns["outcome"], model.uplift(test), test.columns["treatment"]) > 0.1
    out = model.predict(table)  # p_with_offer, p_without_offer are the forest's averaged leaf rates
    np.testing.assert_array_equal(out["uplift"], out["p_with_offer"] - out["p_without_offer"])
    assert ((out["p_with_offer"] > 0) & (out["p_with_offer"] < 1)).all()
    # the explanation surrogate names x1, the effect's driver, first for most customers
    assert np.mean([s.startswith("x1:") for s in out["top_features"]]) > 0.7


def test_leaves_respect_min_leaf_per_arm_in_both_halves():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3000, 3))
    t = rng.integers(0, 2, 3000)
    y = (rng.random(3000) < 0.2 + 0.2 * t * (z[:, 0] > 0)).astype(int)
    for honest in (True, False):
        treated, control = fit_forest(z, t, y, ForestParams(n_trees=3, max_depth=5, min_leaf=150, honest=honest))
        for tree in treated.trees:
            assert len(tree.left) > 1  # the effect is found
            leaf = predict_tree(Tree(tree.feature, tree.threshold, tree.left, tree.right,
                                     tuple(float(i) for i in range(len(tree.left))), tree.missing_left), z)
            for node in np.unique(leaf):  # every leaf holds >= min_leaf rows of each arm (in all rows, so >= 150)
                rows = leaf == node
                assert (t[rows] == 1).sum() >= 150 and (t[rows] == 0).sum() >= 150


def test_thresholds_are_midpoints_never_training_values():
    z = np.array([[0.0], [1.0], [1.0], [3.0]])
    assert bin_edges(z, 32)[0].tolist() == [0.5, 2.0]
    many = np.arange(1000.0)[:, None]
    edges = bin_edges(many, 16)[0]
    assert len(edges) <= 15 and not np.isin(edges, many).any()


def test_seeded(data):
    def fit(seed):
        return fit_uplift(data, "treatment", "outcome", ["x1", "x2"], "forest", seed=seed, forest=SMALL).to_json()
    a, b, c = fit(1), fit(1), fit(2)
    a.pop("training"), b.pop("training"), c.pop("training")
    assert a == b and a != c


def test_saved_model_round_trips(forest_model, data, tmp_path):
    path = tmp_path / "forest.json"
    forest_model.save(path)
    saved = json.loads(path.read_text())
    assert saved["learner"] == "forest" and saved["uplift_kind"] == "difference"
    assert len(saved["heads"]["with_offer"]["trees"]) == SMALL.n_trees
    assert saved["training"]["forest"]["min_leaf"] == SMALL.min_leaf
    loaded = UpliftModel.load(path)
    assert isinstance(loaded.with_offer, TreeHead)
    want, got = forest_model.predict(data), loaded.predict(data)
    for key in ("p_with_offer", "p_without_offer", "uplift"):
        np.testing.assert_array_equal(got[key], want[key])
    assert got["top_features"].tolist() == want["top_features"].tolist()


def _broken(model: UpliftModel, change) -> dict:
    data = copy.deepcopy(model.to_json())
    change(data)
    return data


@pytest.mark.parametrize("change, message", [
    (lambda d: d["heads"]["with_offer"].pop("trees"), r"heads.with_offer: expected an object with a non-empty list"),
    (lambda d: d["heads"].__setitem__("with_offer", {"intercept": 0.0, "coef": [0.0]}), r"heads.with_offer: expected"),
    (lambda d: d["heads"]["without_offer"]["trees"][0]["feature"].__setitem__(0, 99),
     r"heads.without_offer.trees\[0\].feature: expected encoded column numbers"),
    (lambda d: d["heads"]["with_offer"]["trees"][1]["value"].pop(),
     r"heads.with_offer.trees\[1\].value: expected a list of"),
    (lambda d: d["heads"]["with_offer"]["trees"][0]["left"].__setitem__(0, 0),
     r"heads.with_offer.trees\[0\].left\[0\]: expected children after their parent"),
    (lambda d: d["heads"]["with_offer"]["trees"][0]["threshold"].__setitem__(0, "1"),
     r"heads.with_offer.trees\[0\].threshold: expected a list of"),
    (lambda d: d.__setitem__("uplift_kind", "linear"), r"uplift_kind: expected 'difference' for a tree learner"),
])
def test_malformed_tree_files_are_refused(forest_model, change, message):
    with pytest.raises(UpliftDataError, match=message):
        UpliftModel.from_json(_broken(forest_model, change))


def test_bad_forest_options_are_refused(data):
    for params, message in ((ForestParams(n_trees=0), "trees must be"), (ForestParams(max_depth=0), "depth must be"),
                            (ForestParams(min_leaf=0), "min leaf"), (ForestParams(criterion="gini"), "criterion"),
                            (ForestParams(sample_fraction=0.0), "sample fraction")):
        with pytest.raises(UpliftDataError, match=message):
            fit_uplift(data, "treatment", "outcome", ["x1"], "forest", forest=params)
    with pytest.raises(UpliftDataError, match="l2 'auto' tunes the logistic learners"):
        fit_uplift(data, "treatment", "outcome", ["x1"], "forest", l2="auto", forest=SMALL)


_rows = table_rows


@pytest.fixture(scope="module")
def engine_model(data):
    """A small forest (local Spark plans a wide CASE slowly), over every kind of feature."""
    with pytest.warns(UserWarning, match="NULL"):
        return fit_uplift(data, "treatment", "outcome", FEATURES, "forest", seed=3,
                          forest=ForestParams(n_trees=4, max_depth=3, min_leaf=20),
                          thresholds=Thresholds(target_uplift=0.1, exclude_uplift=0.02))


@pytest.mark.parametrize("engine_name", ["duckdb", "postgres", "spark"])
def test_sql_scores_equal_python(engine_name, data, engine_model):
    forest_model = engine_model
    scoring = data.rows(np.arange(data.n_rows) < 300)
    scoring.columns["cat"][3] = "zzz"  # an unseen level, a row of NULLs, values outside ln(1 + x)'s domain
    for f in FEATURES:
        scoring.columns[f][4] = None if f == "cat" else np.nan
    scoring.columns["spend"][5], scoring.columns["spend"][6] = -5.0, -1.0
    assert any(c.transform == "log1p" for c in forest_model.encoding.columns)
    backend = open_backend(engine_name)
    try:
        backend.create_table("uplift_features", COLUMNS, _rows(scoring))
        sql = render(model_sql(forest_model, exp.to_table("uplift_features")), backend.engine)
        got = sorted(backend.query(sql), key=lambda r: r["customer_id"])
        want = forest_model.predict(scoring)
        assert len(got) == scoring.n_rows
        for key in ("p_with_offer", "p_without_offer", "uplift"):
            np.testing.assert_allclose([r[key] for r in got], want[key], rtol=0, atol=1e-9, err_msg=key)
        assert len(set(want["uplift"].round(12))) > 5  # the trees do split these rows
        assert [r["segment"] for r in got] == want["segment"].tolist()
        assert [r["top_features"] for r in got] == want["top_features"].tolist()
    finally:
        backend.close()


def test_a_flow_scores_with_a_forest_model_file(tmp_path):
    """`modelType: uplift` with a forest's model file: the score node reads its p_with_offer and uplift."""
    import test_uplift_flow as flow_case
    from harness import rows, scenario
    from kaireon_sql.uplift.dataset import table_from_arrays

    rng = np.random.default_rng(7)
    purchases = rng.integers(1, 20, 4000).astype(float)
    treatment = rng.integers(0, 2, 4000)
    outcome = (rng.random(4000) < 0.05 + treatment * 0.01 * purchases).astype(int)
    model = fit_uplift(table_from_arrays({"purchases": purchases, "treatment": treatment, "outcome": outcome}),
                       "treatment", "outcome", ["purchases"], "forest",
                       forest=ForestParams(n_trees=10, max_depth=3, min_leaf=100))
    model.save(tmp_path / "m.json")
    config = flow_case._config(flow_case._placed(tmp_path, tmp_path / "m.json"))
    con = scenario(tmp_path, config, flow_case._customers(), tables=flow_case._features_table())
    expected = flow_case._python(model)
    assert len({round(u, 12) for _, u in expected.values()}) > 2  # the forest splits these customers
    got = {r["customer_id"]: r["score"] for r in rows(con, "select customer_id, score from kaireon_decisions")}
    assert len(got) == len(expected)
    for cid, (p_with, uplift) in expected.items():
        assert got[cid] == pytest.approx((p_with + max(-1, min(1, uplift))) / 2, abs=1e-9)
