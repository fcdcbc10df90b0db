"""A Qini-curve chart as a self-contained SVG file (plain Python, no plotting library)."""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

WIDTH, HEIGHT, MARGIN = 640, 420, 56
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _thin(x: np.ndarray, y: np.ndarray, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= points:
        return x, y
    keep = np.unique(np.r_[np.linspace(0, len(x) - 1, points).astype(int), len(x) - 1])
    return x[keep], y[keep]


def qini_svg(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> str:
    """SVG text: each named curve (x = customers targeted, y = incremental responders), plus the
    random-targeting diagonal from (0, 0) to the last point of the first curve."""
    first = next(iter(curves.values()))
    diagonal = (np.array([0.0, first[0][-1]]), np.array([0.0, first[1][-1]]))
    series = list(curves.items()) + [("random targeting", diagonal)]
    xs = np.concatenate([np.asarray(c[0], float) for _, c in series])
    ys = np.concatenate([np.asarray(c[1], float) for _, c in series])
    x_max = xs.max() or 1.0
    y_min, y_max = min(0.0, ys.min()), max(ys.max(), 1e-9)

    def px(x, y):
        return (MARGIN + (x / x_max) * (WIDTH - 2 * MARGIN),
                HEIGHT - MARGIN - (y - y_min) / (y_max - y_min) * (HEIGHT - 2 * MARGIN))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-family="sans-serif" font-size="15">{escape(title)}</text>']
    x0, y0 = px(0, y_min)
    x1, _ = px(x_max, y_min)
    _, y1 = px(0, y_max)
    parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/>')
    parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>')
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        tx, ty = px(frac * x_max, y_min)
        parts.append(f'<text x="{tx:.1f}" y="{ty + 16:.1f}" text-anchor="middle" font-family="sans-serif" '
                     f'font-size="11">{frac * x_max:,.0f}</text>')
        lx, ly = px(0, y_min + frac * (y_max - y_min))
        parts.append(f'<text x="{lx - 6:.1f}" y="{ly + 4:.1f}" text-anchor="end" font-family="sans-serif" '
                     f'font-size="11">{y_min + frac * (y_max - y_min):,.1f}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle" font-family="sans-serif" '
                 'font-size="12">customers targeted, by predicted uplift (descending)</text>')
    parts.append(f'<text x="14" y="{HEIGHT / 2}" transform="rotate(-90 14 {HEIGHT / 2})" text-anchor="middle" '
                 'font-family="sans-serif" font-size="12">incremental responders</text>')
    for i, (name, (x, y)) in enumerate(series):
        x, y = _thin(np.asarray(x, float), np.asarray(y, float))
        colour = "#888888" if name == "random targeting" else COLOURS[i % len(COLOURS)]
        dash = ' stroke-dasharray="5,4"' if name in ("random targeting", "perfect") else ""
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in (px(u, v) for u, v in zip(x, y)))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8"{dash} points="{points}"/>')
        ly = MARGIN + 8 + 16 * i
        parts.append(f'<line x1="{MARGIN + 12}" y1="{ly}" x2="{MARGIN + 36}" y2="{ly}" stroke="{colour}" '
                     f'stroke-width="2"{dash}/>')
        parts.append(f'<text x="{MARGIN + 42}" y="{ly + 4}" font-family="sans-serif" font-size="12">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_qini_chart(path: str | Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> None:
    Path(path).write_text(qini_svg(curves, title))
