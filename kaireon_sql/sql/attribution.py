"""Attribution (S8): every impression with the positive outcome attributed to it and the decision behind it.

`kaireon_attribution` holds one row per impression (interaction history, `occurred_at <= as_of`). A
positive row (an outcome of `interactionHistory.positiveOutcomes`, `occurred_at <= as_of`) is attributed
to the latest impression of the same customer and offer (and channel, when the positive row has one)
at most `attributionWindowDays` before it (impression_at in [positive_at - window, positive_at]); an
impression keeps the first positive attributed to it (earliest; ties by outcome, channel, value). Ties
between impressions are broken by channel, creative and flow key (NULL first), so every engine
attributes the same rows.

The decision behind an impression is the latest logged decision of the same customer, offer and
channel with `as_of <= impression_at`: from `interactionHistory.decisionLog.relation` when configured,
else from kaireon_decision_log as earlier builds left it (delivered rows), read without ref() (the log
refs the decisions, which read the scores built from this model) through dialect.optional_relation.
"""
from __future__ import annotations

from sqlglot import exp

from ..config.catalog import InteractionHistory
from ..dialect import cast_double, cast_text, minus_seconds, optional_relation, relation
from ..plan.context import HISTORY_MODEL, RUN_PARAMS, col, lit
from .common import DECISION_LOG, row_number

COLUMNS = {
    "customer_id": "Customer key (text).",
    "offer_id": "Offer of the impression.",
    "channel": "Channel of the impression.",
    "creative_id": "Creative of the impression (NULL when the history has none).",
    "decision_flow_key": "Flow key the history records for the impression (NULL when none).",
    "impression_at": "occurred_at of the impression row (UTC).",
    "positive": "1 when a positive outcome is attributed to the impression, else 0.",
    "positive_outcome": "The attributed positive outcome (click, convert, ...), NULL when none.",
    "positive_at": "occurred_at of the attributed positive row, NULL when none.",
    "value": "value of the attributed positive row (NULL when none or when the row has no value).",
    "run_id": "run_id of the decision behind the impression (NULL when none is logged).",
    "model_id": "model_id of that decision (NULL when none is logged or the decision names no model).",
    "discount_pct": "discount_pct of that decision: the tier the discount learner chose (NULL when none).",
    "decided_flow_key": "decision_flow_key of that decision (NULL when none is logged).",
}
# the decisions the attribution reads: column -> type (dialect.data_type)
LOG_COLUMNS = {"customer_id": "text_type", "offer_id": "text_type", "channel": "text_type", "as_of": "TIMESTAMP",
               "run_id": "text_type", "model_id": "text_type", "discount_pct": "double_type",
               "decision_flow_key": "text_type", "delivered": "BOOLEAN"}
# read from a configured decisionLog relation only when a flow uses discount tiers (else typed NULLs)
DISCOUNT_LOG_COLUMNS = ("discount_pct", "decision_flow_key")
_TIES = ("channel", "creative_id", "decision_flow_key")


def _first(column: str, table: str = "h") -> exp.Ordered:
    return exp.Ordered(this=col(column, table), desc=False, nulls_first=True)


def _history(outcomes: exp.Expression, lookback_days: float | None) -> exp.Select:
    """History rows of `outcomes` (a condition on h.outcome) up to the run's as_of (and after as_of -
    lookback_days when given)."""
    when = [exp.LTE(this=col("occurred_at", "h"), expression=col("as_of", "p"))]
    if lookback_days is not None:
        when.append(exp.GT(this=col("occurred_at", "h"), expression=minus_seconds(col("as_of", "p"), lookback_days * 86400)))
    return (exp.select().from_(relation(HISTORY_MODEL).as_("h"))
            .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
            .where(exp.and_(outcomes, *when)))


