"""S9 channel preference of a `channel: auto` flow: `<flow>__channel_preference`, one row per
customer of the flow's key relation and channel of `flowConfig.channels` (docs/channel_preference.md).

History rows with `occurred_at <= as_of` on the listed channels count. n = the customer's
impressions on the channel; k = those of them followed by a positive outcome
(`channelPreference.positiveOutcomes`) of the same customer, offer and channel before that
offer's next impression on the channel (at the same instant, positives come after impressions):
each positive row belongs to the latest impression before it, an impression is positive or not,
so k <= n. A positive with no impression before it counts nowhere.

p_c = the channel's pooled k / n over every customer of the history; a channel with no impression
at all takes the pooled rate of the listed channels, and 0.5 when none of them has an impression.
preference = (k + m p_c) / (n + m), the mean of Beta(m p_c + k, m (1 - p_c) + n - k).
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_text, relation
from ..plan.context import HISTORY_MODEL, RUN_PARAMS, col, lit
from ..plan.flow import FlowPlan
from .common import values

COLUMNS = {
    "customer_id": "Customer key (text), every customer of the flow's key relation.",
    "channel": "A channel of flowConfig.channels.",
    "impressions": "n: the customer's impressions on the channel (occurred_at <= as_of).",
    "positives": "k: of them, impressions followed by a positive outcome of the same offer and channel "
                 "before that offer's next impression on the channel (k <= n).",
    "prior_mean": "p_c: the channel's population rate (pooled k / n of every customer; no impression on the "
                  "channel: the listed channels' pooled rate; none at all: 0.5).",
    "preference": "(k + m p_c) / (n + m): the posterior mean of the Beta(m p_c, m (1 - p_c)) prior, "
                  "m = channelPreference.priorStrength.",
}
_KEYS = ("customer_id", "offer_id", "channel")


def _d(e: exp.Expression) -> exp.Expression:
    return exp.cast(e, "DOUBLE")


def _events(plan: FlowPlan) -> exp.Select:
    """Impressions and positive rows on the listed channels up to as_of, flagged `is_impression`."""
    routing = plan.routing
    outcomes = [lit(o) for o in ("impression", *routing.positive_outcomes)]
    is_impression = exp.case().when(exp.EQ(this=col("outcome", "h"), expression=lit("impression")), lit(1)).else_(lit(0))
    return (exp.select(*[col(c, "h") for c in _KEYS], col("occurred_at", "h"),
                       exp.alias_(is_impression, "is_impression", quoted=True))
            .from_(relation(HISTORY_MODEL).as_("h"))
            .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
            .where(exp.and_(exp.LTE(this=col("occurred_at", "h"), expression=col("as_of", "p")),
                            exp.In(this=col("channel", "h"), expressions=[lit(c) for c in routing.channels]),
                            exp.In(this=col("outcome", "h"), expressions=outcomes))))


def _numbered() -> exp.Select:
    """Each row with the number of impressions of its customer, offer and channel up to it (the
    impression a positive row belongs to)."""
    positive_last = exp.Sub(this=lit(1), expression=col("is_impression"))  # at one instant, impressions first
    order = exp.Order(expressions=[exp.Ordered(this=col("occurred_at")), exp.Ordered(this=positive_last)])
    frame = exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW")
    running = exp.Window(this=exp.Sum(this=col("is_impression")), partition_by=[col(c) for c in _KEYS],
                         order=order, spec=frame)
    return exp.select(*[col(c) for c in _KEYS], col("is_impression"),
                      exp.alias_(running, "impression_n", quoted=True)).from_("events")


def _counts() -> exp.Select:
    """Per customer and channel: n impressions and k positive ones."""
    per_impression = (exp.select(*[col(c) for c in _KEYS], exp.alias_(exp.Max(
        this=exp.Sub(this=lit(1), expression=col("is_impression"))), "positive", quoted=True))
        .from_("numbered").where(exp.GT(this=col("impression_n"), expression=lit(0)))
        .group_by(*[col(c) for c in _KEYS], col("impression_n")))
    return (exp.select(col("customer_id"), col("channel"),
                       exp.alias_(exp.Count(this=exp.Star()), "impressions", quoted=True),
                       exp.alias_(exp.Sum(this=col("positive")), "positives", quoted=True))
            .from_(exp.paren(per_impression, copy=False).as_("i")).group_by(col("customer_id"), col("channel")))


def _rate(k: exp.Expression, n: exp.Expression) -> exp.Expression:
    return exp.Div(this=_d(k), expression=exp.func("NULLIF", _d(n), lit(0.0)))


def _priors(plan: FlowPlan) -> exp.Select:
    """p_c per listed channel: its pooled rate, else the listed channels' pooled rate, else 0.5."""
    rates = (exp.select(col("channel"), exp.alias_(exp.Sum(this=col("impressions")), "n", quoted=True),
                        exp.alias_(exp.Sum(this=col("positives")), "k", quoted=True)).from_("counts").group_by(col("channel")))
    pooled = exp.select(exp.alias_(exp.Sum(this=col("impressions")), "n", quoted=True),
                        exp.alias_(exp.Sum(this=col("positives")), "k", quoted=True)).from_("counts")
    prior = exp.func("COALESCE", _rate(col("k", "r"), col("n", "r")), _rate(col("k", "a"), col("n", "a")), lit(0.5))
    return (exp.select(col("channel", "v"), exp.alias_(prior, "prior_mean", quoted=True))
            .from_(exp.paren(values("v", ["channel"], [[c] for c in plan.routing.channels]), copy=False).as_("v"))
            .join(exp.paren(rates, copy=False).as_("r"), join_type="left",
                  on=exp.EQ(this=col("channel", "r"), expression=col("channel", "v")))
            .join(exp.paren(pooled, copy=False).as_("a"), join_type="cross"))


def _customers(plan: FlowPlan) -> exp.Select:
    key = plan.enrich.key
    return (exp.select(exp.alias_(cast_text(col(key.key_column, key.alias)), "customer_id", quoted=True))
            .distinct().from_(relation(key.relation).as_(key.alias)))


def channel_preference_model(plan: FlowPlan) -> exp.Select:
    """Every customer x listed channel: n, k, p_c and the posterior mean preference."""
    m = lit(float(plan.routing.prior_strength))
    n = exp.func("COALESCE", col("impressions", "n"), lit(0))
    k = exp.func("COALESCE", col("positives", "n"), lit(0))
    preference = exp.Div(this=exp.paren(exp.Add(this=_d(k.copy()), expression=exp.Mul(this=m, expression=col("prior_mean", "pr")))),
                         expression=exp.paren(exp.Add(this=_d(n.copy()), expression=m.copy())))
    query = (exp.select(col("customer_id", "c"), col("channel", "pr"), exp.alias_(n, "impressions", quoted=True),
                        exp.alias_(k, "positives", quoted=True), col("prior_mean", "pr"),
                        exp.alias_(preference, "preference", quoted=True))
             .from_(exp.paren(_customers(plan), copy=False).as_("c"))
             .join(exp.paren(_priors(plan), copy=False).as_("pr"), join_type="cross")
             .join(exp.to_table("counts").as_("n"), join_type="left",
                   on=exp.and_(exp.EQ(this=col("customer_id", "n"), expression=col("customer_id", "c")),
                               exp.EQ(this=col("channel", "n"), expression=col("channel", "pr")))))
    for name, cte in (("events", _events(plan)), ("numbered", _numbered()), ("counts", _counts())):
        query = query.with_(name, as_=cte, copy=False)
    return query
