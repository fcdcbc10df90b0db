"""The candidate model: the customer x offer x channel pairs a flow considers, with their fate.

Checks are numbered in execution order (consent, then each node's checks in node order); a
dropped candidate's code is its first failing check. Checks that read only the customer run once
per customer in the customers model; narrowing conditions `customer.X eq offer.Y` join customers
to offers. The candidates model holds the pairs that pass every narrowing check, of customers no
customer-level check blocks (S6: cost grows with eligible pairs, not customers x offers):

pairs (eligible customers joined to the inventory's offer channels) -> qualified (pair-level
narrowing checks) -> checked (first failing contact policy) -> scored -> one CTE per within-run
quota (cap trimming, best-ranked first) -> decided. `reject_code` names the policy or quota that
dropped a candidate (NULL for survivors); `rank` is the survivor's position for its customer.
`all_pairs` gives every pair with its first failing check, for the rejections model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.optimizer.simplify import simplify

from ..config.flows import ContactPolicyConfig, FilterConfig, QualifyConfig
from ..dialect import cast_text, columns_read, relation
from .checks import Check, Quota, never_null
from .build_order import prior_aggregate
from .contact_policy import contact_policies, names_budgets, offer_budgets
from .context import OFFER_COLUMNS, OFFER_FIELD_PREFIX, FlowContext, col, lit
from .customers import RUN_PARAMS
from .features import GRAINS, PRIOR, Features
from .filter import filter_checks
from .offers import BUDGET_COLUMNS, OFFERS_MODEL, SCHEDULE_COLUMNS, static_fields
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


def plan_candidates(ctx: FlowContext, features: Features) -> CandidatePlan:
    """Checks in execution order: consent first, then each node's checks in node order."""
    plan = CandidatePlan(checks=consent_checks(ctx))
    budgets_named = False
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
            budgets_named = budgets_named or names_budgets(ctx, node)
    if not budgets_named:  # S10: a declared budget is always enforced, policy or not
        checks, quotas = offer_budgets(ctx, features)
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


def _values(alias: str, columns: list[str], rows: list[list[str]], ctx: FlowContext) -> exp.Select:
    table = exp.Values(expressions=[exp.Tuple(expressions=[lit(v) for v in r]) for r in rows],
                       alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True),
                                            columns=[exp.to_identifier(c, quoted=True) for c in columns]))
    return exp.select(*[exp.alias_(cast_text(col(c, alias)), c, quoted=True) for c in columns]).from_(table)


def _channels(ctx: FlowContext) -> exp.Expression:
    if ctx.channels is None:  # decided by the run's `channel` var
        return exp.select(exp.alias_(col("channel", "p"), "channel", quoted=True)).from_(relation(RUN_PARAMS).as_("p"))
    return _values("v", ["channel"], [[c] for c in ctx.channels], ctx)


def _offer_channel_rows(ctx: FlowContext) -> list[list[str]] | None:
    """(offer_id, channel) an offer may be sent on, when some offer names its channels (else None)."""
    project = ctx.project
    if not any(o.channels for o in project.offers):
        return None
    declared = [c.ref for c in project.all("channels")]

    def ref(name: str) -> str:
        found = project.find("channels", name)
        return found.ref if found is not None else name

    universe = ctx.channels if ctx.channels is not None else list(dict.fromkeys(
        declared + [ref(c) for o in project.offers for c in (o.channels or [])]))
    rows = []
    for offer in project.offers:
        allowed = [ref(c) for c in offer.channels] if offer.channels else universe
        rows += [[offer.ref, c] for c in universe if c in allowed]
    return rows


def _scheduled(as_of: exp.Expression) -> exp.Expression:
    """The offer's schedule allows the run: schedule_start <= as_of < schedule_end (NULL = open)."""
    start, end = col("schedule_start", "s"), col("schedule_end", "s")
    return exp.and_(
        exp.or_(exp.Is(this=start, expression=exp.null()), exp.LTE(this=start, expression=as_of)),
        exp.or_(exp.Is(this=end, expression=exp.null()), exp.GT(this=end, expression=as_of)),
    )


