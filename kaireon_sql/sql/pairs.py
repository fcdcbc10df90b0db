"""Customer x offer x channel pairs of a flow (shared by the candidates and outputs stages): the
inventory's offer channels, customers joined to them with what scoring reads, and the pairs past
the narrowing checks."""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_text, relation
from ..plan.offers import OFFERS_MODEL
from ..plan.checks import never_null, qualify_columns
from ..plan.context import RUN_PARAMS, col, lit
from ..plan.features import GRAINS, PRIOR
from ..plan.flow import FlowPlan
from ..plan.models import ModelChoice, ModelSlot
from ..plan.score import PROPENSITY_PRIOR, UPLIFT_PRIOR
from .common import all_of, first_failing, values
from .features import history_aggregate, prior_aggregate


def _channels(plan: FlowPlan) -> exp.Expression:
    channels = plan.inventory.channels
    if channels is None:  # decided by the run's `channel` var
        return exp.select(exp.alias_(col("channel", "p"), "channel", quoted=True)).from_(relation(RUN_PARAMS).as_("p"))
    return values("v", ["channel"], [[c] for c in channels])


def _scheduled(as_of: exp.Expression) -> exp.Expression:
    """The offer's schedule allows the run: schedule_start <= as_of < schedule_end (NULL = open)."""
    start, end = col("schedule_start", "s"), col("schedule_end", "s")
    return exp.and_(
        exp.or_(exp.Is(this=start, expression=exp.null()), exp.LTE(this=start, expression=as_of)),
        exp.or_(exp.Is(this=end, expression=exp.null()), exp.GT(this=end, expression=as_of)),
    )


def _offers(plan: FlowPlan) -> exp.Select:
    """The inventory's offers: of an included status (and inside their schedule at the run's as_of)."""
    if plan.inventory.scheduled:
        return (exp.select(all_of("s")).from_(relation(OFFERS_MODEL).as_("s"))
                .join(relation(RUN_PARAMS).as_("sp"), join_type="cross")
                .where(exp.and_(qualify_columns(plan.inventory.offer_filter, "s"), _scheduled(col("as_of", "sp")))))
    return exp.select("*").from_(relation(OFFERS_MODEL)).where(plan.inventory.offer_filter.copy())


def _allowed(plan: FlowPlan, rows) -> exp.Expression:
    """The (offer_id, channel) pairs offers may be sent on, as a subquery `ch` (no rows: an empty one)."""
    if rows:
        return exp.paren(values("v", ["offer_id", "channel"], rows), copy=False).as_("ch")
    return exp.paren(exp.select(exp.alias_(cast_text(exp.null()), "offer_id", quoted=True),
                                exp.alias_(cast_text(exp.null()), "channel", quoted=True)).where(exp.false())).as_("ch")


def offer_channels(plan: FlowPlan) -> exp.Select:
    """The flow's inventory offers, one row per channel each may be sent on (column `channel`).

    Offers outside their schedule at the run's as_of are not in the inventory, as offers of a
    status the inventory does not include (no rejection row).
    """
    rows = plan.inventory.offer_channels
    query = exp.select(all_of("o")).from_(exp.paren(_offers(plan), copy=False).as_("o"))
    if rows is None:
        return query.select(col("channel", "ch"), copy=False).join(exp.paren(_channels(plan)).as_("ch"), join_type="cross", copy=False)
    query = query.select(col("channel", "ch"), copy=False).join(
        _allowed(plan, rows), on=exp.EQ(this=col("offer_id", "ch"), expression=col("offer_id", "o")), copy=False)
    if plan.inventory.channels is None:
        query = query.join(relation(RUN_PARAMS).as_("p"), on=exp.EQ(this=col("channel", "p"), expression=col("channel", "ch")), copy=False)
    return query


def _slot_values(slot: ModelSlot) -> tuple[exp.Expression, exp.Expression]:
    score = slot.score
    propensity = exp.func("COALESCE", exp.cast(score.propensity.copy(), "DOUBLE"), lit(PROPENSITY_PRIOR))
    if score.uplift is None:
        return propensity, lit(UPLIFT_PRIOR)
    return propensity, exp.func("COALESCE", exp.cast(score.uplift.copy(), "DOUBLE"), lit(UPLIFT_PRIOR))


