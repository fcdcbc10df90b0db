"""Derived per-customer columns that stages ask for: segment flags, last contacts, metrics, cap counts.

A stage asks for a feature and gets the column to read; the customer model (or, for features per
customer and offer, the candidate model) then joins the aggregate that computes it. Each feature
is computed once per flow however many rules read it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlglot import exp

from ..config.catalog import Segment
from ..config.models import BehavioralMetric
from ..dialect import cast_text, minus_seconds, relation, truncate
from .context import FlowContext, col, lit

# Which interaction outcomes each behavioral-metric source field counts.
POSITIVE = ("click", "convert")
NEGATIVE = ("dismiss", "complaint", "unsubscribe", "hard_bounce", "spam_report")
SOURCES = {
    "impressions": ("impression",),
    "converts": ("convert",),
    "positive": POSITIVE,
    "negative": NEGATIVE,
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "x"


@dataclass
class Aggregate:
    """One aggregate over interaction history: a column per customer (and maybe offer)."""

    column: str
    value: exp.Expression  # aggregate expression over history rows `h`
    per_offer: bool = False


@dataclass
class Features:
    ctx: FlowContext
    segments: dict[str, Segment] = field(default_factory=dict)
    aggregates: dict[str, Aggregate] = field(default_factory=dict)

    # ---- requests from stages ------------------------------------------------------------------
    def segment(self, seg: Segment) -> exp.Expression:
        """Membership flag of a segment (a joined column, or the segment's predicate formula)."""
        if seg.formula is not None:
            from .formulas import compile_formula, resolver

            sql, _ = compile_formula(seg.formula, seg.location.at("formula"), resolver(self.ctx))
            return exp.func("COALESCE", exp.NEQ(this=sql, expression=lit(0)), exp.false())
        column = f"seg__{_slug(seg.ref)}_{len(self.segments)}"
        for existing_col, existing in self.segments.items():
            if existing is seg:
                column = existing_col
                break
        self.segments[column] = seg
        return col(column)

    def _aggregate(self, key: str, value: exp.Expression, per_offer: bool) -> exp.Expression:
        if key not in self.aggregates:
            self.aggregates[key] = Aggregate(f"agg__{len(self.aggregates)}", value, per_offer)
        return col(self.aggregates[key].column)

    def last_interaction(self, outcome: str, channel: str | None, per_offer: bool) -> exp.Expression:
        """Latest `occurred_at` of an outcome (optionally on a channel), up to as_of."""
        cond = exp.EQ(this=col("outcome", "h"), expression=lit(outcome))
        if channel is not None:
            cond = exp.and_(cond, exp.EQ(this=col("channel", "h"), expression=lit(channel)))
        value = exp.Max(this=exp.case().when(cond, col("occurred_at", "h")))
        return self._aggregate(f"last|{outcome}|{channel}|{per_offer}", value, per_offer)

    def count_since(self, start: exp.Expression, key: str, extra: exp.Expression | None = None,
                    outcome: str = "impression") -> exp.Expression:
        """Number of `outcome` rows with occurred_at >= start (and <= as_of), optionally filtered."""
        cond = exp.and_(
            exp.EQ(this=col("outcome", "h"), expression=lit(outcome)),
            exp.GTE(this=col("occurred_at", "h"), expression=start),
            *([extra] if extra is not None else []),
        )
        value = exp.Sum(this=exp.case().when(cond, exp.Literal.number(1)).else_(exp.Literal.number(0)))
        return self._aggregate(f"count|{key}|{outcome}", value, per_offer=False)

    def calendar_count(self, period: str, extra: exp.Expression | None = None, key: str = "") -> exp.Expression:
        """Impressions in the current calendar period (UTC; DAY, WEEK = ISO week, MONTH)."""
        scope_key = key if extra is not None else ""
        return self.count_since(truncate(col("as_of", "p"), period, self.ctx.engine), f"calendar|{period}|{scope_key}", extra)

    def metric(self, metric: BehavioralMetric) -> exp.Expression:
        per_offer = "offer" in metric.dimensions
        start = minus_seconds(col("as_of", "p"), metric.window_days * 86400)
        in_window = exp.GT(this=col("occurred_at", "h"), expression=start)

        def matches(source: str) -> exp.Expression:
            if source == "totalValue":
                return exp.and_(in_window, exp.not_(exp.Is(this=col("value", "h"), expression=exp.null())))
            outcomes = [lit(o) for o in SOURCES[source]]
            return exp.and_(in_window, exp.In(this=col("outcome", "h"), expressions=outcomes))

        def count(source: str) -> exp.Expression:
            return exp.Sum(this=exp.case().when(matches(source), exp.Literal.number(1)).else_(exp.Literal.number(0)))

        agg = metric.aggregation
        if agg == "ratio":
            denominator = count(metric.denominator_field)  # type: ignore[arg-type]
            value = exp.Div(this=exp.cast(count(metric.source_field), "DOUBLE"),
                            expression=exp.Nullif(this=denominator, expression=exp.Literal.number(0)))
        elif agg == "count" or (agg == "sum" and metric.source_field != "totalValue"):
            value = count(metric.source_field)
        else:
            picked = exp.case().when(matches(metric.source_field), exp.cast(col("value", "h"), "DOUBLE"))
            value = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[agg](this=picked)
        return self._aggregate(f"metric|{metric.ref}", value, per_offer)

    # ---- building the joins ----------------------------------------------------------------------
    def history_aggregate(self, per_offer: bool) -> exp.Select | None:
        """SELECT customer_id[, offer_id], <aggregates> FROM history up to as_of, or None."""
        aggs = [a for a in self.aggregates.values() if a.per_offer == per_offer]
        if not aggs:
            return None
        keys = [col("customer_id", "h")] + ([col("offer_id", "h")] if per_offer else [])
        history = relation(self.ctx.project.interaction_history.relation).as_("h")
        params = relation("kaireon_run_params").as_("p")
        query = (
            exp.select(*[exp.alias_(cast_text(k, self.ctx.engine), k.name, quoted=True) for k in keys],
                       *[exp.alias_(a.value, a.column, quoted=True) for a in aggs])
            .from_(history)
            .join(params, join_type="cross")
            .where(exp.LTE(this=col("occurred_at", "h"), expression=col("as_of", "p")))
            .group_by(*keys)
        )
        return query

    def aggregate_columns(self, per_offer: bool) -> list[str]:
        return [a.column for a in self.aggregates.values() if a.per_offer == per_offer]
