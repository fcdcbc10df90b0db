"""Decision trees compiled to SQL: one tree is a nested CASE, an ensemble the sum of its trees.

The shared tree compiler of the trained engines (gradient_boosted, S8) and the uplift forest
(`kaireon uplift fit --learner forest`). A tree is stored as flat node arrays, the layout of
scikit-learn's tree structures, so a trainer's trees convert without re-walking:

- node i is a leaf iff `left[i] == -1`; its value is `value[i]`;
- otherwise it tests feature `feature[i]`: a row goes left iff `x <= threshold[i]`, and a NULL
  feature value goes left iff `missing_left[i]` (scikit-learn's HistGradientBoosting
  `missing_go_to_left`; a NaN is read as NULL by the callers' feature expressions).

Thresholds and values are DOUBLE literals that parse back to the exact float (`number`), and the
trees of an ensemble are added left to right in their order, so the warehouse sums the same doubles
in the same order as the library and predictions agree to the last bits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from sqlglot import exp


@dataclass(frozen=True)
class Tree:
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]
    missing_left: tuple[bool, ...]

    def __post_init__(self) -> None:
        n = len(self.left)
        if not n or any(len(a) != n for a in (self.feature, self.threshold, self.right, self.value, self.missing_left)):
            raise ValueError("a tree's node arrays must be non-empty and of one length")
        for i in range(n):
            if self.left[i] != -1 and not (i < self.left[i] < n and i < self.right[i] < n):
                raise ValueError(f"node {i}: children must come after their parent and inside the tree")

    def to_dict(self) -> dict:
        return {k: list(getattr(self, k)) for k in ("feature", "threshold", "left", "right", "value", "missing_left")}

    @classmethod
    def from_dict(cls, d: dict) -> "Tree":
        return cls(tuple(int(v) for v in d["feature"]), tuple(float(v) for v in d["threshold"]),
                   tuple(int(v) for v in d["left"]), tuple(int(v) for v in d["right"]),
                   tuple(float(v) for v in d["value"]), tuple(bool(v) for v in d["missing_left"]))

    def predict_row(self, x: Sequence[float | None]) -> float:
        """The leaf value for one row (None or NaN is missing): the Python reference of `tree_sql`."""
        i = 0
        while self.left[i] != -1:
            v = x[self.feature[i]]
            missing = v is None or (isinstance(v, float) and math.isnan(v))
            go_left = self.missing_left[i] if missing else v <= self.threshold[i]
            i = self.left[i] if go_left else self.right[i]
        return self.value[i]


def number(value: float) -> exp.Expression:
    """A DOUBLE literal that parses back to exactly `value` (finite)."""
    if not math.isfinite(value):
        raise ValueError(f"a tree holds a non-finite number {value!r}")
    if value < 0 or (value == 0 and math.copysign(1.0, value) < 0):
        return exp.Neg(this=number(-value))
    return exp.cast(exp.Literal.number(repr(float(value))), "double")


def _node_sql(tree: Tree, i: int, features: Sequence[exp.Expression]) -> exp.Expression:
    if tree.left[i] == -1:
        return number(tree.value[i])
    x = features[tree.feature[i]]
    missing = exp.Is(this=x.copy(), expression=exp.null())
    goes_left = exp.LTE(this=x.copy(), expression=number(tree.threshold[i]))
    test = exp.or_(missing, goes_left) if tree.missing_left[i] else exp.and_(exp.not_(missing), goes_left)
    return exp.case().when(test, _node_sql(tree, tree.left[i], features)).else_(_node_sql(tree, tree.right[i], features))


def tree_sql(tree: Tree, features: Sequence[exp.Expression]) -> exp.Expression:
    """The leaf value of `tree` for the row whose feature j is `features[j]` (a DOUBLE expression)."""
    return _node_sql(tree, 0, features)


def ensemble_sql(trees: Sequence[Tree], features: Sequence[exp.Expression], base: float = 0.0) -> exp.Expression:
    """`base` plus the sum of the trees' values, added left to right in the trees' order."""
    total: exp.Expression = number(base)
    for tree in trees:
        total = exp.Add(this=total, expression=exp.paren(tree_sql(tree, features), copy=False))
    return total
