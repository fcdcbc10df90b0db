"""Uplift models in a flow: scored in SQL, read by the score node, and targeted by threshold rules (seed 003)."""
import shutil

import numpy as np
import pytest

from harness import flow, rows, scenario, standard_nodes
from kaireon_sql.uplift.dataset import table_from_arrays
from kaireon_sql.uplift.learners import fit_uplift


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A T-learner on synthetic data where the offer helps customers with many purchases."""
    rng = np.random.default_rng(7)
    n = 4000
    purchases = rng.integers(1, 20, n).astype(float)
    treatment = rng.integers(0, 2, n)
    p = 0.05 + treatment * 0.04 * (purchases / 4.0)
    outcome = (rng.random(n) < np.clip(p, 0, 1)).astype(int)
    model = fit_uplift(table_from_arrays({"purchases": purchases, "treatment": treatment, "outcome": outcome}),
                       "treatment", "outcome", features=["purchases"])
    folder = tmp_path_factory.mktemp("model")
    model.save(folder / "m.json")
    return model, folder / "m.json"


def _placed(tmp_path, path):
    """The model file copied into the scenario's config folder; modelFile is relative to that folder."""
    folder = tmp_path / "decisioning"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder / "m.json")
    return "m.json"


def _customers():
    return [(f"c{i:02d}", 100, i, 80.0, "x", "UTC", True, True) for i in range(1, 20)]


def _config(model_file, rules=()):
    return {
        "algorithmModels": [{"id": "u", "name": "uplift", "modelType": "uplift", "modelFile": str(model_file),
                             "featuresRelation": "features"}],
        "offers": [{"id": "a", "name": "A", "priority": 50, "businessValue": 20}],
        "qualificationRules": list(rules),
        "decisionFlows": [flow(standard_nodes(score={"method": "formula", "modelId": "u",
                                                     "formula": {"propensityWeight": 1, "upliftWeight": 1}}))],
    }


def _features_table():
    from harness import Table

    return {"features": Table({"customer_id": "VARCHAR", "purchases": "DOUBLE"},
                              [(c[0], float(c[2])) for c in _customers()])}


def _python(model):
    pred = model.predict(table_from_arrays({"purchases": np.array([float(c[2]) for c in _customers()])}))
    return {c[0]: (pred["p_with_offer"][i], pred["uplift"][i]) for i, c in enumerate(_customers())}


def test_score_reads_p_with_offer_and_uplift(tmp_path, fitted):
    model, path = fitted
    con = scenario(tmp_path, _config(_placed(tmp_path, path)), _customers(), tables=_features_table())
    expected = _python(model)
    got = {r["customer_id"]: r["score"] for r in rows(con, "select customer_id, score from kaireon_decisions")}
    assert len(got) == len(expected)
    for cid, (p_with, uplift) in expected.items():
        assert got[cid] == pytest.approx((p_with + max(-1, min(1, uplift))) / 2, abs=1e-9)


def test_uplift_threshold_rule_targets_persuadables(tmp_path, fitted):
    model, path = fitted
    rule = {"name": "target uplift >= 0.05", "ruleType": "propensity_threshold",
            "config": {"score": "uplift", "threshold": 0.05, "modelId": "u"}}
    con = scenario(tmp_path, _config(_placed(tmp_path, path), [rule]), _customers(), tables=_features_table())
    expected = {cid for cid, (_, uplift) in _python(model).items() if uplift >= 0.05}
    got = {r["customer_id"] for r in rows(con, "select customer_id from kaireon_decisions")}
    assert got == expected and 0 < len(expected) < len(_customers())
    reasons = {r["reason"] for r in rows(con, "select reason from kaireon_rejections")}
    assert reasons == {"Qualification rule 'target uplift >= 0.05' not met: requires uplift >= 0.05"}


def test_missing_model_file_is_a_config_error(tmp_path):
    from harness import compile_sql, schema, write_config
    from kaireon_sql.errors import ConfigErrors

    config = {"schemas": [schema()], **_config("nope.json")}
    with pytest.raises(ConfigErrors, match=r"algorithmModels\[0\] 'uplift': field 'modelFile': model file .* not found"):
        compile_sql(write_config(tmp_path / "d", config))
