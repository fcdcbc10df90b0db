"""The walk's limits (S7): every bound a customer's candidates are walked against, in rank order.

A candidate is kept iff fewer than N are kept, the rank method allows it and every limit it falls
under has a contact left; a kept candidate uses one contact of each limit it falls under. The top N,
within-run caps (quotas), one channel per offer, `perChannel` and a diversity method's `maxPerGroup`
are all limits; sql/candidates.py walks them together.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from .context import col, lit


@dataclass(frozen=True)
class WalkLimit:
    """At most `remaining` kept candidates per `partition`, among the candidates it `applies` to."""

    name: str
    partition: tuple[exp.Expression, ...]  # always starts with customer_id: the walk is per customer
    remaining: exp.Expression  # contacts left (may be <= 0); a column or a literal
    applies: exp.Expression = field(default_factory=exp.true)  # TRUE when the candidate counts against it
    code: int | None = None  # reject code when the walk passes a candidate over for it (None: ranked out)


TOP_N_LIMIT = "top N"
ONE_CHANNEL_LIMIT = "one channel per offer"


@dataclass(frozen=True)
class WalkPlan:
    """The walk of one flow (S7): `limits` in the order rejection codes are looked up (the top N, the caps in
    execution and policy order, the rank method's limits, one channel per offer); `order` the walk order;
    `budgets` the offer budgets (Quota, global per offer) applied after the walk, with one back-fill pass;
    `keeps` the most candidates one customer can keep (N, times the channels with perChannel), which bounds
    the rounds of the set-based walk; `rank_partition` the partition `rank` numbers within."""

    limits: tuple[WalkLimit, ...]
    order: tuple[exp.Ordered, ...]
    budgets: tuple = ()
    keeps: int = 1
    rank_partition: tuple[exp.Expression, ...] = ()

    @property
    def rounds(self) -> int:
        """Rounds that decide every candidate: each round decides the first undecided candidate of each
        customer; one that is passed over needs a limit filled by a keep of the previous round, so there are
        at most `keeps` rounds with a keep, each followed by at most one without: 2 * keeps + 1."""
        return 2 * self.keeps + 1

    def prefix(self) -> bool:
        """True when every limit counts every candidate of the top N's partition: the kept candidates are
        then the first min(remaining) of the walk order (one ROW_NUMBER, no rounds)."""
        top = self.limits[0].partition
        return all(limit.applies == exp.true() and limit.partition == top for limit in self.limits)


def top_n_limit(n: int, partition: tuple[exp.Expression, ...]) -> WalkLimit:
    """At most N kept per customer (or customer and channel); candidates past it are ranked out."""
    return WalkLimit(TOP_N_LIMIT, partition, lit(n))


def one_channel_limit() -> WalkLimit:
    """S7: an offer goes to a customer on one channel per run; a later channel of a kept offer is ranked out."""
    return WalkLimit(ONE_CHANNEL_LIMIT, (col("customer_id"), col("offer_id")), lit(1))


def plan_walk(rank, caps: list[WalkLimit], budgets: tuple, one_channel: bool, channels: int,
              candidates: int) -> WalkPlan:
    """The walk of a flow from its rank plan (`rank`, a plan.rank.RankPlan), the caps (WalkLimit, in
    execution order), the budgets, whether one channel per offer applies, how many channels it decides and
    the most candidates (or offers, with one channel per offer) a customer can keep."""
    partition = (col("customer_id"), col("channel")) if rank.per_channel else (col("customer_id"),)
    limits = [top_n_limit(rank.n, partition), *caps, *rank.limits]
    if one_channel:
        limits.append(one_channel_limit())
    keeps = min(rank.n * (max(channels, 1) if rank.per_channel else 1), max(candidates, 1))
    return WalkPlan(tuple(limits), rank.order, tuple(budgets), keeps, partition)
