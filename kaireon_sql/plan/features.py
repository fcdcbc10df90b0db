"""The flow's feature registry: segment flags, aggregates over interaction history (counts, latest
times, behavioral metrics) and customer time zones.

A stage asks for a feature while the plan is built and gets the column to read; the customer model
joins the per-customer aggregates and the candidate model joins the per customer x offer and
per-offer ones (sql/features.py builds those joins). Each aggregate is computed once per flow however
many rules and policies read it. History rows after `as_of` are never read (S5). The registry is
frozen when the plan is complete: a request after that is a bug (a stage building SQL that asks for a
feature the plan did not register) and fails loudly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlglot import exp

from ..config.catalog import Segment
from ..config.models import BehavioralMetric
from .metrics import metric_value
from .context import FlowContext, col, lit
from .formulas import compile_formula, resolver

GRAINS = {"customer": ("customer_id",), "customer_offer": ("customer_id", "offer_id"), "offer": ("offer_id",)}
PRIOR = "prior_"  # grain prefix of aggregates over the decisions of the build's earlier flows


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "x"


@dataclass(frozen=True)
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
    frozen: bool = False

    def freeze(self) -> None:
        """No more features: the registry's tables become read-only."""
        self.segments = MappingProxyType(dict(self.segments))  # type: ignore[assignment]
        self.aggregates = MappingProxyType(dict(self.aggregates))  # type: ignore[assignment]
        self.zones = MappingProxyType(dict(self.zones))  # type: ignore[assignment]
        self.frozen = True

    def _registering(self, what: str) -> None:
        if self.frozen:
            raise RuntimeError(f"{what} requested after flow {self.ctx.flow.key!r}'s plan was frozen: "
                               "every feature must be registered by plan.flow.build_plan")

    # ---- requests from stages ------------------------------------------------------------------
    def segment(self, seg: Segment) -> exp.Expression:
        """Membership flag of a segment (a joined column, or the segment's predicate formula)."""
        if seg.formula is not None:
            sql, _ = compile_formula(seg.formula, seg.location.at("formula"), resolver(self.ctx))
            return exp.func("COALESCE", exp.NEQ(this=sql, expression=lit(0)), exp.false())
        for existing_col, existing in self.segments.items():
            if existing is seg:
                return col(existing_col)
        self._registering(f"segment {seg.name!r}")
        column = f"seg__{_slug(seg.ref)}_{len(self.segments)}"
        self.segments[column] = seg
        return col(column)

    def _aggregate(self, key: str, value: exp.Expression, grain: str, rows: exp.Expression | None = None) -> exp.Expression:
        key = f"{grain}|{key}"
        if key not in self.aggregates:
            self._registering(f"history aggregate {key!r}")
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
        if zone_column not in self.zones:
            self._registering(f"time zone of {zone_column!r}")
            self.zones[zone_column] = f"tz{len(self.zones)}"
        prefix = self.zones[zone_column]
        return col(f"{prefix}_hour"), col(f"{prefix}_dow")

    def zone_columns(self) -> list[str]:
        return [f"{prefix}_{part}" for prefix in self.zones.values() for part in ("hour", "dow")]

    def aggregate_columns(self, grain: str) -> list[str]:
        return [a.column for a in self.aggregates.values() if a.grain == grain]
