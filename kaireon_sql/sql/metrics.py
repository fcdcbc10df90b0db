"""Behavioral-metric models: `kaireon_metric__<slug>` of one metric, per customer and its dimensions.

The aggregate itself is `plan.metrics.metric_value`, shared with the flows that join a metric per
candidate.
"""
from __future__ import annotations

from sqlglot import exp

from ..config.models import BehavioralMetric
from ..config.project import Project
from ..dialect import relation
from ..errors import ConfigError
from ..plan.context import col, model_slug
from ..plan.context import RUN_PARAMS
from ..plan.context import HISTORY_MODEL
from ..plan.metrics import counts_as_zero, metric_value, window_start

# metric dimension -> interaction-history column
DIMENSION_COLUMNS = {"offer": "offer_id", "channel": "channel", "creative": "creative_id", "outcome": "outcome"}
METRIC_PREFIX = "kaireon_metric__"


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
