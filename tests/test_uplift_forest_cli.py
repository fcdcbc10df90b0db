"""`kaireon uplift fit --learner forest`, `--log-transform`, and the default features: the treatment,
the outcome and columns derived from them are never features unless named in --features."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from kaireon_sql.cli import main
from kaireon_sql.uplift import UpliftModel, load_table
from kaireon_sql.uplift.cli import ForestDefaults
from kaireon_sql.uplift.forest import ForestParams
from uplift_data import synthetic


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Hillstrom's shape: `segment` the arm's name (the 0/1 `treatment` is made from it), outcome `visit`,
    `conversion` and `spend` measured after it (both 0 whenever visit is 0), `history` skewed spend."""
    table, _ = synthetic(n=2000, seed=4)
    rng = np.random.default_rng(1)
    t, visit = table.columns["treatment"].astype(int), table.columns["outcome"].astype(int)
    conversion = visit * (rng.random(len(t)) < 0.3)
    spend = conversion * rng.gamma(2.0, 50.0, len(t))
    history = rng.lognormal(4.0, 1.2, len(t))
    path = tmp_path_factory.mktemp("forest") / "campaign.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "x1", "x2", "cat", "history", "segment", "treatment", "visit", "conversion",
                    "spend", "coupon_used"])
        for i in range(len(t)):
            w.writerow([i, repr(float(table.columns["x1"][i])), repr(float(table.columns["x2"][i])),
                        table.columns["cat"][i], repr(float(history[i])), "Email" if t[i] else "No Email", t[i],
                        visit[i], conversion[i], repr(float(spend[i])), int(rng.random() < 0.5)])
    return path


def _fit(campaign, out, *extra):
    return main(["uplift", "fit", "--data", str(campaign), "--treatment", "treatment", "--outcome", "visit",
                 "--out", str(out), *extra])


def test_defaults_leave_out_the_treatment_outcome_and_derived_columns(campaign, tmp_path, capsys):
    assert _fit(campaign, tmp_path / "m.json", "--post-treatment", "coupon_used") == 0
    captured = capsys.readouterr()
    model = UpliftModel.load(tmp_path / "m.json")
    assert model.features == ["x1", "x2", "cat", "history"]
    assert "column 'segment' left out of the features: derived from the treatment 'treatment'" in captured.err
    assert "column 'conversion' left out of the features: derived from the outcome 'visit' (it is 0.0 on every " \
           "row where visit = 0)" in captured.err
    assert "column 'spend' left out" in captured.err
    assert "coupon_used" not in captured.err  # named by --post-treatment: left out without a note
    assert "4 feature(s) (x1, x2, cat, history)" in captured.out
    assert any("left out" in w for w in model.training["warnings"])


def test_named_features_are_used_as_given(campaign, tmp_path, capsys):
    assert _fit(campaign, tmp_path / "m.json", "--features", "x1", "conversion") == 0
    assert UpliftModel.load(tmp_path / "m.json").features == ["x1", "conversion"]
    assert _fit(campaign, tmp_path / "m2.json", "--features", "x1", "visit") == 1
    assert "the outcome column 'visit' cannot also be a feature" in capsys.readouterr().err
    assert _fit(campaign, tmp_path / "m3.json", "--post-treatment", "nope") == 1
    assert "no column 'nope' (post-treatment)" in capsys.readouterr().err


@pytest.mark.parametrize("choice, transform", [("auto", "log1p"), ("none", None)])
def test_log_transform_is_a_choice(campaign, tmp_path, choice, transform):
    assert _fit(campaign, tmp_path / "m.json", "--features", "x1", "history", "--log-transform", choice) == 0
    columns = {c.source: c for c in UpliftModel.load(tmp_path / "m.json").encoding.columns}
    assert columns["history"].transform == transform and columns["x1"].transform is None


def test_forest_fit_and_score(campaign, tmp_path, capsys):
    model_file, scores = tmp_path / "f.json", tmp_path / "s.csv"
    assert _fit(campaign, model_file, "--learner", "forest", "--trees", "6", "--depth", "3", "--min-leaf", "40",
                "--criterion", "ddp", "--seed", "5") == 0
    assert "fitted forest learner on 2000 rows" in capsys.readouterr().out
    model = UpliftModel.load(model_file)
    assert model.training["forest"] == {**ForestParams().to_json(), "n_trees": 6, "max_depth": 3, "min_leaf": 40,
                                        "criterion": "ddp"}
    assert len(model.with_offer.trees) == 6 and model.training["seed"] == 5
    assert main(["uplift", "score", "--model", str(model_file), "--data", str(campaign), "--keep", "customer_id",
                 "--out", str(scores)]) == 0
    with scores.open() as f:
        rows = list(csv.DictReader(f))
    want = model.predict(load_table(str(campaign)))
    np.testing.assert_allclose([float(r["uplift"]) for r in rows], want["uplift"], atol=1e-9)
    assert _fit(campaign, tmp_path / "bad.json", "--learner", "forest", "--trees", "0") == 1
    assert "forest: trees must be 1..2000" in capsys.readouterr().err


def test_cli_defaults_are_the_forest_defaults():
    defaults = ForestParams()
    assert (ForestDefaults.n_trees, ForestDefaults.max_depth, ForestDefaults.min_leaf, ForestDefaults.criterion,
            ForestDefaults.sample_fraction) == (defaults.n_trees, defaults.max_depth, defaults.min_leaf,
                                                defaults.criterion, defaults.sample_fraction)
