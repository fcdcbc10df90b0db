"""gradient_boosted: scikit-learn's HistGradientBoostingClassifier, its trees as `kaireon_sql.trees.Tree`.

Why scikit-learn's histogram GBM and not LightGBM: its fitted trees are plain arrays (threshold on the
raw feature value, `x <= threshold` goes left, NaN by `missing_go_to_left`), its raw score is the
baseline plus the leaf values summed in tree order in float64, and predict_proba is expit of that;
scikit-learn is already the project's reference library (uplift, bench). The tree compiler reproduces
the same sums, so the warehouse gives predict_proba to the last bits. Native categorical splits
(bitsets) are not used: a text feature is encoded as the index of its value in the sorted training
categories (unknown or NULL: missing), which numeric splits handle.
"""
from __future__ import annotations

import math
import sys
from typing import Sequence

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier

from ..plan.trained import FILE_FORMATS, GBM, Feature
from ..trees import Tree

DEFAULTS = {"maxIter": 100, "learningRate": 0.1, "maxLeafNodes": 31, "maxDepth": None, "minSamplesLeaf": 20,
            "l2Regularization": 0.0}


def encoder(name: str, kind: str, values: Sequence) -> Feature:
    """The encoding of one feature from its training values (text: the sorted distinct values)."""
    if kind == "text":
        return Feature(name, kind, tuple(sorted({str(v) for v in values if v is not None})))
    return Feature(name, kind)


def encode_value(feature: Feature, value) -> float:
    """The float the trees read (NaN: missing), the Python twin of plan/trained.py `encode`."""
    if value is None:
        return math.nan
    if feature.kind == "text":
        try:
            return float(feature.categories.index(str(value)))
        except ValueError:
            return math.nan
    if feature.kind == "boolean":
        return 1.0 if value else 0.0
    x = float(value)
    return x if math.isfinite(x) else math.nan


def matrix(features: Sequence[Feature], rows: Sequence[Sequence]) -> np.ndarray:
    return np.array([[encode_value(f, v) for f, v in zip(features, r)] for r in rows], dtype=np.float64).reshape(
        len(rows), len(features))


def classifier(settings: dict, seed: int) -> HistGradientBoostingClassifier:
    s = {**DEFAULTS, **{k: v for k, v in settings.items() if k in DEFAULTS}}
    return HistGradientBoostingClassifier(
        max_iter=int(s["maxIter"]), learning_rate=float(s["learningRate"]), max_leaf_nodes=int(s["maxLeafNodes"]),
        max_depth=None if s["maxDepth"] is None else int(s["maxDepth"]), min_samples_leaf=int(s["minSamplesLeaf"]),
        l2_regularization=float(s["l2Regularization"]), early_stopping=False, random_state=seed)


def _finite(threshold: float) -> float:
    """A split on missing values only has threshold +inf (every value goes left): the largest double does the same
    for the finite values the trees read (NaN and +-inf are missing)."""
    return min(max(threshold, -sys.float_info.max), sys.float_info.max)


def trees_of(clf: HistGradientBoostingClassifier) -> list[Tree]:
    """The fitted predictors as flat node arrays (scikit-learn numbers its nodes parent first)."""
    out = []
    for (predictor,) in clf._predictors:
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not compiled; text features are index-encoded")
        leaf = nodes["is_leaf"].astype(bool)
        out.append(Tree(
            tuple(int(f) if not lf else 0 for f, lf in zip(nodes["feature_idx"], leaf)),
            tuple(_finite(float(t)) if not lf else 0.0 for t, lf in zip(nodes["num_threshold"], leaf)),
            tuple(-1 if lf else int(i) for i, lf in zip(nodes["left"], leaf)),
            tuple(-1 if lf else int(i) for i, lf in zip(nodes["right"], leaf)),
            tuple(float(v) for v in nodes["value"]),
            tuple(bool(m) for m in nodes["missing_go_to_left"])))
    return out


def model_file(clf, features: Sequence[Feature], model_ref: str, trained: dict) -> dict:
    """The JSON plan/trained.py reads: features and their encoding, baseline, trees, how it was trained."""
    return {"format": FILE_FORMATS[GBM], "version": 1, "model": model_ref,
            "features": [{"name": f.name, "kind": f.kind, **({"categories": list(f.categories)} if f.kind == "text" else {})}
                         for f in features],
            "baseline": float(np.asarray(clf._baseline_prediction).ravel()[0]),
            "trees": [t.to_dict() for t in trees_of(clf)],
            "trained": {**trained, "library": f"scikit-learn {sklearn.__version__}"}}


