"""The flow's feature registry: segment flags, aggregates over interaction history (counts, latest
times, behavioral metrics), customer time zones and columns of per-customer models (`joined_column`:
the lifecycle stage, plan/lifecycle.py).

A stage asks for a feature while the plan is built and gets the column to read; the customer model
joins the per-customer aggregates and the candidate model joins the per customer x offer and
per-offer ones (sql/features.py builds those joins). Each aggregate is computed once per flow however
many rules and policies read it. History rows after `as_of` are never read (S5). The registry is
frozen when the plan is complete: `Features.freeze()` closes the registry and returns a `FeatureSet`,
the immutable snapshot the FlowPlan carries. A request after that is a bug (a stage building SQL that asks
for a feature the plan did not register) and fails loudly, on the closed registry and on the snapshot.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlglot import exp

from ..config.catalog import Segment
from ..config.models import BehavioralMetric
from .metrics import metric_value
from .context import EnrichedField, FlowContext, col, lit
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


@dataclass(frozen=True)
class Zone:
    """A customer time zone the flow reads the local clock in: the customers-model column holding the zone,
    where its names are loaded from, and the columns of its lookup (`<prefix>_zone`, `_hour`, `_dow`)."""

    column: str  # customers-model column holding the zone name
    relation: str  # the enrich source's relation the zone names are read from
    source_column: str  # the zone's column in that relation
    prefix: str  # tz0, tz1, ... in registration order

    @property
    def zone(self) -> str:
        return f"{self.prefix}_zone"

    @property
    def hour(self) -> str:
        return f"{self.prefix}_hour"

    @property
    def dow(self) -> str:
        return f"{self.prefix}_dow"


@dataclass(frozen=True)
class Joined:
    """A column of a project-level model with one row per customer (`customer_id`), left-joined to the
    flow's customers (the lifecycle stage, plan/lifecycle.py); `default` for a customer without a row."""

    column: str  # customers-model column
    relation: str
    source_column: str
    default: exp.Expression


def _late_request(self, *args, **kwargs):
    raise RuntimeError(f"feature requested after flow {self.flow_key!r}'s plan was frozen: "
                       "every feature must be registered by plan.flow.build_plan")


@dataclass(frozen=True)
class FeatureSet:
    """The flow's features once planned: immutable, what FlowPlan.features holds and the SQL stages read."""

    flow_key: str
    segments: Mapping[str, Segment]  # column -> segment (read-only)
    aggregates: Mapping[str, Aggregate]  # request key -> aggregate (read-only), in registration order
    zones: tuple[Zone, ...]
    frozen: bool = True  # always: a FeatureSet registers nothing
    joined: tuple[Joined, ...] = ()

    # asking for a feature after planning: a clear error, never a column no model carries
    segment = count = prior_count = last = last_interaction = metric = local_clock = _late_request
    joined_column = _late_request

    def of_grain(self, grain: str) -> tuple[Aggregate, ...]:
        return tuple(a for a in self.aggregates.values() if a.grain == grain)

    def aggregate_columns(self, grain: str) -> list[str]:
        return [a.column for a in self.of_grain(grain)]

    def zone_columns(self) -> list[str]:
        return [name for z in self.zones for name in (z.hour, z.dow)]


@dataclass
class Features:
    """The registry while the plan is built; `freeze()` closes it and returns its FeatureSet."""

    ctx: FlowContext
    segments: dict[str, Segment] = field(default_factory=dict)
    aggregates: dict[str, Aggregate] = field(default_factory=dict)
    zones: dict[str, Zone] = field(default_factory=dict)  # customer column holding a time zone -> its zone
    frozen: bool = False
    joins: dict[str, Joined] = field(default_factory=dict)  # customers-model column -> joined column

    def freeze(self) -> FeatureSet:
        """No more features: the registry's tables become read-only; returns their immutable snapshot."""
        self.segments = MappingProxyType(dict(self.segments))  # type: ignore[assignment]
        self.aggregates = MappingProxyType(dict(self.aggregates))  # type: ignore[assignment]
        self.zones = MappingProxyType(dict(self.zones))  # type: ignore[assignment]
        self.joins = MappingProxyType(dict(self.joins))  # type: ignore[assignment]
        self.frozen = True
        return FeatureSet(self.ctx.flow.key, self.segments, self.aggregates, tuple(self.zones.values()),
                          joined=tuple(self.joins.values()))

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
            source = _enriched(self.ctx, zone_column)
            self.zones[zone_column] = Zone(zone_column, source.schema.relation_name, source.field.source_column,
                                           f"tz{len(self.zones)}")
        zone = self.zones[zone_column]
        return col(zone.hour), col(zone.dow)

    def joined_column(self, relation: str, source_column: str, column: str, default: exp.Expression) -> exp.Expression:
        """`source_column` of the per-customer model `relation`, as the customers-model column `column`."""
        if column not in self.joins:
            self._registering(f"joined column {column!r}")
            self.joins[column] = Joined(column, relation, source_column, default)
        return col(column)

    def zone_columns(self) -> list[str]:
        return [name for z in self.zones.values() for name in (z.hour, z.dow)]

    def aggregate_columns(self, grain: str) -> list[str]:
        return [a.column for a in self.aggregates.values() if a.grain == grain]


def _enriched(ctx: FlowContext, column: str) -> EnrichedField:
    """The loaded customer field whose customers-model column is `column`."""
    return {f.column: f for f in ctx.fields.values()}[column]
