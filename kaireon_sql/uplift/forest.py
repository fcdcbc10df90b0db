"""Uplift random forest on numpy: trees that split on the difference between the arms, scored in SQL.

Each tree is grown as in Rzepakowski & Jaroszewicz (2012) and causalml's
`UpliftRandomForestClassifier`: a node is split where the children's outcome distributions in the
treated and control arms diverge most, by one of two criteria,

  kl   sum_children n_k/n * KL(p_treated_k || p_control_k) - KL(p_treated || p_control)
  ddp  |(p_treated_left - p_control_left) - (p_treated_right - p_control_right)|  (delta-delta-p)
  ed   as kl with the squared Euclidean distance 2 (p_treated - p_control)^2 in place of KL

searched over histogram bins of the encoded columns (`encoding.FeatureEncoding`: numbers
standardised, text one indicator per level), all columns or a random subset at each node, with at
least `min_leaf` treated and `min_leaf` control rows on each side. Every tree sees its own random
subsample of the rows (seeded); an honest tree (the default, Athey & Imbens 2016) uses one half of
it to choose the splits and the other half to estimate the leaves, so the leaf estimates are not
the ones the split search chose for being extreme. A leaf holds the treated and the control
outcome rate, each shrunk towards the tree's overall rate of that arm by `smoothing` pseudo-rows.

A fitted forest is two ensembles of flat `trees.Tree`s over the same splits: one whose leaves
hold p_treated / n_trees and one holding p_control / n_trees, so that

  p_with_offer    = sum over trees of the treated-leaf value     (the forest average)
  p_without_offer = sum over trees of the control-leaf value
  uplift          = p_with_offer - p_without_offer

which `trees.ensemble_sql` compiles to SQL that adds the same doubles in the same order.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..trees import Tree
from .dataset import UpliftDataError

CRITERIA = ("kl", "ddp", "ed")
_EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] inside KL, as causalml does


@dataclass(frozen=True)
class ForestParams:
    """How a forest is grown; saved with the model (`training.forest`)."""

    n_trees: int = 200
    max_depth: int = 6
    min_leaf: int = 100  # fewest treated and fewest control rows in a leaf (in each honest half)
    criterion: str = "kl"
    max_features: int | None = None  # encoded columns tried per node (default: all of them)
    sample_fraction: float = 0.8  # rows drawn (without replacement) per tree
    honest: bool = True
    bins: int = 32  # histogram bins per encoded column
    smoothing: float = 10.0  # pseudo-rows pulling a leaf's rates towards the tree's overall rates
    min_gain: float = 0.0

    def check(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise UpliftDataError(f"forest: {what}")
        need(isinstance(self.n_trees, int) and 1 <= self.n_trees <= 2000, f"trees must be 1..2000, got {self.n_trees}")
        need(isinstance(self.max_depth, int) and 1 <= self.max_depth <= 12,
             f"depth must be 1..12, got {self.max_depth}")
        need(isinstance(self.min_leaf, int) and self.min_leaf >= 1, f"min leaf must be >= 1, got {self.min_leaf}")
        need(self.criterion in CRITERIA, f"criterion must be one of {', '.join(CRITERIA)}, got {self.criterion!r}")
        need(self.max_features is None or self.max_features >= 1, f"max features must be >= 1, got {self.max_features}")
        need(0.0 < self.sample_fraction <= 1.0, f"sample fraction must be in (0, 1], got {self.sample_fraction}")
        need(2 <= self.bins <= 255, f"bins must be 2..255, got {self.bins}")
        need(self.smoothing >= 0.0, f"smoothing must be >= 0, got {self.smoothing}")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TreeHead:
    """A probability as a sum of tree values (each tree's leaves already divided by the tree count)."""

    trees: tuple[Tree, ...]

    def probability(self, z: np.ndarray) -> np.ndarray:
        """Added tree by tree, left to right, as `trees.ensemble_sql` is, from a 0.0 base."""
        total = np.full(z.shape[0], 0.0)
        for tree in self.trees:
            total = total + predict_tree(tree, z)
        return total

    def to_json(self) -> dict:
        return {"trees": [t.to_dict() for t in self.trees]}

    @classmethod
    def from_json(cls, data: dict) -> "TreeHead":
        return cls(tuple(Tree.from_dict(t) for t in data["trees"]))


def predict_tree(tree: Tree, z: np.ndarray) -> np.ndarray:
    """Leaf value per row of the encoded matrix (no missing values: the encoding maps NULL to 0)."""
    feature = np.asarray(tree.feature)
    threshold = np.asarray(tree.threshold)
    left, right = np.asarray(tree.left), np.asarray(tree.right)
    node = np.zeros(z.shape[0], dtype=np.int64)
    rows = np.arange(z.shape[0])
    while True:
        inner = left[node] != -1
        if not inner.any():
            break
        f = np.where(inner, feature[node], 0)
        goes_left = z[rows, f] <= threshold[node]
        node = np.where(inner, np.where(goes_left, left[node], right[node]), node)
    return np.asarray(tree.value)[node]


# ---- growing ----------------------------------------------------------------------------------

def bin_edges(z: np.ndarray, bins: int) -> list[np.ndarray]:
    """Per encoded column, the candidate thresholds: midpoints between consecutive distinct training
    values (all of them when there are few, else at about `bins` quantiles). A midpoint is never a
    training value, so a row's branch does not hang on the last bit of its encoded value."""
    edges = []
    for j in range(z.shape[1]):
        values = np.unique(z[:, j])
        mids = (values[:-1] + values[1:]) / 2.0
        if len(mids) > bins - 1:
            qs = np.quantile(z[:, j], np.linspace(0, 1, bins + 1)[1:-1])
            mids = np.unique(mids[np.clip(np.searchsorted(values, qs, side="left"), 0, len(mids) - 1)])
        edges.append(mids)
    return edges


def _kl(pt: np.ndarray, pc: np.ndarray) -> np.ndarray:
    pt = np.clip(pt, _EPS, 1 - _EPS)
    pc = np.clip(pc, _EPS, 1 - _EPS)
    return pt * np.log(pt / pc) + (1 - pt) * np.log((1 - pt) / (1 - pc))


class _Grower:
    """Grows one tree on the split rows `s` and estimates its leaves on the rows `e`."""

    def __init__(self, codes, edges, t, y, params: ForestParams, rng, prior_t: float, prior_c: float):
        self.codes, self.edges, self.t, self.y, self.p, self.rng = codes, edges, t, y, params, rng
        self.n_bins = max(len(e) for e in edges) + 1
        self.prior = (prior_t, prior_c)
        k = codes.shape[1]
        self.k_try = min(k, params.max_features or k)
        self.feature, self.threshold, self.left, self.right, self.p_t, self.p_c = [], [], [], [], [], []

    def _hist(self, rows: np.ndarray, cols: np.ndarray):
        """Per (column, bin): treated rows, treated outcomes, control rows, control outcomes, cumulated."""
        b = self.n_bins
        flat = (self.codes[np.ix_(rows, cols)] + (np.arange(len(cols)) * b)[None, :]).ravel()
        t = np.repeat(self.t[rows], len(cols))
        y = np.repeat(self.y[rows], len(cols))
        size = len(cols) * b
        out = [np.bincount(flat, weights=w, minlength=size).reshape(len(cols), b)
               for w in (t, t * y, 1 - t, (1 - t) * y)]
        return [np.cumsum(h, axis=1) for h in out]

    def _best_split(self, s: np.ndarray, e: np.ndarray):
        cols = np.sort(self.rng.choice(self.codes.shape[1], size=self.k_try, replace=False))
        nt, yt, nc, yc = self._hist(s, cols)
        # left = bins <= b; the last bin would leave the right side empty
        nt_l, yt_l, nc_l, yc_l = (a[:, :-1] for a in (nt, yt, nc, yc))
        nt_a, yt_a, nc_a, yc_a = (a[:, -1:] for a in (nt, yt, nc, yc))
        nt_r, yt_r, nc_r, yc_r = nt_a - nt_l, yt_a - yt_l, nc_a - nc_l, yc_a - yc_l
        m = self.p.min_leaf
        ok = (nt_l >= m) & (nc_l >= m) & (nt_r >= m) & (nc_r >= m)
        if self.p.honest:
            ent, _, enc, _ = self._hist(e, cols)
            ent_l, enc_l = ent[:, :-1], enc[:, :-1]
            ok &= (ent_l >= m) & (enc_l >= m) & (ent[:, -1:] - ent_l >= m) & (enc[:, -1:] - enc_l >= m)
        if not ok.any():
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            pt_l, pc_l = yt_l / nt_l, yc_l / nc_l
            pt_r, pc_r = yt_r / nt_r, yc_r / nc_r
            if self.p.criterion == "kl":
                n_l, n_r = nt_l + nc_l, nt_r + nc_r
                gain = (n_l * _kl(pt_l, pc_l) + n_r * _kl(pt_r, pc_r)) / (n_l + n_r) \
                    - _kl(yt_a / nt_a, yc_a / nc_a)
            elif self.p.criterion == "ed":
                n_l, n_r = nt_l + nc_l, nt_r + nc_r
                gain = 2 * (n_l * (pt_l - pc_l) ** 2 + n_r * (pt_r - pc_r) ** 2) / (n_l + n_r) \
                    - 2 * (yt_a / nt_a - yc_a / nc_a) ** 2
            else:
                gain = np.abs((pt_l - pc_l) - (pt_r - pc_r))
        gain = np.where(ok, gain, -np.inf)
        c, b = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if not gain[c, b] > self.p.min_gain:
            return None
        return int(cols[c]), int(b)

    def _leaf_rates(self, e: np.ndarray) -> tuple[float, float]:
        a = self.p.smoothing
        t, y = self.t[e], self.y[e]
        n_t = t.sum()
        rate_t = (float((t * y).sum()) + a * self.prior[0]) / (float(n_t) + a)
        rate_c = (float(((1 - t) * y).sum()) + a * self.prior[1]) / (float(len(e) - n_t) + a)
        return rate_t, rate_c

    def grow(self, s: np.ndarray, e: np.ndarray, depth: int = 0) -> int:
        i = len(self.left)
        for ints in (self.feature, self.left, self.right):
            ints.append(-1)
        for floats in (self.threshold, self.p_t, self.p_c):
            floats.append(0.0)
        split = self._best_split(s, e) if depth < self.p.max_depth else None
        if split is None:
            self.feature[i] = 0
            self.p_t[i], self.p_c[i] = self._leaf_rates(e)
            return i
        col, b = split
        self.feature[i], self.threshold[i] = col, float(self.edges[col][b])
        go_s, go_e = self.codes[s, col] <= b, self.codes[e, col] <= b
        self.left[i] = self.grow(s[go_s], e[go_e], depth + 1)
        self.right[i] = self.grow(s[~go_s], e[~go_e], depth + 1)
        return i

    def trees(self, scale: float) -> tuple[Tree, Tree]:
        n = len(self.left)
        # an inner node's value is never read; keep 0.0 there
        common = dict(feature=tuple(self.feature), threshold=tuple(self.threshold), left=tuple(self.left),
                      right=tuple(self.right), missing_left=(True,) * n)
        leaf = [self.left[i] == -1 for i in range(n)]
        with_t = Tree(value=tuple(self.p_t[i] * scale if leaf[i] else 0.0 for i in range(n)), **common)
        with_c = Tree(value=tuple(self.p_c[i] * scale if leaf[i] else 0.0 for i in range(n)), **common)
        return with_t, with_c


def fit_forest(z: np.ndarray, t: np.ndarray, y: np.ndarray, params: ForestParams, seed: int = 0
               ) -> tuple[TreeHead, TreeHead]:
    """The treated- and control-rate ensembles of an uplift forest on the encoded matrix z."""
    params.check()
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    edges = bin_edges(z, params.bins)
    codes = np.column_stack([np.searchsorted(edges[j], z[:, j], side="left") for j in range(z.shape[1])])
    codes = codes.astype(np.int64)
    rng = np.random.default_rng(seed)
    prior_t, prior_c = float(y[t == 1].mean()), float(y[t == 0].mean())
    n = len(t)
    take = max(2, int(round(params.sample_fraction * n)))
    scale = 1.0 / params.n_trees
    treated, control = [], []
    for _ in range(params.n_trees):
        # drawn per arm, so every tree keeps the arms' proportions
        rows = np.concatenate([rng.choice(np.flatnonzero(t == arm), size=max(1, int(round(take * np.mean(t == arm)))),
                                          replace=False) for arm in (1, 0)])
        rows = rng.permutation(rows)
        if params.honest:
            half = len(rows) // 2
            s, e = np.sort(rows[:half]), np.sort(rows[half:])
        else:
            s = e = np.sort(rows)
        grower = _Grower(codes, edges, t, y, params, rng, prior_t, prior_c)
        grower.grow(s, e)
        a, b = grower.trees(scale)
        treated.append(a)
        control.append(b)
    return TreeHead(tuple(treated)), TreeHead(tuple(control))


__all__ = ["CRITERIA", "ForestParams", "TreeHead", "bin_edges", "fit_forest", "predict_tree"]
