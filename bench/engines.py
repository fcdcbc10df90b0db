"""The cost of each scoring engine (issue 12): the benchmark flow scored by each engine, next to the
formula flow, in one invocation, rounds interleaved so a busy machine slows every variant alike.

    python bench/gen.py --customers 1000000 --out /tmp/bench/1m
    python bench/engines.py --data /tmp/bench/1m [--rounds 2] [--variants formula,bayesian,...]

Each variant is bench/run.py's flow (rejections none, no dbt data tests) with the score node
swapped: `formula` is the benchmark's own score expression; every other variant scores with
`method: model` and one algorithm model of that type (config below). Prints one JSON line per run
and a summary table of the median decision-path seconds per variant and its ratio to `formula`
(the decision path: kaireon_decisions and every kaireon model it depends on, so an engine's own
project-level models, e.g. the bayesian posterior and the attribution, are counted).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402

FEATURES = ["customer.lifetime_purchases", "customer.days_since_last_purchase", "customer.lifetime_revenue"]


def _model(model_type: str, config: dict) -> dict:
    return {"score": {"method": "model", "modelId": "m"},
            "models": [{"id": "m", "name": f"bench {model_type}", "modelType": model_type, "config": config}]}


# name -> the score swap (None: the benchmark's formula); gradient_boosted is filled in when run
VARIANTS: dict[str, dict | None] = {
    "formula": None,
    "scorecard": _model("scorecard", {"baseScore": 0.1, "weights": [
        {"field": "customer.lifetime_purchases", "weight": 0.01}, {"field": "offer.margin", "weight": 0.002}]}),
    "bayesian": _model("bayesian", {"smoothingWeight": 10, "windowDays": 30}),
    "thompson_bandit": _model("thompson_bandit", {}),
    "epsilon_greedy": _model("epsilon_greedy", {"epsilon": 0.1}),
    "online_learner": _model("online_learner", {"features": FEATURES}),
    "gradient_boosted": None,  # made by _gradient_boosted: a model file of 100 trees over FEATURES
}


def _gradient_boosted() -> dict:
    """gradient_boosted with a synthetic model file of 100 full-size trees (the cost is the ensemble's size)."""
    from kaireon_sql.train.gbm import synthetic_file  # lazy: scikit-learn only for this variant
    variant = _model("gradient_boosted", {"features": FEATURES, "modelFile": "models/m.json"})
    variant["files"] = {"models/m.json": synthetic_file([(f, "number") for f in FEATURES], "m", trees=100)}
    return variant


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder written by bench/gen.py")
    p.add_argument("--work", help="parent folder of the dbt projects (default: <data>-engines)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    args = p.parse_args(argv)
    data = Path(args.data).resolve()
    parent = Path(args.work).resolve() if args.work else data.with_name(data.name + "-engines")
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; expected some of {list(VARIANTS)}")
    if "gradient_boosted" in names:
        VARIANTS["gradient_boosted"] = _gradient_boosted()
    seconds: dict[str, list[float]] = {v: [] for v in names}
    for r in range(args.rounds):
        for name in names:
            result = run.run(data, parent / name, rejections="none", tests=False, scoring=VARIANTS[name])
            result.update(variant=name, round=r + 1)
            print(json.dumps(result), flush=True)
            seconds[name].append(result["decision_path_s"])
    base = statistics.median(seconds[names[0]])
    print(f"\n| variant | decision path s (median of {args.rounds}) | vs {names[0]} |\n|---|---|---|")
    for name in names:
        med = statistics.median(seconds[name])
        print(f"| {name} | {med:.2f} | {med / base:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
