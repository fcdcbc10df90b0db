"""The discount learner of a flow (S9, docs/discount_learner.md): tiers per offer, the group, the prior, the draw.

Tiers: an offer's own `discountTiers`, else the flow's `flowConfig.discountTiers`; an offer with neither
gets no tier (discount_pct NULL). Outcomes pool per tier and group (offers pool: the tier's conversion rate
is learned across the flow's offers, the offer's value enters only the expected value). The group is the
customer field `flowConfig.discount.groupBy` (default lifecycleStage) as formulas read it
(`customer.<field>`), resolved while the flow is planned, so a feature behind it (S9's lifecycle stage)
joins the customers model like any other; null pools every customer. The choice per kept candidate
maximises draw_t x value x (1 - t / 100), draw_t ~ Beta(alpha + k_t, beta + n_t - k_t) seeded by
(salt, run_id, customer_id, tier text): one stream per customer and tier, the same for every offer of the
customer in the run. value = offer.revenueValue (1 when NULL). Ties: the lowest tier.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.flows import DEFAULT_DISCOUNT_GROUP, DiscountSettings
from ..config.project import Project
from ..dialect import relation
from ..errors import ConfigError, Location
from ..formula import Field
from .context import FlowContext, col
from .formulas import _Unreadable, compile_formula, resolver
from .learned import run_id

DEFAULT_SETTINGS = DiscountSettings()


def tier_key(tier: float) -> str:
    """The tier as the draw's seed text (one text per value on every engine): 10 -> '10', 12.5 -> '12.5'."""
    return f"{tier:g}" if float(tier).is_integer() else repr(float(tier))


@dataclass(frozen=True)
class DiscountPlan:
    """What the flow's discount models read (sql/discount.py)."""

    flow_key: str
    posterior: str  # model: per tier and group, n, k, alpha, beta
    choices: str  # model: per kept candidate, the chosen tier
    tiers: tuple[tuple[str, tuple[float, ...]], ...]  # (offer id, its tiers) of every offer with tiers
    group: exp.Expression | None  # the group value over customers-model columns (None: one pool)
    group_field: str | None
    alpha: float
    beta: float
    window_days: float
    salt: str
    run_id: exp.Expression  # over run params `p`


def _where(ctx: FlowContext, field: str) -> Location:
    return ctx.flow.location.at(f"{ctx.definition_key}.flowConfig.{field}")


def discount_windows(project: Project) -> list[float]:
    """windowDays of every flow that has tiers (its own or an offer's): the attribution must cover them."""
    offers = any(o.discount_tiers for o in project.offers)
    return [(f.definition.flow_config.discount or DEFAULT_SETTINGS).window_days for f in project.flows
            if offers or f.definition.flow_config.discount_tiers]


def _offer_tiers(ctx: FlowContext) -> tuple[tuple[str, tuple[float, ...]], ...]:
    flow_tiers = ctx.definition.flow_config.discount_tiers
    out = []
    for offer in ctx.project.offers:
        tiers = offer.discount_tiers if offer.discount_tiers is not None else flow_tiers
        if tiers:
            out.append((offer.ref, tuple(float(t) for t in tiers)))
    return tuple(out)


def _group(ctx: FlowContext, settings: DiscountSettings, explicit: bool) -> exp.Expression | None:
    """customer.<groupBy> as formulas resolve it (a ConfigError at groupBy when the flow cannot read it)."""
    name = settings.group_by
    if name is None:
        return None
    where = _where(ctx, "discount.groupBy")
    try:
        readable = resolver(ctx)("customer." + name) is not None
    except _Unreadable as exc:  # customer.lifecycleStage without an orders relation
        default = (f"discountTiers pool outcomes by groupBy, default {DEFAULT_DISCOUNT_GROUP}; "
                   if name == DEFAULT_DISCOUNT_GROUP and not explicit else "")
        raise ConfigError(where, f"{default}{exc}; or set flowConfig.discount.groupBy to null for one pool") from None
    if not readable:
        loads = ", ".join(f"customer.{n}" for n in ctx.fields) or "no fields"
        if name == DEFAULT_DISCOUNT_GROUP and not explicit:
            raise ConfigError(where, f"discountTiers pool outcomes by groupBy, default {DEFAULT_DISCOUNT_GROUP} "
                                     f"(customer.{DEFAULT_DISCOUNT_GROUP}, S9's lifecycle stage), which this flow "
                                     f"cannot read; expected flowConfig.discount.groupBy naming a customer field the "
                                     f"flow loads ({loads}), or null for one pool")
        raise ConfigError(where, f"unknown customer field {name!r}; expected a customer field the flow loads "
                                 f"({loads}), or null for one pool")
    sql, _ = compile_formula("customer." + name, where, resolver(ctx))
    return sql


def plan_discount(ctx: FlowContext) -> DiscountPlan | None:
    """The flow's discount plan; None when neither the flow nor any offer has discountTiers. Planned before
    the feature registry freezes (the group may be a feature)."""
    config = ctx.definition.flow_config
    tiers = _offer_tiers(ctx)
    if not tiers:
        if config.discount is not None:
            raise ConfigError(_where(ctx, "discount"), "discount settings without tiers: expected "
                              "flowConfig.discountTiers (or discountTiers on an offer), e.g. [0, 10, 20]")
        return None
    settings = config.discount or DEFAULT_SETTINGS
    explicit = config.discount is not None and "group_by" in config.discount.model_fields_set
    return DiscountPlan(
        flow_key=ctx.flow.key, posterior=ctx.model("discount_posterior"), choices=ctx.model("discounts"),
        tiers=tiers, group=_group(ctx, settings, explicit), group_field=settings.group_by,
        alpha=settings.prior.alpha, beta=settings.prior.beta, window_days=settings.window_days,
        salt=settings.salt if settings.salt is not None else ctx.flow.key, run_id=run_id(ctx))


def discount_value(plan: DiscountPlan | None) -> exp.Expression:
    """discount_pct of the candidate row (unqualified customer_id, offer_id, channel): the chosen tier from the
    choices model, NULL without tiers. A scalar subquery, so the decisions and the personalization JSON read
    the same value over whatever alias holds the candidate."""
    if plan is None:
        return exp.cast(exp.null(), "DOUBLE")
    on = [exp.EQ(this=col(c, "dc"), expression=col(c)) for c in ("customer_id", "offer_id", "channel")]
    query = (exp.select(exp.Max(this=col("discount_pct", "dc")))
             .from_(relation(plan.choices).as_("dc")).where(exp.and_(*on)))
    return exp.Subquery(this=query)


def personalization_pairs(plan: DiscountPlan | None) -> tuple[tuple[str, Field], ...]:
    """The personalization JSON's discount_pct (the chosen tier) for a flow with tiers; nothing without."""
    return () if plan is None else (("discount_pct", Field("number", discount_value(plan))),)
