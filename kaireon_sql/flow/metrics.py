"""Behavioral metrics: the aggregate of one metric over interaction-history rows (S3, seed 001)."""
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


def metric_value(metric: BehavioralMetric, history: str = "h", as_of: exp.Expression | None = None) -> exp.Expression:
    """Aggregate expression of `metric` over rows of `history` (occurred_at <= as_of filtered by the caller).

    count/sum of a count-like source count matching rows; sum/avg/min/max of totalValue (or of
    any source) aggregate `value` over matching rows; ratio = count(source) / count(denominator),
    NULL when the denominator is 0. Rows count when occurred_at > as_of - windowDays.
    """
    as_of = as_of if as_of is not None else col("as_of", "p")
    in_window = exp.GT(this=col("occurred_at", history), expression=minus_seconds(as_of, metric.window_days * 86400))

    def matches(source: str) -> exp.Expression:
        if source == "totalValue":
            return exp.and_(in_window, exp.not_(exp.Is(this=col("value", history), expression=exp.null())))
        return exp.and_(in_window, exp.In(this=col("outcome", history), expressions=[lit(o) for o in SOURCES[source]]))

    def count(source: str) -> exp.Expression:
        return exp.Sum(this=exp.case().when(matches(source), lit(1)).else_(lit(0)))

    agg = metric.aggregation
    if agg == "ratio":
        denominator = count(metric.denominator_field)  # type: ignore[arg-type]
        return exp.Div(this=exp.cast(count(metric.source_field), "DOUBLE"),
                       expression=exp.Nullif(this=denominator, expression=lit(0)))
    if agg == "count" or (agg == "sum" and metric.source_field != "totalValue"):
        return count(metric.source_field)
    picked = exp.case().when(matches(metric.source_field), exp.cast(col("value", history), "DOUBLE"))
    return {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[agg](this=picked)


def counts_as_zero(metric: BehavioralMetric) -> bool:
    """Count-like metrics are 0, not NULL, for customers with no history."""
    return metric.aggregation == "count" or (metric.aggregation == "sum" and metric.source_field != "totalValue")
