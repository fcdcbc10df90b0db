"""The candidate model: every customer x offer x channel of the flow, with its fate.

CTE chain: pairs (customers x inventory x channels) -> checked (first failing check, in node
order) -> scored -> one CTE per within-run quota (cap trimming, best-ranked first) -> ranked.
`reject_code` names the check or quota that dropped a candidate (NULL for survivors); `rank` is
the survivor's position for its customer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ..config.flows import ContactPolicyConfig, FilterConfig, QualifyConfig
from ..dialect import cast_text, relation
from .checks import Check, Quota
from .contact_policy import contact_policies
from .context import FlowContext, col, lit
from .customers import RUN_PARAMS
from .features import GRAINS, Features
from .filter import filter_checks
from .offers import OFFERS_MODEL
from .qualify import consent_checks, qualification
from .score import PROPENSITY_PRIOR, UPLIFT_PRIOR, model_scores, score_expression

NARROWING = ("consent", "qualification", "filter")
QUOTA_CODE_BASE = 1000


@dataclass
class CandidatePlan:
    """The compiled checks and quotas, kept so output models can explain each reject_code."""

    checks: list[Check] = field(default_factory=list)
    quotas: list[Quota] = field(default_factory=list)
    relevance: exp.Expression = field(default_factory=lambda: lit(1.0))

    def codes(self):
        """(code, stage, name, reason) for every way a candidate can be dropped."""
        for i, c in enumerate(self.checks, start=1):
            yield i, c.stage, c.name, c.reason
        for i, q in enumerate(self.quotas, start=1):
            yield QUOTA_CODE_BASE + i, q.stage, q.name, q.reason

    @property
    def narrowing_codes(self) -> list[int]:
        return [i for i, c in enumerate(self.checks, start=1) if c.stage in NARROWING]


def plan_candidates(ctx: FlowContext, features: Features) -> CandidatePlan:
    """Checks in execution order: consent first, then each node's checks in node order."""
    plan = CandidatePlan(checks=consent_checks(ctx))
    for node in ctx.ordered_nodes:
        if isinstance(node.config, QualifyConfig):
            checks, plan.relevance = qualification(ctx, features)
            plan.checks += checks
        elif isinstance(node.config, FilterConfig):
            plan.checks += filter_checks(ctx, node)
        elif isinstance(node.config, ContactPolicyConfig):
            checks, quotas = contact_policies(ctx, features, node)
            plan.checks += checks
            plan.quotas += quotas
    return plan


def _inventory_filter(ctx: FlowContext) -> exp.Expression:
    inv = ctx.inventory
    statuses = exp.In(this=col("offer_status"), expressions=[lit(s) for s in inv.include_statuses])
    if inv.scope == "category":
        ids = [ctx.project.find("categories", r).ref for r in inv.category_ids]
        return exp.and_(statuses, exp.In(this=col("category_id"), expressions=[lit(i) for i in ids]))
    if inv.scope == "manual":
        ids = [ctx.project.find("offers", r).ref for r in inv.offer_ids]
        return exp.and_(statuses, exp.In(this=col("offer_id"), expressions=[lit(i) for i in ids]))
    return statuses


def _channels(ctx: FlowContext) -> exp.Expression:
    if ctx.channels is None:  # decided by the run's `channel` var
        return exp.select(exp.alias_(col("channel", "p"), "channel", quoted=True)).from_(relation(RUN_PARAMS).as_("p"))
    rows = [exp.Tuple(expressions=[lit(c)]) for c in ctx.channels]
    return exp.select(exp.alias_(cast_text(col("channel", "v"), ctx.engine), "channel", quoted=True)).from_(
        exp.Values(expressions=rows, alias=exp.TableAlias(this=exp.to_identifier("v", quoted=True),
                                                          columns=[exp.to_identifier("channel", quoted=True)])))


def _all_of(table: str) -> exp.Column:
    return exp.Column(this=exp.Star(), table=exp.to_identifier(table, quoted=True))


