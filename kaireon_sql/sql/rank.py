"""The rank stage: a survivor's position among its customer's candidates, and which positions are decided.

One function per rank method (RANK_METHODS); the methods a version refuses are
plan.rank.REFUSED_RANK_METHODS (refused when the plan is built). Every method's order, columns and
limits are planned (plan/rank.py), so the compiled methods share one function: the survivors' position
in the method's walk order (plan.rank.order); the first `maxCandidates` are decided.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from ..config.flows import RANK_METHOD_NAMES
from ..plan.context import col, lit
from ..plan.flow import FlowPlan
from .common import row_number


@dataclass(frozen=True)
class RankSQL:
    """column(survivor, folded_rank): the `rank` column of the candidates model, from the survivor
    predicate and the rank column of a quota whose window is the rank's (or None); decided: which
    candidates-model rows (column `rank`) are decisions."""

    column: Callable[[exp.Expression, str | None], exp.Expression]
    decided: exp.Expression


def walk_order(plan: FlowPlan) -> RankSQL:
    """Survivors in the method's walk order (topN: delivery order); the first `maxCandidates` per customer
    are decided."""

    def column(survivor: exp.Expression, folded_rank: str | None) -> exp.Expression:
        if folded_rank is not None:
            # The only trimming quota keeps each customer's first `left` candidates in delivery order:
            # the survivors are a prefix of that order, and their quota rank is their rank.
            return exp.case().when(survivor, col(folded_rank))
        flag = exp.case().when(survivor, lit(1)).else_(lit(0))
        return exp.case().when(survivor, row_number([col("customer_id"), flag], plan.rank.order))

    return RankSQL(column, exp.LTE(this=col("rank"), expression=lit(plan.rank.n)))


# Rank method (RankConfig.method) -> its SQL. Every method is here or in plan.rank.REFUSED_RANK_METHODS.
RANK_METHODS: dict[str, Callable[[FlowPlan], RankSQL]] = {method: walk_order for method in RANK_METHOD_NAMES}


def rank_sql(plan: FlowPlan) -> RankSQL:
    return RANK_METHODS[plan.rank.method](plan)
