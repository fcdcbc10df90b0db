"""The rank stage: which rows of the candidates model are decisions.

Every rank method is walked the same way (sql/walk.py): its order (plan.rank.order), its columns
(plan.rank.columns, computed before the walk) and its limits (plan.rank.limits) are the plan's; the walk
keeps at most `maxCandidates` per customer (or customer and channel) together with the caps, and numbers
the kept candidates (`rank`). One entry per compiled method in RANK_METHODS; the methods a version refuses
are plan.rank.REFUSED_RANK_METHODS (refused when the plan is built).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from ..config.flows import RANK_METHOD_NAMES
from ..plan.context import col
from ..plan.flow import FlowPlan


@dataclass(frozen=True)
class RankSQL:
    """decided: which candidates-model rows (column `rank`, set for the candidates the walk keeps) are decisions."""

    decided: exp.Expression


def walked(plan: FlowPlan) -> RankSQL:
    """Any method: the candidates the walk keeps (a `rank`) are decided."""
    return RankSQL(exp.not_(exp.Is(this=col("rank"), expression=exp.null())))


# Rank method (RankConfig.method) -> its SQL. Every method is here or in plan.rank.REFUSED_RANK_METHODS.
RANK_METHODS: dict[str, Callable[[FlowPlan], RankSQL]] = {method: walked for method in RANK_METHOD_NAMES}


def rank_sql(plan: FlowPlan) -> RankSQL:
    return RANK_METHODS[plan.rank.method](plan)
