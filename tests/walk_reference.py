"""A Python reference of S7's walk ("Within-run caps and the top N, together"), written from the spec's text,
one customer at a time, candidate after candidate. tests/test_walk.py compares the SQL walk with it.

S7: per customer, walk the candidates in the rank method's order: a candidate is kept iff fewer than N are
kept, the rank method allows it, and every cap it falls under has a contact left; a kept candidate uses one
contact of each. A candidate is a rejection of a cap (the first such cap by priority) only when it would
otherwise have been kept; every other candidate not kept is ranked out. Several channels: an offer goes to a
customer on one channel per run (a candidate whose offer is already kept on another channel is ranked out)
unless allowSameOfferOnSeveralChannels; maxCandidates counts per customer, or per customer and channel with
perChannel. S5: a policy whose count has already reached the maximum blocks every candidate it applies to
(the first such policy by priority is the reason), before the walk.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Cap:
    """At most `remaining(candidate)` kept candidates per `key(candidate)` among those it `applies` to."""

    name: str
    applies: Callable[[dict], bool]
    key: Callable[[dict], object]
    remaining: Callable[[dict], int]


@dataclass(frozen=True)
class Fate:
    kept: bool
    rank: int | None = None
    rejected_by: str | None = None  # a policy's name (its check before the walk, or its cap in the walk)


def blocked_by(candidate: dict, caps: list[Cap]) -> str | None:
    """S5: the first cap (by priority) the candidate falls under whose maximum is already reached."""
    return next((c.name for c in caps if c.applies(candidate) and c.remaining(candidate) <= 0), None)


def walk_customer(candidates: list[dict], n: int, caps: list[Cap], one_channel: bool = True,
                  per_channel: bool = False) -> list[Fate]:
    """Fates of one customer's candidates, given in walk order; `caps` in priority order."""
    used: Counter = Counter()
    kept_n: Counter = Counter()  # kept per customer (or per channel with perChannel)
    kept_offers: set = set()
    fates = []
    for cand in candidates:
        reason = blocked_by(cand, caps)
        if reason is not None:
            fates.append(Fate(False, rejected_by=reason))
            continue
        slot = cand["channel"] if per_channel else None
        allowed = kept_n[slot] < n and not (one_channel and cand["offer_id"] in kept_offers)
        full = [c.name for c in caps if c.applies(cand) and used[(c.name, c.key(cand))] >= c.remaining(cand)]
        if allowed and not full:
            kept_n[slot] += 1
            kept_offers.add(cand["offer_id"])
            for c in caps:
                if c.applies(cand):
                    used[(c.name, c.key(cand))] += 1
            fates.append(Fate(True, rank=kept_n[slot]))
        else:  # a cap's rejection only when it alone passes the candidate over
            fates.append(Fate(False, rejected_by=full[0] if allowed else None))
    return fates
