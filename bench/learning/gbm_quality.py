"""gradient_boosted and bayesian quality on simulated ground truth: AUC and calibration on held-out rows.

    .venv/bin/python bench/learning/gbm_quality.py [--rows 20000] [--seed 0]

Rows: customers with a recency, a revenue, a tier (text) and a VIP flag, offers with a margin; the
true conversion probability is a known function of them (`truth`). `kaireon_sql.train.gbm.fit_and_score`
fits the engine's HistGradientBoostingClassifier on 70% and scores the rest with the model file (the
prediction the warehouse computes), next to scikit-learn's own predict_proba of the same fit and the
oracle (the true probability). The lead's simulator (bench/learning/) can call `fit_and_score(rows,
features)` on its own rows.

The bayesian model (S8's hierarchical shrinkage with `groupBy: [customer.tier]`, offers = the three margin
levels in one category, m = 10; computed here with the same formulas the warehouse runs, which
tests/test_engines.py checks against the warehouse) is scored on the same split, next to scikit-learn's
LogisticRegression fitted on the same rows with the same information (one-hot offer x tier cells), and a
LogisticRegression on every feature is the peer of gradient_boosted.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kaireon_sql.train.gbm import auc, calibration, fit_and_score  # noqa: E402

FEATURES = [("customer.days", "number"), ("customer.revenue", "number"), ("customer.tier", "text"),
            ("customer.vip", "boolean"), ("offer.margin", "number")]


def truth(days: float | None, revenue: float, tier: str | None, vip: bool, margin: float) -> float:
    z = (-1.2 - (days if days is not None else 180) / 250 + math.log1p(revenue) / 4
         + {"gold": 0.7, "silver": 0.2, "bronze": -0.3}.get(tier or "", 0.0) + (0.5 if vip else 0.0)
         - (margin - 35) / 40 + (0.6 if vip and (days or 0) < 60 else 0.0))
    return 1 / (1 + math.exp(-z))


def simulate(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        days = None if rng.random() < 0.05 else float(rng.integers(0, 400))
        revenue = float(np.round(rng.lognormal(4, 1), 2))
        tier = [None, "gold", "silver", "bronze"][int(rng.choice(4, p=[0.1, 0.2, 0.3, 0.4]))]
        vip = bool(rng.random() < 0.15)
        margin = float(rng.choice([20.0, 35.0, 50.0]))
        p = truth(days, revenue, tier, vip, margin)
        rows.append({"customer.days": days, "customer.revenue": revenue, "customer.tier": tier, "customer.vip": vip,
                     "offer.margin": margin, "p_true": p, "label": int(rng.random() < p)})
    return rows


SMOOTHING = 10.0


def bayesian_rates(train: list[dict]) -> dict:
    """S8: g = (k+1)/(n+2), p_c (one category) = (k + m g)/(n + m), p_o = (k_o + m p_c)/(n_o + m) per offer
    (margin level), p_og = (k_og + m p_o)/(n_og + m) per offer and tier; keyed (offer, tier), (offer, None)."""
    def counts(keep) -> tuple[int, int]:
        sel = [r["label"] for r in train if keep(r)]
        return len(sel), sum(sel)
    n, k = counts(lambda r: True)
    g = (k + 1) / (n + 2)
    p_c = (k + SMOOTHING * g) / (n + SMOOTHING)
    rates = {}
    for offer in sorted({r["offer.margin"] for r in train}):
        n_o, k_o = counts(lambda r: r["offer.margin"] == offer)
        p_o = (k_o + SMOOTHING * p_c) / (n_o + SMOOTHING)
        rates[(offer, None)] = p_o
        for tier in sorted({r["customer.tier"] for r in train if r["customer.tier"] is not None}):
            n_g, k_g = counts(lambda r: r["offer.margin"] == offer and r["customer.tier"] == tier)
            rates[(offer, tier)] = (k_g + SMOOTHING * p_o) / (n_g + SMOOTHING)
    return rates


def _logistic(train: list[dict], test: list[dict], columns) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression  # lazy: scikit-learn (the test or train extra)
    x_train = np.array([columns(r) for r in train])
    model = LogisticRegression(max_iter=2000).fit(x_train, [r["label"] for r in train])
    return model.predict_proba(np.array([columns(r) for r in test]))[:, 1]


def _cells(r: dict) -> list[float]:
    return [float(r["offer.margin"] == o and r["customer.tier"] == t)
            for o in (20.0, 35.0, 50.0) for t in (None, "gold", "silver", "bronze")]


def _all_features(r: dict) -> list[float]:
    days = r["customer.days"]
    return [180.0 if days is None else days, days is None, math.log1p(r["customer.revenue"]), r["customer.vip"],
            r["offer.margin"], *[r["customer.tier"] == t for t in ("gold", "silver", "bronze")]]


def peers(rows: list[dict], test_mask: np.ndarray) -> dict:
    """bayesian and the scikit-learn LogisticRegression peers on the same split."""
    train = [r for r, t in zip(rows, test_mask) if not t]
    test = [r for r, t in zip(rows, test_mask) if t]
    y = np.array([r["label"] for r in test])
    rates = bayesian_rates(train)
    p_bayes = np.array([rates.get((r["offer.margin"], r["customer.tier"]), rates[(r["offer.margin"], None)])
                        for r in test])
    out = {}
    for name, p in (("bayesian", p_bayes), ("sklearn_logistic_offer_x_tier", _logistic(train, test, _cells)),
                    ("sklearn_logistic_all_features", _logistic(train, test, _all_features))):
        out[f"{name}_auc"], out[f"{name}_calibration_error"] = auc(y, p), calibration(y, p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = simulate(args.rows, args.seed)
    report = fit_and_score(rows, FEATURES, seed=args.seed)
    test = np.random.default_rng(args.seed).random(len(rows)) < 0.3  # the same split fit_and_score draws
    y = np.array([r["label"] for r, t in zip(rows, test) if t])
    p = np.array([r["p_true"] for r, t in zip(rows, test) if t])
    report.update(oracle_auc=auc(y, p), oracle_calibration_error=calibration(y, p))
    report.update(peers(rows, test))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
