"""The discount learner's models (S9, plan/discount.py, docs/discount_learner.md).

- `<flow>__discount_posterior`: per tier and group, the flow's decided impressions that carried the tier
  (kaireon_attribution rows whose decision, logged by this flow, has that discount_pct; impression_at in
  (as_of - windowDays, as_of]) n, those with an attributed positive k, and the Beta posterior
  alpha = alpha0 + k, beta = beta0 + n - k. The group is the customer's current value in the flow's
  customers model (a customer it no longer holds: the NULL group).
- `<flow>__discounts`: per kept candidate of an offer with tiers, the tier maximising
  draw x value x (1 - tier / 100) (ties: the lowest tier), with the draw, its alpha and beta.
- `kaireon_discount_readout`: every flow's posterior rows with the conversion rate, its Wilson 95% interval
  and the flow's mean discount per converted decision.
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import beta_draw, cast_double, cast_text, minus_seconds, relation
from ..plan.checks import qualify_columns
from ..plan.context import ATTRIBUTION_MODEL, RUN_PARAMS, col, lit
from ..plan.discount import DiscountPlan, tier_key
from ..plan.flow import FlowPlan
from ..plan.offers import OFFERS_MODEL
from .common import row_number

READOUT_MODEL = "kaireon_discount_readout"
Z95 = 1.959963984540054
POSTERIOR_COLUMNS = {
    "discount_pct": "The tier (percent).",
    "group_value": "The customer's groupBy value (NULL: no groupBy, or customers without a value).",
    "n": "Decided impressions that carried the tier, in the window.",
    "k": "Of them, impressions with an attributed positive outcome.",
    "alpha": "Posterior alpha: prior alpha + k.",
    "beta": "Posterior beta: prior beta + n - k.",
}
CHOICE_COLUMNS = {
    "customer_id": "Customer key.", "offer_id": "Offer id.", "channel": "Channel.",
    "group_value": "The customer's groupBy value.",
    "discount_pct": "The chosen tier (percent).",
    "alpha": "alpha of the chosen tier's posterior (the prior's when never tried).",
    "beta": "beta of the chosen tier's posterior.",
    "draw": "The Thompson draw of Beta(alpha, beta), seeded by (salt, run_id, customer_id, tier).",
    "offer_value": "offer.revenueValue, 1 when NULL.",
    "expected_value": "draw x offer_value x (1 - discount_pct / 100): the largest of the offer's tiers.",
}
READOUT_COLUMNS = {
    "decision_flow_key": "The flow.", "discount_pct": POSTERIOR_COLUMNS["discount_pct"],
    "group_value": "The group value as text.",
    "decisions": "Decided impressions that carried the tier in the flow's window (n).",
    "conversions": "Of them, with an attributed positive outcome (k).",
    "conversion_rate": "conversions / decisions.",
    "ci_low": "Lower end of the Wilson 95% interval of the conversion rate.",
    "ci_high": "Upper end of the Wilson 95% interval.",
    "posterior_mean": "alpha / (alpha + beta) of the tier's posterior.",
    "mean_discount_converted": "The flow's mean discount_pct over its converted decisions (every tier and group; "
                               "NULL without a conversion).",
}


def _d(e: exp.Expression) -> exp.Expression:
    return cast_double(e)


def _group(plan: FlowPlan, table: str) -> exp.Expression:
    group = plan.discount.group
    return exp.cast(exp.null(), "VARCHAR") if group is None else qualify_columns(group, table)


def _same_group(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    both_null = exp.and_(exp.Is(this=left.copy(), expression=exp.null()), exp.Is(this=right.copy(), expression=exp.null()))
    return exp.paren(exp.or_(exp.EQ(this=left, expression=right), both_null))


def posterior_sql(plan: FlowPlan) -> exp.Select:
    """Per tier and group: n, k, alpha, beta (POSTERIOR_COLUMNS)."""
    d: DiscountPlan = plan.discount
    at = col("impression_at", "a")
    start = minus_seconds(col("as_of", "p"), d.window_days * 86400)
    n, k = exp.Count(this=exp.Star()), exp.Sum(this=col("positive", "a"))
    group = _group(plan, "c")
    return (exp.select(col("discount_pct", "a"), exp.alias_(group, "group_value", quoted=True),
                       exp.alias_(n, "n", quoted=True), exp.alias_(k, "k", quoted=True),
                       exp.alias_(exp.Add(this=lit(float(d.alpha)), expression=_d(k.copy())), "alpha", quoted=True),
                       exp.alias_(exp.Add(this=lit(float(d.beta)), expression=exp.paren(
                           exp.Sub(this=_d(n.copy()), expression=_d(k.copy())))), "beta", quoted=True))
            .from_(relation(ATTRIBUTION_MODEL).as_("a"))
            .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
            .join(relation(plan.ctx.model("customers")).as_("c"), join_type="left",
                  on=exp.EQ(this=cast_text(col("customer_id", "c")), expression=col("customer_id", "a")))
            .where(exp.and_(exp.not_(exp.Is(this=col("discount_pct", "a"), expression=exp.null())),
                            exp.EQ(this=col("decided_flow_key", "a"), expression=lit(d.flow_key)),
                            exp.GT(this=at, expression=start), exp.LTE(this=at.copy(), expression=col("as_of", "p"))))
            .group_by(col("discount_pct", "a"), group.copy()))


def _tiers(d: DiscountPlan) -> exp.Values:
    """(offer_id, discount_pct, tier_key) of every offer's tiers."""
    rows = [exp.Tuple(expressions=[lit(offer), lit(float(t)), lit(tier_key(t))]) for offer, tiers in d.tiers for t in tiers]
    return exp.Values(expressions=rows, alias=exp.TableAlias(
        this=exp.to_identifier("t", quoted=True),
        columns=[exp.to_identifier(c, quoted=True) for c in ("offer_id", "discount_pct", "tier_key")]))


