"""The decisions of the build's earlier flows (S7; the order is plan/build_order.py), as aggregates
a flow's caps and offer budgets count.

The earlier flows' decisions are read as small aggregates of their decision tables (per customer,
per customer and offer, per offer), never by re-reading history. They read like impression rows
at `as_of`: inside every rolling window and calendar period of the run, so a policy's scope and
window conditions over history rows `h` apply to them unchanged. They trigger no cooldown (the
decisions of one build do not cool each other down, as within a run).
"""
from __future__ import annotations

from sqlglot import exp

from ..config.flows import DecisionFlow
from ..dialect import Engine, cast_text, relation
from ..flow.context import FlowContext, col, lit, model_slug
from ..flow.customers import RUN_PARAMS
from ..flow.features import GRAINS, PRIOR, Features
from ..plan.build_order import earlier_flows, has_earlier_flows

DECISION_PARTS = ("decisions", "withheld_decisions")


def _contacts_of(flow: DecisionFlow, part: str, eng: Engine) -> exp.Select:
    """One earlier flow's decisions (or withheld decisions) of this as_of, shaped as history rows."""
    return (
        exp.select(
            col("customer_id", "d"), col("offer_id", "d"), col("channel", "d"),
            exp.alias_(lit("impression"), "outcome", quoted=True),
            exp.alias_(col("as_of", "p"), "occurred_at", quoted=True),
            exp.alias_(cast_text(exp.null(), eng), "creative_id", quoted=True),
        )
        .from_(relation(f"kaireon_{model_slug(flow.key)}__{part}").as_("d"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        # a table left from a build at another as_of (a partial --select) is not this build's
        .where(exp.EQ(this=col("as_of", "d"), expression=col("as_of", "p")))
    )


def _prior_contacts(ctx: FlowContext) -> exp.Expression:
    """The earlier flows' decisions and withheld decisions of this as_of, shaped as history rows."""
    selects = [_contacts_of(flow, part, ctx.engine) for flow in earlier_flows(ctx) for part in DECISION_PARTS]
    out: exp.Expression = selects[0]
    for select in selects[1:]:
        out = exp.union(out, select, distinct=False)
    return out


def prior_aggregate(ctx: FlowContext, features: Features, grain: str) -> exp.Select | None:
    """SELECT <grain keys>, <aggregates> over the earlier flows' decisions, or None when none is asked for."""
    aggs = [a for a in features.aggregates.values() if a.grain == PRIOR + grain]
    if not aggs or not has_earlier_flows(ctx):
        return None
    keys = [col(k, "h") for k in GRAINS[grain]]
    return (
        exp.select(*keys, *[exp.alias_(a.value, a.column, quoted=True) for a in aggs])
        .from_(_prior_contacts(ctx).subquery("h", copy=False))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .group_by(*[k.copy() for k in keys])
    )
