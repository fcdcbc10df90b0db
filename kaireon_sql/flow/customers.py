"""The flow's customer model: enriched fields, holdout bucket and group, segments, history aggregates,
and the first customer-level check that drops the customer."""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_text, finite_or_null, md5_bucket, relation
from .checks import concat
from .context import FlowContext, col, lit
from .features import Features

RUN_PARAMS = "kaireon_run_params"


def holdout_bucket(ctx: FlowContext, customer_id: exp.Expression) -> exp.Expression:
    """S5: int(md5(salt || ':' || customer_id)[:8], 16) % 10000."""
    return md5_bucket(concat(ctx.salt + ":", customer_id), 10000)


def experiment_group(ctx: FlowContext, bucket: exp.Expression) -> exp.Expression:
    threshold = ctx.holdout_percent * 100
    if threshold <= 0:
        return lit("treatment")
    limit = lit(int(threshold)) if float(threshold).is_integer() else lit(threshold)
    return exp.case().when(exp.LT(this=bucket, expression=limit), lit("holdout")).else_(lit("treatment"))


def _segment_join(ctx: FlowContext, column: str, seg) -> exp.Select:
    rel = seg.relation or "segment_membership"
    value = seg.segment_value if seg.segment_value is not None else seg.name
    return (
        exp.select(exp.alias_(cast_text(col(seg.customer_column, "s")), "customer_id", quoted=True),
                   exp.alias_(exp.true(), column, quoted=True))
        .distinct()
        .from_(relation(rel).as_("s"))
        .where(exp.EQ(this=col(seg.segment_column, "s"), expression=lit(value)))
    )


def customers_model(ctx: FlowContext, features: Features, codes: dict[str, exp.Expression]) -> exp.Select:
    """One row per customer; `codes` are per-customer check columns computed over it (and `as_of`)."""
    base = _customer_fields(ctx, features)
    query = (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("b", quoted=True)),
                   exp.alias_(experiment_group(ctx, col("bucket", "b")), "experiment_group", quoted=True))
        .from_(exp.paren(base).as_("b"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
    )
    for i, (column, prefix, lookup) in enumerate(features.zone_lookups()):  # local clocks, once per zone
        alias = f"z{i}"
        query = query.join(exp.paren(lookup).as_(alias), join_type="left",
                           on=exp.EQ(this=col(f"{prefix}_zone", alias), expression=col(column, "b")))
        query = query.select(col(f"{prefix}_hour", alias), col(f"{prefix}_dow", alias))
    return query.select(*[exp.alias_(value, name, quoted=True) for name, value in codes.items()])


def _customer_fields(ctx: FlowContext, features: Features) -> exp.Select:
    key_schema, key_field = ctx.customer_key
    customer_id = cast_text(col(key_field.source_column, "s0"))
    select = exp.select(exp.alias_(customer_id, "customer_id", quoted=True))
    aliases = {key_schema.name: "s0"}
    query_from = relation(key_schema.relation_name).as_("s0")
    joins = []
    for i, (schema, src) in enumerate(ctx.sources[1:], start=1):
        alias = f"s{i}"
        aliases[schema.name] = alias
        lookup = schema.field(src.lookup_key)
        source_col = lookup.source_column if lookup else src.lookup_key
        joins.append((relation(schema.relation_name).as_(alias),
                      exp.EQ(this=cast_text(col(source_col, alias)), expression=customer_id)))
    for name, enriched in ctx.fields.items():
        alias = aliases[enriched.schema.name]
        value = col(enriched.field.source_column, alias)
        if enriched.field.kind == "number":  # NaN and +-inf are missing values for rules and formulas (S5)
            value = finite_or_null(value)
        select = select.select(exp.alias_(value, enriched.column, quoted=True))
    bucket = holdout_bucket(ctx, customer_id)
    select = select.select(exp.alias_(bucket, "bucket", quoted=True))  # the group: computed from it, outside
    query = select.from_(query_from)
    for table, on in joins:
        query = query.join(table, on=on, join_type="left")
    for column, seg in features.segments.items():
        if seg.formula is not None:
            continue
        alias = f"g_{column}"
        query = query.join(exp.paren(_segment_join(ctx, column, seg)).as_(alias),
                           on=exp.EQ(this=col("customer_id", alias), expression=customer_id), join_type="left")
        query = query.select(exp.alias_(exp.func("COALESCE", col(column, alias), exp.false()), column, quoted=True))
    history = features.history_aggregate("customer")
    if history is not None:
        query = query.join(exp.paren(history).as_("a"), on=exp.EQ(this=col("customer_id", "a"), expression=customer_id),
                           join_type="left")
        for column in features.aggregate_columns("customer"):
            query = query.select(col(column, "a"), copy=False)  # not the whole query again per column
    return query
