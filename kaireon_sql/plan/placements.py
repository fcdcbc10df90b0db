"""The group node (S7 "Placements") and the response node's grouped format: what sql/placements.py reads.

A group node (`strategy: priority_fill`, `placementIds`) fills its placements in the listed order,
each with up to `maxSlots` (default 1) of the customer's kept candidates on the placement's channel
(any channel when the placement has no `channelId`), in the rank node's final order. A kept
candidate takes at most one slot; kept candidates that find no slot are ranked out (no decision, no
rejection row). `responseFormat: grouped` adds one JSON array of decisions per customer and
placement (or channel, without a group node).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config.catalog import Placement
from ..config.flows import GroupConfig, RankConfig, ResponseConfig
from ..errors import ConfigError
from .context import FlowContext

DEFAULT_MAX_SLOTS = 1


@dataclass(frozen=True)
class PlacementFill:
    """One placement of a group node: its output id, the candidates' channel it takes (None: any), its slots."""

    placement_id: str
    channel: str | None
    max_slots: int


@dataclass(frozen=True)
class PlacementsPlan:
    """The group node's placements, in fill order (`node_id` names the node in messages)."""

    node_id: str
    fills: tuple[PlacementFill, ...]


def _channel(ctx: FlowContext, placement: Placement) -> str | None:
    """The value of the candidates' `channel` column the placement takes (the channel's id, as flows use)."""
    if placement.channel_id is None:
        return None
    return ctx.project.lookup("channels", placement.channel_id, placement.location.at("channelId")).ref


def _fill(ctx: FlowContext, node, i: int, ref: str) -> PlacementFill:
    placement = ctx.project.lookup("placements", ref, ctx.node_location(node.id, f"config.placementIds[{i}]"))
    slots = placement.max_slots if placement.max_slots is not None else DEFAULT_MAX_SLOTS
    return PlacementFill(placement.ref, _channel(ctx, placement), slots)


def plan_placements(ctx: FlowContext) -> PlacementsPlan | None:
    """The flow's group node, planned; None without one. A group fills slots from the rank node's
    decisions, so it needs a rank node."""
    node = ctx.single(GroupConfig)
    if node is None:
        return None
    if ctx.single(RankConfig) is None:
        raise ConfigError(ctx.node_location(node.id, "type"),
                          "a group node fills placements from the rank node's kept candidates; expected a 'rank' "
                          "node in the flow (with maxCandidates at least the slots to fill)")
    fills = tuple(_fill(ctx, node, i, ref) for i, ref in enumerate(node.config.placement_ids))
    return PlacementsPlan(node.id, fills)


def plans_grouped(ctx: FlowContext) -> bool:
    """True when the flow's response node asks for grouped responses (responseFormat: grouped)."""
    node = ctx.single(ResponseConfig)
    return node is not None and node.config.response_format == "grouped"