def offer_channels(ctx: FlowContext) -> exp.Select:
    """The flow's inventory offers, one row per channel each may be sent on (column `channel`).

    Offers outside their schedule at the run's as_of are not in the inventory, as offers of a
    status the inventory does not include (no rejection row).
    """
    if any(o.schedule is not None and (o.schedule.start_date or o.schedule.end_date) for o in ctx.project.offers):
        offers = (exp.select(_all_of("s")).from_(relation(OFFERS_MODEL).as_("s"))
                  .join(relation(RUN_PARAMS).as_("sp"), join_type="cross")
                  .where(exp.and_(qualify_columns(_inventory_filter(ctx), "s"), _scheduled(col("as_of", "sp")))))
    else:
        offers = exp.select("*").from_(relation(OFFERS_MODEL)).where(_inventory_filter(ctx))
    rows = _offer_channel_rows(ctx)
    query = exp.select(_all_of("o")).from_(exp.paren(offers, copy=False).as_("o"))
    if rows is None:
        return query.select(col("channel", "ch"), copy=False).join(exp.paren(_channels(ctx)).as_("ch"), join_type="cross", copy=False)
    allowed = exp.paren(_values("v", ["offer_id", "channel"], rows, ctx), copy=False).as_("ch") if rows else \
        exp.paren(exp.select(exp.alias_(cast_text(exp.null()), "offer_id", quoted=True),
                             exp.alias_(cast_text(exp.null()), "channel", quoted=True)).where(exp.false())).as_("ch")
    query = query.select(col("channel", "ch"), copy=False).join(allowed, on=exp.EQ(this=col("offer_id", "ch"), expression=col("offer_id", "o")), copy=False)
    if ctx.channels is None:
        query = query.join(relation(RUN_PARAMS).as_("p"), on=exp.EQ(this=col("channel", "p"), expression=col("channel", "ch")), copy=False)
    return query


def _all_of(table: str) -> exp.Column:
    return exp.Column(this=exp.Star(), table=exp.to_identifier(table, quoted=True))


def offer_columns(ctx: FlowContext) -> set[str]:
    """Columns of the offers model."""
    return ({c for c, _ in OFFER_COLUMNS.values()} | set(BUDGET_COLUMNS) | set(SCHEDULE_COLUMNS)
            | {OFFER_FIELD_PREFIX + n for n in static_fields(ctx.project)})


def customer_columns(ctx: FlowContext, features: Features) -> set[str]:
    """Columns a check may read and still be decided once per customer (in the customers model)."""
    return ({"customer_id", "bucket", "as_of"} | {f.column for f in ctx.fields.values()}
            | set(features.segments) | set(features.aggregate_columns("customer")) | set(features.zone_columns()))


def reads_only(expression: exp.Expression, names: set[str], tables: tuple[str, ...] = ("", "p")) -> bool:
    return all(c.name in names and c.table in tables for c in expression.find_all(exp.Column))


def qualify_columns(expression: exp.Expression, table: str) -> exp.Expression:
    """`expression` with its unqualified columns read from `table`."""
    expression = expression.copy()
    for column in expression.find_all(exp.Column):
        if not column.table:
            column.set("table", exp.to_identifier(table, quoted=True))
    return expression


def _join_keys(ctx: FlowContext, features: Features, plan: CandidatePlan) -> list[exp.Expression]:
    """customer.X = offer.Y equalities every surviving candidate meets, as join conditions (S6)."""
    customer, offer = customer_columns(ctx, features), offer_columns(ctx)
    keys = []
    for check in plan.checks:
        for left, right in check.join_keys:
            if reads_only(left, customer, ("",)) and reads_only(right, offer, ("",)):
                keys.append(exp.EQ(this=qualify_columns(left, "c"), expression=qualify_columns(right, "o")))
    return keys


