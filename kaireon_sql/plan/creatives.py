"""The match_creatives node (S7): each candidate's creative, chosen by weight and stable per customer.

A candidate (customer, offer, channel) matches the active creatives of its offer with a positive
weight (`weight` default 1) whose channel is the candidate's (a creative without `channelId` matches
every channel) and whose placement is the node's (`placementId`, else flowConfig.placementId; a
creative without `placementId` matches any). Among them, ordered by id, the creative is the first
whose cumulative weight share exceeds u = hash_uniform(salt, customer_id, offer_id, channel) (`salt`
default the flow key; no run id, so a customer keeps its variant across runs). A candidate with no
matching creative is rejected at stage `match_creatives` (rule name: the node's label, else its id).

Everything is known at compile time except u, so the choice is a CASE over the offer and channel
compiled from config (no join, no extra rows): u is computed once per candidate, and only for
offers with a choice to make (two or more matching creatives on some channel).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.catalog import Creative
from ..config.flows import MatchCreativesConfig
from ..dialect import hash_uniform
from .checks import Check, concat, never_null
from .context import FlowContext, col, lit

STAGE = "match_creatives"
DRAW = "creative_draw"  # the candidate's hash_uniform (NULL where its offer has no choice to make)
COLUMNS = ("creative_id", "creative_name")  # what the candidates model carries to the decisions
OTHER = None  # key of the creatives of an offer on a channel none of its creatives names


@dataclass(frozen=True)
class Variant:
    ref: str  # the creative's id (the decisions' creative_id)
    name: str
    share_end: float  # cumulative weight share of this creative and those before it (by id)


Choice = tuple[Variant, ...]  # an offer's matching creatives on one channel, by id


@dataclass(frozen=True)
class CreativePlan:
    """The node's choice, compiled: per offer, (channel or OTHER, variants) pairs."""

    rule_name: str
    salt: str
    offers: tuple[tuple[str, tuple[tuple[str | None, Choice], ...]], ...]

    def steps(self) -> tuple[tuple[tuple[str, exp.Expression], ...], ...]:
        """Columns added to the candidates, one CTE each: the draw, then the creative (which reads it)."""
        return (((DRAW, self.draw()),), (("creative_id", self.pick("ref")), ("creative_name", self.pick("name"))))

    def draw(self) -> exp.Expression:
        """u for candidates of offers with a choice to make, else NULL (no md5 spent)."""
        choosing = [lit(offer) for offer, choices in self.offers if any(len(v) > 1 for _, v in choices)]
        if not choosing:
            return exp.cast(exp.null(), "DOUBLE")
        u = hash_uniform([lit(self.salt), col("customer_id"), col("offer_id"), col("channel")])
        return exp.case().when(exp.In(this=col("offer_id"), expressions=choosing), u)

    def pick(self, attribute: str) -> exp.Expression:
        """The chosen creative's `attribute` (ref or name) over the draw column; NULL when none matches."""
        case = exp.case()
        for offer, choices in self.offers:
            case = case.when(exp.EQ(this=col("offer_id"), expression=lit(offer)), _by_channel(choices, attribute),
                             copy=False)
        return case.else_(exp.cast(exp.null(), "VARCHAR"), copy=False) if case.args.get("ifs") else \
            exp.cast(exp.null(), "VARCHAR")

    def matched(self) -> exp.Expression:
        """TRUE when the candidate's offer has a matching creative on its channel (reads offer_id, channel)."""
        anywhere = [lit(o) for o, choices in self.offers if any(c is OTHER for c, _ in choices)]
        parts = [exp.In(this=col("offer_id"), expressions=anywhere)] if anywhere else []
        channels = sorted({c for _, choices in self.offers for c, _ in choices if c is not OTHER})
        for channel in channels:
            offers = [lit(o) for o, choices in self.offers
                      if any(c == channel for c, _ in choices) and not any(c is OTHER for c, _ in choices)]
            if offers:
                parts.append(exp.and_(exp.EQ(this=col("channel"), expression=lit(channel)),
                                      exp.In(this=col("offer_id"), expressions=offers)))
        return exp.or_(*parts) if parts else exp.false()

    def check(self, placement: str | None) -> Check:
        where = "" if placement is None else f" for placement {placement}"
        reason = concat(f"Match creatives '{self.rule_name}': no active creative of the offer with a positive weight "
                        "on channel ", col("channel"), where)
        return Check(STAGE, self.rule_name, exp.not_(never_null(self.matched())), reason)


def _value(variant: Variant, attribute: str) -> exp.Expression:
    return lit(variant.ref if attribute == "ref" else variant.name)


