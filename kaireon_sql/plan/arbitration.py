"""Arbitration profiles (S8): a model score becomes a weighted composite of five dimensions.

The profile of a flow is the score node's `arbitrationProfileId`, else `flowConfig.arbitrationProfileId`,
else the active profile with `isDefault: true`, and only when the score node's method is `model`
(formula, expression and priority scores never arbitrate). Over a candidate row:

    composite = sum(w_d * d) / sum(w_d),  d in conversion, margin, fatigue, recency, fairness

- conversion: the chosen model's propensity (plan/score.py model_choice);
- margin: offer.margin / 100 (a NULL margin reads 0);
- fatigue: 1 - min(1, impressions to the customer in the last `fatigueDays` / `fatigueCap`);
- recency: min(1, days since this offer last reached the customer (an impression, any channel) /
  `recencyDays`), days = (as_of - last impression) / 86,400 s; 1 when it never did;
- fairness: 1 - the offer's impressions in the last 30 days / the largest such count among the
  offers of the run's candidates (the pairs past the narrowing checks; a window over the scored
  rows), 1 when none had any.

Each is clipped to [0, 1]; with every weight zero the composite is the conversion. History is read
through the flow's feature registry (plan/features.py), as contact policies read it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.flows import ScoreConfig
from ..config.models import ArbitrationProfile
from ..dialect import minus_seconds, seconds_between
from .context import FlowContext, col, lit
from .features import Features, history, impression

DIMENSIONS = ("conversion", "margin", "fatigue", "recency", "fairness")
FAIRNESS_DAYS = 30.0
DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class ArbitrationPlan:
    """The flow's profile and each dimension over the candidate row (only those with a positive weight)."""

    profile: ArbitrationProfile
    dimensions: tuple[tuple[str, float, exp.Expression], ...]  # (dimension, weight, value in [0, 1])


def _clip01(value: exp.Expression) -> exp.Expression:
    return (exp.case().when(exp.LT(this=value, expression=lit(0.0)), lit(0.0))
            .when(exp.GT(this=value.copy(), expression=lit(1.0)), lit(1.0)).else_(value.copy()))


def _double(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, "DOUBLE")


def _within(days: float) -> exp.Expression:
    """History rows of the rolling window of `days` back from as_of (S5: occurred_at > as_of - w)."""
    return exp.GT(this=history("occurred_at"), expression=minus_seconds(col("as_of", "p"), days * DAY_SECONDS))


def _margin() -> exp.Expression:
    value = exp.func("COALESCE", _double(col("margin")), lit(0.0))
    return _clip01(exp.Div(this=value, expression=lit(100.0)))


def _fatigue(profile: ArbitrationProfile, features: Features) -> exp.Expression:
    seen = features.count(exp.and_(impression(), _within(profile.fatigue_days)), "customer")
    return _clip01(exp.Sub(this=lit(1.0), expression=exp.Div(this=_double(seen), expression=lit(float(profile.fatigue_cap)))))


def _recency(profile: ArbitrationProfile, features: Features) -> exp.Expression:
    last = features.last(impression(), "customer_offer")
    days = exp.Div(this=exp.paren(seconds_between(col("as_of"), last)), expression=lit(DAY_SECONDS))
    value = _clip01(exp.Div(this=days, expression=lit(float(profile.recency_days))))
    return exp.case().when(exp.Is(this=last.copy(), expression=exp.null()), lit(1.0)).else_(value)


def _fairness(features: Features) -> exp.Expression:
    shown = _double(features.count(exp.and_(impression(), _within(FAIRNESS_DAYS)), "offer"))
    largest = exp.Window(this=exp.Max(this=shown.copy()), partition_by=[])
    share = exp.Div(this=shown, expression=exp.func("NULLIF", largest, lit(0.0)))
    return exp.func("COALESCE", _clip01(exp.Sub(this=lit(1.0), expression=share)), lit(1.0))


def profile_of(ctx: FlowContext) -> ArbitrationProfile | None:
    """The flow's arbitration profile (S8 precedence), or None: no model score, or no profile applies."""
    cfg: ScoreConfig = ctx.score
    if cfg.method != "model":
        return None
    node = ctx.single(ScoreConfig)
    if cfg.arbitration_profile_id:
        return ctx.project.lookup("arbitrationProfiles", cfg.arbitration_profile_id,
                                  ctx.node_location(node.id, "config.arbitrationProfileId"))
    flow_ref = ctx.definition.flow_config.arbitration_profile_id
    if flow_ref:
        return ctx.project.lookup("arbitrationProfiles", flow_ref,
                                  ctx.flow.location.at(f"{ctx.definition_key}.flowConfig.arbitrationProfileId"))
    defaults = [p for p in ctx.project.all("arbitrationProfiles") if p.is_default and p.status == "active"]
    return defaults[0] if defaults else None


def plan_arbitration(ctx: FlowContext, features: Features) -> ArbitrationPlan | None:
    profile = profile_of(ctx)
    if profile is None:
        return None
    values = {
        "conversion": lambda: _clip01(col("propensity")),
        "margin": _margin,
        "fatigue": lambda: _fatigue(profile, features),
        "recency": lambda: _recency(profile, features),
        "fairness": lambda: _fairness(features),
    }
    weights = profile.weights
    used = tuple((d, float(getattr(weights, d)), values[d]()) for d in DIMENSIONS if getattr(weights, d) > 0)
    return ArbitrationPlan(profile, used)


def composite(plan: ArbitrationPlan) -> exp.Expression:
    """sum(w_d * d) / sum(w_d); the propensity when every weight is zero."""
    if not plan.dimensions:
        return col("propensity")
    numerator: exp.Expression | None = None
    for _, weight, value in plan.dimensions:
        term = exp.Mul(this=lit(weight), expression=exp.paren(value))
        numerator = term if numerator is None else exp.Add(this=numerator, expression=term)
    return exp.Div(this=exp.paren(numerator), expression=lit(sum(w for _, w, _ in plan.dimensions)))
