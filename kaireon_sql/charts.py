"""Every chart of kaireon-sql, drawn with matplotlib: one design, PNG and SVG from the same figure code.

`kaireon report`, `kaireon experiments --chart`, `kaireon uplift evaluate --chart` and the bench charts
(bench/scale.py, bench/learning/sim.py) build their figures here. Figures are plain
`matplotlib.figure.Figure` objects (no pyplot, no global state), drawn under one style (`STYLE`) with
nice tick locators (`MaxNLocator` with nice steps; integer ticks on count axes) and the legend below
the axes, never over the data. Output is deterministic: a fixed `svg.hashsalt`, no date or software
metadata. Text is never parsed as mathtext (an offer name with `$` in it is text), and SVG text is
kept as text (`svg.fonttype: none`), escaped by matplotlib's SVG writer.
"""
from __future__ import annotations

import io
import math
import re
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

PALETTE = ("#1f5fa8", "#d9480f", "#2b8a3e", "#7048e8", "#c2255c", "#0b7285", "#e67700", "#495057")
GREY = "#868e96"
NICE_STEPS = (1, 2, 2.5, 5, 10)
WIDTH_IN = 7.5  # figure width, inches; at 100 dpi (PNG) 750 px

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.edgecolor": "#adb5bd",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e9ecef",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "axes.prop_cycle": matplotlib.cycler(color=list(PALETTE)),
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "xtick.color": "#343a40",
    "ytick.color": "#343a40",
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.fonttype": "none",  # text stays text: searchable, selectable, small
    "svg.hashsalt": "kaireon-sql",  # deterministic element ids
    "text.parse_math": False,  # '$' in an offer name is a dollar sign, not mathtext
    "text.usetex": False,
}
_METADATA = {"svg": {"Date": None, "Creator": None}, "png": {"Software": None}}


@contextmanager
def style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(height_in: float, rows: int = 1, width_in: float = WIDTH_IN) -> tuple[Figure, list]:
    """A figure of `rows` stacked axes in the shared style (draw on it inside `style()`)."""
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)  # a canvas with a renderer: layout and extents can be measured before saving
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    return fig, list(axes)


def nice_locator(integer: bool = False, bins: int = 6) -> MaxNLocator:
    """Ticks at multiples of 1, 2, 2.5 or 5 times a power of ten; whole numbers only with `integer`."""
    return MaxNLocator(nbins=bins, steps=list(NICE_STEPS), integer=integer, min_n_ticks=3)


def _number(x: float, signed: bool = False, digits: int | None = None) -> str:
    if x == 0:
        return "0"
    if digits is None:
        text = f"{x:,.10g}" if abs(x) >= 1 else f"{x:.6g}"
    else:
        text = f"{x:,.{digits}f}"
    return ("+" if signed and x > 0 else "") + text.replace("-", "\u2212")


def tick_formatter(signed: bool = False, prefix: str = "", suffix: str = "") -> FuncFormatter:
    """Tick labels as short numbers: 0, 1,500, 0.25, +2.5 (signed), $10."""
    def fmt(x, _pos=None):
        x = 0.0 if abs(x) < 1e-12 else x
        text = _number(round(x, 10), signed=signed)
        if prefix and text.startswith(("\u2212", "+")):
            return text[0] + prefix + text[1:] + suffix
        return prefix + text + suffix
    return FuncFormatter(fmt)


def value_text(x: float, prefix: str = "", digits: int = 2) -> str:
    """A signed value with `digits` decimals and an optional unit prefix: +7.94, −1.20, +$6.29."""
    text = f"{abs(x):,.{digits}f}"
    sign = "" if round(x, digits) == 0 else ("+" if x > 0 else "\u2212")
    return sign + prefix + text


def label(text: object, width: int = 38, lines: int = 2) -> str:
    """A category label wrapped to `lines` lines of `width` characters (cut with an ellipsis)."""
    parts = textwrap.wrap(str(text), width) or [""]
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: width - 1] + "\u2026"
    return "\n".join(parts)