def _pairs(ctx: FlowContext, features: Features) -> exp.Select:
    offers = exp.select("*").from_(relation(OFFERS_MODEL)).where(_inventory_filter(ctx))
    query = (
        exp.select(_all_of("c"), _all_of("o"), col("channel", "ch"), col("as_of", "p"))
        .from_(relation(ctx.model("customers")).as_("c"))
        .join(exp.paren(offers).as_("o"), join_type="cross")
        .join(exp.paren(_channels(ctx)).as_("ch"), join_type="cross")
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
    )
    scores = model_scores(ctx)
    if scores:
        scores_relation, per_offer, propensity_col, uplift_col = scores
        on = [exp.EQ(this=cast_text(col("customer_id", "m"), ctx.engine), expression=col("customer_id", "c"))]
        if per_offer:
            on.append(exp.EQ(this=col("offer_id", "m"), expression=col("offer_id", "o")))
        query = query.join(relation(scores_relation).as_("m"), join_type="left", on=exp.and_(*on))
        propensity = exp.func("COALESCE", exp.cast(col(propensity_col, "m"), "DOUBLE"), lit(PROPENSITY_PRIOR))
        uplift = exp.func("COALESCE", exp.cast(col(uplift_col, "m"), "DOUBLE"), lit(UPLIFT_PRIOR))
    else:
        propensity, uplift = lit(PROPENSITY_PRIOR), lit(UPLIFT_PRIOR)
    query = query.select(exp.alias_(propensity, "propensity", quoted=True), exp.alias_(uplift, "uplift", quoted=True))
    for grain, alias in (("customer_offer", "ao"), ("offer", "oo")):
        aggregate = features.history_aggregate(grain)
        if aggregate is None:
            continue
        on = [exp.EQ(this=col(k, alias), expression=col(k, "c" if k == "customer_id" else "o")) for k in GRAINS[grain]]
        query = query.join(exp.paren(aggregate).as_(alias), join_type="left", on=exp.and_(*on))
        query = query.select(*[col(c, alias) for c in features.aggregate_columns(grain)])
    return query


def _first_failing(checks: list[Check]) -> exp.Expression:
    if not checks:
        return exp.cast(exp.null(), "INT")
    case = exp.case()
    for i, c in enumerate(checks, start=1):
        case = case.when(c.blocks, lit(i))
    return case


def delivery_order(ctx: FlowContext) -> list[exp.Ordered]:
    """S5 tie-breaking: score desc, priority desc, offer id asc (then channel).

    Holdout customers under controlGroupAction 'priority_only' are ordered by priority alone.
    """
    score = col("score")
    if ctx.holdout_percent > 0 and ctx.experiment.control_group_action == "priority_only":
        score = exp.case().when(exp.EQ(this=col("experiment_group"), expression=lit("holdout")), exp.null()).else_(score)
    return [
        exp.Ordered(this=score, desc=True, nulls_first=False),
        exp.Ordered(this=col("priority"), desc=True, nulls_first=False),
        exp.Ordered(this=col("offer_id"), desc=False, nulls_first=False),
        exp.Ordered(this=col("channel"), desc=False, nulls_first=False),
    ]


def _row_number(partition: list[exp.Expression], order: list[exp.Ordered]) -> exp.Expression:
    return exp.Window(this=exp.RowNumber(), partition_by=partition, order=exp.Order(expressions=order))


def candidates_model(ctx: FlowContext, features: Features, plan: CandidatePlan) -> exp.Select:
    score = score_expression(ctx)
    order = delivery_order(ctx)
    ctes: list[tuple[str, exp.Select]] = [
        ("pairs", _pairs(ctx, features)),
        ("checked", exp.select("*", exp.alias_(_first_failing(plan.checks), "check_code", quoted=True),
                               exp.alias_(plan.relevance, "relevance", quoted=True)).from_("pairs")),
        ("scored", exp.select("*", exp.alias_(score, "score", quoted=True)).from_("checked")),
    ]
    alive: exp.Expression = exp.Is(this=col("check_code"), expression=exp.null())
    previous = "scored"
    trimmed: list[tuple[int, exp.Expression]] = []
    for i, quota in enumerate(plan.quotas, start=1):
        counted = exp.and_(alive, quota.applies)
        flag = exp.case().when(counted, lit(1)).else_(lit(0))
        rank = exp.case().when(counted, _row_number([*quota.partition, flag], quota.order or order))
        name = f"quota_{i}"
        ctes.append((name, exp.select("*", exp.alias_(rank, f"quota_{i}_rank", quoted=True),
                                      exp.alias_(quota.remaining, f"quota_{i}_left", quoted=True)).from_(previous)))
        over = exp.func("COALESCE", exp.GT(this=col(f"quota_{i}_rank"), expression=col(f"quota_{i}_left")), exp.false())
        trimmed.append((QUOTA_CODE_BASE + i, over))
        alive = exp.and_(alive, exp.not_(over))
        previous = name
    reject = exp.case().when(exp.not_(exp.Is(this=col("check_code"), expression=exp.null())), col("check_code"))
    for code, over in trimmed:
        reject = reject.when(over, lit(code))
    if not trimmed and not plan.checks:
        reject = exp.cast(exp.null(), "INT")
    ctes.append(("decided", exp.select("*", exp.alias_(reject, "reject_code", quoted=True)).from_(previous)))
    survivor = exp.Is(this=col("reject_code"), expression=exp.null())
    rank = exp.case().when(survivor, _row_number([col("customer_id"), exp.case().when(survivor, lit(1)).else_(lit(0))], order))
    final = exp.select("*", exp.alias_(rank, "rank", quoted=True)).from_("decided")
    for name, query in ctes:
        final = final.with_(name, as_=query)
    return final
