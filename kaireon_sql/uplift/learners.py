"""Uplift learners on numpy: two-model (T), single-model with treatment interactions (S), X-learner
and class transformation (CT), all on L2 logistic / ridge base models so that a fitted model is a
set of coefficients (see `model.UpliftModel` for the shape they share)."""
from __future__ import annotations

import time
import warnings
from typing import Callable

import numpy as np

from .dataset import (MIN_PER_ARM, Table, UpliftDataError, UpliftDataWarning, table_from_arrays, treatment_and_outcome,
                      warn)
from .encoding import MAX_LEVELS, FeatureEncoding, fit_encoding
from .forest import ForestParams, fit_forest
from .metrics import qini_auc_score
from .logistic import LinearHead, fit_logistic, fit_ridge
from .model import LEARNERS, UpliftModel
from .segments import Thresholds

# Candidate L2 strengths for l2="auto" (inner cross-validation on the Qini coefficient).
L2_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)


def _t_heads(z, t, y, l2) -> tuple[LinearHead, LinearHead]:
    treated, control = t == 1, t == 0
    with_offer = fit_logistic(z[treated], y[treated], l2, what="treated-arm model")
    without_offer = fit_logistic(z[control], y[control], l2, what="control-arm model")
    return with_offer, without_offer


def _difference(a: LinearHead, b: LinearHead) -> LinearHead:
    return LinearHead(a.intercept - b.intercept, tuple(x - y for x, y in zip(a.coef, b.coef)))


def fit_t(z, t, y, l2):
    with_offer, without_offer = _t_heads(z, t, y, l2)
    return dict(with_offer=with_offer, without_offer=without_offer, uplift_kind="difference",
                explain=_difference(with_offer, without_offer))


def fit_s(z, t, y, l2):
    """One logistic model on [z, t, t*z]; the treatment main effect is not penalised."""
    k = z.shape[1]
    design = np.column_stack([z, t, z * t[:, None]])
    head = fit_logistic(design, y, l2, unpenalised=(k,), what="single model")
    base, effect, inter = head.coef[:k], head.coef[k], head.coef[k + 1:]
    without_offer = LinearHead(head.intercept, tuple(base))
    with_offer = LinearHead(head.intercept + effect, tuple(b + g for b, g in zip(base, inter)))
    return dict(with_offer=with_offer, without_offer=without_offer, uplift_kind="difference",
                explain=LinearHead(effect, tuple(inter)))


def fit_x(z, t, y, l2):
    """Künzel et al. (2019): imputed effects D1 = y - mu0(x) (treated), D0 = mu1(x) - y (control),
    a ridge regression of each, combined with the (constant, randomised) treatment share g:
    tau(x) = g * tau0(x) + (1 - g) * tau1(x), itself linear in z."""
    with_offer, without_offer = _t_heads(z, t, y, l2)
    treated, control = t == 1, t == 0
    d1 = y[treated] - without_offer.probability(z[treated])
    d0 = with_offer.probability(z[control]) - y[control]
    # ridge penalty on the same per-row scale as the logistic one (its loss is a sum over rows)
    tau1 = fit_ridge(z[treated], d1, l2)
    tau0 = fit_ridge(z[control], d0, l2)
    g = float(treated.mean())
    tau = LinearHead(g * tau0.intercept + (1 - g) * tau1.intercept,
                     tuple(g * a + (1 - g) * b for a, b in zip(tau0.coef, tau1.coef)))
    return dict(with_offer=with_offer, without_offer=without_offer, uplift_kind="linear", uplift_head=tau, explain=tau)


def fit_ct(z, t, y, l2):
    """Jaskowski & Jaroszewicz (2012): z = 1 when (treated and y = 1) or (control and y = 0);
    uplift = 2 P(z = 1 | x) - 1, exact when both arms weigh the same, so rows are reweighted to a
    50/50 split. p_with_offer / p_without_offer come from an auxiliary T fit."""
    target = (y * t + (1 - y) * (1 - t)).astype(float)
    n, n_t = len(t), float(t.sum())
    weights = np.where(t == 1, n / (2 * n_t), n / (2 * (n - n_t)))
    head = fit_logistic(z, target, l2, weights=weights, what="class-transformation model")
    with_offer, without_offer = _t_heads(z, t, y, l2)
    return dict(with_offer=with_offer, without_offer=without_offer, uplift_kind="class_transformation",
                uplift_head=head, explain=head)


