"""Bad input gets an error or a warning that names the column; nothing turns into NaN."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlglot import exp

from backends import ENGINE_NAMES, open_backend
from kaireon_sql.dialect import render
from kaireon_sql.uplift import UpliftDataError, UpliftDataWarning, fit_uplift, model_sql, table_from_arrays
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


# ---- a model file named by config (modelFile) is untrusted input ------------------------------------------

DEMO_MODEL = Path(__file__).resolve().parents[1] / "decisioning" / "models" / "winback_uplift.json"


def _compile_with_model(folder: Path, model_file: str):
    from harness import compile_sql, flow, schema, standard_nodes, write_config

    score = {"method": "formula", "modelId": "u", "formula": {"propensityWeight": 1, "upliftWeight": 1}}
    config = {"schemas": [schema()], "algorithmModels": [{"id": "u", "name": "uplift", "modelType": "uplift",
                                                          "modelFile": model_file, "featuresRelation": "features"}],
              "offers": [{"id": "a", "name": "A", "priority": 50}], "decisionFlows": [flow(standard_nodes(score=score))]}
    return compile_sql(write_config(folder, config))


def _config_error(folder: Path, model_file: str) -> str:
    from kaireon_sql.errors import ConfigErrors

    with pytest.raises(ConfigErrors) as caught:
        _compile_with_model(folder, model_file)
    message = str(caught.value)
    assert "config.yml: algorithmModels[0] 'uplift': field 'modelFile': " in message
    return message


@pytest.mark.parametrize("model_file", ["/etc/passwd", "/proc/self/environ", "../../../../../etc/hostname",
                                        "../outside.json", "link.model"])
def test_model_file_must_stay_inside_the_config_folder(tmp_path, model_file):
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"format": "SECRET-TOKEN-123"}))
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "link.model").symlink_to(outside)  # a symlink inside the folder to a file outside it
    message = _config_error(folder, model_file)
    expected = "relative to the config folder" if model_file.startswith("/") else "inside the config folder"
    assert f"expected a path {expected}" in message
    assert "SECRET" not in message


def test_a_file_that_is_not_a_model_is_not_echoed(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "other.model").write_text(json.dumps({"format": "SECRET-TOKEN-123", "version": "SECRET"}))
    message = _config_error(folder, "other.model")
    assert "cannot read uplift model 'other.model': not a kaireon uplift model" in message
    assert "SECRET" not in message


def _set(path: str, value):
    def edit(data):
        *keys, last = path.split(".")
        target = data
        for key in keys:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return edit


@pytest.mark.parametrize("edit,at,expected", [
    (_set("encoding.columns.0.mean", float("nan")), "encoding.columns[0].mean", "a finite number"),
    (_set("heads.explain.coef.1", float("inf")), "heads.explain.coef[1]", "a finite number"),
    (_set("scoring.thresholds.target_uplift", float("-inf")), "scoring.thresholds.target_uplift", "a finite number"),
    (_set("encoding.columns.2.transform", "sqrt"), "encoding.columns[2].transform", "no transform or one of log1p"),
    (_set("encoding.columns.2.transform", "{{ 7*7 }}"), "encoding.columns[2].transform", "no transform or one of"),
    (_set("encoding.columns.0.kind", "ordinal"), "encoding.columns[0].kind", "'number'"),
    (_set("encoding.features.0.kind", "ordinal"), "encoding.features[0].kind", "one of number, boolean, text"),
    (_set("heads", []), "heads", "an object"),
    (_set("heads.with_offer.coef", [1.0]), "heads.with_offer.coef", "a list of 6 numbers"),
    (_set("encoding.columns.0.source", "nope"), "encoding.columns[0].source", "one of the names in encoding.features"),
    (_set("encoding.columns.0.scale", 0), "encoding.columns[0].scale", "a number above 0"),
])
def test_model_file_values_and_shapes_are_checked(tmp_path, edit, at, expected):
    data = json.loads(DEMO_MODEL.read_text())
    assert len(data["encoding"]["columns"]) == 6 and data["encoding"]["columns"][2]["transform"] == "log1p"
    edit(data)
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "m.json").write_text(json.dumps(data))  # json writes NaN / Infinity, and reads them back
    message = _config_error(folder, "m.json")
    assert f"cannot read uplift model 'm.json': {at}: expected {expected}" in message
    assert "7*7" not in message


def test_the_demo_model_file_passes_the_checks(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    shutil.copy(DEMO_MODEL, folder / "m.json")
    assert any(name.startswith("kaireon_uplift__") for name in _compile_with_model(folder, "m.json"))


# ---- NaN and +-inf in a numeric feature are missing values in the scoring SQL (S5) ------------------------

@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_nan_and_infinite_features_score_as_missing_in_sql(engine_name):
    table, _ = synthetic(n=1000, seed=3)
    table.columns["spend"] = np.random.default_rng(4).lognormal(0.0, 1.5, table.n_rows)  # log1p-transformed
    table.kinds["spend"] = "number"
    model = fit_uplift(table, "treatment", "outcome", ["x1", "spend", "cat"])
    assert any(c.transform == "log1p" for c in model.encoding.columns)
    n = 12
    x1, spend, cat = (np.array(table.columns[k][:n]) for k in ("x1", "spend", "cat"))
    rows = [(i, float(x1[i]), float(spend[i]), cat[i]) for i in range(n)]
    rows[3] = (3, float(x1[3]), math.nan, cat[3])
    rows[5] = (5, math.inf, float(spend[5]), cat[5])
    rows[7] = (7, float(x1[7]), -math.inf, cat[7])
    backend = open_backend(engine_name)
    try:
        backend.create_table("f", {"customer_id": "INTEGER", "x1": "DOUBLE", "spend": "DOUBLE", "cat": "VARCHAR"}, rows)
        got = sorted(backend.query(render(model_sql(model, exp.to_table("f")), backend.engine)),
                     key=lambda r: r["customer_id"])
    finally:
        backend.close()
    # the Python model with those values missing (NULL)
    missing = table_from_arrays({"x1": [None if i == 5 else float(x1[i]) for i in range(n)],
                                 "spend": [None if i in (3, 7) else float(spend[i]) for i in range(n)], "cat": list(cat)})
    want = model.predict(missing)
    unchanged = model.predict(table_from_arrays({"x1": x1.astype(float), "spend": spend.astype(float), "cat": list(cat)}))
    assert [r["customer_id"] for r in got] == list(range(n))
    for key in ("p_with_offer", "p_without_offer", "uplift"):
        np.testing.assert_allclose([r[key] for r in got], want[key], rtol=0, atol=1e-9, err_msg=key)
        others = [i for i in range(n) if i not in (3, 5, 7)]
        np.testing.assert_allclose([got[i][key] for i in others], unchanged[key][others], rtol=0, atol=1e-9)
    assert [r["top_features"] for r in got] == want["top_features"].tolist()
    assert [r["segment"] for r in got] == want["segment"].tolist()


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_a_huge_finite_feature_scores_its_row_and_the_run_goes_on(engine_name):
    # |contribution| beyond 9.2e20 overflowed the BIGINT cast of the top-features text and failed the query
    table, _ = synthetic(n=1000, seed=3)
    model = fit_uplift(table, "treatment", "outcome", ["x1", "cat"])
    n = 6
    x1, cat = np.array(table.columns["x1"][:n], dtype=float), list(table.columns["cat"][:n])
    x1[2], x1[4] = 1e25, -1e30
    backend = open_backend(engine_name)
    try:
        backend.create_table("f", {"customer_id": "INTEGER", "x1": "DOUBLE", "cat": "VARCHAR"},
                             [(i, float(x1[i]), cat[i]) for i in range(n)])
        got = sorted(backend.query(render(model_sql(model, exp.to_table("f")), backend.engine)),
                     key=lambda r: r["customer_id"])
    finally:
        backend.close()
    want = model.predict(table_from_arrays({"x1": x1, "cat": cat}))
    assert [r["top_features"] for r in got] == want["top_features"].tolist()
    assert "10000000000000.00" in got[2]["top_features"]
    np.testing.assert_allclose([r["uplift"] for r in got], want["uplift"], rtol=0, atol=1e-9)