def _impressions(lookback_days: float | None) -> exp.Select:
    """Impressions, numbered per customer and offer in time order (imp_n)."""
    keys = [col("customer_id", "h"), col("offer_id", "h")]
    order = [_first("occurred_at"), *[_first(c) for c in _TIES]]
    return _history(exp.EQ(this=col("outcome", "h"), expression=lit("impression")), lookback_days).select(
        *[col(c, "h") for c in ("customer_id", "offer_id", "channel", "creative_id", "decision_flow_key")],
        exp.alias_(col("occurred_at", "h"), "impression_at", quoted=True),
        exp.alias_(row_number(keys, order), "imp_n", quoted=True))


def _positives(history: InteractionHistory, lookback_days: float | None) -> exp.Select:
    """Positive rows, numbered per customer and offer in time order (pos_n)."""
    keys = [col("customer_id", "h"), col("offer_id", "h")]
    order = [_first("occurred_at"), _first("outcome"), _first("channel"), _first("value")]
    outcomes = exp.In(this=col("outcome", "h"), expressions=[lit(o) for o in history.positive_outcomes])
    return _history(outcomes, lookback_days).select(
        *[col(c, "h") for c in ("customer_id", "offer_id", "channel", "outcome", "occurred_at", "value")],
        exp.alias_(row_number(keys, order), "pos_n", quoted=True))


def _same(columns: tuple[str, ...], left: str, right: str) -> list[exp.Expression]:
    return [exp.EQ(this=col(c, left), expression=col(c, right)) for c in columns]


def _matched(history: InteractionHistory) -> exp.Select:
    """Each positive with the latest impression in its window (rank r = 1 is that impression)."""
    same_channel = exp.or_(exp.Is(this=col("channel", "q"), expression=exp.null()),
                           exp.EQ(this=col("channel", "i"), expression=col("channel", "q")))
    on = exp.and_(*_same(("customer_id", "offer_id"), "i", "q"), same_channel,
                  exp.LTE(this=col("impression_at", "i"), expression=col("occurred_at", "q")),
                  exp.GTE(this=col("impression_at", "i"),
                          expression=minus_seconds(col("occurred_at", "q"), history.attribution_window_days * 86400)))
    latest = row_number([col("customer_id", "q"), col("offer_id", "q"), col("pos_n", "q")],
                        [exp.Ordered(this=col("imp_n", "i"), desc=True)])
    return (exp.select(col("customer_id", "q"), col("offer_id", "q"), col("imp_n", "i"), col("pos_n", "q"),
                       col("outcome", "q"), col("occurred_at", "q"), col("value", "q"),
                       exp.alias_(latest, "r", quoted=True))
            .from_(exp.to_table("pos").as_("q")).join(exp.to_table("imp").as_("i"), on=on))


def _attributed() -> exp.Select:
    """Per impression, the first positive attributed to it (f = 1)."""
    first = row_number([col("customer_id"), col("offer_id"), col("imp_n")], [exp.Ordered(this=col("pos_n"))])
    return (exp.select(col("customer_id"), col("offer_id"), col("imp_n"), col("outcome"), col("occurred_at"),
                       col("value"), exp.alias_(first, "f", quoted=True))
            .from_("matched").where(exp.EQ(this=col("r"), expression=lit(1))))


def _logged(column: str, discounts: bool) -> exp.Expression:
    """A column of a configured decisionLog relation, typed (the discount columns NULL unless `discounts`)."""
    kind = LOG_COLUMNS[column]
    if column in DISCOUNT_LOG_COLUMNS and not discounts:
        return exp.cast(exp.null(), "DOUBLE" if kind == "double_type" else "VARCHAR")
    if kind == "text_type":
        return cast_text(col(column, "d"))
    return cast_double(col(column, "d")) if kind == "double_type" else exp.cast(col(column, "d"), "TIMESTAMP")


