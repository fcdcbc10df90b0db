"""A fitted uplift model: an encoding plus linear heads, predicted in numpy and saved as JSON.

Every learner reduces to the same shape, which is what makes SQL scoring one expression:

  p_with_offer    = sigmoid(with_offer head)      P(outcome | offer)
  p_without_offer = sigmoid(without_offer head)   P(outcome | no offer)
  uplift          = by `uplift_kind`:
      difference            p_with_offer - p_without_offer            (T- and S-learner)
      linear                clip(uplift head, -1, 1)                  (X-learner: the CATE regression)
      class_transformation  2 * sigmoid(uplift head) - 1              (class transformation)
  explanation     contributions explain.coef_j * z_j summed per source feature; for T/S they are
                  the terms of logit(p_with) - logit(p_without), for X terms of the CATE regression
                  (probability units), for CT terms of the transformed-class logit.

For X and CT the two probabilities come from the auxiliary two-model (T) fit, so uplift is then
the learner's own estimate and need not equal p_with_offer - p_without_offer.

The uplift random forest (`learner` "forest", forest.py) has tree heads instead of linear ones:
p_with_offer and p_without_offer are the forest's averages of the treated and control leaf rates
(each a `forest.TreeHead`, a sum of flat `trees.Tree`s), uplift is their difference, and `explain`
is a linear surrogate (a ridge regression of the forest's uplift on the encoded columns) that
names the top features.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset import Table, UpliftDataError
from .encoding import FeatureEncoding
from .forest import TreeHead
from .logistic import LinearHead
from .segments import Thresholds, segment, top_features

FORMAT = "kaireon-uplift-model"
VERSION = 1
UPLIFT_KINDS = ("difference", "linear", "class_transformation")
LEARNERS = {"t": "two-model (T) learner", "s": "single-model (S) learner with treatment interactions",
            "x": "X-learner", "ct": "class transformation", "forest": "uplift random forest"}
TREE_LEARNERS = ("forest",)  # learners whose with_offer / without_offer heads are tree ensembles


@dataclass(frozen=True)
class UpliftModel:
    learner: str
    encoding: FeatureEncoding
    with_offer: LinearHead | TreeHead
    without_offer: LinearHead | TreeHead
    uplift_kind: str
    explain: LinearHead
    uplift_head: LinearHead | None = None
    thresholds: Thresholds = Thresholds()
    top_k: int = 3
    treatment: str = "treatment"
    outcome: str = "outcome"
    training: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.uplift_kind not in UPLIFT_KINDS:
            raise ValueError(f"uplift_kind must be one of {UPLIFT_KINDS}")
        if (self.uplift_head is None) != (self.uplift_kind == "difference"):
            raise ValueError("an uplift head is needed exactly when uplift_kind is not 'difference'")
        trees = self.learner in TREE_LEARNERS
        if any(isinstance(h, TreeHead) != trees for h in (self.with_offer, self.without_offer)):
            raise ValueError("tree heads exactly for the tree learners (" + ", ".join(TREE_LEARNERS) + ")")

    @property
    def features(self) -> list[str]:
        return self.encoding.features

    # ---- prediction ---------------------------------------------------------------------------

    def contributions(self, z: np.ndarray) -> np.ndarray:
        """n_rows x n_features: explain.coef_j * z_j summed per source feature, in encoding order."""
        names = self.features
        out = np.zeros((z.shape[0], len(names)))
        started = [False] * len(names)
        for j, (col, c) in enumerate(zip(self.encoding.columns, self.explain.coef)):
            f = names.index(col.source)
            term = c * z[:, j]
            out[:, f] = out[:, f] + term if started[f] else term
            started[f] = True
        return out

    def predict_z(self, z: np.ndarray) -> dict[str, np.ndarray]:
        p_with = self.with_offer.probability(z)
        p_without = self.without_offer.probability(z)
        if self.uplift_kind == "difference":
            uplift = p_with - p_without
        elif self.uplift_kind == "linear":
            uplift = np.clip(self.uplift_head.eta(z), -1.0, 1.0)
        else:
            uplift = 2.0 * self.uplift_head.probability(z) - 1.0
        return {"p_with_offer": p_with, "p_without_offer": p_without, "uplift": uplift}

    def predict(self, table: Table) -> dict[str, np.ndarray]:
        """p_with_offer, p_without_offer, uplift, segment and top_features per row of `table`."""
        z = self.encoding.matrix(table)
        out = self.predict_z(z)
        for name, values in out.items():
            if not np.isfinite(values).all():  # cannot happen with finite inputs; never write NaN
                raise UpliftDataError(f"model produced non-finite {name}; check the features for extreme values")
        out["segment"] = segment(out["p_with_offer"], out["p_without_offer"], out["uplift"], self.thresholds)
        out["top_features"] = top_features(self.contributions(z), self.features, self.top_k)
        return out

    def uplift(self, table: Table) -> np.ndarray:
        return self.predict_z(self.encoding.matrix(table))["uplift"]

    # ---- saved form ---------------------------------------------------------------------------

    def to_json(self) -> dict:
        heads = {"with_offer": self.with_offer.to_json(), "without_offer": self.without_offer.to_json(),
                 "explain": self.explain.to_json()}
        if self.uplift_head is not None:
            heads["uplift"] = self.uplift_head.to_json()
        return {
            "format": FORMAT, "version": VERSION, "learner": self.learner, "learner_name": LEARNERS.get(self.learner, ""),
            "treatment": self.treatment, "outcome": self.outcome, "uplift_kind": self.uplift_kind,
            "encoding": self.encoding.to_json(), "heads": heads,
            "scoring": {"thresholds": self.thresholds.to_json(), "top_features": self.top_k},
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data: dict) -> "UpliftModel":
        check_model_json(data)
        heads = data["heads"]
        scoring = data.get("scoring", {})
        return cls(
            learner=data["learner"], encoding=FeatureEncoding.from_json(data["encoding"]),
            with_offer=_head(heads["with_offer"]), without_offer=_head(heads["without_offer"]),
            uplift_kind=data["uplift_kind"], explain=LinearHead.from_json(heads["explain"]),
            uplift_head=LinearHead.from_json(heads["uplift"]) if "uplift" in heads else None,
            thresholds=Thresholds.from_json(scoring.get("thresholds", {})), top_k=int(scoring.get("top_features", 3)),
            treatment=data.get("treatment", "treatment"), outcome=data.get("outcome", "outcome"),
            training=data.get("training", {}),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "UpliftModel":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UpliftDataError(f"no such model file: {path}") from None
        except UnicodeDecodeError:
            raise UpliftDataError(f"model file {path} is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise UpliftDataError(f"model file {path} is not JSON: {exc}") from None
        return cls.from_json(data)


def _head(data: dict) -> LinearHead | TreeHead:
    return TreeHead.from_json(data) if "trees" in data else LinearHead.from_json(data)


# ---- the saved form, checked before use (a model file is input: refused with where and what was expected) ----

_FEATURE_KINDS = {"number": "number", "boolean": "boolean", "text": "level"}  # feature kind -> its columns' kind
_TRANSFORMS = ("log1p",)


def _non_finite(value, at: str) -> str | None:
    """Where the first NaN or +-infinity in a JSON value is (Python's json reads NaN and Infinity), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return at
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, f"{at}[{key}]" if isinstance(key, int) else f"{at}.{key}" if at else str(key))
        if found:
            return found
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _expect(ok: bool, at: str, expected: str) -> None:
    # The file's values are not echoed: a file that is not a valid model may be anything.
    if not ok:
        raise UpliftDataError(f"{at}: expected {expected}")


