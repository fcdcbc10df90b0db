"""Derived columns that stages ask for: segment flags and aggregates over interaction history.

A stage asks for a feature and gets the column to read; the customer model joins the per-customer
aggregates and the candidate model joins the per customer x offer and per-offer ones. Each
aggregate is computed once per flow however many rules and policies read it. History rows after
`as_of` are never read (S5).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlglot import exp

from ..config.catalog import Segment
from ..config.models import BehavioralMetric
from ..dialect import cast_text, relation
from .context import FlowContext, col, lit
from .metrics import metric_value

GRAINS = {"customer": ("customer_id",), "customer_offer": ("customer_id", "offer_id"), "offer": ("offer_id",)}
HISTORY_MODEL = "kaireon_stg_interactions"
PRIOR = "prior_"  # grain prefix of aggregates over the decisions of the build's earlier flows


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "x"


@dataclass
class Aggregate:
    """One aggregate over interaction history at a grain."""

    column: str
    value: exp.Expression  # aggregate expression over history rows `h` (and run params `p`)
    grain: str = "customer"
    # the rows `value` reads (NULL/0 without any); None: it may read every row up to as_of
    rows: exp.Expression | None = None


def history(column: str) -> exp.Column:
    """A column of the interaction-history row being aggregated."""
    return col(column, "h")


def impression() -> exp.Expression:
    return exp.EQ(this=history("outcome"), expression=lit("impression"))


@dataclass
class Features:
    ctx: FlowContext
    segments: dict[str, Segment] = field(default_factory=dict)
    aggregates: dict[str, Aggregate] = field(default_factory=dict)
    zones: dict[str, str] = field(default_factory=dict)  # customer column holding a time zone -> prefix

    # ---- requests from stages ------------------------------------------------------------------
    def segment(self, seg: Segment) -> exp.Expression:
        """Membership flag of a segment (a joined column, or the segment's predicate formula)."""
        if seg.formula is not None:
            from .formulas import compile_formula, resolver

            sql, _ = compile_formula(seg.formula, seg.location.at("formula"), resolver(self.ctx))
            return exp.func("COALESCE", exp.NEQ(this=sql, expression=lit(0)), exp.false())
        for existing_col, existing in self.segments.items():
            if existing is seg:
                return col(existing_col)
        column = f"seg__{_slug(seg.ref)}_{len(self.segments)}"
        self.segments[column] = seg
        return col(column)

    def _aggregate(self, key: str, value: exp.Expression, grain: str, rows: exp.Expression | None = None) -> exp.Expression:
        key = f"{grain}|{key}"
        if key not in self.aggregates:
            self.aggregates[key] = Aggregate(f"agg__{len(self.aggregates)}", value, grain, rows)
        return col(self.aggregates[key].column)

    def count(self, condition: exp.Expression, grain: str = "customer") -> exp.Expression:
        """Number of history rows matching `condition` (0 when there are none)."""
        value = exp.Sum(this=exp.case().when(condition, lit(1)).else_(lit(0)))
        return exp.func("COALESCE", self._aggregate("count|" + condition.sql(), value, grain, condition), lit(0))

    def prior_count(self, condition: exp.Expression, grain: str = "customer") -> exp.Expression:
        """Decisions of the build's earlier flows matching `condition` (they read as impression rows
        `h` at as_of, see build_order.py), 0 when there are none. Joined to the candidates."""
        value = exp.Sum(this=exp.case().when(condition, lit(1)).else_(lit(0)))
        return exp.func("COALESCE", self._aggregate("prior|" + condition.sql(), value, PRIOR + grain, condition), lit(0))

    def last(self, condition: exp.Expression, grain: str = "customer") -> exp.Expression:
        """Latest occurred_at of history rows matching `condition` (NULL when there are none)."""
        value = exp.Max(this=exp.case().when(condition, history("occurred_at")))
        return self._aggregate("last|" + condition.sql(), value, grain, condition)

    def last_interaction(self, outcome: str, channel: str | None, per_offer: bool) -> exp.Expression:
        cond = exp.EQ(this=history("outcome"), expression=lit(outcome))
        if channel is not None:
            cond = exp.and_(cond, exp.EQ(this=history("channel"), expression=lit(channel)))
        return self.last(cond, "customer_offer" if per_offer else "customer")

    def metric(self, metric: BehavioralMetric) -> exp.Expression:
        grain = "customer_offer" if "offer" in metric.dimensions else "customer"
        return self._aggregate(f"metric|{metric.ref}", metric_value(metric), grain)

    def local_clock(self, zone_column: str) -> tuple[exp.Expression, exp.Expression]:
        """(local hour, ISO day of week) of `as_of` in the customer's zone (a customers-model column).

        Computed once per distinct zone and joined to the customers, not converted row by row.
        """
        prefix = self.zones.setdefault(zone_column, f"tz{len(self.zones)}")
        return col(f"{prefix}_hour"), col(f"{prefix}_dow")

    def zone_lookups(self) -> list[tuple[str, str, exp.Select]]:
        """(zone column, prefix, SELECT <prefix>_zone, _hour, _dow over the distinct zones) per zone column.

        A zone that is not a known name (timezones.ZONES and the engine's own list) gets NULL hour and day,
        as a NULL zone does, instead of failing the query: converting only ever sees a known zone or NULL.
        """
        from ..dialect import checked_zone, hour_of, iso_day_of_week, local_time

        out = []
        enriched = {f.column: f for f in self.ctx.fields.values()}
        for column, prefix in self.zones.items():
            source = enriched[column]
            zone = col(source.field.source_column, "s")
            zones = (exp.select(exp.alias_(zone, "zone", quoted=True),
                                exp.alias_(checked_zone(zone), "known_zone", quoted=True)).distinct()
                     .from_(relation(source.schema.relation_name).as_("s")))
            local = local_time(col("as_of", "p"), col("known_zone", "z"))
            out.append((column, prefix, exp.select(
                exp.alias_(col("zone", "z"), f"{prefix}_zone", quoted=True),
                exp.alias_(hour_of(local), f"{prefix}_hour", quoted=True),
                exp.alias_(iso_day_of_week(local.copy()), f"{prefix}_dow", quoted=True),
            ).from_(exp.paren(zones).as_("z")).join(relation("kaireon_run_params").as_("p"), join_type="cross")))
        return out

    def zone_columns(self) -> list[str]:
        return [f"{prefix}_{part}" for prefix in self.zones.values() for part in ("hour", "dow")]

    # ---- building the joins ----------------------------------------------------------------------
    def _history_rows(self, aggs: list[Aggregate]) -> exp.Expression:
        read = exp.LTE(this=history("occurred_at"), expression=col("as_of", "p"))
        if all(a.rows is not None for a in aggs):
            read = exp.and_(read, exp.or_(*[exp.paren(a.rows.copy()) for a in aggs]))
        return read

    def _grouped(self, keys: list[str], aggs: list[Aggregate]) -> exp.Select:
        columns = [history(k) for k in keys]
        return (
            exp.select(*[exp.alias_(cast_text(k), k.name, quoted=True) for k in columns],
                       *[exp.alias_(a.value, a.column, quoted=True) for a in aggs])
            .from_(relation(HISTORY_MODEL).as_("h"))
            .join(relation("kaireon_run_params").as_("p"), join_type="cross")
            .where(self._history_rows(aggs))
            .group_by(*columns)
        )

    def history_aggregate(self, grain: str) -> exp.Select | None:
        """SELECT <grain keys>, <aggregates> FROM history rows up to as_of, or None.

        When every aggregate says which rows it reads (counts and latest times of matching rows),
        only those rows are grouped: a 7-day cap reads a week of impressions, not all history.
        """
        aggs = [a for a in self.aggregates.values() if a.grain == grain]
        if not aggs:
            return None
        return self._grouped(list(GRAINS[grain]), aggs)

    def aggregate_columns(self, grain: str) -> list[str]:
        return [a.column for a in self.aggregates.values() if a.grain == grain]