def _chosen(choice: ModelChoice, values: list[exp.Expression]) -> exp.Expression:
    """The value of the model `choice.chooser` names (the first model's when it names none)."""
    if choice.chooser is None:
        return values[0]
    case = exp.case()
    for slot, value in zip(choice.slots[1:], values[1:]):
        case = case.when(exp.EQ(this=choice.chooser.copy(), expression=lit(slot.model.ref)), value, copy=False)
    return case.else_(values[0], copy=False)


def _model_id(choice: ModelChoice | None) -> exp.Expression:
    """The id of the model that scores the row (`chooser`), NULL without a model."""
    if choice is None:
        return cast_text(exp.null())
    return choice.chooser.copy() if choice.chooser is not None else lit(choice.slots[0].model.ref)


def _with_scores(plan: FlowPlan, query: exp.Select) -> exp.Select:
    """Joins the flow's score models (if any) and selects `propensity` and `uplift` (priors without one)
    and `model_id` (the model that scores the row; NULL without one)."""
    choice = plan.score.models
    query = query.select(exp.alias_(_model_id(choice), "model_id", quoted=True), copy=False)
    if choice is None:
        propensity, uplift = lit(PROPENSITY_PRIOR), lit(UPLIFT_PRIOR)
        return query.select(exp.alias_(propensity, "propensity", quoted=True), exp.alias_(uplift, "uplift", quoted=True), copy=False)
    for slot in choice.slots:
        for join in slot.score.joins:
            query = query.join(relation(join.relation).as_(join.alias), join_type="left", on=join.on.copy(), copy=False)
    values = [_slot_values(slot) for slot in choice.slots]
    propensity = _chosen(choice, [p for p, _ in values])
    uplift = _chosen(choice, [u for _, u in values])
    return query.select(exp.alias_(propensity, "propensity", quoted=True), exp.alias_(uplift, "uplift", quoted=True), copy=False)


def _grain_on(grain: str, alias: str) -> exp.Expression:
    return exp.and_(*[exp.EQ(this=col(k, alias), expression=col(k, "c" if k == "customer_id" else "o")) for k in GRAINS[grain]])


def _with_aggregates(plan: FlowPlan, query: exp.Select) -> exp.Select:
    """Joins the per customer x offer and per-offer history aggregates, then the earlier flows' (S7)."""
    for grain, alias in (("customer_offer", "ao"), ("offer", "oo")):
        aggregate = history_aggregate(plan, grain)
        if aggregate is None:
            continue
        query = query.join(exp.paren(aggregate).as_(alias), join_type="left", on=_grain_on(grain, alias), copy=False)
        query = query.select(*[col(c, alias) for c in plan.features.aggregate_columns(grain)], copy=False)
    # the decisions of the build's earlier flows (S7), a few rows per customer (and offer)
    for grain, alias in (("customer", "pc"), ("customer_offer", "po"), ("offer", "pf")):
        aggregate = prior_aggregate(plan, grain)
        if aggregate is None:
            continue
        query = query.join(aggregate.subquery(alias, copy=False), join_type="left", on=_grain_on(grain, alias), copy=False)
        query = query.select(*[col(c, alias) for c in plan.features.aggregate_columns(PRIOR + grain)], copy=False)
    return query


def pairs(plan: FlowPlan, keys: tuple[exp.Expression, ...] = (), offers: exp.Expression | None = None,
          joins: tuple[tuple[exp.Expression, exp.Expression], ...] = ()) -> exp.Select:
    """Customers `c` x the inventory's offer channels `o` (joined on `keys` when given), with what scoring reads.

    `offers`: another offer-channel relation `o` (sql/calls.py: the called flow's); `joins`: (relation, on)
    inner-joined to `c` before the offers."""
    query = exp.select(all_of("c"), all_of("o"), col("as_of", "p")).from_(relation(plan.ctx.model("customers")).as_("c"))
    for joined, on in joins:
        query = query.join(joined, on=on, copy=False)
    offers = offers if offers is not None else exp.paren(offer_channels(plan), copy=False).as_("o")
    if plan.routing is not None:  # channel: auto (S9): the customer's routed channel only
        keys = (*keys, exp.EQ(this=col("channel", "o"), expression=col("route_channel", "c")))
    if keys:
        query = query.join(offers, on=exp.and_(*[k.copy() for k in keys]), copy=False)
    else:
        query = query.join(offers, join_type="cross", copy=False)
    query = query.join(relation(RUN_PARAMS).as_("p"), join_type="cross", copy=False)
    return _with_aggregates(plan, _with_scores(plan, query))


