"""neural_cf: logistic matrix factorisation of the customer x offer outcome matrix (numpy, seeded).

Each attributed impression is one cell observation (customer c, offer o, label y). The model is
P(y = 1) = sigmoid(b_o + u_c . v_o), fitted by full-batch Adam on the mean log loss plus
l2 * (|u_c|^2 + |v_o|^2) per observation, from factors drawn N(0, 0.1) with `seed` and b_o the
offer's log-odds (smoothed). Same rows, settings and seed give the same file.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..plan.trained import FILE_FORMATS, NCF

DEFAULTS = {"factors": 8, "epochs": 300, "learningRate": 0.05, "l2": 0.01}


def _setting(settings: dict, key: str):
    return settings.get(key, DEFAULTS[key])


def fit(cells: Sequence[tuple[str, str, int]], settings: dict, seed: int) -> dict:
    """The factors of the model file for (customer_id, offer_id, label) observations."""
    k, epochs = int(_setting(settings, "factors")), int(_setting(settings, "epochs"))
    lr, l2 = float(_setting(settings, "learningRate")), float(_setting(settings, "l2"))
    if not cells:
        raise ValueError("no impressions to learn factors from")
    customers = sorted({c for c, _, _ in cells})
    offers = sorted({o for _, o, _ in cells})
    cmap = {c: i for i, c in enumerate(customers)}
    omap = {o: i for i, o in enumerate(offers)}
    ci = np.array([cmap[c] for c, _, _ in cells])
    oi = np.array([omap[o] for _, o, _ in cells])
    y = np.array([float(v) for _, _, v in cells])
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, 0.1, (len(customers), k))
    v = rng.normal(0.0, 0.1, (len(offers), k))
    pos = np.bincount(oi, weights=y, minlength=len(offers))
    cnt = np.bincount(oi, minlength=len(offers))
    b = np.log((pos + 0.5) / (cnt - pos + 0.5))
    params = [u, v, b]
    m = [np.zeros_like(p) for p in params]
    s = [np.zeros_like(p) for p in params]
    n = len(y)
    for t in range(1, epochs + 1):
        z = b[oi] + np.einsum("ij,ij->i", u[ci], v[oi])
        g = (1.0 / (1.0 + np.exp(-z)) - y) / n  # d loss / d z
        gu = np.zeros_like(u)
        gv = np.zeros_like(v)
        np.add.at(gu, ci, g[:, None] * v[oi] + 2 * l2 * u[ci] / n)
        np.add.at(gv, oi, g[:, None] * u[ci] + 2 * l2 * v[oi] / n)
        gb = np.bincount(oi, weights=g, minlength=len(offers))
        for j, (p, grad) in enumerate(zip(params, (gu, gv, gb))):
            m[j] = 0.9 * m[j] + 0.1 * grad
            s[j] = 0.999 * s[j] + 0.001 * grad * grad
            p -= lr * (m[j] / (1 - 0.9 ** t)) / (np.sqrt(s[j] / (1 - 0.999 ** t)) + 1e-8)
    return {"factors": k,
            "customers": [[c, [float(x) for x in u[i]]] for c, i in cmap.items()],
            "offers": [[o, float(b[i]), [float(x) for x in v[i]]] for o, i in omap.items()]}


def model_file(factors: dict, model_ref: str, trained: dict) -> dict:
    return {"format": FILE_FORMATS[NCF], "version": 1, "model": model_ref, **factors, "trained": trained}


def predict(data: dict, customer_id: str, offer_id: str) -> float | None:
    """The Python reference of the SQL: sigmoid(b_o + u0 v0 + u1 v1 + ...), None without factors."""
    u = dict((c, f) for c, f in data["customers"]).get(customer_id)
    found = {o: (b, f) for o, b, f in data["offers"]}.get(offer_id)
    if u is None or found is None:
        return None
    z = found[0]
    for a, c in zip(u, found[1]):
        z = z + a * c
    return 1.0 / (1.0 + math.exp(-z))