def forest_heads(z, t, y, l2: float, params: ForestParams, seed: int) -> dict:
    """An uplift random forest (forest.py); `explain` is a ridge regression of its uplift on z, a
    linear surrogate whose terms name each row's top features."""
    with_offer, without_offer = fit_forest(z, t, y, params, seed)
    uplift = with_offer.probability(z) - without_offer.probability(z)
    return dict(with_offer=with_offer, without_offer=without_offer, uplift_kind="difference",
                explain=fit_ridge(z, uplift, l2))


FITTERS: dict[str, Callable] = {"t": fit_t, "s": fit_s, "x": fit_x, "ct": fit_ct, "forest": forest_heads}


def _heads(learner: str, z, t, y, l2: float, forest: ForestParams | None = None, seed: int = 0) -> dict:
    if learner == "forest":
        return forest_heads(z, t.astype(float), y.astype(float), l2, forest or ForestParams(), seed)
    try:
        return FITTERS[learner](z, t.astype(float), y.astype(float), l2)
    except KeyError:
        raise UpliftDataError(f"unknown learner {learner!r}; expected one of {', '.join(FITTERS)}") from None


def stratified_folds(t: np.ndarray, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold number per row, balanced within each (treatment, outcome) cell; deterministic given seed."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(t), dtype=int)
    for cell in ((0, 0), (0, 1), (1, 0), (1, 1)):
        idx = np.flatnonzero((t == cell[0]) & (y == cell[1]))
        idx = idx[rng.permutation(len(idx))]
        fold[idx] = (np.arange(len(idx)) + rng.integers(k)) % k
    return fold


def choose_l2(learner: str, z, t, y, seed: int, grid=L2_GRID, folds: int = 3) -> tuple[float, dict]:
    """The grid value with the best mean held-out Qini coefficient over `folds` stratified folds."""
    fold = stratified_folds(t, y, folds, seed)
    scores = {}
    for l2 in grid:
        values = []
        for f in range(folds):
            train, test = fold != f, fold == f
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UpliftDataWarning)
                heads = _heads(learner, z[train], t[train], y[train], l2)
            probe = UpliftModel(learner=learner, encoding=FeatureEncoding((), ()), **heads)
            values.append(qini_auc_score(y[test], probe.predict_z(z[test])["uplift"], t[test]))
        scores[l2] = float(np.mean(values))
    best = max(grid, key=lambda v: (scores[v], -v))
    return best, scores


# A column is taken as derived from the outcome when it is constant on at least this many rows of
# one outcome class and varies on the other (e.g. `spend`: 0 whenever `visit` is 0).
LEAK_MIN_ROWS = 100


def post_treatment_reasons(table: Table, treatment: str, outcome: str, columns: list[str]) -> dict[str, str]:
    """The columns among `columns` that look measured after the treatment, each with the reason:

    - derived from the treatment: at most MAX_LEVELS distinct values (and at least 10 rows per
      value on average), each of which occurs in one arm only (Hillstrom's `segment`, from which a
      0/1 treatment column is made);
    - derived from the outcome: constant (or NULL) on every row of one outcome class, at least
      LEAK_MIN_ROWS of them, and varying on the other class (Hillstrom's `conversion` and `spend`
      when the outcome is `visit`: both are 0 whenever `visit` is 0).
    """
    t = table.columns[treatment]
    y = table.columns[outcome]
    reasons: dict[str, str] = {}
    for name in columns:
        keys = _value_keys(table, name)
        distinct = set(keys)
        if 1 < len(distinct) <= min(MAX_LEVELS, len(keys) / 10):
            arms = {}
            for k, arm in zip(keys, t):
                arms.setdefault(k, set()).add(arm)
            if all(len(a) == 1 for a in arms.values()):
                reasons[name] = f"derived from the treatment {treatment!r} (each of its values occurs in one arm only)"
                continue
        for cls in (0.0, 1.0):
            here = [k for k, v in zip(keys, y) if v == cls]
            there = {k for k, v in zip(keys, y) if v != cls}
            if len(here) >= LEAK_MIN_ROWS and len(set(here)) == 1 and len(there) > 1:
                reasons[name] = (f"derived from the outcome {outcome!r} (it is {here[0]!r} on every row where "
                                 f"{outcome} = {int(cls)})")
                break
    return reasons


def _value_keys(table: Table, name: str) -> list:
    values = table.columns[name]
    if table.kinds.get(name) == "text":
        return list(values)
    return [None if np.isnan(v) else float(v) for v in values]