def eligible_pairs(plan: FlowPlan, customers: exp.Expression) -> exp.Select:
    """Pairs past every narrowing check, for the customers `customers` selects (a customers-model condition).

    Customers are joined to the inventory's offer channels on the flow's customer.X = offer.Y
    conditions; the remaining pair-level narrowing checks filter what the join gives.
    """
    narrowing = plan.levels.pair_narrowing
    query = exp.select("*").from_(exp.paren(pairs(plan, plan.join_keys).where(customers, copy=False), copy=False).as_("pairs"))
    if narrowing:
        # a check blocks where its condition is TRUE (as in a CASE WHEN): NULL lets the pair through
        query = query.where(exp.and_(*[exp.not_(never_null(c.blocks)) for _, c in narrowing]), copy=False)
    return query


def with_creatives(plan: FlowPlan, source: str) -> tuple[list[tuple[str, exp.Select]], str]:
    """CTEs adding the match_creatives node's columns (its draw, then creative_id and creative_name)
    over the relation `source`, and the name of the last (`source` itself without the node)."""
    if plan.creatives is None:
        return [], source
    ctes: list[tuple[str, exp.Select]] = []
    for i, step in enumerate(plan.creatives.steps(), start=1):
        columns = [exp.alias_(expression, name, quoted=True) for name, expression in step]
        ctes.append((f"creatives_{i}", exp.select("*", *columns).from_(source)))
        source = f"creatives_{i}"
    return ctes, source


def nested_creatives(plan: FlowPlan, query: exp.Select) -> exp.Select:
    """`query` with the match_creatives node's columns added (as with_creatives, in nested subqueries where
    a CTE cannot go); `query` itself without the node."""
    if plan.creatives is None:
        return query
    for i, step in enumerate(plan.creatives.steps(), start=1):
        columns = [exp.alias_(expression, name, quoted=True) for name, expression in step]
        query = exp.select("*", *columns).from_(exp.paren(query, copy=False).as_(f"creatives_{i}"))
    return query


def all_pairs(plan: FlowPlan, customers: exp.Expression | None = None) -> exp.Select:
    """Every customer x offer x channel (of the customers `customers` selects, a customers-model
    condition) with the code of its first failing check (`check_code`), and the called flow's candidates
    (sql/calls.py, check_code NULL: their rejections stay the called flow's).

    Not on the decision path: the rejections model reads it when every rejection is recorded.
    """
    query = pairs(plan)
    if customers is not None:
        query = query.where(customers, copy=False)
    # the creative columns whenever the flow has the node: every relation of pairs carries them in one place
    # (the called flow's candidates too, sql/calls.py), so the unions line up
    ctes, last = with_creatives(plan, "pairs")
    checked = exp.select("*", exp.alias_(first_failing([(i, c.blocks) for i, c in enumerate(plan.checks, start=1)]),
                                         "check_code", quoted=True)).from_(last)
    if plan.calls is not None:  # the called flow's candidates (sql/calls.py): no check of this flow dropped them
        called = exp.select("*").from_(relation(plan.calls.model).as_("c"))
        checked = exp.union(checked, called.where(customers.copy(), copy=False) if customers is not None else called,
                            distinct=False)
    for name, cte in [("pairs", query), *ctes]:
        checked = checked.with_(name, as_=cte, copy=False)
    return checked


def with_called(plan: FlowPlan, checked: exp.Select) -> exp.Expression:
    """The checked candidates and the called flow's (plan.calls), which carry the called flow's relevance."""
    if plan.calls is None:
        return checked
    keys = ("customer_id", "offer_id", "channel")
    called = (exp.select(all_of("x"), col("relevance", "ck")).from_(relation(plan.calls.model).as_("x"))
              .join(relation(plan.calls.called_candidates).as_("ck"),
                    on=exp.and_(*[exp.EQ(this=col(k, "ck"), expression=col(k, "x")) for k in keys])))
    return exp.union(checked, called, distinct=False)