def _object(data, key: str, at: str, required: bool = True) -> dict:
    value = data.get(key) if required or key in data else {}
    _expect(isinstance(value, dict), f"{at}{key}", "an object")
    return value


def check_model_json(data) -> None:
    """An UpliftDataError naming the first field of a saved model that is not what `to_json` writes."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UpliftDataError(f"not a kaireon uplift model (expected a JSON object with \"format\": \"{FORMAT}\")")
    _expect(data.get("version") == VERSION, "version", f"{VERSION} (the only supported version)")
    bad = _non_finite(data, "")
    _expect(bad is None, str(bad), "a finite number (NaN and infinities are not allowed in a model file)")
    _expect(data.get("learner") in LEARNERS, "learner", f"one of {', '.join(LEARNERS)}")
    _expect(data.get("uplift_kind") in UPLIFT_KINDS, "uplift_kind", f"one of {', '.join(UPLIFT_KINDS)}")
    _expect(data["learner"] not in TREE_LEARNERS or data["uplift_kind"] == "difference", "uplift_kind",
            "'difference' for a tree learner")
    encoding = _object(data, "encoding", "")
    features, columns = encoding.get("features"), encoding.get("columns")
    _expect(isinstance(features, list) and len(features) > 0, "encoding.features", "a non-empty list")
    _expect(isinstance(columns, list) and len(columns) > 0, "encoding.columns", "a non-empty list")
    kinds: dict[str, str] = {}
    for i, f in enumerate(features):
        at = f"encoding.features[{i}]"
        _expect(isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"] not in kinds, f"{at}.name",
                "a feature name (text), listed once")
        _expect(f.get("kind") in _FEATURE_KINDS, f"{at}.kind", f"one of {', '.join(_FEATURE_KINDS)}")
        kinds[f["name"]] = f["kind"]
    used: set[str] = set()
    for i, c in enumerate(columns):
        at = f"encoding.columns[{i}]"
        _expect(isinstance(c, dict), at, "an object")
        _expect(c.get("source") in kinds, f"{at}.source", "one of the names in encoding.features")
        kind = _FEATURE_KINDS[kinds[c["source"]]]
        _expect(c.get("kind") == kind, f"{at}.kind", f"{kind!r} (the kind of a {kinds[c['source']]} feature's columns)")
        _expect(_is_number(c.get("mean")), f"{at}.mean", "a number")
        _expect(_is_number(c.get("scale")) and c["scale"] > 0, f"{at}.scale", "a number above 0")
        _expect(isinstance(c.get("level"), str) if kind == "level" else "level" not in c, f"{at}.level",
                "text for a 'level' column, and no level for other columns")
        _expect(c.get("transform") is None or (kind == "number" and c["transform"] in _TRANSFORMS), f"{at}.transform",
                f"no transform or one of {', '.join(_TRANSFORMS)} (numbers only)")
        used.add(c["source"])
    missing = [n for n in kinds if n not in used]
    _expect(not missing, "encoding.columns", "at least one column per feature in encoding.features")
    heads = _object(data, "heads", "")
    names = ["with_offer", "without_offer", "explain"] + ([] if data["uplift_kind"] == "difference" else ["uplift"])
    _expect(set(heads) == set(names), "heads", f"exactly the heads {', '.join(names)} for uplift_kind "
                                               f"{data['uplift_kind']!r}")
    for name in names:
        head = _object(heads, name, "heads.")
        if data["learner"] in TREE_LEARNERS and name != "explain":
            _check_trees(head, f"heads.{name}", len(columns))
            continue
        _expect(_is_number(head.get("intercept")), f"heads.{name}.intercept", "a number")
        coef = head.get("coef")
        _expect(isinstance(coef, list) and len(coef) == len(columns) and all(map(_is_number, coef)),
                f"heads.{name}.coef", f"a list of {len(columns)} numbers (one per encoded column)")
    scoring = _object(data, "scoring", "", required=False)
    thresholds = _object(scoring, "thresholds", "scoring.", required=False)
    for key, value in thresholds.items():
        _expect(key in Thresholds.__dataclass_fields__ and _is_number(value), f"scoring.thresholds.{key}",
                f"a number for one of {', '.join(Thresholds.__dataclass_fields__)}")
    top = scoring.get("top_features", 3)
    _expect(isinstance(top, int) and not isinstance(top, bool) and top >= 0, "scoring.top_features",
            "a whole number >= 0")
    for key in ("treatment", "outcome"):
        _expect(isinstance(data.get(key, ""), str), key, "text")
    _expect(isinstance(data.get("training", {}), dict), "training", "an object")


_TREE_ARRAYS = ("feature", "threshold", "left", "right", "value", "missing_left")


def _check_trees(head: dict, at: str, n_columns: int) -> None:
    """A tree head: a non-empty list of flat trees over the encoded columns (trees.Tree's layout)."""
    trees = head.get("trees")
    _expect(set(head) == {"trees"} and isinstance(trees, list) and len(trees) > 0, at,
            "an object with a non-empty list 'trees' (a tree learner's head)")
    for i, tree in enumerate(trees):
        here = f"{at}.trees[{i}]"
        _expect(isinstance(tree, dict) and set(tree) == set(_TREE_ARRAYS), here,
                f"an object with exactly the node arrays {', '.join(_TREE_ARRAYS)}")
        n = len(tree["left"]) if isinstance(tree["left"], list) else -1
        for key in _TREE_ARRAYS:
            values = tree[key]
            kind = (lambda v: isinstance(v, bool)) if key == "missing_left" else \
                _is_number if key in ("threshold", "value") else (lambda v: isinstance(v, int) and not isinstance(v, bool))
            _expect(isinstance(values, list) and len(values) == n and n > 0 and all(map(kind, values)),
                    f"{here}.{key}", f"a list of {max(n, 1)} {'booleans' if key == 'missing_left' else 'numbers'}")
        _expect(all(0 <= f < n_columns for f in tree["feature"]), f"{here}.feature",
                f"encoded column numbers in 0..{n_columns - 1}")
        for j in range(n):
            if tree["left"][j] != -1:
                _expect(j < tree["left"][j] < n and j < tree["right"][j] < n, f"{here}.left[{j}]",
                        "children after their parent and inside the tree (or -1 for a leaf)")
