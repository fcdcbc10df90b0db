"""A Python reference of the learning simulation: the same truth, customers and outcome draws as sim.py,
the S8 scoring rules written in numpy instead of compiled to SQL, no dbt. Seconds for 30 days.

    python bench/learning/reference.py --seeds 1-20        # mean cumulative regret per policy over seeds

It shows what the truth design asks of the policies (is the ranking a property of the design or of one
seed?) and gives the warehouse run of sim.py something to be compared with. The draws (Thompson's Beta,
epsilon's exploration) are numpy's, not the warehouse's hashes, so single runs differ; the
distribution over seeds is what to compare.

S8 as written here: n, k per offer copy (impressions, attributed conversions; every conversion
follows its impression by 2 hours, so attribution is exact); global g = (k_all + 1) / (n_all + 2);
category (base offer) p_c = (k_c + m g) / (n_c + m); offer p_o = (k_o + m p_c) / (n_o + m), m = 10.
bayesian: argmax p_o (ties: priority desc, offer id asc). epsilon_greedy: with probability epsilon a
customer takes a uniform offer, else argmax p_o. thompson_bandit: argmax of Beta(1 + k_o, 1 + n_o - k_o)
draws per customer and offer. formula: argmax of (0.5 + businessValue/100 + priority/100) / 3.
random: uniform. oracle: the true best.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim import make_customers, make_truth, outcome_uniforms  # noqa: E402

POLICIES = ("formula", "random", "oracle", "bayesian", "epsilon_greedy", "thompson_bandit")


def _bayes(n: np.ndarray, k: np.ndarray, m: float = 10.0) -> np.ndarray:
    """p_o per [segment, offer] from counts per [segment, offer]; categories are the base offers."""
    g = (k.sum() + 1) / (n.sum() + 2)
    p_c = (k.sum(axis=0) + m * g) / (n.sum(axis=0) + m)
    return (k + m * p_c[None, :]) / (n + m)


def _argmax_ties(scores: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Row-wise argmax with S5's ties: score desc, priority desc, offer id (index) asc."""
    k = scores.shape[-1]
    key = np.lexsort((np.arange(k)[None, :].repeat(scores.shape[0], 0) * -1, priority[None, :].repeat(scores.shape[0], 0),
                      scores), axis=-1)
    return key[:, -1]


def choose(policy: str, seg: np.ndarray, n: np.ndarray, k: np.ndarray, truth, rng: np.random.Generator,
           epsilon: float) -> np.ndarray:
    c, kk = len(seg), len(truth.offers)
    priority = np.array(truth.priority, dtype=float)
    if policy == "random":
        return rng.integers(0, kk, c)
    if policy == "oracle":
        return truth.rates.argmax(axis=1)[seg]
    if policy == "formula":
        score = (0.5 + np.array(truth.business_value) / 100 + priority / 100) / 3
        return np.full(c, _argmax_ties(score[None, :], priority)[0])
    if policy in ("bayesian", "epsilon_greedy"):
        p = _bayes(n, k)
        greedy = _argmax_ties(p, priority)[seg]
        if policy == "bayesian":
            return greedy
        explore = rng.random(c) < epsilon
        return np.where(explore, rng.integers(0, kk, c), greedy)
    if policy == "thompson_bandit":
        draws = rng.beta(1 + k[seg], 1 + n[seg] - k[seg])
        return draws.argmax(axis=1)
    raise ValueError(policy)


def run(policy: str, seed: int, days: int = 30, n_customers: int = 5000, epsilon: float = 0.1,
        **truth_args) -> list[float]:
    truth = make_truth(seed, **truth_args)
    cust = make_customers(seed, n_customers, truth)
    seg = cust["segment_index"]
    rng = np.random.default_rng([seed, 99, POLICIES.index(policy)])
    n = np.zeros(truth.rates.shape)
    k = np.zeros(truth.rates.shape)
    best = truth.best[seg]
    regret = []
    for day in range(days):
        pick = choose(policy, seg, n, k, truth, rng, epsilon)
        p = truth.rates[seg, pick]
        conv = outcome_uniforms(seed, day, n_customers) < p
        np.add.at(n, (seg, pick), 1)
        np.add.at(k, (seg, pick), conv)
        regret.append(float((best - p).sum()))
    return regret


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1-20", help="a range a-b or a comma list")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--epsilon", type=float, default=0.1)
    ap.add_argument("--json", help="write the per-seed cumulative regrets here")
    a = ap.parse_args(argv)
    if "-" in a.seeds:
        lo, hi = (int(x) for x in a.seeds.split("-"))
        seeds = list(range(lo, hi + 1))
    else:
        seeds = [int(x) for x in a.seeds.split(",")]
    cum = {p: [sum(run(p, s, a.days, a.customers, a.epsilon)) for s in seeds] for p in POLICIES}
    wins = sum(1 for i in range(len(seeds))
               if all(cum["thompson_bandit"][i] < cum[p][i] for p in POLICIES if p not in ("thompson_bandit", "oracle")))
    print("| policy | mean cumulative regret | min | max |\n|---|---|---|---|")
    for p in sorted(POLICIES, key=lambda p: np.mean(cum[p])):
        print(f"| {p} | {np.mean(cum[p]):.1f} | {min(cum[p]):.1f} | {max(cum[p]):.1f} |")
    print(f"thompson_bandit lowest (oracle aside) in {wins} of {len(seeds)} seeds")
    if a.json:
        Path(a.json).write_text(json.dumps({"seeds": seeds, "cumulative_regret": cum}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