def _choose(variants: Choice, attribute: str) -> exp.Expression:
    """The first variant whose share end exceeds the draw; the last takes the rest (no gap from rounding)."""
    if not variants:
        return exp.cast(exp.null(), "VARCHAR")
    case = exp.case()
    for v in variants[:-1]:
        case = case.when(exp.LT(this=col(DRAW), expression=lit(v.share_end)), _value(v, attribute), copy=False)
    last = _value(variants[-1], attribute)
    return case.else_(last, copy=False) if case.args.get("ifs") else last


def _by_channel(choices: tuple[tuple[str | None, Choice], ...], attribute: str) -> exp.Expression:
    other = next((v for c, v in choices if c is OTHER), ())
    named = [(c, v) for c, v in choices if c is not OTHER]
    if not named:
        return _choose(other, attribute)
    case = exp.case()
    for channel, variants in named:
        case = case.when(exp.EQ(this=col("channel"), expression=lit(channel)), _choose(variants, attribute), copy=False)
    return case.else_(_choose(other, attribute), copy=False)


def variants(creatives: list[Creative]) -> Choice:
    """Creatives ordered by id with their cumulative weight shares (weight default 1; all positive here)."""
    ordered = sorted(creatives, key=lambda c: c.ref)
    weights = [1.0 if c.weight is None else float(c.weight) for c in ordered]
    total, running, out = sum(weights), 0.0, []
    for creative, weight in zip(ordered, weights):
        running += weight
        out.append(Variant(creative.ref, creative.name, running / total))
    return tuple(out)


def _channel_ref(ctx: FlowContext, creative: Creative) -> str | None:
    if creative.channel_id is None:
        return None
    found = ctx.project.find("channels", creative.channel_id)
    return found.ref if found is not None else creative.channel_id


def _same_placement(ctx: FlowContext, creative: Creative, placement: str | None) -> bool:
    if creative.placement_id is None:
        return True
    if placement is None:
        return False
    ours, theirs = ctx.project.find("placements", placement), ctx.project.find("placements", creative.placement_id)
    return ours is theirs if ours is not None and theirs is not None else placement == creative.placement_id


def _matching(ctx: FlowContext, placement: str | None) -> dict[str, list[Creative]]:
    """Offer id -> its active creatives with a positive weight for the placement, in config order."""
    out: dict[str, list[Creative]] = {}
    for creative in ctx.project.all("creatives"):
        active = creative.status in (None, "active") and (creative.weight is None or creative.weight > 0)
        if active and _same_placement(ctx, creative, placement):
            offer = ctx.project.lookup("offers", creative.offer_id, creative.location.at("offerId"))
            out.setdefault(offer.ref, []).append(creative)
    return out


def _choices(ctx: FlowContext, creatives: list[Creative]) -> tuple[tuple[str | None, Choice], ...]:
    """(channel, variants) for each channel a creative names (with the channel-less ones), then OTHER."""
    channels = list(dict.fromkeys(c for c in (_channel_ref(ctx, cr) for cr in creatives) if c is not None))
    if ctx.channels is not None:
        channels = [c for c in channels if c in ctx.channels]  # the flow makes no candidate on another channel
    out = [(c, variants([cr for cr in creatives if _channel_ref(ctx, cr) in (None, c)])) for c in channels]
    anywhere = [cr for cr in creatives if cr.channel_id is None]
    if anywhere:
        out.append((OTHER, variants(anywhere)))
    return tuple(out)


def node_placement(ctx: FlowContext, node) -> str | None:
    cfg: MatchCreativesConfig = node.config
    return cfg.placement_id if cfg.placement_id is not None else ctx.definition.flow_config.placement_id


def plan_creatives(ctx: FlowContext) -> CreativePlan | None:
    """The flow's match_creatives node, compiled (None without one)."""
    node = ctx.single(MatchCreativesConfig)
    if node is None:
        return None
    cfg: MatchCreativesConfig = node.config
    offers = tuple((offer, choices) for offer, creatives in _matching(ctx, node_placement(ctx, node)).items()
                   if (choices := _choices(ctx, creatives)))
    return CreativePlan(node.label or node.id, cfg.salt if cfg.salt is not None else ctx.flow.key, offers)


def creative_check(ctx: FlowContext, node) -> Check:
    """The node's check: a candidate with no matching creative is rejected at stage match_creatives."""
    return plan_creatives(ctx).check(node_placement(ctx, node))


def matches_creatives(ctx: FlowContext) -> bool:
    """True when the flow has a match_creatives node: candidates then carry their creative."""
    return bool(ctx.nodes_of(MatchCreativesConfig))
