"""gradient_boosted quality on simulated ground truth: AUC and calibration on held-out rows.

    .venv/bin/python bench/learning/gbm_quality.py [--rows 20000] [--seed 0]

Rows: customers with a recency, a revenue, a tier (text) and a VIP flag, offers with a margin; the
true conversion probability is a known function of them (`truth`). `kaireon_sql.train.gbm.fit_and_score`
fits the engine's HistGradientBoostingClassifier on 70% and scores the rest with the model file (the
prediction the warehouse computes), next to scikit-learn's own predict_proba of the same fit and the
oracle (the true probability). The lead's simulator (bench/learning/) can call `fit_and_score(rows,
features)` on its own rows.
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
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
