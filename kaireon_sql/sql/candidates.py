"""The candidate model: the customer x offer x channel pairs a flow considers, with their fate.

Checks are numbered in execution order (consent, then each node's checks in node order); a
dropped candidate's code is its first failing check. Checks that read only the customer run once
per customer in the customers model; narrowing conditions `customer.X eq offer.Y` join customers
to offers. The candidates model holds the pairs that pass every narrowing check, of customers no
customer-level check blocks (S6: cost grows with eligible pairs, not customers x offers):

pairs (eligible customers joined to the inventory's offer channels) -> qualified (pair-level
narrowing checks) -> checked (first failing contact policy) -> scored -> (the rank method's columns)
-> the walk (sql/walk.py: the top N, the within-run caps and the rank method's limits together, then
the offer budgets with one back-fill) -> decided. `reject_code` names the policy, cap or budget that
dropped a candidate (NULL for kept and ranked-out candidates); `rank` is a kept candidate's position
among its customer's kept candidates (NULL: not kept).
`all_pairs` gives every pair with its first failing check, for the rejections model.
"""
from __future__ import annotations

from sqlglot import exp

from ..plan.context import col
from ..plan.flow import FlowPlan
from .common import customer_passes, first_failing
from .pairs import eligible_pairs, with_called, with_creatives
from .walk import decide


def _reject_code(walked: exp.Expression) -> exp.Expression:
    """The first failing pair-level policy (check_code), else the walk's code (a cap or budget passed it over)."""
    return exp.func("COALESCE", col("check_code"), walked)


def candidates_model(plan: FlowPlan) -> exp.Select:
    """The flow's eligible candidates (S6): never the customers x offers cross product.

    Rows: the pairs past every narrowing check of customers no customer-level check blocks (those
    checks run once per customer, in the customers model; the funnel counts the pairs of customers
    a customer-level policy blocks, and the rejections model records them). Pair-level contact
    policies, scoring and the walk run on these rows.
    """
    policy = [(i, c.blocks) for i, c in plan.levels.pair_policy]
    alive = exp.Is(this=col("check_code"), expression=exp.null())
    matched, last = with_creatives(plan, "qualified")  # the match_creatives node's creative (policies read it)
    ctes: list[tuple[str, exp.Select]] = [
        ("qualified", eligible_pairs(plan, customer_passes("narrowing_code", "policy_code"))), *matched,
        ("checked", with_called(plan, exp.select("*", exp.alias_(first_failing(policy), "check_code", quoted=True),
                                                 exp.alias_(plan.relevance, "relevance", quoted=True)).from_(last))),
        ("scored", exp.select("*", exp.alias_(plan.score.expression, "score", quoted=True)).from_("checked")),
    ]
    source = "scored"
    if plan.send_time is not None and plan.send_time.columns:  # which time windows apply (S9 send time)
        ctes.append(("send_windows", exp.select("*", *[exp.alias_(e.copy(), n, quoted=True)
                                                       for n, e in plan.send_time.columns]).from_(source)))
        source = "send_windows"
    if plan.rank.columns:  # the rank method's columns (S7), read by its order and limits
        ctes.append(("rank_columns", exp.select("*", *[exp.alias_(e.copy(), n, quoted=True) for n, e in plan.rank.columns])
                     .from_(source)))
        source = "rank_columns"
    walked = decide(plan.walk, source, alive)
    ctes += walked.ctes
    ctes.append(("decided", exp.select("*", exp.alias_(_reject_code(walked.code), "reject_code", quoted=True),
                                       exp.alias_(walked.rank, "rank", quoted=True)).from_(walked.last)))
    final = exp.select(*[col(c) for c in plan.candidate_columns], col("rank")).from_("decided")
    for name, query in ctes:
        final = final.with_(name, as_=query, copy=False)
    return final
