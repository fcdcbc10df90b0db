"""The group node's slots and the grouped response (S7 "Placements", "Response"), reading only the plan.

`slots_model`: the customer's kept candidates (the rank's decided rows of the candidates model), each
placement of the group node filled in the listed order with up to `maxSlots` of the candidates on its
channel not taken by an earlier placement, in the rank node's final order; one row per candidate that
found a slot, with `placement_id`, `slot` (1..maxSlots) and `rank`, the position among the customer's
slotted candidates (contiguous: the decisions read it). Kept candidates without a slot are not in it
(ranked out). `grouped_model`: one row per run, flow, customer and placement (or channel without a
group node) of the decisions model, its decisions as a JSON array in slot (or rank) order, and their
send_at when they share one.
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_text, json_array_agg, json_object, relation
from ..plan.checks import qualify_columns
from ..plan.context import col, lit
from ..plan.flow import FlowPlan
from ..plan.placements import PlacementFill
from .common import row_number

KEYS = ("customer_id", "offer_id", "channel")
SLOT_COLUMNS = (*KEYS, "placement_id", "slot", "rank")
_CARRIED = (*KEYS, "rank", "placement_id", "slot")
GROUPED_COLUMNS = ("run_id", "as_of", "decision_flow_key", "decision_flow_version", "customer_id",
                   "experiment_group", "placement_id", "channel", "send_at", "decision_count", "decisions")
# each element of the `decisions` array: (key, JSON kind, decisions-model column)
ELEMENT = (("rank", "number", "rank"), ("slot", "number", "slot"), ("offer_id", "text", "offer_id"),
           ("offer_name", "text", "offer_name"), ("category_name", "text", "category_name"),
           ("channel", "text", "channel"), ("placement_id", "text", "placement_id"), ("score", "number", "score"),
           ("priority", "number", "priority"), ("explored", "boolean", "explored"),
           ("creative_id", "text", "creative_id"), ("creative_name", "text", "creative_name"),
           ("model_id", "text", "model_id"), ("channel_preference", "number", "channel_preference"),
           ("send_hour_local", "number", "send_hour_local"), ("discount_pct", "number", "discount_pct"),
           ("personalization", "json", "personalization"))


def _order(table: str) -> list[exp.Ordered]:
    """The rank node's final order: `rank`, unique among a customer's kept candidates (a dbt test of the
    decisions), so it needs no tie-break."""
    return [exp.Ordered(this=col("rank", table), desc=False, nulls_first=False)]


def _kept(plan: FlowPlan, decided: exp.Expression) -> exp.Select:
    """The customer's kept candidates, no slot yet."""
    return (exp.select(*[col(c, "k") for c in (*KEYS, "rank")],
                       exp.alias_(exp.cast(exp.null(), "VARCHAR"), "placement_id", quoted=True),
                       exp.alias_(exp.cast(exp.null(), "INT"), "slot", quoted=True))
            .from_(relation(plan.ctx.model("candidates")).as_("k"))
            .where(qualify_columns(decided, "k")))


def _fill(previous: exp.Select, fill: PlacementFill, step: int) -> exp.Select:
    """One placement filled: the first maxSlots open candidates on its channel, in rank order."""
    before, pos = f"g{step}", f"n{step}"
    open_ = exp.Is(this=col("placement_id", before), expression=exp.null())
    if fill.channel is not None:
        open_ = exp.and_(open_, exp.EQ(this=col("channel", before), expression=lit(fill.channel)))
    flag = exp.case().when(open_, lit(1)).else_(lit(0))
    numbered = (exp.select(*[col(c, before) for c in _CARRIED],
                           exp.alias_(exp.case().when(open_.copy(), row_number([col("customer_id", before), flag],
                                                                                _order(before))), "pos", quoted=True))
                .from_(exp.paren(previous, copy=False).as_(before)))
    fits = exp.LTE(this=col("pos", pos), expression=lit(fill.max_slots))
    placed = exp.func("COALESCE", col("placement_id", pos), exp.case().when(fits, lit(fill.placement_id)))
    slot = exp.func("COALESCE", col("slot", pos), exp.case().when(fits.copy(), exp.cast(col("pos", pos), "INT")))
    return (exp.select(*[col(c, pos) for c in (*KEYS, "rank")], exp.alias_(placed, "placement_id", quoted=True),
                       exp.alias_(slot, "slot", quoted=True))
            .from_(exp.paren(numbered, copy=False).as_(pos)))


def slots_model(plan: FlowPlan, rank) -> exp.Select:
    """The kept candidates that found a slot (`rank`: the sql.rank.RankSQL whose `decided` rows are kept)."""
    filled = _kept(plan, rank.decided)
    for step, fill in enumerate(plan.placements.fills):
        filled = _fill(filled, fill, step)
    contiguous = row_number([col("customer_id", "s")], _order("s"))
    return (exp.select(*[col(c, "s") for c in (*KEYS, "placement_id", "slot")],
                       exp.alias_(contiguous, "rank", quoted=True))
            .from_(exp.paren(filled, copy=False).as_("s"))
            .where(exp.not_(exp.Is(this=col("slot", "s"), expression=exp.null()))))


def _element(plan: FlowPlan) -> exp.Expression:
    return json_object([(key, kind, col(column, "d")) for key, kind, column in ELEMENT])


def grouped_model(plan: FlowPlan) -> exp.Select:
    """The decisions model `d` grouped per run, flow, customer and placement (a group node) or channel."""
    grouped = plan.placements is not None
    by = ["run_id", "as_of", "decision_flow_key", "decision_flow_version", "customer_id", "experiment_group",
          "placement_id" if grouped else "channel"]
    if grouped:  # the placement's channel when all its decisions are on one (a placement without channelId)
        one = exp.EQ(this=exp.Min(this=col("channel", "d")), expression=exp.Max(this=col("channel", "d")))
        channel = exp.case().when(one, exp.Min(this=col("channel", "d")))
        keyed = [col("placement_id", "d"), exp.alias_(channel, "channel", quoted=True)]
    else:
        keyed = [exp.alias_(cast_text(exp.null()), "placement_id", quoted=True), col("channel", "d")]
    # S9's send time is per customer and channel (and the time windows applying to the offer): the row's
    # when its decisions share one, as the placement's channel above
    same_send = exp.EQ(this=exp.Min(this=col("send_at", "d")), expression=exp.Max(this=col("send_at", "d")))
    keyed.append(exp.alias_(exp.case().when(same_send, exp.Min(this=col("send_at", "d"))), "send_at", quoted=True))
    order = col("slot" if grouped else "rank", "d")
    return (exp.select(*[col(c, "d") for c in by[:6]], *keyed,
                       exp.alias_(exp.Count(this=exp.Star()), "decision_count", quoted=True),
                       exp.alias_(json_array_agg(_element(plan), order), "decisions", quoted=True))
            .from_(relation(plan.ctx.model("decisions")).as_("d"))
            .group_by(*[col(c, "d") for c in by]))
