"""Behavioral metrics: the aggregate of one metric over interaction-history rows (S3, seed 001).

`metric_value` is the aggregate expression (flows join it per candidate); `metric_model` is the
project-level model `kaireon_metric__<slug>` of one metric, per customer and its dimensions.
"""
from __future__ import annotations

from sqlglot import exp

from ..config.models import BehavioralMetric
from ..config.project import Project
from ..dialect import minus_seconds, relation
from ..errors import ConfigError
from ..plan.context import HISTORY_MODEL, RUN_PARAMS, col, lit, model_slug

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
# metric dimension -> interaction-history column
DIMENSION_COLUMNS = {"offer": "offer_id", "channel": "channel", "creative": "creative_id", "outcome": "outcome"}
METRIC_PREFIX = "kaireon_metric__"


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
        if source == "neutral":
            return exp.and_(in_window, exp.not_(exp.In(this=col("outcome", history), expressions=[lit(o) for o in NOT_NEUTRAL])))
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


def window_start(metric: BehavioralMetric, as_of: exp.Expression) -> exp.Expression:
    """Rows count when occurred_at > this (and <= as_of)."""
    return minus_seconds(as_of, metric.window_days * 86400)


def metric_keys(metric: BehavioralMetric) -> list[str]:
    return ["customer_id", *(DIMENSION_COLUMNS[d] for d in metric.dimensions)]


def metric_models(project: Project) -> list[tuple[str, BehavioralMetric]]:
    """(model name, metric) of every active behavioral metric; distinct metrics get distinct names."""
    named: dict[str, BehavioralMetric] = {}
    for metric in project.all("behavioralMetrics"):
        if metric.status != "active":
            continue
        name = METRIC_PREFIX + model_slug(metric.ref)
        if name in named:
            raise ConfigError(metric.location.at("id" if metric.id is not None else "name"),
                              f"behavioral metric {metric.ref!r} gives the same model name {name!r} as metric "
                              f"{named[name].ref!r}; give one of them a different id")
        named[name] = metric
    return list(named.items())


def metric_model(metric: BehavioralMetric) -> exp.Select:
    """customer_id, the metric's dimension columns and `value`, over history rows in its window up to as_of.

    Customers (and dimension values) with no row in the window have no row here.
    """
    as_of = col("as_of", "p")
    keys = [col(c, "h") for c in metric_keys(metric)]
    in_window = exp.and_(
        exp.LTE(this=col("occurred_at", "h"), expression=as_of),
        exp.GT(this=col("occurred_at", "h"), expression=window_start(metric, as_of)),
    )
    return (
        exp.select(*keys, exp.alias_(metric_value(metric, "h", as_of), "value", quoted=True))
        .from_(relation(HISTORY_MODEL).as_("h"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .where(in_window)
        .group_by(*keys)
    )


def describe(metric: BehavioralMetric) -> str:
    """What a metric model holds, in words, for its dbt description."""
    what = (f"ratio of {metric.source_field} to {metric.denominator_field}" if metric.aggregation == "ratio"
            else f"{metric.aggregation} of {metric.source_field}")
    per = " x ".join(["customer", *metric.dimensions])
    absent = ("read a missing row as 0" if counts_as_zero(metric)
              else "a missing row means no value (NULL)")
    return (f"Behavioral metric '{metric.name}': {what} over the {metric.window_days:g} days up to as_of "
            f"(occurred_at > as_of - {metric.window_days:g} days), per {per}. Customers with no interaction "
            f"in the window have no row; {absent}.")
