"""The rank node: which method orders a customer's surviving candidates, and how many are decided."""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.flows import DIVERSITY, EXPLORE_EXPLOIT, ROUND_ROBIN, TOP_N, RankConfig
from ..errors import UnsupportedFeature
from .context import FlowContext, col, lit
from .walk import WalkLimit

# Rank methods (RankConfig.method) this version refuses, with why. The compiled ones are
# sql.rank.RANK_METHODS; every method is in exactly one of the two (tests/test_registries.py).
_NOT_YET = "rank method {!r} is not compiled by this version; use " + repr(TOP_N)
REFUSED_RANK_METHODS = {
    DIVERSITY: _NOT_YET.format(DIVERSITY),
    ROUND_ROBIN: _NOT_YET.format(ROUND_ROBIN),
    EXPLORE_EXPLOIT: _NOT_YET.format(EXPLORE_EXPLOIT),
}


@dataclass(frozen=True)
class RankPlan:
    """Rank `method` over the survivors in walk `order`; at most `n` per customer are decided (S7).

    `columns`: (name, expression) computed over the scored candidates before the walk (a method's
    order may read them, e.g. a round-robin position); `limits`: bounds of the method itself (a
    diversity method's maxPerGroup), walked with the top N and the caps; `explored`: the decisions'
    `explored` flag (None: FALSE).
    """

    method: str
    n: int
    order: tuple[exp.Ordered, ...]
    columns: tuple[tuple[str, exp.Expression], ...] = ()
    limits: tuple[WalkLimit, ...] = ()
    explored: exp.Expression | None = None
    per_channel: bool = False  # rank.config.perChannel: N counts per customer and channel


def delivery_order(ctx: FlowContext) -> tuple[exp.Ordered, ...]:
    """S5 tie-breaking: score desc, priority desc, offer id asc, then the channel's position in the flow's
    channel list (S7: candidates of one offer in list order, not alphabetically).

    Holdout customers under controlGroupAction 'priority_only' are ordered by priority alone.
    """
    score = col("score")
    if ctx.holdout_percent > 0 and ctx.experiment.control_group_action == "priority_only":
        score = exp.case().when(exp.EQ(this=col("experiment_group"), expression=lit("holdout")), exp.null()).else_(score)
    return (
        exp.Ordered(this=score, desc=True, nulls_first=False),
        exp.Ordered(this=col("priority"), desc=True, nulls_first=False),
        exp.Ordered(this=col("offer_id"), desc=False, nulls_first=False),
        exp.Ordered(this=channel_position(ctx), desc=False, nulls_first=False),
    )


def channel_position(ctx: FlowContext) -> exp.Expression:
    """The candidate's channel's position in flowConfig.channel (the channel itself when the run's var decides)."""
    if ctx.channels is None or len(ctx.channels) < 2:
        return col("channel")
    position = exp.case()
    for i, channel in enumerate(ctx.channels, start=1):
        position = position.when(exp.EQ(this=col("channel"), expression=lit(channel)), lit(i), copy=False)
    return position


def plan_rank(ctx: FlowContext) -> RankPlan:
    node = ctx.single(RankConfig)
    if node is None:
        return RankPlan(TOP_N, 1, delivery_order(ctx))
    if node.config.method in REFUSED_RANK_METHODS:
        raise UnsupportedFeature(ctx.node_location(node.id, "config.method"), REFUSED_RANK_METHODS[node.config.method])
    return RankPlan(node.config.method, node.config.max_candidates, delivery_order(ctx),
                    per_channel=node.config.per_channel)
