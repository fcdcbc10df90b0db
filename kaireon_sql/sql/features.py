"""Subqueries of the flow's registered features (shared by the customers and candidates stages):
history aggregates per grain, and the local clock of every customer time zone."""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_text, checked_zone, hour_of, iso_day_of_week, local_time, relation
from ..plan.context import HISTORY_MODEL, RUN_PARAMS, col
from ..plan.features import GRAINS, Aggregate, history
from ..plan.flow import FlowPlan


def _history_rows(aggs: list[Aggregate]) -> exp.Expression:
    read = exp.LTE(this=history("occurred_at"), expression=col("as_of", "p"))
    if all(a.rows is not None for a in aggs):
        read = exp.and_(read, exp.or_(*[exp.paren(a.rows.copy()) for a in aggs]))
    return read


def _grouped(plan: FlowPlan, keys: list[str], aggs: list[Aggregate]) -> exp.Select:
    columns = [history(k) for k in keys]
    return (
        exp.select(*[exp.alias_(cast_text(k, plan.ctx.engine), k.name, quoted=True) for k in columns],
                   *[exp.alias_(a.value, a.column, quoted=True) for a in aggs])
        .from_(relation(HISTORY_MODEL).as_("h"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .where(_history_rows(aggs))
        .group_by(*columns)
    )


def history_aggregate(plan: FlowPlan, grain: str) -> exp.Select | None:
    """SELECT <grain keys>, <aggregates> FROM history rows up to as_of, or None.

    When every aggregate says which rows it reads (counts and latest times of matching rows),
    only those rows are grouped: a 7-day cap reads a week of impressions, not all history.
    """
    aggs = [a for a in plan.features.aggregates.values() if a.grain == grain]
    if not aggs:
        return None
    return _grouped(plan, list(GRAINS[grain]), aggs)


def _zone_lookup(plan: FlowPlan, column: str, prefix: str) -> exp.Select:
    eng = plan.ctx.engine
    source = {f.column: f for f in plan.ctx.fields.values()}[column]
    zone = col(source.field.source_column, "s")
    zones = (exp.select(exp.alias_(zone, "zone", quoted=True),
                        exp.alias_(checked_zone(zone, eng), "known_zone", quoted=True)).distinct()
             .from_(relation(source.schema.relation_name).as_("s")))
    local = local_time(col("as_of", "p"), col("known_zone", "z"), eng)
    return exp.select(
        exp.alias_(col("zone", "z"), f"{prefix}_zone", quoted=True),
        exp.alias_(hour_of(local), f"{prefix}_hour", quoted=True),
        exp.alias_(iso_day_of_week(local.copy(), eng), f"{prefix}_dow", quoted=True),
    ).from_(exp.paren(zones).as_("z")).join(relation(RUN_PARAMS).as_("p"), join_type="cross")


def zone_lookups(plan: FlowPlan) -> list[tuple[str, str, exp.Select]]:
    """(zone column, prefix, SELECT <prefix>_zone, _hour, _dow over the distinct zones) per zone column.

    A zone that is not a known name (timezones.ZONES and the engine's own list) gets NULL hour and day,
    as a NULL zone does, instead of failing the query: converting only ever sees a known zone or NULL.
    """
    return [(column, prefix, _zone_lookup(plan, column, prefix)) for column, prefix in plan.features.zones.items()]