def _kept(plan: FlowPlan) -> exp.Select:
    """Kept candidates (rank not NULL) with the customer's group and the offer's value."""
    value = exp.func("COALESCE", _d(col("revenue_value", "o")), lit(1.0))
    return (exp.select(col("customer_id", "k"), col("offer_id", "k"), col("channel", "k"),
                       exp.alias_(_group(plan, "c"), "group_value", quoted=True),
                       exp.alias_(value, "offer_value", quoted=True))
            .from_(relation(plan.ctx.model("candidates")).as_("k"))
            .join(relation(plan.ctx.model("customers")).as_("c"),
                  on=exp.EQ(this=col("customer_id", "c"), expression=col("customer_id", "k")))
            .join(relation(OFFERS_MODEL).as_("o"), join_type="left",
                  on=exp.EQ(this=col("offer_id", "o"), expression=col("offer_id", "k")))
            .where(exp.not_(exp.Is(this=col("rank", "k"), expression=exp.null()))))


def _options(d: DiscountPlan) -> exp.Select:
    """Every tier of each kept candidate's offer, with its posterior's alpha and beta (the prior's if untried)."""
    on = exp.and_(exp.EQ(this=col("discount_pct", "ps"), expression=col("discount_pct", "t")),
                  _same_group(col("group_value", "ps"), col("group_value", "kc")))
    alpha = exp.func("COALESCE", col("alpha", "ps"), lit(float(d.alpha)))
    beta = exp.func("COALESCE", col("beta", "ps"), lit(float(d.beta)))
    return (exp.select(*[col(c, "kc") for c in ("customer_id", "offer_id", "channel", "group_value", "offer_value")],
                       col("discount_pct", "t"), col("tier_key", "t"),
                       exp.alias_(alpha, "alpha", quoted=True), exp.alias_(beta, "beta", quoted=True))
            .from_(exp.to_table("kept").as_("kc"))
            .join(exp.paren(exp.select("*").from_(_tiers(d))).as_("t"),
                  on=exp.EQ(this=col("offer_id", "t"), expression=col("offer_id", "kc")))
            .join(relation(d.posterior).as_("ps"), join_type="left", on=on))


def _drawn(d: DiscountPlan) -> exp.Select:
    parts = [lit(d.salt), d.run_id.copy(), col("customer_id", "x"), col("tier_key", "x")]
    return (exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("x", quoted=True)), exp.alias_(beta_draw(col("alpha", "x"), col("beta", "x"), parts), "draw", quoted=True))
            .from_(exp.to_table("options").as_("x")).join(relation(RUN_PARAMS).as_("p"), join_type="cross"))