def default_features(table: Table, treatment: str, outcome: str, post_treatment: tuple[str, ...] = ()) -> list[str]:
    """Every column but the treatment, the outcome, id-like ones (`id`, `*_id`), the `post_treatment`
    columns named, and those `post_treatment_reasons` finds (each left out with a warning)."""
    for name in post_treatment:
        table.column(name, "post-treatment")
    candidates = [c for c in table.columns
                  if c not in (treatment, outcome) and c not in post_treatment
                  and c.lower() != "id" and not c.lower().endswith("_id")]
    if treatment not in table.columns or outcome not in table.columns:
        return candidates  # treatment_and_outcome names the missing column
    reasons = post_treatment_reasons(table, treatment, outcome, candidates)
    for name, why in reasons.items():
        warn(f"column {name!r} left out of the features: {why}; pass --features to choose them yourself")
    return [c for c in candidates if c not in reasons]


def fit_uplift(table: Table, treatment: str, outcome: str, features: list[str] | None = None, learner: str = "t",
               l2: float | str = 1.0, seed: int = 0, min_per_arm: int = MIN_PER_ARM,
               thresholds: Thresholds = Thresholds(), top_k: int = 3, log_skewed: bool = True,
               forest: ForestParams | None = None, post_treatment: tuple[str, ...] = ()) -> UpliftModel:
    """Fit one learner ('t', 's', 'x', 'ct', 'forest') on a table; features default to `default_features`.

    l2 is the L2 penalty on standardised coefficients (the loss is summed over rows; 1.0 is
    scikit-learn's C=1), or "auto" to pick it from L2_GRID by inner cross-validation (seeded).
    log_skewed: take strongly skewed non-negative numbers as ln(1 + x) (see `encoding`).
    forest: how the 'forest' learner grows its trees (forest.ForestParams; seeded by `seed`).
    post_treatment: columns measured after the treatment, never taken as default features.
    """
    if learner not in FITTERS:
        raise UpliftDataError(f"unknown learner {learner!r}; expected one of {', '.join(FITTERS)}")
    for role, name in (("treatment", treatment), ("outcome", outcome)):
        if name in (features or ()):
            raise UpliftDataError(f"the {role} column {name!r} cannot also be a feature")
    t, y = treatment_and_outcome(table, treatment, outcome, min_per_arm)
    started = time.perf_counter()
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UpliftDataWarning)
            if features is None:
                features = default_features(table, treatment, outcome, tuple(post_treatment))
            encoding = fit_encoding(table, list(features), log_skewed)
            z = encoding.matrix(table)
            training = {"rows": int(len(t)), "treated": int(t.sum()), "control": int(len(t) - t.sum()),
                        "outcome_rate_treated": float(y[t == 1].mean()),
                        "outcome_rate_control": float(y[t == 0].mean()), "seed": seed}
            if l2 == "auto" and learner == "forest":
                raise UpliftDataError("l2 'auto' tunes the logistic learners; the forest's l2 is its explanation "
                                      "surrogate's penalty: give a number")
            if l2 == "auto":
                l2_value, cv = choose_l2(learner, z, t, y, seed)
                training["l2_cv_qini"] = {repr(k): v for k, v in cv.items()}
            else:
                l2_value = float(l2)
                if l2_value < 0:
                    raise UpliftDataError(f"l2 must be >= 0, got {l2}")
            if learner == "forest":
                forest = forest or ForestParams()
                training["forest"] = forest.to_json()
            heads = _heads(learner, z, t, y, l2_value, forest, seed)
    finally:
        for w in caught:  # shown to the caller (also when the fit fails), and kept with the model
            warnings.warn(w.message, stacklevel=2)
    training.update({"l2": l2_value, "fit_seconds": round(time.perf_counter() - started, 4),
                     "warnings": [str(w.message) for w in caught if issubclass(w.category, UpliftDataWarning)]})
    return UpliftModel(learner=learner, encoding=encoding, thresholds=thresholds, top_k=top_k, treatment=treatment,
                       outcome=outcome, training=training, **heads)


def fit_arrays(x, t, y, feature_names: list[str] | None = None, learner: str = "t", **options) -> UpliftModel:
    """Fit from arrays: x is n_rows x n_features (numbers), t and y are 0/1 vectors."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise UpliftDataError(f"x must be a 2-d array (rows x features), got shape {x.shape}")
    names = feature_names or [f"x{j}" for j in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise UpliftDataError(f"{len(names)} feature names for {x.shape[1]} columns")
    columns = {n: x[:, j] for j, n in enumerate(names)}
    columns.update({"treatment": np.asarray(t), "outcome": np.asarray(y)})
    return fit_uplift(table_from_arrays(columns), "treatment", "outcome", names, learner, **options)


__all__ = ["LEARNERS", "fit_uplift", "fit_arrays", "choose_l2", "stratified_folds"]
