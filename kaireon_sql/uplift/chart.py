"""The Qini-curve chart (kaireon_sql.charts, matplotlib): SVG or PNG from the same figure."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import charts

RANDOM = "random targeting"
DASHED = ("perfect",)


def _thin(x: np.ndarray, y: np.ndarray, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= points:
        return x, y
    keep = np.unique(np.r_[np.linspace(0, len(x) - 1, points).astype(int), len(x) - 1])
    return x[keep], y[keep]


def qini_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str):
    """Each named curve (x = customers targeted, y = incremental responders), plus the random-targeting
    diagonal from (0, 0) to the last point of the first curve; whole-number ticks, the legend below."""
    first = next(iter(curves.values()))
    diagonal = (np.array([0.0, float(first[0][-1])]), np.array([0.0, float(first[1][-1])]))
    series = []
    for i, (name, (x, y)) in enumerate(list(curves.items()) + [(RANDOM, diagonal)]):
        x, y = _thin(np.asarray(x, float), np.asarray(y, float))
        series.append(charts.Series(name, x, y, dash=":" if name == RANDOM else "--" if name in DASHED else "-",
                                    colour=charts.GREY if name == RANDOM else None))
    return charts.line_chart(series, title, "customers targeted, by predicted uplift (descending)",
                             "incremental responders", integer_x=True, integer_y=True)


def qini_svg(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> str:
    return charts.svg_text(qini_figure(curves, title))


def write_qini_chart(path: str | Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> None:
    """Write the chart as .svg or .png (by the file name)."""
    charts.save(qini_figure(curves, title), path)