def choices_sql(plan: FlowPlan) -> exp.Select:
    """Per kept candidate of an offer with tiers: the chosen tier (CHOICE_COLUMNS)."""
    d: DiscountPlan = plan.discount
    kept_share = exp.paren(exp.Sub(this=lit(1.0), expression=exp.Div(this=col("discount_pct"), expression=lit(100.0))))
    value = exp.Mul(this=exp.Mul(this=col("draw"), expression=col("offer_value")), expression=kept_share)
    valued = exp.select(*[col(c) for c in list(CHOICE_COLUMNS)[:-1]],
                        exp.alias_(value, "expected_value", quoted=True)).from_("drawn")
    order = [exp.Ordered(this=col("expected_value"), desc=True), exp.Ordered(this=col("discount_pct"))]
    ranked = exp.select(exp.Star(), exp.alias_(row_number([col(c) for c in ("customer_id", "offer_id", "channel")],
                                                          order), "choice_n", quoted=True)).from_("valued")
    query = exp.select(*[col(c) for c in CHOICE_COLUMNS]).from_("ranked").where(
        exp.EQ(this=col("choice_n"), expression=lit(1)))
    for name, cte in (("kept", _kept(plan)), ("options", _options(d)), ("drawn", _drawn(d)), ("valued", valued),
                      ("ranked", ranked)):
        query = query.with_(name, as_=cte, copy=False)
    return query


def _wilson(p: exp.Expression, n: exp.Expression, sign: int) -> exp.Expression:
    """An end of the Wilson 95% interval of rate p over n (> 0)."""
    z2 = lit(Z95 * Z95)
    center = exp.Add(this=p.copy(), expression=exp.Div(this=z2.copy(), expression=exp.paren(
        exp.Mul(this=lit(2.0), expression=n.copy()))))
    spread = exp.Add(this=exp.Div(this=exp.Mul(this=p.copy(), expression=exp.paren(exp.Sub(this=lit(1.0), expression=p.copy()))),
                                  expression=n.copy()),
                     expression=exp.Div(this=z2.copy(), expression=exp.paren(exp.Mul(this=lit(4.0), expression=exp.Mul(
                         this=n.copy(), expression=n.copy())))))
    half = exp.Mul(this=lit(Z95), expression=exp.func("SQRT", spread))
    top = exp.Add(this=center, expression=half) if sign > 0 else exp.Sub(this=center, expression=half)
    return exp.Div(this=exp.paren(top), expression=exp.paren(exp.Add(this=lit(1.0), expression=exp.Div(
        this=z2.copy(), expression=n.copy()))))


def _readout_rows(plan: FlowPlan) -> exp.Select:
    n, k = _d(col("n", "r")), _d(col("k", "r"))
    rate = exp.Div(this=k, expression=n)
    per_flow = exp.Window(this=exp.Sum(this=exp.Mul(this=col("discount_pct", "r"), expression=k.copy())))
    converted = exp.Window(this=exp.Sum(this=k.copy()))
    mean = exp.case().when(exp.GT(this=converted.copy(), expression=lit(0.0)),
                           exp.Div(this=per_flow, expression=converted))
    return exp.select(
        exp.alias_(lit(plan.ctx.flow.key), "decision_flow_key", quoted=True), col("discount_pct", "r"),
        exp.alias_(cast_text(col("group_value", "r")), "group_value", quoted=True),
        exp.alias_(col("n", "r"), "decisions", quoted=True), exp.alias_(col("k", "r"), "conversions", quoted=True),
        exp.alias_(rate, "conversion_rate", quoted=True),
        exp.alias_(_wilson(rate, n, -1), "ci_low", quoted=True), exp.alias_(_wilson(rate, n, +1), "ci_high", quoted=True),
        exp.alias_(exp.Div(this=col("alpha", "r"), expression=exp.paren(exp.Add(this=col("alpha", "r"),
                                                                                expression=col("beta", "r")))),
                   "posterior_mean", quoted=True),
        exp.alias_(mean, "mean_discount_converted", quoted=True),
    ).from_(relation(plan.discount.posterior).as_("r"))


def readout_sql(plans: list[FlowPlan]) -> exp.Expression:
    """READOUT_COLUMNS over every flow with tiers (a UNION ALL of their posteriors)."""
    out: exp.Expression = _readout_rows(plans[0])
    for plan in plans[1:]:
        out = exp.union(out, _readout_rows(plan), distinct=False)
    return out
