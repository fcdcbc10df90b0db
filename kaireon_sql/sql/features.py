"""Subqueries of the flow's registered features (shared by the customers and candidates stages):
history aggregates per grain, the local clock of every customer time zone, and the aggregates over the
decisions of the build's earlier flows."""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_text, checked_zone, hour_of, iso_day_of_week, local_time, relation
from ..plan.context import HISTORY_MODEL, RUN_PARAMS, col, lit
from ..plan.features import GRAINS, PRIOR, Aggregate, Zone, history
from ..plan.flow import FlowPlan


def _history_rows(aggs: list[Aggregate]) -> exp.Expression:
    read = exp.LTE(this=history("occurred_at"), expression=col("as_of", "p"))
    if all(a.rows is not None for a in aggs):
        read = exp.and_(read, exp.or_(*[exp.paren(a.rows.copy()) for a in aggs]))
    return read


def _grouped(plan: FlowPlan, keys: list[str], aggs: list[Aggregate]) -> exp.Select:
    columns = [history(k) for k in keys]
    return (
        exp.select(*[exp.alias_(cast_text(k), k.name, quoted=True) for k in columns],
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
    aggs = list(plan.features.of_grain(grain))
    if not aggs:
        return None
    return _grouped(plan, list(GRAINS[grain]), aggs)


def _zone_lookup(zone: Zone) -> exp.Select:
    name = col(zone.source_column, "s")
    zones = (exp.select(exp.alias_(name, "zone", quoted=True),
                        exp.alias_(checked_zone(name), "known_zone", quoted=True)).distinct()
             .from_(relation(zone.relation).as_("s")))
    local = local_time(col("as_of", "p"), col("known_zone", "z"))
    return exp.select(
        exp.alias_(col("zone", "z"), zone.zone, quoted=True),
        exp.alias_(hour_of(local), zone.hour, quoted=True),
        exp.alias_(iso_day_of_week(local.copy()), zone.dow, quoted=True),
    ).from_(exp.paren(zones).as_("z")).join(relation(RUN_PARAMS).as_("p"), join_type="cross")


def zone_lookups(plan: FlowPlan) -> list[tuple[Zone, exp.Select]]:
    """(zone, SELECT <prefix>_zone, _hour, _dow over the distinct zones) per customer time zone column.

    A zone that is not a known name (timezones.ZONES and the engine's own list) gets NULL hour and day,
    as a NULL zone does, instead of failing the query: converting only ever sees a known zone or NULL.
    """
    return [(zone, _zone_lookup(zone)) for zone in plan.features.zones]


# ---- the decisions of the build's earlier flows (S7; the order is plan/build_order.py) ----------------
#
# The earlier flows' decisions are read as small aggregates of their decision tables (per customer,
# per customer and offer, per offer), never by re-reading history. They read like impression rows
# at `as_of`: inside every rolling window and calendar period of the run, so a policy's scope and
# window conditions over history rows `h` apply to them unchanged. They trigger no cooldown (the
# decisions of one build do not cool each other down, as within a run).

def _contacts_of(model: str) -> exp.Select:
    """One earlier flow's decisions (or withheld decisions) model's rows of this as_of, shaped as history rows."""
    return (
        exp.select(
            col("customer_id", "d"), col("offer_id", "d"), col("channel", "d"),
            exp.alias_(lit("impression"), "outcome", quoted=True),
            exp.alias_(col("as_of", "p"), "occurred_at", quoted=True),
            exp.alias_(cast_text(col("creative_id", "d")), "creative_id", quoted=True),  # the flow's creative (NULL without one)
        )
        .from_(relation(model).as_("d"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        # a table left from a build at another as_of (a partial --select) is not this build's
        .where(exp.EQ(this=col("as_of", "d"), expression=col("as_of", "p")))
    )


def _prior_contacts(plan: FlowPlan) -> exp.Expression:
    """The earlier flows' decisions and withheld decisions of this as_of, shaped as history rows."""
    selects = [_contacts_of(model) for model in plan.prior_decisions]
    out: exp.Expression = selects[0]
    for select in selects[1:]:
        out = exp.union(out, select, distinct=False)
    return out


def prior_aggregate(plan: FlowPlan, grain: str) -> exp.Select | None:
    """SELECT <grain keys>, <aggregates> over the earlier flows' decisions, or None when none is asked for."""
    aggs = plan.features.of_grain(PRIOR + grain)
    if not aggs or not plan.prior_decisions:
        return None
    keys = [col(k, "h") for k in GRAINS[grain]]
    return (
        exp.select(*keys, *[exp.alias_(a.value, a.column, quoted=True) for a in aggs])
        .from_(_prior_contacts(plan).subquery("h", copy=False))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .group_by(*[k.copy() for k in keys])
    )
