"""The S4 output models of one flow: decisions, withheld decisions, assignments, rejections, funnel."""
from __future__ import annotations

from sqlglot import exp

from ..dialect import md5_bucket, relation
from ..plan.checks import concat, qualify_columns
from ..plan.context import RUN_PARAMS, FlowContext, col, lit
from ..plan.discount import discount_value
from ..plan.flow import FlowPlan
from .common import customer_passes
from .pairs import all_pairs, eligible_pairs, offer_channels



def run_id(ctx: FlowContext) -> exp.Expression:
    """The run's `run_id` var, else '<flow key>@<as_of>'."""
    return exp.func("COALESCE", col("run_id", "p"), concat(ctx.flow.key + "@", col("as_of_text", "p")))


def _provenance(ctx: FlowContext) -> list[exp.Expression]:
    return [
        exp.alias_(run_id(ctx), "run_id", quoted=True),
        exp.alias_(col("as_of", "p"), "as_of", quoted=True),
        exp.alias_(lit(ctx.flow.key), "decision_flow_key", quoted=True),
    ]


def _from_candidates(ctx: FlowContext) -> exp.Select:
    return exp.select().from_(relation(ctx.model("candidates")).as_("k")).join(relation(RUN_PARAMS).as_("p"), join_type="cross")


def pipeline_columns(plan: FlowPlan) -> list[exp.Expression]:
    """The S7 nodes' decision columns (plan.outputs.PIPELINE_COLUMNS) over the candidates model `k`:
    `explored` (the rank method's flag), creative, placement and slot; FALSE / NULL without such a node."""
    explored = exp.false() if plan.rank.explored is None else qualify_columns(plan.rank.explored, "k")
    return [
        exp.alias_(explored, "explored", quoted=True),
        *[exp.alias_(exp.cast(exp.null(), "VARCHAR") if plan.creatives is None else col(c, "k"), c, quoted=True)
          for c in ("creative_id", "creative_name")],
        _slotted(plan, "placement_id", "VARCHAR"),
        _slotted(plan, "slot", "INT"),
    ]


def intelligence_columns(plan: FlowPlan) -> list[exp.Expression]:
    """The S9 decision columns (plan.outputs.INTELLIGENCE_COLUMNS) over the candidates model `k`: the
    chosen channel's preference (channel: auto), the send time (sendTime: optimize) and the discount
    tier (discountTiers); typed NULLs where the flow does not use them."""
    return [
        exp.alias_(exp.cast(exp.null(), "DOUBLE"), "channel_preference", quoted=True),
        exp.alias_(exp.cast(exp.null(), "TIMESTAMP"), "send_at", quoted=True),
        exp.alias_(exp.cast(exp.null(), "INT"), "send_hour_local", quoted=True),
        exp.alias_(qualify_columns(discount_value(plan.discount), "k"), "discount_pct", quoted=True),
    ]


def _slotted(plan: FlowPlan, name: str, null_type: str) -> exp.Expression:
    """A column of the group node's slots model `s` (sql/placements.py); a typed NULL without a group node."""
    value = exp.cast(exp.null(), null_type) if plan.placements is None else col(name, "s")
    return exp.alias_(value, name, quoted=True)


def _with_slots(plan: FlowPlan, query: exp.Select, join_type: str = "inner") -> exp.Select:
    """The candidates `k` joined to the slots `s` of the group node (sql/placements.py): kept candidates
    without a slot are ranked out (an inner join drops them); unchanged without a group node."""
    if plan.placements is None:
        return query
    on = exp.and_(*[exp.EQ(this=col(c, "s"), expression=col(c, "k")) for c in ("customer_id", "offer_id", "channel")])
    return query.join(relation(plan.ctx.model("slots")).as_("s"), join_type=join_type, on=on)


