"""The call_flow stage (S7 sub-flows, plan/calls.py): the called flow's candidates that passed every one of
its checks (its candidates model's rows with check_code NULL), for this flow's customers, as rows of this
flow's pairs (customer `c`, offer `o`, run, scores and history aggregates) with check_code NULL. The
candidates stage adds them to its checked candidates (sql/pairs.py with_called), so this flow scores,
walks and ranks them; the called flow's rejections stay in the called flow's rejections model.

A pair this flow considers itself (an offer of its inventory on one of its channels) is this flow's: the
called flow adds only the other pairs (docs/call_flow.md)."""
from __future__ import annotations

from sqlglot import exp

from ..dialect import relation
from ..plan.context import col
from ..plan.flow import FlowPlan
from ..plan.offers import OFFERS_MODEL
from .common import all_of
from .pairs import offer_channels, pairs, with_creatives

KEYS = ("customer_id", "offer_id", "channel")


def _passed(plan: FlowPlan) -> exp.Select:
    """The called flow's candidates past its checks (rows of its candidates model with check_code NULL)."""
    return (exp.select(*[col(k) for k in KEYS]).from_(relation(plan.calls.called_candidates))
            .where(exp.Is(this=col("check_code"), expression=exp.null())))


def _on(left: str, right: str, keys: tuple[str, ...]) -> exp.Expression:
    return exp.and_(*[exp.EQ(this=col(k, left), expression=col(k, right)) for k in keys])


def _called_offers(plan: FlowPlan) -> exp.Expression:
    """The offers model's rows, one per channel the called flow passed them on (`o`: the offers' columns, then
    `channel`, as sql/pairs.py offer_channels), without the offer channels this flow considers itself."""
    channels = exp.select(col("offer_id"), col("channel")).from_(exp.paren(_passed(plan), copy=False).as_("s")).distinct()
    mine = exp.paren(offer_channels(plan), copy=False).as_("mine")
    query = (exp.select(all_of("f"), col("channel", "oc")).from_(relation(OFFERS_MODEL).as_("f"))
             .join(exp.paren(channels, copy=False).as_("oc"), on=exp.EQ(this=col("offer_id", "oc"),
                                                                         expression=col("offer_id", "f")))
             .join(mine, join_type="left", on=_on("mine", "oc", ("offer_id", "channel")))
             .where(exp.Is(this=col("offer_id", "mine"), expression=exp.null())))
    return exp.paren(query, copy=False).as_("o")


def called_model(plan: FlowPlan) -> exp.Select:
    """The called flow's passed candidates of this flow's customers, in this flow's pair columns, check_code NULL."""
    passed = exp.paren(_passed(plan), copy=False).as_("s")
    query = pairs(plan, keys=(_on("o", "s", ("offer_id", "channel")),), offers=_called_offers(plan),
                  joins=((passed, exp.EQ(this=col("customer_id", "s"), expression=col("customer_id", "c"))),))
    # the calling flow's match_creatives node (before the call) picks their creatives too, in the columns every
    # relation of pairs carries (sql/pairs.py with_creatives); one with no creative keeps NULL (no rejection here)
    ctes, last = with_creatives(plan, "called")
    out = exp.select("*", exp.alias_(exp.cast(exp.null(), "INT"), "check_code", quoted=True)).from_(last)
    for name, cte in [("called", query), *ctes]:
        out = out.with_(name, as_=cte, copy=False)
    return out
