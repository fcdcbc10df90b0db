"""Trained engines (S8, docs/engines_trained.md): the warehouse predicts what the library predicts.

- gradient_boosted: the compiled trees over encoded features equal scikit-learn's predict_proba to
  1e-9 on DuckDB, PostgreSQL and Spark (numbers with missing values, a boolean, a text feature with
  a category unseen in training);
- neural_cf: the factor relations joined to candidate pairs give sigmoid(b_o + u_c . v_o), and NULL
  (then the prior) for a customer or an offer without factors;
- a model file missing, of another format, or stale (feature list changed, feature gone from the
  schema, feature type changed) is a ConfigError naming the file or field.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sqlglot import exp

from backends import open_backend
from harness import flow, schema, standard_nodes, write_config
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import render
from kaireon_sql.errors import ConfigError, ConfigErrors
from kaireon_sql.plan.context import col
from kaireon_sql.plan.trained import Factors, encode, ncf_propensity, sigmoid
from kaireon_sql.sql.trained import customer_factors, offer_factors
from kaireon_sql.train import gbm, ncf
from kaireon_sql.trees import Tree, ensemble_sql

ENGINES = ["duckdb", "postgres", "spark"]
FEATURES = [("customer.days", "number"), ("customer.vip", "boolean"), ("customer.category", "text"), ("offer.margin", "number")]


def _synthetic(n: int, seed: int):
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for _ in range(n):
        days = None if rng.random() < 0.1 else float(rng.integers(0, 400))
        vip = None if rng.random() < 0.05 else bool(rng.random() < 0.3)
        cat = ["apparel", "home", "electronics", None][int(rng.integers(0, 4))]
        margin = float(rng.choice([20.5, 35.0, 50.25]))
        z = -0.5 + (0.8 if vip else 0) - (days or 200) / 300 + (0.6 if cat == "home" else 0) + margin / 100
        rows.append([days, vip, cat, margin])
        labels.append(int(rng.random() < 1 / (1 + math.exp(-z))))
    return rows, labels


@pytest.fixture(scope="module")
def fitted():
    rows, labels = _synthetic(600, 1)
    features = [gbm.encoder(n, k, [r[j] for r in rows]) for j, (n, k) in enumerate(FEATURES)]
    clf = gbm.fit(features, rows, labels, {"maxIter": 10, "minSamplesLeaf": 5, "maxLeafNodes": 6}, seed=4)
    score_rows, _ = _synthetic(80, 2)
    score_rows.append([150.0, True, "toys", 35.0])  # a category never seen in training: missing
    score_rows.append([None, None, None, 20.5])
    return features, clf, gbm.model_file(clf, features, "m", {}), score_rows


def test_model_file_predicts_like_predict_proba(fitted):
    features, clf, data, rows = fitted
    x = gbm.matrix(features, rows)
    assert np.max(np.abs(gbm.predict_file(data, x) - clf.predict_proba(x)[:, 1])) < 1e-12


@pytest.mark.parametrize("name", ENGINES)
def test_gbm_sql_equals_predict_proba(fitted, name):
    features, clf, data, rows = fitted
    columns = {"i": "INTEGER", "f0": "DOUBLE", "f1": "BOOLEAN", "f2": "VARCHAR", "f3": "DOUBLE"}
    encoded = [encode(f, col(f"f{j}")) for j, f in enumerate(features)]
    score = sigmoid(ensemble_sql([Tree.from_dict(t) for t in data["trees"]], encoded, data["baseline"]))
    query = exp.select(col("i"), exp.alias_(score, "p", quoted=True)).from_("x")
    backend = open_backend(name)
    try:
        backend.create_table("x", columns,
                             [(i, *r) for i, r in enumerate(rows)])
        got = {r["i"]: r["p"] for r in backend.query(render(query, backend.engine).replace("{{ ref('x') }}", "x"))}
    finally:
        backend.close()
    want = clf.predict_proba(gbm.matrix(features, rows))[:, 1]
    assert len(got) == len(rows)
    assert max(abs(float(got[i]) - want[i]) for i in range(len(rows))) < 1e-9


@pytest.mark.parametrize("name", ENGINES)
def test_ncf_factors_by_join_and_fallback(name):
    cells = [(f"c{i % 7}", f"o{i % 3}", int((i * 7) % 5 < 2)) for i in range(60)]
    data = ncf.model_file(ncf.fit(cells, {"factors": 3, "epochs": 50}, seed=2), "m", {})
    factors = Factors(3, tuple((c, tuple(u)) for c, u in data["customers"]),
                      tuple((o, b, tuple(v)) for o, b, v in data["offers"]))
    pairs = [(c, o) for c in ("c0", "c3", "c6", "nobody") for o in ("o0", "o2", "o_new")]
    score = exp.func("COALESCE", ncf_propensity("cu", "of", 3), exp.Literal.number("0.5"))
    query = (exp.select(col("customer_id", "k"), col("offer_id", "k"), exp.alias_(score, "p", quoted=True))
             .from_(exp.to_table("k"))
             .join(exp.paren(customer_factors(factors)).as_("cu"), join_type="left",
                   on=exp.EQ(this=col("customer_id", "cu"), expression=col("customer_id", "k")))
             .join(exp.paren(offer_factors(factors)).as_("of"), join_type="left",
                   on=exp.EQ(this=col("offer_id", "of"), expression=col("offer_id", "k"))))
    backend = open_backend(name)
    try:
        backend.create_table("k", {"customer_id": "VARCHAR", "offer_id": "VARCHAR"}, pairs)
        got = {(r["customer_id"], r["offer_id"]): float(r["p"]) for r in backend.query(render(query, backend.engine))}
    finally:
        backend.close()
    assert len(got) == len(pairs)
    for c, o in pairs:
        want = ncf.predict(data, c, o)
        if c == "nobody" or o == "o_new":
            assert want is None and got[(c, o)] == 0.5  # no factors: the fallback (today the prior)
        else:
            assert abs(got[(c, o)] - want) < 1e-12


def test_ncf_fit_is_seeded_and_generalises():
    """A checkerboard of offers a customer likes: factors learned without a quarter of the pairs predict them."""
    rng = np.random.default_rng(0)
    pairs = [(c, o) for c in range(40) for o in range(6)]
    held = {p for p in pairs if rng.random() < 0.25}
    cells = [(f"c{c}", f"o{o}", int(rng.random() < (0.85 if (c + o) % 2 else 0.1)))
             for c, o in pairs if (c, o) not in held for _ in range(5)]
    a, b = ncf.fit(cells, {}, seed=5), ncf.fit(cells, {}, seed=5)
    assert a == b
    data = ncf.model_file(a, "m", {})
    hits = [(ncf.predict(data, f"c{c}", f"o{o}") > 0.5) == ((c + o) % 2 == 1) for c, o in held]
    assert sum(hits) / len(hits) > 0.85


# ---- bad input at validate time ------------------------------------------------------------------

def _config(tmp_path, model_config: dict, model_type: str = "gradient_boosted"):
    s = schema()
    config = {
        "schemas": [s], "interactionHistory": {"relation": "history"},
        "offers": [{"id": "o1", "name": "o1", "margin": 30}],
        "algorithmModels": [{"id": "m", "name": "m", "modelType": model_type, "config": model_config}],
        "decisionFlows": [flow(standard_nodes(score={"method": "model", "modelId": "m"}))],
    }
    return write_config(tmp_path / "decisioning", config)


def _errors(folder) -> str:
    with pytest.raises((ConfigError, ConfigErrors)) as info:
        compile_project(load_project(folder))
    return str(info.value)


def _gbm_file(folder, names_kinds, **extra):
    data = {"format": "kaireon-gradient-boosted-model", "version": 1, "model": "m",
            "features": [{"name": n, "kind": k} for n, k in names_kinds], "baseline": 0.0,
            "trees": [Tree((0,), (0.0,), (-1,), (-1,), (0.25,), (False,)).to_dict()], **extra}
    (folder / "models").mkdir(exist_ok=True)
    (folder / "models" / "m.json").write_text(json.dumps(data))


def test_gbm_without_file_is_refused(tmp_path):
    folder = _config(tmp_path, {"features": ["customer.days"]})
    text = _errors(folder)
    assert "config.modelFile" in text and "models/m.json" in text and "kaireon train m" in text


def test_gbm_file_present_compiles_and_logs_features(tmp_path):
    folder = _config(tmp_path, {"features": ["customer.days", "offer.margin"]})
    _gbm_file(folder, [("customer.days", "number"), ("offer.margin", "number")])
    names = [m.name for m in compile_project(load_project(folder))]
    assert "kaireon_model__m__feature_log" in names


@pytest.mark.parametrize("config, file_features, expected", [
    ({"features": ["customer.days", "customer.revenue"]}, [("customer.days", "number")], "is stale: trained on"),
    ({"features": ["customer.gone"]}, [("customer.gone", "number")], "no longer a field of any schema"),
    ({"features": ["customer.category"]}, [("customer.category", "number")], "was a number at training and is a text"),
    ({"features": ["customer.days"], "depth": 3}, [("customer.days", "number")], "config.depth"),
])
def test_stale_or_bad_settings_are_refused(tmp_path, config, file_features, expected):
    folder = _config(tmp_path, config)
    _gbm_file(folder, file_features)
    assert expected in _errors(folder)


def test_foreign_file_is_refused(tmp_path):
    folder = _config(tmp_path, {"modelFile": "models/m.json"}, model_type="neural_cf")
    (folder / "models").mkdir()
    (folder / "models" / "m.json").write_text(json.dumps({"format": "kaireon-gradient-boosted-model"}))
    text = _errors(folder)
    assert "not a neural_cf model file" in text and "config.modelFile" in text
