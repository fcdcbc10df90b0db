"""The rank node: which method orders a customer's surviving candidates, and how many are decided.

Every method (S7, docs/rank_methods.md) is a walk order, columns computed over the scored candidates before
the walk, and limits of its own (RankPlan); the walk (the top N and the caps) is the same for all:

- topN: rank order (S5: score desc, priority desc, offer id asc).
- diversity: rank order; a limit of maxPerGroup kept per customer and group.
- round_robin: the group's position `rank__rr_tier` of a candidate within its group (rank order), then its
  group's best candidate (`rank__rr_best_*`, rank order): the best of each group, then the second, ...
- explore_exploit: a customer explores iff hash_uniform(salt, run_id, customer_id) < e (`rank__explored`);
  an exploring customer's candidates by hash_uniform(salt, run_id, customer_id, offer_id) (`rank__explore_u`).
Ties inside every method fall back to the rank order. Only the candidates past the checks (check_code NULL)
are ordered: the columns' windows partition on that flag, so a rejected candidate never leads a group.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from sqlglot import exp

from ..config.flows import DIVERSITY, EXPLORE_EXPLOIT, ROUND_ROBIN, TOP_N, RankConfig
from ..dialect import relation
from ..dialect.sampling import hash_uniform
from ..errors import ConfigError, UnsupportedFeature
from .context import OFFER_COLUMNS, OFFER_FIELD_PREFIX, RUN_PARAMS, FlowContext, col, lit
from .learned import run_id
from .offers import static_fields
from .walk import WalkLimit

# Rank methods (RankConfig.method) this version refuses, with why. The compiled ones are
# sql.rank.RANK_METHODS; every method is in exactly one of the two (tests/test_registries.py).
REFUSED_RANK_METHODS: dict[str, str] = {}

# groupBy keywords -> the candidates' column (category: the offer's categoryId, else its free-text category)
GROUP_KEYWORDS = {"category": ("category_id", "category_label"), "subCategory": ("sub_category_id",),
                  "channel": ("channel",)}
EXPLORED, EXPLORE_U, RR_TIER, RR_BEST = "rank__explored", "rank__explore_u", "rank__rr_tier", "rank__rr_best_"
MAX_PER_GROUP = "maxPerGroup"


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


def group_expression(ctx: FlowContext, node) -> exp.Expression:
    """The candidate's group of groupBy: a keyword, else an offer field (a column of the offers model)."""
    name = node.config.group_by
    if name in GROUP_KEYWORDS:
        columns = [col(c) for c in GROUP_KEYWORDS[name]]
        return columns[0] if len(columns) == 1 else exp.func("COALESCE", *columns)
    if name in OFFER_COLUMNS:
        return col(OFFER_COLUMNS[name][0])
    custom = static_fields(ctx.project)
    if name in custom:
        return col(OFFER_FIELD_PREFIX + name)
    known = [*GROUP_KEYWORDS, *OFFER_COLUMNS, *sorted(custom)]
    raise ConfigError(ctx.node_location(node.id, "config.groupBy"),
                      f"groupBy {name!r} is neither category, subCategory, channel nor an offer field; "
                      f"expected one of: {', '.join(known)}")


def _alive() -> exp.Expression:
    """1 for a candidate past every check (in the walk), 0 for one a policy rejected: a window partition key."""
    return exp.case().when(exp.Is(this=col("check_code"), expression=exp.null()), lit(1)).else_(lit(0))


def _window(func: exp.Expression, partition: list[exp.Expression], order) -> exp.Window:
    return exp.Window(this=func, partition_by=partition, order=exp.Order(expressions=[o.copy() for o in order]))


def _diversity(ctx: FlowContext, node, order) -> RankPlan:
    partition = (col("customer_id"), group_expression(ctx, node))
    limit = WalkLimit(MAX_PER_GROUP, partition, lit(node.config.max_per_group))
    return RankPlan(DIVERSITY, node.config.max_candidates, order, limits=(limit,))


def _round_robin(ctx: FlowContext, node, order) -> RankPlan:
    """Tier (position in the group) first, then the group's best candidate's rank-order terms, then rank order."""
    partition = [col("customer_id"), _alive(), group_expression(ctx, node)]
    columns = [(RR_TIER, _window(exp.RowNumber(), partition, order))]
    walk = [exp.Ordered(this=col(RR_TIER), desc=False, nulls_first=False)]
    for i, term in enumerate(order):
        name = f"{RR_BEST}{i}"
        columns.append((name, _window(exp.FirstValue(this=term.this.copy()), [p.copy() for p in partition], order)))
        walk.append(exp.Ordered(this=col(name), desc=term.args.get("desc"), nulls_first=term.args.get("nulls_first")))
    return RankPlan(ROUND_ROBIN, node.config.max_candidates, (*walk, *[o.copy() for o in order]), columns=tuple(columns))


def _run_id(ctx: FlowContext) -> exp.Expression:
    """The run's id (sql/outputs.py run_id) as a scalar subquery: the columns read the scored candidates only."""
    return exp.Subquery(this=exp.select(run_id(ctx)).from_(relation(RUN_PARAMS).as_("p")))


def _explore_exploit(ctx: FlowContext, node, order) -> RankPlan:
    """Exploring customers by hash_uniform(salt, run_id, customer_id, offer_id), the others in rank order."""
    rate, salt = node.config.exploration_rate, lit(node.config.salt if node.config.salt is not None else ctx.flow.key)
    if rate <= 0:
        return RankPlan(EXPLORE_EXPLOIT, node.config.max_candidates, order, explored=exp.false())
    columns = [(EXPLORE_U, hash_uniform([salt, _run_id(ctx), col("customer_id"), col("offer_id")]))]
    explores: exp.Expression = exp.true()
    if rate < 1:
        draw = hash_uniform([salt.copy(), _run_id(ctx), col("customer_id")])
        columns.insert(0, (EXPLORED, exp.LT(this=draw, expression=lit(float(rate)))))
        explores = col(EXPLORED)
    key = exp.case().when(explores.copy(), col(EXPLORE_U)) if rate < 1 else col(EXPLORE_U)
    walk = (exp.Ordered(this=key, desc=False, nulls_first=False), *[o.copy() for o in order])
    return RankPlan(EXPLORE_EXPLOIT, node.config.max_candidates, walk, columns=tuple(columns), explored=explores)


_METHODS = {DIVERSITY: _diversity, ROUND_ROBIN: _round_robin, EXPLORE_EXPLOIT: _explore_exploit}


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
    if node.config.method in _METHODS:
        planned = _METHODS[node.config.method](ctx, node, delivery_order(ctx))
    else:
        planned = RankPlan(node.config.method, node.config.max_candidates, delivery_order(ctx))
    return replace(planned, per_channel=node.config.per_channel)
