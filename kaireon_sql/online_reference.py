"""A Python reference of the online_learner's update rule (docs/online_learner.md; the warehouse's is
kaireon_sql/sql/online_learner.py). Plain floats, no SQL: tests compare the state model with it.

One run, at `as_of`, given the previous state (None: the prior) and the attribution rows whose
window closed in (previous as_of, as_of] (each: offer_id, y in {0, 1}, features x_1..x_k as floats,
a missing value already read as 0):

    r_i  = sigmoid(b_{o_i} + sum_j w_j x_ij) - y_i          (previous coefficients)
    b_o <- b_o - lr * (sum_{i: o_i = o} r_i) / n            (every offer with an intercept or rows)
    w_j <- w_j - lr * (sum_i r_i x_ij + n * l2 * w_j) / n   (= w_j - lr * (g_j / n + l2 * w_j))

with n the number of rows; a run without rows keeps the coefficients. An offer's intercept starts
at `prior_intercept`, every weight at 0; sigmoid(z) = 1 / (1 + exp(-z)) with z clipped to [-500, 500].
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

Z_LIMIT = 500.0


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(max(z, -Z_LIMIT), Z_LIMIT)))


@dataclass
class OnlineState:
    intercepts: dict[str, float] = field(default_factory=dict)
    weights: list[float] = field(default_factory=list)
    update_n: int = 0


@dataclass(frozen=True)
class TrainingRow:
    offer_id: str
    y: float
    x: tuple[float, ...]


def step(state: OnlineState | None, rows: list[TrainingRow], n_features: int, learning_rate: float,
         regularization: float = 0.0, prior_intercept: float = 0.0) -> OnlineState:
    """The state after one run's update over `rows` (the order of `rows` changes nothing but rounding)."""
    prev = state or OnlineState({}, [0.0] * n_features, 0)
    n = len(rows)
    grads: dict[str, float] = {o: 0.0 for o in prev.intercepts}
    g = [0.0] * n_features
    for row in rows:
        z = prev.intercepts.get(row.offer_id, prior_intercept)
        for w, x in zip(prev.weights, row.x):
            z += w * x
        r = sigmoid(z) - row.y
        grads[row.offer_id] = grads.get(row.offer_id, 0.0) + r
        for j, x in enumerate(row.x):
            g[j] += r * x
    if n == 0:
        return OnlineState(dict(prev.intercepts), list(prev.weights), prev.update_n + 1)
    intercepts = {o: prev.intercepts.get(o, prior_intercept) - learning_rate * grads[o] / n for o in grads}
    weights = [w - learning_rate * (g[j] + n * regularization * w) / n for j, w in enumerate(prev.weights)]
    return OnlineState(intercepts, weights, prev.update_n + 1)


def propensity(state: OnlineState, offer_id: str, x: tuple[float, ...], prior_intercept: float = 0.0) -> float:
    z = state.intercepts.get(offer_id, prior_intercept)
    for w, v in zip(state.weights, x):
        z += w * v
    return sigmoid(z)
