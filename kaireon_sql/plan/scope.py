"""Which candidates a rule or policy applies to, from its scope and scopeId."""
from __future__ import annotations

from sqlglot import exp

from .context import FlowContext, col, lit
from .creatives import matches_creatives
from .features import Features

# scope -> (kind of referenced object, candidate column compared with its canonical id)
SCOPE_COLUMNS = {
    "category": ("categories", "category_id"),
    "subcategory": ("subCategories", "sub_category_id"),
    "offer": ("offers", "offer_id"),
    "channel": ("channels", "channel"),
    "creative": ("creatives", "creative_id"),
}


def applies(ctx: FlowContext, features: Features, obj) -> exp.Expression:
    """TRUE for candidates inside the object's scope."""
    scope, ref = obj.scope, obj.scope_id
    if scope == "global":
        return exp.true()
    if scope == "segment":
        seg = ctx.project.lookup("segments", ref, obj.location.at("scopeId"))
        return exp.func("COALESCE", features.segment(seg), exp.false())
    if scope == "placement":
        # A flow decides for one placement (flowConfig.placementId), so this is known at compile time.
        target = ctx.project.lookup("placements", ref, obj.location.at("scopeId"))
        flow_placement = ctx.definition.flow_config.placement_id
        same = flow_placement is not None and ctx.project.find("placements", flow_placement) is target
        return exp.true() if same else exp.false()
    if scope == "creative":
        creative = ctx.project.lookup("creatives", ref, obj.location.at("scopeId"))
        if matches_creatives(ctx):  # candidates carry their creative (plan/creatives.py)
            return exp.EQ(this=col("creative_id"), expression=lit(creative.ref))
        # Without a match_creatives node, a creative's scope is its offer (and channel).
        offer = ctx.project.lookup("offers", creative.offer_id, creative.location.at("offerId"))
        same_offer = exp.EQ(this=col("offer_id"), expression=lit(offer.ref))
        if creative.channel_id is None:
            return same_offer
        channel = ctx.project.find("channels", creative.channel_id)
        return exp.and_(same_offer, exp.EQ(this=col("channel"), expression=lit(channel.ref if channel else creative.channel_id)))
    kind, column = SCOPE_COLUMNS[scope]
    if kind == "channels" and not ctx.project.all("channels"):
        target = ref
    else:
        target = ctx.project.lookup(kind, ref, obj.location.at("scopeId")).ref
    return exp.EQ(this=col(column), expression=lit(target))
