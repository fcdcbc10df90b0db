"""Uplift evaluation in numpy: Qini and uplift curves, their normalised areas, and uplift@k.

The curves and the normalisation follow scikit-uplift (sklift.metrics, 0.5): rows are ordered by
predicted uplift, descending, and a curve has one point per distinct score (ties grouped, so the
order of tied rows never matters), starting at (0, 0). Areas are trapezoidal. uplift@k groups
ties too: rows tied at the cut share the remaining places (each counts with the same fractional
weight), which equals scikit-uplift's value whenever the cut falls between distinct scores.
"""
from __future__ import annotations

import math

import numpy as np

from .dataset import UpliftDataError


def _checked(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, u, t = (np.asarray(a, dtype=float).ravel() for a in (y_true, uplift, treatment))
    if not len(y) == len(u) == len(t):
        raise UpliftDataError(f"lengths differ: {len(y)} outcomes, {len(u)} uplift scores, {len(t)} treatment flags")
    for name, arr in (("outcome", y), ("treatment", t)):
        if not np.isin(arr, (0.0, 1.0)).all():
            raise UpliftDataError(f"{name} values must be 0 or 1")
    if not np.isfinite(u).all():
        raise UpliftDataError("uplift scores must be finite numbers")
    if t.min() == t.max():
        raise UpliftDataError("evaluation needs treated and control rows; the treatment column has one group only")
    return y, u, t


def _cumulative_at_thresholds(y, u, t):
    order = np.argsort(-u, kind="mergesort")
    y, u, t = y[order], u[order], t[order]
    last = np.r_[np.flatnonzero(np.diff(u)), len(u) - 1]  # last row of each group of tied scores
    n_t = np.cumsum(t)[last]
    y_t = np.cumsum(y * t)[last]
    y_c = np.cumsum(y * (1 - t))[last]
    n_all = (last + 1).astype(float)
    return n_all, n_t, n_all - n_t, y_t, y_c


def _from_origin(x, v):
    if x.size == 0 or x[0] != 0 or v[0] != 0:
        return np.r_[0.0, x], np.r_[0.0, v]
    return x, v


def qini_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """(number targeted, incremental responders): y_t - y_c * n_t / n_c at each distinct score."""
    n_all, n_t, n_c, y_t, y_c = _cumulative_at_thresholds(*_checked(y_true, uplift, treatment))
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return _from_origin(n_all, y_t - y_c * ratio)


def uplift_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """(number targeted, (rate_t - rate_c) * number targeted) at each distinct score."""
    n_all, n_t, n_c, y_t, y_c = _cumulative_at_thresholds(*_checked(y_true, uplift, treatment))
    rate_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
    rate_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
    return _from_origin(n_all, (rate_t - rate_c) * n_all)


def perfect_qini_curve(y_true, treatment, negative_effect: bool = True):
    y, _, t = _checked(y_true, np.zeros(len(np.asarray(y_true))), treatment)
    if negative_effect:  # treated responders first, control responders last
        return qini_curve(y, y * t - y * (1 - t), t)
    gain = y[t == 1].sum() - (t == 1).sum() * y[t == 0].sum() / (t == 0).sum()
    return np.array([0.0, gain, len(y)]), np.array([0.0, gain, gain])


def perfect_uplift_curve(y_true, treatment):
    y, _, t = _checked(y_true, np.zeros(len(np.asarray(y_true))), treatment)
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t
    return uplift_curve(y, 2 * (y == t) + summand, t)


def _area(x, v) -> float:
    return float(np.trapezoid(v, x))


def _normalised(actual, perfect) -> float:
    x_p, v_p = perfect
    baseline = _area(np.array([0.0, x_p[-1]]), np.array([0.0, v_p[-1]]))
    best = _area(*perfect) - baseline
    if best == 0:
        raise UpliftDataError("the perfect curve has no area above the random baseline (no responders?); "
                              "the normalised score is undefined")
    return (_area(*actual) - baseline) / best


def qini_auc_score(y_true, uplift, treatment, negative_effect: bool = True) -> float:
    """Qini coefficient: area between the Qini curve and the random line, over the perfect one's."""
    return _normalised(qini_curve(y_true, uplift, treatment), perfect_qini_curve(y_true, treatment, negative_effect))


def uplift_auc_score(y_true, uplift, treatment) -> float:
    """Normalised area under the uplift curve, as sklift's uplift_auc_score."""
    return _normalised(uplift_curve(y_true, uplift, treatment), perfect_uplift_curve(y_true, treatment))


def _top_weights(u: np.ndarray, n_take: int) -> np.ndarray:
    """Weight 1 for rows strictly above the cut score, a shared fraction for rows tied at it, 0 below."""
    w = np.zeros(len(u))
    if n_take <= 0:
        return w
    cut = np.sort(u)[::-1][n_take - 1]
    above, tied = u > cut, u == cut
    w[above] = 1.0
    w[tied] = (n_take - above.sum()) / tied.sum()
    return w


def uplift_at_k(y_true, uplift, treatment, strategy: str = "overall", k: float | int = 0.3) -> float:
    """Response rate of treated minus control among the top k by predicted uplift.

    strategy 'overall': the top k of all rows (k a fraction: int(n * k) rows); 'by_group': the top
    k of each arm separately. As sklift's uplift_at_k, with ties at the cut grouped.
    """
    y, u, t = _checked(y_true, uplift, treatment)
    if strategy not in ("overall", "by_group"):
        raise UpliftDataError(f"strategy must be 'overall' or 'by_group', got {strategy!r}")
    is_fraction = isinstance(k, float)
    if (is_fraction and not 0 < k < 1) or (not is_fraction and not 0 < k < len(y)):
        raise UpliftDataError(f"k={k} must be a fraction in (0, 1) or a count in (0, {len(y)})")
    if strategy == "overall":
        w = _top_weights(u, int(len(y) * k) if is_fraction else int(k))
        w_t, w_c = w * t, w * (1 - t)
    else:
        w_t, w_c = np.zeros(len(y)), np.zeros(len(y))
        for arm, out in ((1, w_t), (0, w_c)):
            idx = np.flatnonzero(t == arm)
            take = int(len(idx) * k) if is_fraction else int(k)
            if take > len(idx):
                raise UpliftDataError(f"k={k} is more than the {len(idx)} rows of the {'treated' if arm else 'control'} arm")
            out[idx] = _top_weights(u[idx], take)
    if w_t.sum() == 0 or w_c.sum() == 0:
        raise UpliftDataError(f"the top k={k} holds no {'treated' if w_t.sum() == 0 else 'control'} rows; "
                              "uplift@k is undefined (use a larger k or strategy 'by_group')")
    return float((w_t * y).sum() / w_t.sum() - (w_c * y).sum() / w_c.sum())


def evaluate(y_true, uplift, treatment, ks=(0.1, 0.2, 0.3)) -> dict:
    """A JSON-ready report: Qini and uplift AUC, uplift@k (both strategies) and the observed ATE."""
    y, u, t = _checked(y_true, uplift, treatment)
    report = {
        "rows": int(len(y)), "treated": int(t.sum()), "control": int(len(t) - t.sum()),
        "observed_uplift": float(y[t == 1].mean() - y[t == 0].mean()),
        "mean_predicted_uplift": float(u.mean()),
        "qini_auc_score": _finite(qini_auc_score(y, u, t)),
        "qini_auc_score_no_negative_effect": _finite(qini_auc_score(y, u, t, negative_effect=False)),
        "uplift_auc_score": _finite(uplift_auc_score(y, u, t)),
        "uplift_at_k": {},
    }
    for k in ks:
        entry = {}
        for strategy in ("overall", "by_group"):
            try:
                entry[strategy] = uplift_at_k(y, u, t, strategy, k)
            except UpliftDataError as exc:
                entry[strategy] = None
                entry.setdefault("notes", []).append(str(exc))
        report["uplift_at_k"][f"{k:g}"] = entry
    return report


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
