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

from ..plan.checks import Quota, never_null
from ..plan.context import col, lit
from ..plan.flow import FlowPlan
from .common import customer_passes, first_failing, row_number
from .pairs import eligible_pairs, with_called, with_creatives


def _single_row_partition(plan: FlowPlan, quota: Quota) -> bool:
    """True when a quota's partition holds at most one candidate: per customer and offer, one channel each."""
    names = {p.name for p in quota.partition if isinstance(p, exp.Column)}
    return {"customer_id", "offer_id"} <= names and plan.inventory.one_channel_per_offer()


def _ranks_like_delivery(quota: Quota) -> bool:
    """A quota over every candidate of a customer, in delivery order: its window is the rank's."""
    partition = [p.name for p in quota.partition if isinstance(p, exp.Column)]
    return (partition == ["customer_id"] and len(quota.partition) == 1 and quota.order is None
            and simplify(quota.applies.copy()) == exp.true())


@dataclass
class _Quotas:
    """The quota CTEs as they are built: the last CTE, the trimming conditions, the folded quota."""

    previous: str
    alive: exp.Expression
    ctes: list[tuple[str, exp.Select]] = field(default_factory=list)
    trimmed: list[tuple[int, exp.Expression]] = field(default_factory=list)
    folded: Quota | None = None  # a quota whose window is the rank itself


def _quota_rank(plan: FlowPlan, quota: Quota, counted: exp.Expression, single: bool) -> exp.Expression:
    if single:
        return exp.case().when(counted, lit(1))  # a partition of one: no window needed
    flag = exp.case().when(counted, lit(1)).else_(lit(0))
    return exp.case().when(counted, row_number([*quota.partition, flag], quota.order or plan.rank.order))


def _add_quota(plan: FlowPlan, out: _Quotas, quota: Quota, last: bool) -> None:
    counted = exp.and_(out.alive, quota.applies)
    single = _single_row_partition(plan, quota)
    columns = [exp.alias_(_quota_rank(plan, quota, counted, single), quota.rank_column, quoted=True),
               exp.alias_(quota.remaining, quota.left_column, quoted=True)]
    if not last:
        # `alive` carried as a column to the next quota, which reads it (and this quota's rank)
        # as columns: each quota's SQL stays the same size, where an ever longer AND of every
        # earlier quota made the SQL grow with the square of the quotas (and its nesting overflow).
        columns.append(exp.alias_(out.alive.copy(), quota.alive_column, quoted=True))
        out.alive = col(quota.alive_column)
    out.ctes.append((quota.cte, exp.select("*", *columns).from_(out.previous)))
    out.previous = quota.cte
    if single and quota.paired_check:
        return  # ranked first, it is trimmed only with nothing left, where its check already blocked
    over = exp.func("COALESCE", exp.GT(this=col(quota.rank_column), expression=col(quota.left_column)), exp.false())
    out.trimmed.append((quota.code, over))
    out.alive = exp.and_(out.alive, exp.not_(over.copy()))
    out.folded = quota if len(out.trimmed) == 1 and _ranks_like_delivery(quota) else None


def _reject_code(plan: FlowPlan, trimmed: list[tuple[int, exp.Expression]]) -> exp.Expression:
    """The first failing pair-level policy (check_code), else the first quota that trims the candidate."""
    reject = exp.case().when(exp.not_(exp.Is(this=col("check_code"), expression=exp.null())), col("check_code"))
    for code, over in trimmed:
        reject = reject.when(over, lit(code), copy=False)
    if not trimmed and not plan.checks:
        reject = exp.cast(exp.null(), "INT")
    return reject


def _rank_method(plan: FlowPlan, ctes: list[tuple[str, exp.Select]], quotas_from: bool) -> str:
    """The rank method's columns and limits (plan.rank) until the walk replaces the quota CTEs: with
    `quotas_from`, the columns CTE over `scored` (what the quotas read); else the limits CTE over
    `decided` (each limit a ROW_NUMBER per its partition over the survivors, kept while <= remaining;
    exact when the flow has no within-run caps). Returns the CTE the next stage reads."""
    if quotas_from:
        if not plan.rank.columns:
            return "scored"
        columns = [exp.alias_(e.copy(), n, quoted=True) for n, e in plan.rank.columns]
        ctes.append(("rank_columns", exp.select("*", *columns).from_("scored")))
        return "rank_columns"
    survivor: exp.Expression = exp.Is(this=col("reject_code"), expression=exp.null())
    columns = []
    for i, limit in enumerate(plan.rank.limits):
        flag = exp.case().when(survivor.copy(), lit(1)).else_(lit(0))
        number = row_number([*[p.copy() for p in limit.partition], flag], plan.rank.order)
        columns.append(exp.alias_(exp.case().when(survivor.copy(), number), f"rank__limit_{i}", quoted=True))
    ctes.append(("rank_limited", exp.select("*", *columns).from_("decided")))
    return "rank_limited"


def _rank_survivor(plan: FlowPlan) -> exp.Expression:
    """Past every check and quota, and within every limit of the rank method."""
    survivor = exp.Is(this=col("reject_code"), expression=exp.null())
    for i, limit in enumerate(plan.rank.limits):
        survivor = exp.and_(survivor, never_null(exp.LTE(this=col(f"rank__limit_{i}"), expression=limit.remaining.copy())))
    return survivor


def candidates_model(plan: FlowPlan, rank) -> exp.Select:
    """The flow's eligible candidates (S6): never the customers x offers cross product.

    Rows: the pairs past every narrowing check of customers no customer-level check blocks (those
    checks run once per customer, in the customers model; the funnel counts the pairs of customers
    a customer-level policy blocks, and the rejections model records them). Pair-level contact
    policies, scoring, within-run quotas and the rank (`rank`, a sql.rank.RankSQL) run on these rows.
    """
    policy = [(i, c.blocks) for i, c in plan.levels.pair_policy]
    matched, last = with_creatives(plan, "qualified")  # the match_creatives node's creative (policies read it)
    ctes: list[tuple[str, exp.Select]] = [
        ("qualified", eligible_pairs(plan, customer_passes("narrowing_code", "policy_code"))), *matched,
        ("checked", with_called(plan, exp.select("*", exp.alias_(first_failing(policy), "check_code", quoted=True),
                                                 exp.alias_(plan.relevance, "relevance", quoted=True)).from_(last))),
        ("scored", exp.select("*", exp.alias_(plan.score.expression, "score", quoted=True)).from_("checked")),
    ]
    quotas = _Quotas(_rank_method(plan, ctes, True), exp.Is(this=col("check_code"), expression=exp.null()))
    for i, quota in enumerate(plan.quotas, start=1):
        _add_quota(plan, quotas, quota, last=i == len(plan.quotas))
    ctes += quotas.ctes
    ctes.append(("decided", exp.select("*", exp.alias_(_reject_code(plan, quotas.trimmed), "reject_code", quoted=True))
                 .from_(quotas.previous)))
    source = _rank_method(plan, ctes, False) if plan.rank.limits else "decided"
    folded = quotas.folded.rank_column if quotas.folded is not None and len(quotas.trimmed) == 1 else None
    final = exp.select(*[col(c) for c in plan.candidate_columns],
                       exp.alias_(rank.column(_rank_survivor(plan), None if plan.rank.limits else folded), "rank",
                                  quoted=True)).from_(source)
    for name, query in ctes:
        final = final.with_(name, as_=query, copy=False)
    return final