def legend_below(ax, handles: list, labels: list[str], columns: int | None = None):
    """The legend under the axes (outside the data area), labels taken as given (even one starting with '_')."""
    longest = max((len(t) for t in labels), default=0)
    cols = columns or min(len(labels), 3 if longest <= 24 else 2 if longest <= 40 else 1)
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=cols,
                     borderaxespad=0.0, handlelength=2.4)


# ---- output --------------------------------------------------------------------------------------

def render(fig: Figure, fmt: str, dpi: int = 100, salt: str = "") -> bytes:
    """The figure as SVG or PNG bytes (deterministic; `salt` varies the SVG element ids)."""
    if fmt not in _METADATA:
        raise ValueError(f"chart format {fmt!r}: expected svg or png")
    buf = io.BytesIO()
    with style(), matplotlib.rc_context({"svg.hashsalt": STYLE["svg.hashsalt"] + salt}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
    return buf.getvalue()


def svg_text(fig: Figure, salt: str = "") -> str:
    return render(fig, "svg", salt=salt).decode("utf-8")


def inline_svg(fig: Figure, salt: str = "") -> str:
    """The SVG element alone (no XML declaration or DOCTYPE), for an HTML page; charts of one page take
    different salts, so their element ids (clip paths, markers) never collide."""
    text = svg_text(fig, salt)
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg"):], count=1, flags=re.S)


CHART_SUFFIXES = (".svg", ".png")


def save(fig: Figure, path: str | Path) -> Path:
    """Write the figure as .svg or .png, chosen by the file name."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CHART_SUFFIXES:
        raise ValueError(f"{path}: a chart file name ends in .svg or .png")
    path.write_bytes(render(fig, suffix[1:]))
    return path


def visible_ticks(ax, axis: str = "x") -> list[tuple[float, str]]:
    """(value, label) of the ticks inside the axis' view limits, after a draw (for tests and checks)."""
    fig = ax.figure
    with style():
        fig.draw_without_rendering()
    a = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    ticks = a.get_major_ticks()
    values = a.get_majorticklocs()
    return [(float(v), t.label1.get_text()) for v, t in zip(values, ticks)
            if lo - 1e-9 * max(1.0, abs(hi - lo)) <= v <= hi + 1e-9 * max(1.0, abs(hi - lo))]


# ---- chart types ---------------------------------------------------------------------------------

@dataclass
class Interval:
    """One row of an interval chart: a point estimate with its (optional) 95% interval."""

    name: str
    value: float | None
    low: float | None = None
    high: float | None = None


def _interval_axes(ax, rows: Sequence[Interval], title: str, xlabel: str, prefix: str = "") -> None:
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        if r.value is None:
            ax.text(0.01, y, "n/a (undefined)", transform=ax.get_yaxis_transform(), va="center", color="#c92a2a")
            continue
        if r.low is not None and r.high is not None:
            ax.errorbar([r.value], [y], xerr=[[r.value - r.low], [r.high - r.value]], fmt="o", color=PALETTE[0],
                        ecolor=PALETTE[0], elinewidth=2.5, capsize=6, markersize=8, markerfacecolor=PALETTE[1],
                        markeredgecolor=PALETTE[1])
            text = f"{value_text(r.value, prefix)}  [{value_text(r.low, prefix)}, {value_text(r.high, prefix)}]"
        else:
            ax.plot([r.value], [y], "o", color=PALETTE[1], markersize=8)
            text = value_text(r.value, prefix)
        ax.annotate(text, (r.value, y), xytext=(0, 9), textcoords="offset points", ha="center", fontsize=9)
    ax.axvline(0, color=GREY, linestyle="--", linewidth=1)
    values = [v for r in rows for v in (r.value, r.low, r.high) if v is not None] + [0.0]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.12 or 1.0
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_yticks(ys, [label(r.name, 24, 2) for r in rows])
    ax.xaxis.set_major_locator(nice_locator())
    ax.xaxis.set_major_formatter(tick_formatter(signed=True, prefix=prefix))
    ax.grid(axis="y", visible=False)
    ax.set_title(label(title, 72, 3))
    ax.set_xlabel(xlabel)


def interval_chart(panels: Sequence[tuple[str, str, str, Sequence[Interval]]]) -> Figure:
    """One panel per (title, x label, value prefix, rows): each row's point and 95% interval, a dashed zero."""
    rows = max(len(p[3]) for p in panels) if panels else 1
    with style():
        fig, axes = new_figure(0.9 + (1.1 + 0.55 * rows) * len(panels), rows=len(panels))
        for ax, (title, xlabel, prefix, data) in zip(axes, panels):
            _interval_axes(ax, data, title, xlabel, prefix)
    return fig


@dataclass
class Series:
    """A line: name, x and y values, and how it is drawn."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    dash: str = "-"  # '-', '--', ':'
    colour: str | None = None
    band: tuple[Sequence[float], Sequence[float]] | None = None  # a shaded (low, high) band
    markers: bool = False


def line_chart(series: Sequence[Series], title: str, xlabel: str, ylabel: str, integer_x: bool = False,
               integer_y: bool = False, log: bool = False, x_formatter=None, y_formatter=None,
               height_in: float = 4.2) -> Figure:
    """Lines with the legend below the axes; nice ticks (whole numbers where asked), log-log with `log`."""
    with style():
        fig, (ax,) = new_figure(height_in)
        handles = []
        for i, s in enumerate(series):
            colour = s.colour or PALETTE[i % len(PALETTE)]
            handle, = ax.plot(list(s.x), list(s.y), linestyle=s.dash, color=colour,
                              marker="o" if s.markers else None, markersize=4)
            if s.band is not None:
                ax.fill_between(list(s.x), list(s.band[0]), list(s.band[1]), color=colour, alpha=0.12, linewidth=0)
            handles.append(handle)
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
            for a in (ax.xaxis, ax.yaxis):
                a.set_major_locator(LogLocator(base=10, numticks=12))
                a.set_minor_formatter(NullFormatter())
        else:
            ax.xaxis.set_major_locator(nice_locator(integer_x))
            ax.yaxis.set_major_locator(nice_locator(integer_y))
            ax.xaxis.set_major_formatter(x_formatter or tick_formatter())
            ax.yaxis.set_major_formatter(y_formatter or tick_formatter())
        if log and x_formatter is not None:
            ax.xaxis.set_major_formatter(x_formatter)
        if log and y_formatter is not None:
            ax.yaxis.set_major_formatter(y_formatter)
        ax.set_title(label(title, 72, 3))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        legend_below(ax, handles, [s.name for s in series])
    return fig


def bar_chart(labels: Sequence[object], values: Sequence[float], title: str, xlabel: str,
              label_width: int = 38, integer: bool = True, width_in: float = WIDTH_IN) -> Figure:
    """Horizontal bars, the first label on top, each bar's value printed at its end; whole-number ticks
    (counts) unless `integer` is False (rates: values printed with 3 significant digits)."""
    n = max(len(labels), 1)
    with style():
        two_lines = any(len(str(t)) > label_width for t in labels)
        fig, (ax,) = new_figure(1.2 + (0.5 if two_lines else 0.34) * n, width_in=width_in)
        ys = list(range(len(labels)))[::-1]
        ax.barh(ys, list(values), color=PALETTE[0], height=0.62)
        top = max([float(v) for v in values], default=0.0) or 1.0
        for y, v in zip(ys, values):
            ax.annotate(f"{int(v):,}" if integer else f"{v:.3g}", (v, y), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=9)
        ax.set_xlim(0, top * 1.12)
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_yticks(ys, [label(t, label_width) for t in labels])
        ax.xaxis.set_major_locator(nice_locator(integer=integer))
        ax.xaxis.set_major_formatter(tick_formatter())
        ax.grid(axis="y", visible=False)
        ax.set_title(label(title, 72, 3))
        ax.set_xlabel(xlabel)
    return fig


def log_formatter(unit: str = "") -> FuncFormatter:
    """10^k tick labels as 0.1, 1, 10, 100k, 1M (with a unit)."""
    def fmt(x, _pos=None):
        if x <= 0:
            return ""
        e = round(math.log10(x))
        if abs(math.log10(x) - e) > 1e-9:
            return ""
        if x >= 1_000_000:
            text = f"{x / 1_000_000:g}M"
        elif x >= 1000:
            text = f"{x / 1000:g}k"
        else:
            text = f"{x:g}"
        return text + unit
    return FuncFormatter(fmt)
