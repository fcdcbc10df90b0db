"""Qini / uplift curves, their normalised areas and uplift@k: hand-computed cases and
scikit-uplift's formulas (sklift/metrics/metrics.py, 0.5.x) restated below for comparison."""
from __future__ import annotations

import numpy as np
import pytest

from kaireon_sql.uplift import UpliftDataError, qini_auc_score, qini_curve, uplift_at_k, uplift_auc_score
from kaireon_sql.uplift.metrics import evaluate, perfect_qini_curve, uplift_curve


# ---- sklift's definitions, restated (their code uses sklearn's stable_cumsum and auc) ----------

def sk_qini_curve(y, u, t):
    order = np.argsort(u, kind="mergesort")[::-1]
    y, u, t = y[order], u[order], t[order]
    y_c, y_t = y.copy(), y.copy()
    y_c[t == 1] = 0
    y_t[t == 0] = 0
    idx = np.r_[np.where(np.diff(u))[0], u.size - 1]
    n_t = np.cumsum(t, dtype=float)[idx]
    yt = np.cumsum(y_t, dtype=float)[idx]
    n = idx + 1
    n_c = n - n_t
    yc = np.cumsum(y_c, dtype=float)[idx]
    values = yt - yc * np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    if n.size == 0 or values[0] != 0 or n[0] != 0:
        n, values = np.r_[0, n], np.r_[0, values]
    return n, values


def sk_qini_auc(y, u, t):
    xa, va = sk_qini_curve(y, u, t)
    xp, vp = sk_qini_curve(y, y * t - y * (1 - t), t)
    base = np.trapezoid([0, vp[-1]], [0, xp[-1]])
    return (np.trapezoid(va, xa) - base) / (np.trapezoid(vp, xp) - base)


def sk_uplift_at_k(y, u, t, strategy, k):
    order = np.argsort(u, kind="mergesort")[::-1]
    if strategy == "overall":
        n = int(len(y) * k)
        top_y, top_t = y[order][:n], t[order][:n]
        return top_y[top_t == 1].mean() - top_y[top_t == 0].mean()
    n_c, n_t = int((t == 0).sum() * k), int((t == 1).sum() * k)
    return y[order][t[order] == 1][:n_t].mean() - y[order][t[order] == 0][:n_c].mean()


# ---- hand cases -------------------------------------------------------------------------------

Y = np.array([1, 0, 1, 0, 0, 1, 0, 0])
T = np.array([1, 1, 0, 0, 1, 0, 1, 0])
U = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])


def test_qini_curve_by_hand():
    x, q = qini_curve(Y, U, T)
    # after k rows: treated responders - control responders * n_t / n_c
    # k=1: 1 - 0 = 1 (n_c = 0); k=2: 1; k=3: 1 - 1*2/1 = -1; k=4: 1 - 1*2/2 = 0; k=5: 1 - 1*3/2 = -0.5
    # k=6: 1 - 2*3/3 = -1; k=7: 1 - 2*4/3 = -5/3; k=8: 1 - 2*4/4 = -1
    np.testing.assert_allclose(x, [0, 1, 2, 3, 4, 5, 6, 7, 8])
    np.testing.assert_allclose(q, [0, 1, 1, -1, 0, -0.5, -1, -5 / 3, -1])


def test_ties_are_grouped():
    u = np.array([0.5, 0.5, 0.5, 0.1])
    y, t = np.array([1, 0, 0, 1]), np.array([1, 0, 1, 0])
    x, q = qini_curve(y, u, t)
    np.testing.assert_allclose(x, [0, 3, 4])  # one point for the three tied rows
    np.testing.assert_allclose(q, [0, 1 - 0 * 2 / 1, 1 - 1 * 2 / 2])
    # any order of tied rows gives the same curve and scores
    perm = np.array([2, 0, 1, 3])
    np.testing.assert_allclose(qini_curve(y[perm], u[perm], t[perm])[1], q)


def test_perfect_curve_and_normalisation():
    xp, qp = perfect_qini_curve(Y, T)
    np.testing.assert_allclose(xp, [0, 1, 6, 8])  # the treated responder, the rest, control responders
    np.testing.assert_allclose(qp, [0, 1, 1, -1])
    assert qini_auc_score(Y, Y * T - Y * (1 - T), T) == pytest.approx(1.0)
    # a score and its reverse lie on opposite sides of the random line
    assert np.sign(qini_auc_score(Y, U, T)) == -np.sign(qini_auc_score(Y, -U, T))


