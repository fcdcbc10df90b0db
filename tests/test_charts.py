"""kaireon_sql.charts (matplotlib): nice, distinct tick labels; the legend off the data; deterministic,
escaped output. The cases are the defects of issue 16: the SVG lift chart's axis with two ticks and `+0.00`
printed twice, the Qini chart's 19.5/39/58.5 ticks and its legend over a curve."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from kaireon_sql import charts
from kaireon_sql.experiments import readout
from kaireon_sql.uplift.chart import qini_figure
from kaireon_sql.uplift.metrics import perfect_qini_curve, qini_curve

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & \'quotes\' $5 off $10'


def _nice(values: list[float], integer: bool = False) -> None:
    """At least 3 ticks, evenly spaced by 1, 2, 2.5 or 5 times a power of ten, each a multiple of the step."""
    assert len(values) >= 3, values
    steps = np.diff(values)
    step = float(steps[0])
    assert np.allclose(steps, step, rtol=1e-9), values
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-9) for m in (1, 2, 2.5, 5)), (step, values)
    for v in values:
        assert math.isclose(v / step, round(v / step), abs_tol=1e-6), (v, step)
        if integer:
            assert float(v).is_integer(), values


def _labels_ok(ticks: list[tuple[float, str]], integer: bool = False) -> None:
    values, labels = [v for v, _ in ticks], [t for _, t in ticks]
    _nice(values, integer)
    assert len(set(labels)) == len(labels) and all(labels), labels


def _readout(flow: str, lift: float, low: float, high: float, diff: float, dlow: float, dhigh: float):
    return readout.Readout({"decision_flow_key": flow, "lift_abs": lift, "lift_low": low, "lift_high": high,
                            "revenue_diff": diff, "revenue_diff_low": dlow, "revenue_diff_high": dhigh})


@pytest.mark.parametrize("lift", [(0.0, -0.00004, 0.00004), (0.0794, 0.0329, 0.1258), (-0.02, -0.05, 0.01)])
def test_lift_chart_ticks_are_distinct_and_nice(lift):
    """A lift of 0 with a tiny interval printed `+0.00` twice on a 2-tick axis before (issue 16)."""
    fig = readout.lift_figure([_readout("winback", *lift, 6.29, 2.1, 10.4)])
    for ax in fig.axes:
        ticks = charts.visible_ticks(ax, "x")
        _labels_ok(ticks)
        lo, hi = ax.get_xlim()
        assert lo < 0 < hi  # the zero line is on the axis
        assert all(t.startswith(("+", "\u2212", "0", "$")) for _, t in ticks)


def _qini_curves(rows: int = 1000, seed: int = 3):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, rows)
    x = rng.normal(size=rows)
    y = (rng.random(rows) < 0.05 + 0.1 * t * (x > 0)).astype(int)
    return {"t learner": qini_curve(y, x, t), "perfect": perfect_qini_curve(y, t)}


def test_qini_chart_has_whole_number_ticks_and_the_legend_off_the_curves():
    """The Qini chart read 19.5/39/58.5 (quarters of the maximum) and its legend covered a curve (issue 16)."""
    curves = _qini_curves()
    fig = qini_figure(curves, "Qini curve: outcome")
    (ax,) = fig.axes
    _labels_ok(charts.visible_ticks(ax, "x"), integer=True)
    _labels_ok(charts.visible_ticks(ax, "y"), integer=True)
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["t learner", "perfect", "random targeting"]
    renderer = fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    assert not box.overlaps(ax.get_window_extent(renderer))  # outside the axes: over no data at all
    for line in ax.get_lines():  # and no point of any curve is drawn inside it
        xy = ax.transData.transform(np.column_stack(line.get_data()))
        inside = ((xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1))
        assert not inside.any()


def test_line_chart_legend_is_inside_the_figure():
    fig = charts.line_chart([charts.Series("a much longer series name than the others", [0, 1, 2], [0, 1, 4]),
                             charts.Series("b", [0, 1, 2], [0, 2, 3]), charts.Series("c", [0, 2], [1, 2])],
                            "t", "x", "y")
    charts.visible_ticks(fig.axes[0])  # lays the figure out
    renderer = fig.canvas.get_renderer()
    box = fig.axes[0].get_legend().get_window_extent(renderer)
    fbox = fig.bbox
    assert fbox.x0 <= box.x0 and box.x1 <= fbox.x1 and fbox.y0 <= box.y0


def test_bar_chart_ticks_are_whole_numbers():
    fig = charts.bar_chart(["a", "b", "c"], [7, 3, 1], "decisions per offer", "decisions")
    _labels_ok(charts.visible_ticks(fig.axes[0], "x"), integer=True)


def test_log_chart_ticks():
    fig = charts.line_chart([charts.Series("s", [1e5, 1e6, 1e7], [0.7, 2.8, 16.5])], "t", "customers", "seconds",
                            log=True, x_formatter=charts.log_formatter(), y_formatter=charts.log_formatter(" s"))
    labels = [t for _, t in charts.visible_ticks(fig.axes[0], "x") if t]
    assert labels == ["100k", "1M", "10M"]
    assert [t for _, t in charts.visible_ticks(fig.axes[0], "y") if t] == ["1 s", "10 s"]


def test_output_is_deterministic_and_text_is_escaped():
    def make():
        return charts.bar_chart([HOSTILE, "plain"], [5, 2], f"offers {HOSTILE}", "decisions", label_width=80)
    svg = charts.svg_text(make())
    assert svg == charts.svg_text(make())
    assert charts.render(make(), "png") == charts.render(make(), "png")
    root = ET.fromstring(svg)  # well-formed: the name did not break out of its text node
    assert root.tag == SVG + "svg"
    assert "<script" not in svg
    assert not list(root.iter(SVG + "script"))
    texts = "".join(t for el in root.iter(SVG + "text") for t in el.itertext())
    assert HOSTILE in texts  # drawn as text, '$' included (no mathtext)
    assert charts.inline_svg(make()).startswith("<svg")


def test_save_refuses_other_formats(tmp_path):
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        charts.save(charts.bar_chart(["a"], [1], "t", "x"), tmp_path / "c.jpg")
    png = charts.save(charts.bar_chart(["a"], [1], "t", "x"), tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
