"""Several flows in one build (S7): decided one after another, by `flowConfig.runOrder` (ascending,
default 0), then flow key. A flow's caps and offer budgets count the history, the decisions of the
flows before it in this build (delivered and withheld), and its own.

The earlier flows' decisions are read as small aggregates of their decision tables (per customer,
per customer and offer, per offer), never by re-reading history. They read like impression rows
at `as_of`: inside every rolling window and calendar period of the run, so a policy's scope and
window conditions over history rows `h` apply to them unchanged. They trigger no cooldown (the
decisions of one build do not cool each other down, as within a run).
"""
from __future__ import annotations

from sqlglot import exp

from ..config.flows import DecisionFlow
from ..dialect import cast_text, relation
from .context import FlowContext, col, lit, model_slug
from .customers import RUN_PARAMS
from .features import GRAINS, PRIOR, Features

DECISION_PARTS = ("decisions", "withheld_decisions")


def run_order_key(flow: DecisionFlow) -> tuple[int, str]:
    """S7: runOrder ascending, then flow key."""
    return flow.definition.flow_config.run_order, flow.key


def flows_in_order(flows: list[DecisionFlow]) -> list[DecisionFlow]:
    return sorted(flows, key=run_order_key)


def earlier_flows(ctx: FlowContext) -> list[DecisionFlow]:
    """The flows of the build decided before this one."""
    mine = run_order_key(ctx.flow)
    return [f for f in flows_in_order(ctx.project.flows) if f is not ctx.flow and run_order_key(f) < mine]


def has_earlier_flows(ctx: FlowContext) -> bool:
    return bool(earlier_flows(ctx))


def _prior_contacts(ctx: FlowContext) -> exp.Expression:
    """The earlier flows' decisions and withheld decisions of this as_of, shaped as history rows."""
    selects = []
    for flow in earlier_flows(ctx):
        for part in DECISION_PARTS:
            selects.append(
                exp.select(
                    col("customer_id", "d"), col("offer_id", "d"), col("channel", "d"),
                    exp.alias_(lit("impression"), "outcome", quoted=True),
                    exp.alias_(col("as_of", "p"), "occurred_at", quoted=True),
                    exp.alias_(cast_text(exp.null()), "creative_id", quoted=True),
                )
                .from_(relation(f"kaireon_{model_slug(flow.key)}__{part}").as_("d"))
                .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
                # a table left from a build at another as_of (a partial --select) is not this build's
                .where(exp.EQ(this=col("as_of", "d"), expression=col("as_of", "p")))
            )
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
