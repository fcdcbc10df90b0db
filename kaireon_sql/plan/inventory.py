"""The inventory node: which offers a flow considers, and on which channels each may be sent."""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from .context import FlowContext, col, lit


@dataclass(frozen=True)
class InventoryPlan:
    """offer_filter: over offers-model columns; channels: the flow's channels (None: the run's
    `channel` var decides); offer_channels: (offer_id, channel) pairs when some offer names its
    channels (else None); scheduled: some offer has a schedule (checked at the run's as_of)."""

    offer_filter: exp.Expression
    channels: tuple[str, ...] | None
    offer_channels: tuple[tuple[str, str], ...] | None
    scheduled: bool

    def one_channel_per_offer(self) -> bool:
        """True when a customer x offer pair is one candidate (one channel per offer)."""
        if self.channels is None or len(self.channels) == 1:
            return True
        rows = self.offer_channels
        return rows is not None and len({r[0] for r in rows}) == len(rows)


def _offer_filter(ctx: FlowContext) -> exp.Expression:
    inv = ctx.inventory
    statuses = exp.In(this=col("offer_status"), expressions=[lit(s) for s in inv.include_statuses])
    if inv.scope == "category":
        ids = [ctx.project.find("categories", r).ref for r in inv.category_ids]
        return exp.and_(statuses, exp.In(this=col("category_id"), expressions=[lit(i) for i in ids]))
    if inv.scope == "manual":
        ids = [ctx.project.find("offers", r).ref for r in inv.offer_ids]
        return exp.and_(statuses, exp.In(this=col("offer_id"), expressions=[lit(i) for i in ids]))
    return statuses


def _offer_channel_rows(ctx: FlowContext) -> tuple[tuple[str, str], ...] | None:
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
    rows: list[tuple[str, str]] = []
    for offer in project.offers:
        allowed = [ref(c) for c in offer.channels] if offer.channels else universe
        rows += [(offer.ref, c) for c in universe if c in allowed]
    return tuple(rows)


def plan_inventory(ctx: FlowContext) -> InventoryPlan:
    scheduled = any(o.schedule is not None and (o.schedule.start_date or o.schedule.end_date) for o in ctx.project.offers)
    channels = tuple(ctx.channels) if ctx.channels is not None else None
    return InventoryPlan(_offer_filter(ctx), channels, _offer_channel_rows(ctx), scheduled)