def _pairs(ctx: FlowContext, features: Features, keys: list[exp.Expression] | None = None) -> exp.Select:
    """Customers `c` x the inventory's offer channels `o` (joined on `keys` when given), with what scoring reads."""
    query = exp.select(_all_of("c"), _all_of("o"), col("as_of", "p")).from_(relation(ctx.model("customers")).as_("c"))
    if keys:
        query = query.join(exp.paren(offer_channels(ctx), copy=False).as_("o"), on=exp.and_(*keys), copy=False)
    else:
        query = query.join(exp.paren(offer_channels(ctx), copy=False).as_("o"), join_type="cross", copy=False)
    query = query.join(relation(RUN_PARAMS).as_("p"), join_type="cross", copy=False)
    scores = model_scores(ctx)
    if scores:
        scores_relation, per_offer, propensity_col, uplift_col = scores
        on = [exp.EQ(this=cast_text(col("customer_id", "m")), expression=col("customer_id", "c"))]
        if per_offer:
            on.append(exp.EQ(this=col("offer_id", "m"), expression=col("offer_id", "o")))
        query = query.join(relation(scores_relation).as_("m"), join_type="left", on=exp.and_(*on), copy=False)
        propensity = exp.func("COALESCE", exp.cast(col(propensity_col, "m"), "DOUBLE"), lit(PROPENSITY_PRIOR))
        uplift = exp.func("COALESCE", exp.cast(col(uplift_col, "m"), "DOUBLE"), lit(UPLIFT_PRIOR))
    else:
        propensity, uplift = lit(PROPENSITY_PRIOR), lit(UPLIFT_PRIOR)
    query = query.select(exp.alias_(propensity, "propensity", quoted=True), exp.alias_(uplift, "uplift", quoted=True), copy=False)
    for grain, alias in (("customer_offer", "ao"), ("offer", "oo")):
        aggregate = features.history_aggregate(grain)
        if aggregate is None:
            continue
        on = [exp.EQ(this=col(k, alias), expression=col(k, "c" if k == "customer_id" else "o")) for k in GRAINS[grain]]
        query = query.join(exp.paren(aggregate).as_(alias), join_type="left", on=exp.and_(*on), copy=False)
        query = query.select(*[col(c, alias) for c in features.aggregate_columns(grain)], copy=False)
    # the decisions of the build's earlier flows (S7), a few rows per customer (and offer)
    for grain, alias in (("customer", "pc"), ("customer_offer", "po"), ("offer", "pf")):
        aggregate = prior_aggregate(ctx, features, grain)
        if aggregate is None:
            continue
        on = [exp.EQ(this=col(k, alias), expression=col(k, "c" if k == "customer_id" else "o")) for k in GRAINS[grain]]
        query = query.join(aggregate.subquery(alias, copy=False), join_type="left", on=exp.and_(*on), copy=False)
        query = query.select(*[col(c, alias) for c in features.aggregate_columns(PRIOR + grain)], copy=False)
    return query




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


def first_failing(checks: list[tuple[int, exp.Expression]]) -> exp.Expression:
    """The code of the first (code, blocks) pair that blocks, else NULL."""
    if not checks:
        return exp.cast(exp.null(), "INT")
    case = exp.case()
    for code, blocks in checks:
        case = case.when(blocks.copy(), lit(code), copy=False)  # copy=True would copy the CASE each time
    return case


@dataclass
class CheckLevels:
    """Checks by what they read: the customer alone (decided once per customer) or the candidate."""

    customer_narrowing: list[tuple[int, Check]]
    customer_policy: list[tuple[int, Check]]
    pair_narrowing: list[tuple[int, Check]]
    pair_policy: list[tuple[int, Check]]


def check_levels(ctx: FlowContext, features: Features, plan: CandidatePlan) -> CheckLevels:
    names = customer_columns(ctx, features)
    levels = CheckLevels([], [], [], [])
    for code, check in enumerate(plan.checks, start=1):
        customer = reads_only(check.blocks, names)
        narrowing = check.stage in NARROWING
        bucket = {(True, True): levels.customer_narrowing, (True, False): levels.customer_policy,
                  (False, True): levels.pair_narrowing, (False, False): levels.pair_policy}[(customer, narrowing)]
        bucket.append((code, check))
    return levels


