"""Feature encoding shared by fitting, Python scoring and SQL scoring.

Each source feature becomes one or more encoded columns, each standardised by its training mean
and scale: a number as (x - mean) / scale, a boolean as 0/1, a text feature as one indicator per
training level (levels sorted, so the encoding is deterministic). A number that is never negative,
takes more than two values and is strongly right-skewed (sample skewness > SKEW_LIMIT, e.g. money
spent) is first taken as ln(1 + x), which lets a linear model use it well. A NULL number (or one
outside the transform's domain) is encoded 0 (the training mean); NULL or unseen text makes all its indicators 0 before standardising. Constant and
all-NULL features are dropped with a warning.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dataset import Table, UpliftDataError, warn

# Skewness above which a non-negative number is log-transformed (when log_skewed is on).
SKEW_LIMIT = 2.0

# More levels than this in a text feature is more likely an id than a category.
MAX_LEVELS = 100


@dataclass(frozen=True)
class EncodedColumn:
    """One standardised model input: `source` (and `level` for an indicator of a text feature)."""

    source: str
    kind: str  # number | boolean | level
    mean: float
    scale: float
    level: str | None = None
    transform: str | None = None  # None | "log1p": ln(1 + x), for x > -1

    @property
    def label(self) -> str:
        return self.source if self.level is None else f"{self.source}={self.level}"

    def raw(self, values: np.ndarray) -> np.ndarray:
        if self.kind == "level":
            return np.array([v == self.level for v in values], dtype=float)
        values = values.astype(float)
        if self.transform == "log1p":  # written as ln(1 + x), as the SQL is, not np.log1p
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(values > -1.0, np.log(1.0 + np.where(values > -1.0, values, 0.0)), np.nan)
        return values

    def encode(self, values: np.ndarray) -> np.ndarray:
        z = (self.raw(values) - self.mean) / self.scale
        return np.where(np.isnan(z), 0.0, z)

    def to_json(self) -> dict:
        out = {"source": self.source, "kind": self.kind, "mean": self.mean, "scale": self.scale}
        if self.level is not None:
            out["level"] = self.level
        if self.transform is not None:
            out["transform"] = self.transform
        return out

    @classmethod
    def from_json(cls, data: dict) -> "EncodedColumn":
        return cls(data["source"], data["kind"], float(data["mean"]), float(data["scale"]), data.get("level"),
                   data.get("transform"))


@dataclass(frozen=True)
class FeatureEncoding:
    columns: tuple[EncodedColumn, ...]
    source_kinds: tuple[tuple[str, str], ...]  # (feature, number|boolean|text) in feature order

    @property
    def features(self) -> list[str]:
        return [name for name, _ in self.source_kinds]

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.columns]

    def matrix(self, table: Table) -> np.ndarray:
        """Encoded columns (n_rows x n_columns); an error naming any feature the table lacks."""
        table.require(self.features, "feature")
        kinds = dict(self.source_kinds)
        for name in self.features:
            fitted, here = kinds[name] == "text", table.kinds.get(name) == "text"
            if fitted != here:
                raise UpliftDataError(f"feature {name!r} was {'text' if fitted else 'numeric'} when the model was fitted "
                                      f"but is {'text' if here else 'numeric'} here")
            if not here and np.isinf(table.columns[name]).any():
                raise UpliftDataError(f"feature {name!r} has infinite values; scores would not be numbers")
        if not self.columns:
            return np.zeros((table.n_rows, 0))
        return np.column_stack([c.encode(table.columns[c.source]) for c in self.columns])

    def to_json(self) -> dict:
        return {"features": [{"name": n, "kind": k} for n, k in self.source_kinds],
                "columns": [c.to_json() for c in self.columns]}

    @classmethod
    def from_json(cls, data: dict) -> "FeatureEncoding":
        return cls(tuple(EncodedColumn.from_json(c) for c in data["columns"]),
                   tuple((f["name"], f["kind"]) for f in data["features"]))


def fit_encoding(table: Table, features: list[str], log_skewed: bool = True) -> FeatureEncoding:
    """Means, scales and levels from the training table; constant / all-NULL features dropped."""
    table.require(features, "feature")
    if len(set(features)) != len(features):
        raise UpliftDataError(f"features listed twice: {sorted({f for f in features if features.count(f) > 1})}")
    columns: list[EncodedColumn] = []
    kept: list[tuple[str, str]] = []
    for name in features:
        values, kind = table.columns[name], table.kinds[name]
        if kind == "text":
            present = [v for v in values if v is not None]
            levels = sorted(set(present))
            if not present:
                warn(f"feature {name!r} is NULL in every row; dropped")
                continue
            if len(levels) == 1 and len(present) == len(values):
                warn(f"feature {name!r} is constant ({levels[0]!r}); dropped")
                continue
            if len(levels) > MAX_LEVELS:
                raise UpliftDataError(f"text feature {name!r} has {len(levels)} distinct values (more than {MAX_LEVELS}); "
                                      "is it an id? Leave it out or bucket it")
            if len(present) < len(values):
                warn(f"feature {name!r} has {len(values) - len(present)} NULL value(s); they are encoded as no level")
            fresh = [_standardised(name, "level", np.array([v == lv for v in values], dtype=float), lv) for lv in levels]
            columns.extend(c for c in fresh if c is not None)
            kept.append((name, "text"))
            continue
        finite = values[~np.isnan(values)]
        if finite.size == 0:
            warn(f"feature {name!r} is NULL in every row; dropped")
            continue
        if np.isinf(finite).any():
            raise UpliftDataError(f"feature {name!r} has infinite values")
        if finite.min() == finite.max():
            warn(f"feature {name!r} is constant ({float(finite[0])!r}); dropped")
            continue
        if finite.size < values.size:
            warn(f"feature {name!r} has {values.size - finite.size} NULL value(s); they are encoded as the training mean")
        if log_skewed and kind == "number" and finite.min() >= 0 and len(np.unique(finite)) > 2 and _skew(finite) > SKEW_LIMIT:
            columns.append(_standardised(name, kind, np.log(1.0 + finite), transform="log1p"))
        else:
            columns.append(_standardised(name, kind, finite))
        kept.append((name, kind))
    if not columns:
        raise UpliftDataError(f"no usable feature among {', '.join(map(repr, features))} (all constant or NULL)")
    return FeatureEncoding(tuple(columns), tuple(kept))


def _skew(values: np.ndarray) -> float:
    centred = values - values.mean()
    sd = np.sqrt(np.mean(centred ** 2))
    return float(np.mean(centred ** 3) / sd ** 3) if sd > 0 else 0.0


def _standardised(name: str, kind: str, values: np.ndarray, level: str | None = None,
                  transform: str | None = None) -> EncodedColumn | None:
    mean = float(values.mean())
    scale = float(values.std())
    if scale == 0.0:
        return None
    return EncodedColumn(name, kind, mean, scale, level, transform)