def predict_file(data: dict, x: np.ndarray) -> np.ndarray:
    """P(positive) of the model file for encoded rows: the Python reference of the SQL (same sums)."""
    trees = [Tree.from_dict(t) for t in data["trees"]]
    out = []
    for row in x:
        z = float(data["baseline"])
        for t in trees:
            z = z + t.predict_row([float(v) for v in row])
        out.append(1.0 / (1.0 + math.exp(-z)))
    return np.array(out)


def fit(features: Sequence[Feature], rows: Sequence[Sequence], labels: Sequence[int], settings: dict, seed: int):
    y = np.asarray(labels, dtype=int)
    if len(set(y.tolist())) < 2:
        raise ValueError(f"training needs positive and negative rows; got {len(y)} row(s), all labelled {y[0] if len(y) else '-'}")
    return classifier(settings, seed).fit(matrix(features, rows), y)


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (ties count half)."""
    from scipy.stats import rankdata  # lazy: only the quality report needs scipy

    ranks = rankdata(p)
    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over `bins` equal-width bins of the predicted probability."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(y[idx == b].mean() - p[idx == b].mean()) * (idx == b).sum() for b in range(bins) if (idx == b).any())
                 / len(y))


def fit_and_score(rows: Sequence[dict], features: Sequence[tuple[str, str]], label: str = "label",
                  holdout: float = 0.3, seed: int = 0, settings: dict | None = None) -> dict:
    """Quality of this engine on simulated rows (bench/learning): AUC and calibration on a held-out part,
    next to scikit-learn's HistGradientBoostingClassifier fitted on the same rows through its own API.

    `rows`: dicts holding each feature (name -> value) and the 0/1 `label`; `features`: (name, kind), kind
    number, boolean or text. Our score is the model file's prediction (what the warehouse computes).
    """
    rng = np.random.default_rng(seed)
    test = rng.random(len(rows)) < holdout
    train_rows = [r for r, t in zip(rows, test) if not t]
    test_rows = [r for r, t in zip(rows, test) if t]
    encoded = [encoder(n, k, [r.get(n) for r in train_rows]) for n, k in features]
    raw = lambda rs: [[r.get(n) for n, _ in features] for r in rs]  # noqa: E731
    y_train = np.array([int(r[label]) for r in train_rows])
    y_test = np.array([int(r[label]) for r in test_rows])
    clf = fit(encoded, raw(train_rows), y_train, settings or {}, seed)
    ours = predict_file(model_file(clf, encoded, "bench", {}), matrix(encoded, raw(test_rows)))
    reference = clf.predict_proba(matrix(encoded, raw(test_rows)))[:, 1]
    return {"rows_train": len(train_rows), "rows_test": len(test_rows),
            "auc": auc(y_test, ours), "calibration_error": calibration(y_test, ours),
            "sklearn_auc": auc(y_test, reference), "sklearn_calibration_error": calibration(y_test, reference),
            "max_abs_diff": float(np.max(np.abs(ours - reference))) if len(ours) else 0.0}


def synthetic_file(features: Sequence[tuple[str, str]], model_ref: str, trees: int = 100, rows: int = 5000,
                   seed: int = 0) -> dict:
    """A model file of `trees` full-size trees over `features` ((name, kind)), fitted on random rows: for cost
    benchmarks (bench/engines.py) where what matters is the size of the compiled ensemble, not its quality."""
    rng = np.random.default_rng(seed)
    raw = [[(str(rng.choice(["a", "b", "c"])) if k == "text" else bool(rng.random() < 0.5) if k == "boolean"
             else float(rng.normal(100, 50))) for _, k in features] for _ in range(rows)]
    encoded = [encoder(n, k, [r[j] for r in raw]) for j, (n, k) in enumerate(features)]
    x = matrix(encoded, raw)
    y = (rng.random(rows) < 1 / (1 + np.exp(-np.sin(x.sum(axis=1) / 50)))).astype(int)
    clf = classifier({"maxIter": trees, "minSamplesLeaf": 5}, seed).fit(x, y)
    return model_file(clf, encoded, model_ref, {"synthetic": True, "seed": seed})