def customer_codes(ctx: FlowContext, features: Features, plan: CandidatePlan) -> dict[str, exp.Expression]:
    """Columns of the customers model: the first customer-level narrowing and policy check that blocks."""
    levels = check_levels(ctx, features, plan)
    return {
        "narrowing_code": first_failing([(i, c.blocks) for i, c in levels.customer_narrowing]),
        "policy_code": first_failing([(i, c.blocks) for i, c in levels.customer_policy]),
    }


def all_pairs(ctx: FlowContext, features: Features, plan: CandidatePlan,
              customers: exp.Expression | None = None) -> exp.Select:
    """Every customer x offer x channel (of the customers `customers` selects, a customers-model
    condition) with the code of its first failing check (`check_code`).

    Not on the decision path: the rejections model reads it when every rejection is recorded.
    """
    pairs = _pairs(ctx, features)
    if customers is not None:
        pairs = pairs.where(customers, copy=False)
    checked = exp.select("*", exp.alias_(first_failing([(i, c.blocks) for i, c in enumerate(plan.checks, start=1)]),
                                         "check_code", quoted=True)).from_("pairs")
    return checked.with_("pairs", as_=pairs, copy=False)


def _candidate_columns(ctx: FlowContext, plan: CandidatePlan) -> list[str]:
    from .personalization import personalization

    keep = ["customer_id", "offer_id", "channel", "experiment_group", "bucket", "offer_name", "category_name",
            "priority", "propensity", "uplift", "relevance", "score", "check_code"]
    for i in range(1, len(plan.quotas) + 1):
        keep += [f"quota_{i}_rank", f"quota_{i}_left"]
    keep += ["reject_code"]
    for column in columns_read(personalization(ctx)):
        if column.name not in keep:
            keep.append(column.name)
    return keep


def eligible_pairs(ctx: FlowContext, features: Features, plan: CandidatePlan, customers: exp.Expression) -> exp.Select:
    """Pairs past every narrowing check, for the customers `customers` selects (a customers-model condition).

    Customers are joined to the inventory's offer channels on the flow's customer.X = offer.Y
    conditions; the remaining pair-level narrowing checks filter what the join gives.
    """
    levels = check_levels(ctx, features, plan)
    pairs = _pairs(ctx, features, _join_keys(ctx, features, plan)).where(customers, copy=False)
    query = exp.select("*").from_(exp.paren(pairs, copy=False).as_("pairs"))
    if levels.pair_narrowing:
        # a check blocks where its condition is TRUE (as in a CASE WHEN): NULL lets the pair through
        query = query.where(exp.and_(*[exp.not_(never_null(c.blocks)) for _, c in levels.pair_narrowing]), copy=False)
    return query


def customer_passes(*codes: str, blocked: str | None = None) -> exp.Expression:
    """Customers-model condition: none of `codes` set (and `blocked` set, when given)."""
    parts = [exp.Is(this=col(c, "c"), expression=exp.null()) for c in codes]
    if blocked is not None:
        parts.append(exp.not_(exp.Is(this=col(blocked, "c"), expression=exp.null())))
    return exp.and_(*parts)


def _single_row_partition(ctx: FlowContext, quota: Quota) -> bool:
    """True when a quota's partition holds at most one candidate: per customer and offer, one channel each."""
    names = {p.name for p in quota.partition if isinstance(p, exp.Column)}
    if not {"customer_id", "offer_id"} <= names:
        return False
    if ctx.channels is None or len(ctx.channels) == 1:
        return True
    rows = _offer_channel_rows(ctx)
    return rows is not None and len({r[0] for r in rows}) == len(rows)


def _ranks_like_delivery(quota: Quota) -> bool:
    """A quota over every candidate of a customer, in delivery order: its window is the rank's."""
    partition = [p.name for p in quota.partition if isinstance(p, exp.Column)]
    return (partition == ["customer_id"] and len(quota.partition) == 1 and quota.order is None
            and simplify(quota.applies.copy()) == exp.true())