def test_uplift_at_k_by_hand():
    # top 4 of 8 overall: rows 0-3: treated (1, 0) -> 0.5, control (1, 0) -> 0.5
    assert uplift_at_k(Y, U, T, "overall", 0.5) == pytest.approx(0.0)
    # by group, top half: treated rows 0, 1 -> 0.5; control rows 2, 3 -> 0.5
    assert uplift_at_k(Y, U, T, "by_group", 0.5) == pytest.approx(0.0)
    # top 3: treated 0, 1 (0.5), control 2 (1.0)
    assert uplift_at_k(Y, U, T, "overall", 3) == pytest.approx(-0.5)


def test_uplift_at_k_shares_places_among_tied_rows():
    u = np.array([0.9, 0.5, 0.5, 0.5, 0.1, 0.0])
    y = np.array([1, 1, 0, 0, 0, 1])
    t = np.array([1, 0, 1, 0, 0, 1])
    # top 3: row 0 fully, two of the three tied rows (weight 2/3 each)
    # treated: row0 y=1 w=1, row2 y=0 w=2/3 -> 1/(5/3) = 0.6; control: row1 y=1, row3 y=0 (2/3 each) -> 0.5
    assert uplift_at_k(y, u, t, "overall", 3) == pytest.approx(0.6 - 0.5)
    perm = np.array([0, 3, 1, 2, 4, 5])
    assert uplift_at_k(y[perm], u[perm], t[perm], "overall", 3) == pytest.approx(0.1)


# ---- against sklift's formulas on random data ---------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_matches_sklift_formulas(seed):
    rng = np.random.default_rng(seed)
    n = 500
    t = rng.integers(0, 2, n)
    u = rng.normal(size=n)  # distinct scores: uplift@k is exactly sklift's
    y = (rng.random(n) < 0.3 + 0.2 * t * (u > 0)).astype(int)
    assert qini_auc_score(y, u, t) == pytest.approx(sk_qini_auc(y, u, t), abs=1e-12)
    x, q = qini_curve(y, u, t)
    xs, qs = sk_qini_curve(y, u, t)
    np.testing.assert_allclose(x, xs)
    np.testing.assert_allclose(q, qs, atol=1e-12)
    for strategy in ("overall", "by_group"):
        for k in (0.1, 0.3, 0.5):
            assert uplift_at_k(y, u, t, strategy, k) == pytest.approx(sk_uplift_at_k(y, u, t, strategy, k), abs=1e-12)
    # rounded scores (many ties): the curves still agree, as sklift groups ties in them too
    r = np.round(u, 1)
    assert qini_auc_score(y, r, t) == pytest.approx(sk_qini_auc(y, r, t), abs=1e-12)


def test_uplift_auc_score_is_normalised():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 2, 400)
    y = rng.integers(0, 2, 400)
    x, v = uplift_curve(y, rng.normal(size=400), t)
    assert x[0] == 0 and v[0] == 0 and x[-1] == 400
    best = uplift_auc_score(y, 2 * (y == t) + (y if ((y == 1) & (t == 0)).sum() > ((y == 0) & (t == 1)).sum() else t), t)
    assert best == pytest.approx(1.0)


def test_metric_input_errors():
    with pytest.raises(UpliftDataError, match="one group"):
        qini_auc_score([1, 0], [0.1, 0.2], [1, 1])
    with pytest.raises(UpliftDataError, match="outcome values must be 0 or 1"):
        qini_auc_score([2, 0], [0.1, 0.2], [1, 0])
    with pytest.raises(UpliftDataError, match="lengths differ"):
        uplift_at_k([1, 0], [0.1], [1, 0])
    with pytest.raises(UpliftDataError, match="no control rows"):
        uplift_at_k(np.array([1, 0, 1, 0]), np.array([4, 3, 2, 1.0]), np.array([1, 1, 0, 0]), "overall", 2)


def test_evaluate_report_is_json_ready():
    import json

    report = evaluate(Y, U, T)
    text = json.dumps(report, allow_nan=False)
    assert "qini_auc_score" in text and report["uplift_at_k"]["0.3"]["overall"] is not None or \
        report["uplift_at_k"]["0.3"].get("notes")