def decided_rows(plan: FlowPlan, rank, personalization: exp.Expression, delivered: bool) -> exp.Select:
    """Survivors the rank decides (`rank`, a sql.rank.RankSQL): delivered (treatment, or priority_only
    holdout) or withheld. `personalization`: the JSON text over the candidates model `k`."""
    ctx = plan.ctx
    holdout = exp.EQ(this=col("experiment_group", "k"), expression=lit("holdout"))
    withheld = holdout if plan.withholds else exp.false()
    which = exp.not_(withheld) if delivered else withheld
    # with a group node, the rank among the customer's slotted candidates (contiguous)
    rank_column = col("rank", "k") if plan.placements is None else exp.alias_(col("rank", "s"), "rank", quoted=True)
    return (
        _with_slots(plan, _from_candidates(ctx))
        .select(*_provenance(ctx))
        .select(
            exp.alias_(lit(ctx.flow.version), "decision_flow_version", quoted=True),
            exp.alias_(lit(ctx.config_hash), "config_hash", quoted=True),
            col("customer_id", "k"), col("channel", "k"), rank_column, col("offer_id", "k"),
            col("offer_name", "k"), col("category_name", "k"), col("priority", "k"), col("score", "k"),
            exp.alias_(personalization, "personalization", quoted=True),
            col("experiment_group", "k"), col("model_id", "k"), *pipeline_columns(plan),
            *intelligence_columns(plan),
        )
        .where(exp.and_(qualify_columns(rank.decided, "k"), which))
    )


