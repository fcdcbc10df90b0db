"""S9 channel preference and `flowConfig.channel: auto` routing (docs/channel_preference.md).

Per customer and channel of `flowConfig.channels`, the preference is the posterior mean
(k + m p_c) / (n + m) of a Beta(m p_c, m (1 - p_c)) prior updated with n impressions on the channel
and k of them positive (the flow's model `<flow>__channel_preference`, sql/channel_preference.py).
The customers model joins it once per channel and routes: the consented channel with the highest
preference, ties by list order (`route`); a customer with no consented channel is routed to the
best channel regardless of consent and rejected at stage consent (`routing_check`).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.flows import ChannelPreference, FlowConfig, CallFlowConfig
from ..errors import ConfigError
from .checks import Check, text
from .context import FlowContext, col, lit
from .narrowing import NO_CONSENT_NEEDED, consent_field

ROUTE_COLUMNS = ("route_channel", "route_consented", "channel_preference")  # of the customers model


@dataclass(frozen=True)
class RoutingPlan:
    """channels: the list routed among (tie order); consent: per channel, the customers-model
    condition that the customer consented (TRUE for requiresConsent: false); model: the flow's
    preference model."""

    channels: tuple[str, ...]
    consent: tuple[exp.Expression, ...]
    prior_strength: float
    positive_outcomes: tuple[str, ...]
    model: str

    def preference_alias(self, i: int) -> str:
        return f"cp{i}"


def _outcomes(ctx: FlowContext, cfg: ChannelPreference) -> tuple[str, ...]:
    known = ctx.project.interaction_history.outcomes
    where = f"{ctx.definition_key}.flowConfig.channelPreference.positiveOutcomes"
    for i, outcome in enumerate(cfg.positive_outcomes):
        if outcome not in known:
            raise ConfigError(ctx.flow.location.at(f"{where}[{i}]"), f"unknown outcome {outcome!r}; expected one of: "
                              + ", ".join(o for o in known if o != "impression")
                              + " (others are declared in interactionHistory.customOutcomes)")
    return tuple(cfg.positive_outcomes)


def _consented(ctx: FlowContext, channel: str) -> exp.Expression:
    field = consent_field(ctx, channel)
    if field == NO_CONSENT_NEEDED:
        return exp.true()
    if field is None:  # consent_checks refuses such a channel first; kept as a backstop
        raise ConfigError(ctx.flow.location.at(f"{ctx.definition_key}.flowConfig.channels"),
                          f"`channel: auto` with no consented channel defined: channel {channel!r} has neither a "
                          "consent field nor requiresConsent: false")
    return exp.func("COALESCE", col(ctx.fields[field].column), exp.false())


def plan_routing(ctx: FlowContext) -> RoutingPlan | None:
    """The routing of a `channel: auto` flow, None otherwise."""
    config: FlowConfig = ctx.definition.flow_config
    if not config.routes:
        return None
    if ctx.single(CallFlowConfig) is not None:
        raise ConfigError(ctx.flow.location.at(f"{ctx.definition_key}.flowConfig.channel"),
                          "`channel: auto` with a call_flow node is not supported: the called flow's candidates "
                          "keep their own channels; expected an explicit channel list, or no call_flow node")
    cfg = config.channel_preference or ChannelPreference()
    channels = tuple(ctx.channels or ())
    return RoutingPlan(channels, tuple(_consented(ctx, c) for c in channels), float(cfg.prior_strength),
                       _outcomes(ctx, cfg), ctx.model("channel_preference"))


def _best(channels: tuple[str, ...], prefs: list[exp.Expression], allowed: list[exp.Expression]):
    """(channel, preference) of the allowed channel with the highest preference, ties by list order;
    NULLs when none is allowed."""
    channel, preference = exp.case(), exp.case()
    for i, name in enumerate(channels):
        beats = [exp.or_(exp.not_(allowed[j].copy()), (exp.LT if j < i else exp.LTE)(
            this=prefs[j].copy(), expression=prefs[i].copy())) for j in range(len(channels)) if j != i]
        wins = exp.and_(allowed[i].copy(), *beats)
        channel = channel.when(wins, lit(name), copy=False)
        preference = preference.when(wins.copy(), prefs[i].copy(), copy=False)
    return channel, preference


def route(plan: RoutingPlan, prefs: list[exp.Expression]) -> dict[str, exp.Expression]:
    """The customers model's routing columns over the consent columns and per-channel preferences
    `prefs` (never NULL): the best consented channel, else the best channel (then rejected)."""
    consented, anywhere = list(plan.consent), [exp.true() for _ in plan.channels]
    best, best_pref = _best(plan.channels, prefs, consented)
    fallback, fallback_pref = _best(plan.channels, prefs, anywhere)
    some = exp.or_(*[c.copy() for c in consented])
    return {
        "route_channel": exp.case().when(some, best).else_(fallback),
        "route_consented": exp.func("COALESCE", some.copy(), exp.false()),
        "channel_preference": exp.case().when(some.copy(), best_pref).else_(fallback_pref),
    }


def routing_check(ctx: FlowContext) -> Check:
    """Stage consent: a customer who consented to none of the routed channels gets nothing."""
    names = ", ".join(ctx.channels or ())
    return Check("consent", "Consent (channel: auto)", exp.not_(col("route_consented")),
                 text(f"Consent: customer has consented to none of the flow's channels ({names}); channel: auto "
                      "routes only to a consented channel"))
