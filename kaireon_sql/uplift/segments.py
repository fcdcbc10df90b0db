"""Uplift segments and per-prediction explanations, computed in numpy exactly as `scoring` does in SQL."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

SEGMENTS = ("persuadable", "sleeping_dog", "sure_thing", "lost_cause", "marginal")


@dataclass(frozen=True)
class Thresholds:
    """Where the segments start. Defaults from seed 003: target at uplift >= 0.20, exclude below 0.05.

    Rules, first match wins:
      persuadable   uplift >= target_uplift
      sleeping_dog  uplift < 0 (the offer lowers the outcome)
      sure_thing    uplift < exclude_uplift and p_without_offer >= sure_thing_p_without
      lost_cause    uplift < exclude_uplift and p_with_offer < lost_cause_p_with
      marginal      anything else (some uplift, below the target)
    """

    target_uplift: float = 0.20
    exclude_uplift: float = 0.05
    sure_thing_p_without: float = 0.5
    lost_cause_p_with: float = 0.5

    def __post_init__(self):
        if not 0 <= self.exclude_uplift <= self.target_uplift:
            raise ValueError(f"thresholds need 0 <= exclude_uplift ({self.exclude_uplift}) <= target_uplift "
                             f"({self.target_uplift})")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Thresholds":
        return cls(**{k: float(v) for k, v in data.items()})


def segment(p_with: np.ndarray, p_without: np.ndarray, uplift: np.ndarray, th: Thresholds) -> np.ndarray:
    conditions = [
        uplift >= th.target_uplift,
        uplift < 0,
        (uplift < th.exclude_uplift) & (p_without >= th.sure_thing_p_without),
        (uplift < th.exclude_uplift) & (p_with < th.lost_cause_p_with),
    ]
    return np.select(conditions, list(SEGMENTS[:4]), default=SEGMENTS[4]).astype(object)


SHOWN_MAX = 1e15  # hundredths: |contribution| above 1e13 is shown as 10000000000000.00 (exact below 2**53)


def signed_hundredths(value: float) -> str:
    """'+0.12' / '-0.05': |value| rounded half up to hundredths, as the SQL builds it (no engine's
    number formatting is involved, so every engine writes the same text)."""
    # capped at SHOWN_MAX hundredths, so a huge (garbage) feature value cannot overflow the SQL's BIGINT text
    scaled = min(math.floor(abs(value) * 100.0 + 0.5), SHOWN_MAX)
    sign = "-" if value < 0 and scaled > 0 else "+"
    whole = math.floor(scaled / 100.0)
    frac = int(scaled - 100.0 * whole)
    return f"{sign}{int(whole)}.{frac:02d}"


def top_features(contributions: np.ndarray, names: list[str], k: int) -> np.ndarray:
    """Per row, the k features with the largest |contribution| (ties: feature order), as
    'name:+0.12, name:-0.05'. `contributions` is n_rows x n_features."""
    k = min(k, len(names))
    out = np.empty(contributions.shape[0], dtype=object)
    for i, row in enumerate(contributions):
        order = sorted(range(len(names)), key=lambda j: (-abs(row[j]), j))[:k]
        out[i] = ", ".join(f"{names[j]}:{signed_hundredths(row[j])}" for j in order)
    return out
