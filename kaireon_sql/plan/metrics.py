"""Behavioral metrics (S3, seed 001): the aggregate of one metric over interaction-history rows.

`metric_value` is the aggregate expression: flows join it per candidate (flow features), and the
project-level metric model (sql/metrics.py) groups it per customer and dimensions.
"""
from __future__ import annotations

from sqlglot import exp

from ..config.models import BehavioralMetric
from ..dialect import minus_seconds
from .context import col, lit

# Which interaction outcomes each behavioral-metric source field counts.
POSITIVE = ("click", "convert")
NEGATIVE = ("dismiss", "complaint", "unsubscribe", "hard_bounce", "spam_report")
SOURCES = {
    "impressions": ("impression",),
    "converts": ("convert",),
    "positive": POSITIVE,
    "negative": NEGATIVE,
}
# `neutral`: any response that is neither an impression nor positive nor negative (e.g. `open`).
NOT_NEUTRAL = ("impression", *POSITIVE, *NEGATIVE)
AGGREGATES = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}


def window_start(metric: BehavioralMetric, as_of: exp.Expression) -> exp.Expression:
    """Rows count when occurred_at > this (and <= as_of)."""
    return minus_seconds(as_of, metric.window_days * 86400)


def counts_as_zero(metric: BehavioralMetric) -> bool:
    """Count-like metrics are 0, not NULL, for customers with no history."""
    return metric.aggregation == "count" or (metric.aggregation == "sum" and metric.source_field != "totalValue")


def _matches(source: str, history: str, in_window: exp.Expression) -> exp.Expression:
    """Rows of `history` in the window that `source` counts."""
    if source == "totalValue":
        return exp.and_(in_window, exp.not_(exp.Is(this=col("value", history), expression=exp.null())))
    if source == "neutral":
        return exp.and_(in_window, exp.not_(exp.In(this=col("outcome", history), expressions=[lit(o) for o in NOT_NEUTRAL])))
    return exp.and_(in_window, exp.In(this=col("outcome", history), expressions=[lit(o) for o in SOURCES[source]]))


def _count(source: str, history: str, in_window: exp.Expression) -> exp.Expression:
    return exp.Sum(this=exp.case().when(_matches(source, history, in_window), lit(1)).else_(lit(0)))


def metric_value(metric: BehavioralMetric, history: str = "h", as_of: exp.Expression | None = None) -> exp.Expression:
    """Aggregate expression of `metric` over rows of `history` (occurred_at <= as_of filtered by the caller).

    count/sum of a count-like source count matching rows; sum/avg/min/max of totalValue (or of
    any source) aggregate `value` over matching rows; ratio = count(source) / count(denominator),
    NULL when the denominator is 0. Rows count when occurred_at > as_of - windowDays.
    """
    as_of = as_of if as_of is not None else col("as_of", "p")
    in_window = exp.GT(this=col("occurred_at", history), expression=window_start(metric, as_of))
    agg = metric.aggregation
    if agg == "ratio":
        denominator = _count(metric.denominator_field, history, in_window)  # type: ignore[arg-type]
        return exp.Div(this=exp.cast(_count(metric.source_field, history, in_window), "DOUBLE"),
                       expression=exp.Nullif(this=denominator, expression=lit(0)))
    if counts_as_zero(metric):
        return _count(metric.source_field, history, in_window)
    picked = exp.case().when(_matches(metric.source_field, history, in_window), exp.cast(col("value", history), "DOUBLE"))
    return AGGREGATES[agg](this=picked)