def assignments(plan: FlowPlan) -> exp.Select:
    ctx = plan.ctx
    return (
        exp.select(*_provenance(ctx), col("customer_id", "c"), col("bucket", "c"), col("experiment_group", "c"))
        .from_(relation(ctx.model("customers")).as_("c"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
    )


def _by_code(plan: FlowPlan, code: exp.Expression, pick) -> exp.Expression:
    case = exp.case()
    for value, stage, name, reason in plan.codes():
        # copy=False: CASE.when copies the whole CASE by default, quadratic in the number of checks
        case = case.when(exp.EQ(this=code.copy(), expression=lit(value)), pick(stage, name, reason), copy=False)
    return case if case.args.get("ifs") else exp.cast(exp.null(), "VARCHAR")  # no checks: `CASE END` is invalid


def _no_rejections(ctx: FlowContext) -> exp.Select:
    null_text = exp.cast(exp.null(), "VARCHAR")
    return (
        _from_candidates(ctx).select(*_provenance(ctx))
        .select(col("customer_id", "k"), col("offer_id", "k"), col("offer_name", "k"), col("channel", "k"),
                col("experiment_group", "k"), *[exp.alias_(null_text.copy(), c, quoted=True)
                                                for c in ("stage", "rule_name", "reason")])
        .where(exp.false())
    )


def rejections(plan: FlowPlan) -> exp.Select:
    """One row per rejected candidate (or a sample of customers, or none: flowConfig.rejections).

    Rejections by a check come from every customer x offer x channel pair (`all_pairs`, off the
    decision path); rejections by a within-run quota from the candidates model.
    """
    ctx = plan.ctx
    if plan.rejections.volume == "none" or not list(plan.codes()):
        return _no_rejections(ctx)
    sampled = None
    if plan.rejections.volume == "sampled":  # a share of customers, with all their rejections (as traces are sampled)
        bucket = md5_bucket(concat("rejections:", col("customer_id", "c")), 10000)
        sampled = exp.LT(this=bucket, expression=lit(plan.rejections.sample_limit))
    keys = ("customer_id", "offer_id", "channel")
    code = exp.func("COALESCE", col("check_code", "r"), col("reject_code", "k"))
    return (
        exp.select(*_provenance(ctx))
        .select(
            col("customer_id", "r"), col("offer_id", "r"), col("offer_name", "r"), col("channel", "r"),
            col("experiment_group", "r"),
            exp.alias_(_by_code(plan, code, lambda s, n, r: lit(s)), "stage", quoted=True),
            exp.alias_(_by_code(plan, code, lambda s, n, r: lit(n)), "rule_name", quoted=True),
            exp.alias_(_by_code(plan, code, lambda s, n, r: qualify_columns(r, "r")), "reason", quoted=True),
        )
        .from_(exp.paren(all_pairs(plan, sampled), copy=False).as_("r"))
        .join(relation(ctx.model("candidates")).as_("k"), join_type="left",
              on=exp.and_(*[exp.EQ(this=col(c, "k"), expression=col(c, "r")) for c in keys]))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .where(exp.not_(exp.Is(this=code, expression=exp.null())))
    )


def _count_if(condition: exp.Expression) -> exp.Expression:
    return exp.Sum(this=exp.case().when(condition, lit(1)).else_(lit(0)))


def _as_int(name: str, table: str) -> exp.Expression:
    return exp.cast(exp.func("COALESCE", col(name, table), lit(0)), "BIGINT")


def _named(name: str, table: str) -> exp.Expression:
    return exp.alias_(_as_int(name, table), name, quoted=True)


def _count(name: str) -> exp.Expression:
    return exp.alias_(exp.Count(this=exp.Star()), name, quoted=True)


def _candidate_counts(plan: FlowPlan, rank) -> exp.Select:
    """after_qualification, after_contact_policy, decided and withheld over the candidates model."""
    ctx = plan.ctx
    survivor = exp.Is(this=col("reject_code", "k"), expression=exp.null())
    top = qualify_columns(rank.decided, "k")
    if plan.placements is not None:  # a kept candidate without a slot is ranked out
        top = exp.and_(top, exp.not_(exp.Is(this=col("slot", "s"), expression=exp.null())))
    holdout = exp.EQ(this=col("experiment_group", "k"), expression=lit("holdout"))
    withheld = exp.and_(top, holdout) if plan.withholds else exp.false()
    return _with_slots(plan, exp.select(
        _count("after_qualification"),
        exp.alias_(_count_if(survivor), "after_contact_policy", quoted=True),
        exp.alias_(_count_if(exp.and_(top, exp.not_(withheld))), "decided", quoted=True),
        exp.alias_(_count_if(withheld), "withheld", quoted=True),
    ).from_(relation(ctx.model("candidates")).as_("k")), "left")


def funnel(plan: FlowPlan, rank) -> exp.Select:
    """Counts per stage. total_candidates: customers x the offer channels they could get;
    after_qualification: pairs past every narrowing check (consent, qualification, filters), the
    candidates model's rows plus the pairs of customers a customer-level contact policy blocks."""
    ctx = plan.ctx
    customers = exp.select(
        _count("customers"),
        exp.alias_(_count_if(exp.EQ(this=col("experiment_group", "c"), expression=lit("holdout"))), "holdout_customers", quoted=True),
    ).from_(relation(ctx.model("customers")).as_("c"))
    offers = exp.select(_count("offer_channels")).from_(exp.paren(offer_channels(plan), copy=False).as_("o"))
    blocked = exp.select(_count("pairs")).from_(
        exp.paren(eligible_pairs(plan, customer_passes("narrowing_code", blocked="policy_code")), copy=False).as_("b"))
    total = exp.Mul(this=_as_int("customers", "cu"), expression=_as_int("offer_channels", "oc"))
    return (
        exp.select(*_provenance(ctx), exp.alias_(lit(ctx.flow.version), "decision_flow_version", quoted=True),
                   _named("customers", "cu"), _named("holdout_customers", "cu"),
                   exp.alias_(total, "total_candidates", quoted=True),
                   exp.alias_(exp.Add(this=_as_int("after_qualification", "ca"), expression=_as_int("pairs", "bp")),
                              "after_qualification", quoted=True),
                   _named("after_contact_policy", "ca"),
                   _named("decided", "ca"), _named("withheld", "ca"))
        .from_(relation(RUN_PARAMS).as_("p"))
        .join(exp.paren(customers).as_("cu"), join_type="cross")
        .join(exp.paren(offers).as_("oc"), join_type="cross")
        .join(exp.paren(_candidate_counts(plan, rank)).as_("ca"), join_type="cross")
        .join(exp.paren(blocked).as_("bp"), join_type="cross")
    )