def _decisions(history: InteractionHistory, discounts: bool) -> exp.Select:
    """Logged decisions: customer_id, offer_id, channel, as_of, run_id, model_id, discount_pct, decision_flow_key."""
    names = [c for c in LOG_COLUMNS if c != "delivered"]
    if history.decision_log is not None:
        source = relation(history.decision_log.relation).as_("d")
        return exp.select(*[exp.alias_(_logged(c, discounts), c, quoted=True) for c in names]).from_(source)
    return (exp.select(*[col(c, "d") for c in names]).from_(optional_relation(DECISION_LOG, LOG_COLUMNS).as_("d"))
            .where(exp.EQ(this=col("delivered", "d"), expression=exp.true())))


def _behind() -> exp.Select:
    """Per impression, the latest decision at or before it (b = 1)."""
    on = exp.and_(*_same(("customer_id", "offer_id", "channel"), "i", "d"),
                  exp.LTE(this=col("as_of", "d"), expression=col("impression_at", "i")))
    latest = row_number([col("customer_id", "i"), col("offer_id", "i"), col("imp_n", "i")],
                        [exp.Ordered(this=col("as_of", "d"), desc=True, nulls_first=False),
                         exp.Ordered(this=col("run_id", "d"), desc=True, nulls_first=False),
                         exp.Ordered(this=col("model_id", "d"), desc=True, nulls_first=False)])
    return (exp.select(col("customer_id", "i"), col("offer_id", "i"), col("imp_n", "i"), col("run_id", "d"),
                       col("model_id", "d"), col("discount_pct", "d"),
                       exp.alias_(col("decision_flow_key", "d"), "decided_flow_key", quoted=True),
                       exp.alias_(latest, "b", quoted=True))
            .from_(exp.to_table("imp").as_("i")).join(exp.to_table("dec").as_("d"), on=on))


def _final() -> exp.Select:
    keys = ("customer_id", "offer_id", "imp_n")
    found = exp.not_(exp.Is(this=col("imp_n", "a"), expression=exp.null()))
    positive = exp.case().when(found, lit(1)).else_(lit(0))
    return (
        exp.select(*[col(c, "i") for c in ("customer_id", "offer_id", "channel", "creative_id", "decision_flow_key",
                                          "impression_at")],
                   exp.alias_(positive, "positive", quoted=True),
                   exp.alias_(col("outcome", "a"), "positive_outcome", quoted=True),
                   exp.alias_(col("occurred_at", "a"), "positive_at", quoted=True),
                   exp.alias_(cast_double(col("value", "a")), "value", quoted=True),
                   col("run_id", "b"), col("model_id", "b"), col("discount_pct", "b"), col("decided_flow_key", "b"))
        .from_(exp.to_table("imp").as_("i"))
        .join(exp.to_table("attributed").as_("a"), join_type="left",
              on=exp.and_(*_same(keys, "i", "a"), exp.EQ(this=col("f", "a"), expression=lit(1))))
        .join(exp.to_table("behind").as_("b"), join_type="left",
              on=exp.and_(*_same(keys, "i", "b"), exp.EQ(this=col("b", "b"), expression=lit(1))))
    )


def attribution_sql(history: InteractionHistory, lookback_days: float | None = None,
                    discounts: bool = False) -> exp.Select:
    """The kaireon_attribution model: one row per impression up to as_of (COLUMNS); with `lookback_days`,
    only impressions after as_of - lookback_days. Those rows are exactly the unbounded model's: a positive
    after the bound attributed to an impression before it has no later impression in its window, and every
    positive of an impression after the bound is after it. `discounts`: a configured decisionLog relation
    supplies discount_pct and decision_flow_key (a flow uses discount tiers)."""
    ctes = (("imp", _impressions(lookback_days)), ("pos", _positives(history, lookback_days)), ("matched", _matched(history)),
            ("attributed", _attributed()), ("dec", _decisions(history, discounts)), ("behind", _behind()))
    query = _final()
    for name, cte in ctes:
        query = query.with_(name, as_=cte, copy=False)
    return query
