"""The flow's customer model: enriched fields, holdout bucket and group, segments, history aggregates,
local clocks, and the first customer-level check that drops the customer."""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_text, finite_or_null, md5_bucket, relation
from ..plan.channel_preference import route
from ..plan.checks import concat, qualify_columns
from ..plan.context import RUN_PARAMS, col, lit
from ..plan.flow import FlowPlan
from ..plan.outputs import HoldoutPlan
from .common import all_of, first_failing
from .features import history_aggregate, zone_lookups


def holdout_bucket(holdout: HoldoutPlan, customer_id: exp.Expression) -> exp.Expression:
    """S5: int(md5(salt || ':' || customer_id)[:8], 16) % 10000."""
    return md5_bucket(concat(holdout.salt + ":", customer_id), 10000)


def experiment_group(holdout: HoldoutPlan, bucket: exp.Expression) -> exp.Expression:
    threshold = holdout.threshold
    if threshold <= 0:
        return lit("treatment")
    limit = lit(int(threshold)) if float(threshold).is_integer() else lit(threshold)
    return exp.case().when(exp.LT(this=bucket, expression=limit), lit("holdout")).else_(lit("treatment"))


def _segment_join(column: str, seg) -> exp.Select:
    rel = seg.relation or "segment_membership"
    value = seg.segment_value if seg.segment_value is not None else seg.name
    return (
        exp.select(exp.alias_(cast_text(col(seg.customer_column, "s")), "customer_id", quoted=True),
                   exp.alias_(exp.true(), column, quoted=True))
        .distinct()
        .from_(relation(rel).as_("s"))
        .where(exp.EQ(this=col(seg.segment_column, "s"), expression=lit(value)))
    )


def customer_codes(plan: FlowPlan) -> dict[str, exp.Expression]:
    """Columns of the customers model: the first customer-level narrowing and policy check that blocks."""
    return {
        "narrowing_code": first_failing([(i, c.blocks) for i, c in plan.levels.customer_narrowing]),
        "policy_code": first_failing([(i, c.blocks) for i, c in plan.levels.customer_policy]),
    }


def customers_model(plan: FlowPlan) -> exp.Select:
    """One row per customer, with its per-customer check columns (computed over it and `as_of`)."""
    group = experiment_group(plan.holdout, col("bucket", "b"))
    query = (
        exp.select(all_of("b"), exp.alias_(group, "experiment_group", quoted=True))
        .from_(exp.paren(_customer_fields(plan)).as_("b"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
    )
    for i, (zone, lookup) in enumerate(zone_lookups(plan)):  # local clocks, once per zone
        alias = f"z{i}"
        query = query.join(exp.paren(lookup).as_(alias), join_type="left",
                           on=exp.EQ(this=col(zone.zone, alias), expression=col(zone.column, "b")))
        query = query.select(col(zone.hour, alias), col(zone.dow, alias))
    return query.select(*[exp.alias_(value, name, quoted=True) for name, value in customer_codes(plan).items()])


def _joins(plan: FlowPlan, customer_id: exp.Expression) -> list[tuple[exp.Expression, exp.Expression]]:
    """Left joins of the enrich sources after the key source: (relation, condition)."""
    return [(relation(source.relation).as_(source.alias),
             exp.EQ(this=cast_text(col(source.key_column, source.alias)), expression=customer_id))
            for source in plan.enrich.joins]


def _customer_fields(plan: FlowPlan) -> exp.Select:
    enrich = plan.enrich
    customer_id = cast_text(col(enrich.key.key_column, enrich.key.alias))
    select = exp.select(exp.alias_(customer_id, "customer_id", quoted=True))
    for field in enrich.fields:
        value = col(field.source_column, field.alias)
        if field.number:  # NaN and +-inf are missing values for rules and formulas (S5)
            value = finite_or_null(value)
        select = select.select(exp.alias_(value, field.column, quoted=True))
    bucket = holdout_bucket(plan.holdout, customer_id)
    select = select.select(exp.alias_(bucket, "bucket", quoted=True))  # the group: computed from it, outside
    query = select.from_(relation(enrich.key.relation).as_(enrich.key.alias))
    for table, on in _joins(plan, customer_id):
        query = query.join(table, on=on, join_type="left")
    return _with_routing(plan, _with_features(plan, query, customer_id))


def _with_routing(plan: FlowPlan, query: exp.Select) -> exp.Select:
    """channel: auto (S9): the customer's preference per listed channel (the flow's preference model)
    and the routed channel, its preference and whether it is consented (plan/channel_preference.py)."""
    routing = plan.routing
    if routing is None:
        return query
    routed = exp.select(all_of("f")).from_(exp.paren(query, copy=False).as_("f"))
    prefs = []
    for i, channel in enumerate(routing.channels):
        alias = routing.preference_alias(i)
        on = exp.and_(exp.EQ(this=col("customer_id", alias), expression=col("customer_id", "f")),
                      exp.EQ(this=col("channel", alias), expression=lit(channel)))
        routed = routed.join(relation(routing.model).as_(alias), join_type="left", on=on, copy=False)
        prefs.append(col("preference", alias))
    columns = route(routing, [qualify_columns(p, "f") for p in prefs])
    return routed.select(*[exp.alias_(qualify_columns(v, "f"), n, quoted=True) for n, v in columns.items()], copy=False)


def _with_features(plan: FlowPlan, query: exp.Select, customer_id: exp.Expression) -> exp.Select:
    """Joins the flow's segment memberships and per-customer history aggregates."""
    for column, seg in plan.features.segments.items():
        if seg.formula is not None:
            continue
        alias = f"g_{column}"
        query = query.join(exp.paren(_segment_join(column, seg)).as_(alias),
                           on=exp.EQ(this=col("customer_id", alias), expression=customer_id), join_type="left")
        query = query.select(exp.alias_(exp.func("COALESCE", col(column, alias), exp.false()), column, quoted=True))
    for i, joined in enumerate(plan.features.joined):  # per-customer models (the lifecycle stage)
        alias = f"j{i}"
        query = query.join(relation(joined.relation).as_(alias), join_type="left",
                           on=exp.EQ(this=col("customer_id", alias), expression=customer_id))
        value = exp.func("COALESCE", col(joined.source_column, alias), joined.default.copy())
        query = query.select(exp.alias_(value, joined.column, quoted=True), copy=False)
    history = history_aggregate(plan, "customer")
    if history is not None:
        query = query.join(exp.paren(history).as_("a"), on=exp.EQ(this=col("customer_id", "a"), expression=customer_id),
                           join_type="left")
        for column in plan.features.aggregate_columns("customer"):
            query = query.select(col(column, "a"), copy=False)  # not the whole query again per column
    return query