def candidates_model(ctx: FlowContext, features: Features, plan: CandidatePlan) -> exp.Select:
    """The flow's eligible candidates (S6): never the customers x offers cross product.

    Rows: the pairs past every narrowing check of customers no customer-level check blocks (those
    checks run once per customer, in the customers model; the funnel counts the pairs of customers
    a customer-level policy blocks, and the rejections model records them). Pair-level contact
    policies, scoring, within-run quotas and the rank run on these rows.
    """
    levels = check_levels(ctx, features, plan)
    score = score_expression(ctx)
    order = delivery_order(ctx)
    policy = [(i, c.blocks) for i, c in levels.pair_policy]
    ctes: list[tuple[str, exp.Select]] = [
        ("qualified", eligible_pairs(ctx, features, plan, customer_passes("narrowing_code", "policy_code"))),
        ("checked", exp.select("*", exp.alias_(first_failing(policy), "check_code", quoted=True),
                               exp.alias_(plan.relevance, "relevance", quoted=True)).from_("qualified")),
        ("scored", exp.select("*", exp.alias_(score, "score", quoted=True)).from_("checked")),
    ]
    alive: exp.Expression = exp.Is(this=col("check_code"), expression=exp.null())
    previous = "scored"
    trimmed: list[tuple[int, exp.Expression]] = []
    folded: str | None = None  # a quota whose window is the rank itself
    for i, quota in enumerate(plan.quotas, start=1):
        counted = exp.and_(alive, quota.applies)
        single = _single_row_partition(ctx, quota)
        if single:
            rank = exp.case().when(counted, lit(1))  # a partition of one: no window needed
        else:
            flag = exp.case().when(counted, lit(1)).else_(lit(0))
            rank = exp.case().when(counted, _row_number([*quota.partition, flag], quota.order or order))
        name = f"quota_{i}"
        columns = [exp.alias_(rank, f"quota_{i}_rank", quoted=True),
                   exp.alias_(quota.remaining, f"quota_{i}_left", quoted=True)]
        if i < len(plan.quotas):
            # `alive` carried as a column to the next quota, which reads it (and this quota's rank)
            # as columns: each quota's SQL stays the same size, where an ever longer AND of every
            # earlier quota made the SQL grow with the square of the quotas (and its nesting overflow).
            columns.append(exp.alias_(alive.copy(), f"quota_{i}_alive", quoted=True))
            alive = col(f"quota_{i}_alive")
        ctes.append((name, exp.select("*", *columns).from_(previous)))
        previous = name
        if single and quota.paired_check:
            continue  # ranked first, it is trimmed only with nothing left, where its check already blocked
        over = exp.func("COALESCE", exp.GT(this=col(f"quota_{i}_rank"), expression=col(f"quota_{i}_left")), exp.false())
        trimmed.append((QUOTA_CODE_BASE + i, over))
        alive = exp.and_(alive, exp.not_(over.copy()))
        folded = name if len(trimmed) == 1 and _ranks_like_delivery(quota) else None
    reject = exp.case().when(exp.not_(exp.Is(this=col("check_code"), expression=exp.null())), col("check_code"))
    for code, over in trimmed:
        reject = reject.when(over, lit(code), copy=False)
    if not trimmed and not plan.checks:
        reject = exp.cast(exp.null(), "INT")
    ctes.append(("decided", exp.select("*", exp.alias_(reject, "reject_code", quoted=True)).from_(previous)))
    survivor = exp.Is(this=col("reject_code"), expression=exp.null())
    if folded is not None and len(trimmed) == 1:
        # The only trimming quota keeps each customer's first `left` candidates in delivery order:
        # the survivors are a prefix of that order, and their quota rank is their rank.
        rank = exp.case().when(survivor, col(f"{folded}_rank"))
    else:
        rank = exp.case().when(survivor, _row_number([col("customer_id"), exp.case().when(survivor, lit(1)).else_(lit(0))], order))
    final = exp.select(*[col(c) for c in _candidate_columns(ctx, plan)], exp.alias_(rank, "rank", quoted=True)).from_("decided")
    for name, query in ctes:
        final = final.with_(name, as_=query, copy=False)
    return final
