"""Base models whose fitted form is a set of coefficients: L2-regularised logistic regression
(L-BFGS on numpy) and ridge regression (closed form)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .dataset import warn

# The linear predictor is clamped here before EXP, in Python and in SQL alike, so that no engine
# overflows (PostgreSQL raises on exp() under/overflow); sigmoid(±700) is 0/1 to double precision.
ETA_LIMIT = 700.0


@dataclass(frozen=True)
class LinearHead:
    """intercept + sum(coef_j * z_j) over the encoded columns."""

    intercept: float
    coef: tuple[float, ...]

    def eta(self, z: np.ndarray) -> np.ndarray:
        """Summed column by column, left to right, as the SQL expression is, so both give the same doubles."""
        out = np.full(z.shape[0], self.intercept, dtype=float)
        for j, c in enumerate(self.coef):
            out = out + c * z[:, j]
        return out

    def probability(self, z: np.ndarray) -> np.ndarray:
        return sigmoid(self.eta(z))

    def to_json(self) -> dict:
        return {"intercept": self.intercept, "coef": list(self.coef)}

    @classmethod
    def from_json(cls, data: dict) -> "LinearHead":
        return cls(float(data["intercept"]), tuple(float(c) for c in data["coef"]))


def sigmoid(eta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(eta, -ETA_LIMIT, ETA_LIMIT)))


def fit_logistic(z: np.ndarray, y: np.ndarray, l2: float = 1.0, weights: np.ndarray | None = None,
                 unpenalised: tuple[int, ...] = (), what: str = "logistic model") -> LinearHead:
    """Minimise sum_i w_i * logloss_i + l2/2 * ||coef||^2 (intercept and `unpenalised` columns free)."""
    n, k = z.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    y = np.asarray(y, dtype=float)
    design = np.column_stack([np.ones(n), z])
    penalty = np.full(k + 1, float(l2))
    penalty[0] = 0.0
    for j in unpenalised:
        penalty[j + 1] = 0.0
    rate = np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6)
    start = np.zeros(k + 1)
    start[0] = np.log(rate / (1 - rate))

    def objective(beta):
        eta = design @ beta
        loss = np.sum(w * (np.logaddexp(0.0, eta) - y * eta)) + 0.5 * np.sum(penalty * beta * beta)
        grad = design.T @ (w * (_sigmoid_exact(eta) - y)) + penalty * beta
        return loss, grad

    result = minimize(objective, start, jac=True, method="L-BFGS-B",
                      options={"maxiter": 2000, "gtol": 1e-8, "ftol": 1e-14})
    if not result.success and "ABNORMAL" not in str(result.message):
        warn(f"{what}: L-BFGS did not converge ({result.message}); raise l2 or check the features")
    beta = result.x
    return LinearHead(float(beta[0]), tuple(float(b) for b in beta[1:]))


def _sigmoid_exact(eta: np.ndarray) -> np.ndarray:
    out = np.empty_like(eta)
    pos = eta >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-eta[pos]))
    e = np.exp(eta[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def fit_ridge(z: np.ndarray, d: np.ndarray, l2: float = 1.0) -> LinearHead:
    """Least squares with an L2 penalty on the coefficients (not the intercept), solved exactly."""
    n, k = z.shape
    design = np.column_stack([np.ones(n), z])
    penalty = np.full(k + 1, float(l2))
    penalty[0] = 0.0
    beta = np.linalg.solve(design.T @ design + np.diag(penalty), design.T @ d)
    return LinearHead(float(beta[0]), tuple(float(b) for b in beta[1:]))
