"""The walk's limits (S7): every bound a customer's candidates are walked against, in rank order.

A candidate is kept iff fewer than N are kept, the rank method allows it and every limit it falls
under has a contact left; a kept candidate uses one contact of each limit it falls under. The top N,
within-run caps (quotas), one channel per offer, `perChannel` and a diversity method's `maxPerGroup`
are all limits; sql/candidates.py walks them together.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp


@dataclass(frozen=True)
class WalkLimit:
    """At most `remaining` kept candidates per `partition`, among the candidates it `applies` to."""

    name: str
    partition: tuple[exp.Expression, ...]  # always starts with customer_id: the walk is per customer
    remaining: exp.Expression  # contacts left (may be <= 0); a column or a literal
    applies: exp.Expression = field(default_factory=exp.true)  # TRUE when the candidate counts against it
    code: int | None = None  # reject code when the walk passes a candidate over for it (None: ranked out)
