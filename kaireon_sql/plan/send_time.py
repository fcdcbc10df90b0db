"""Send time (S9, `flowConfig.sendTime: optimize`): what the send-time models of a flow read.

Each customer's positive outcomes (`sendTimePreference.positiveOutcomes`) on a channel, counted by local hour
in the customer's zone (`flowConfig.timezone`, default `customer.timezone`), smoothed toward the channel's
population hour profile with Dirichlet strength m (`priorStrength`): score_h = (count_h + m pop_h) / (total + m);
the preferred hour is the argmax, ties the earliest hour (sql/send_time.py, docs/send_time.md).

Decisions carry `send_at`: the first local hour start at or after as_of, within 7 days, whose local hour is the
preferred one and that every time_window policy applying to the candidate allows (else the first allowed hour
start). The time_window policies then schedule instead of block (plan/policies.py `_scheduled_window`): this
plan carries each window and a candidates-model column per window, 1 when it applies to the candidate.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.policies import DAYS_OF_WEEK, TimeWindow
from ..errors import ConfigError
from .context import FlowContext, lit
from .features import Features
from .policies import schedules, time_windows

DEFAULT_ZONE = "customer.timezone"
WINDOW_COLUMN = "send_window_"  # + the window's position: 1 when it applies to the candidate, else 0
SEARCH_DAYS = 7


@dataclass(frozen=True)
class SendZone:
    """A zone: a config zone name, or the customers-model column holding each customer's."""

    name: str | None = None
    column: str | None = None


@dataclass(frozen=True)
class SendWindow:
    """One time_window policy the send time is scheduled into."""

    name: str
    start_hour: int
    end_hour: int
    days: tuple[int, ...]  # allowed ISO days (1 = Monday); () = every day
    zone: SendZone
    column: str  # the candidates-model column: 1 when the window applies to the candidate


@dataclass(frozen=True)
class SendTimePlan:
    zone: SendZone  # the zone local hours are counted and scheduled in
    prior_strength: float  # m
    outcomes: tuple[str, ...]  # the positive outcomes counted
    windows: tuple[SendWindow, ...]
    columns: tuple[tuple[str, exp.Expression], ...]  # candidates-model columns (over the scored candidates)
    profiles: str  # the per customer and channel profile model
    model: str  # the send times of the decided candidates

    def zone_columns(self) -> tuple[str, ...]:
        """The customers-model columns read as zones, each once: the send zone's, then the windows'."""
        columns = [self.zone.column] + [w.zone.column for w in self.windows]
        return tuple(dict.fromkeys(c for c in columns if c is not None))


def _zone(ctx: FlowContext, value: str, where) -> SendZone:
    if value.startswith("customer."):
        return SendZone(column=ctx.customer_field(value, where).column)
    return SendZone(name=value)


def _window(ctx: FlowContext, i: int, policy, active: exp.Expression) -> tuple[SendWindow, exp.Expression]:
    cfg: TimeWindow = policy.config
    days = tuple(DAYS_OF_WEEK.index(d) + 1 for d in cfg.days_of_week or ())
    window = SendWindow(policy.name, cfg.start_hour, cfg.end_hour, days,
                        _zone(ctx, cfg.timezone, policy.location.at("config.timezone")), f"{WINDOW_COLUMN}{i}")
    flag = exp.case().when(exp.func("COALESCE", active, exp.false()), lit(1)).else_(lit(0))
    return window, flag


def plan_send_time(ctx: FlowContext, features: Features) -> SendTimePlan | None:
    """The flow's send-time plan (None without sendTime: optimize); asks `features` for the windows' scopes."""
    if not schedules(ctx):
        return None
    config = ctx.definition.flow_config
    preference = config.send_time_preference
    where = ctx.flow.location.at(f"{ctx.definition_key}.flowConfig.timezone")
    if config.timezone is None and DEFAULT_ZONE[len("customer."):] not in ctx.fields:
        raise ConfigError(where, f"sendTime: optimize reads each customer's zone from {DEFAULT_ZONE!r} (the default), "
                                 "which this flow does not load; expected flowConfig.timezone: a zone name such as "
                                 "'America/New_York' or 'customer.<field>' of a loaded field (loaded: "
                                 + ", ".join(f"customer.{n}" for n in ctx.fields) + ")")
    windows = [_window(ctx, i, policy, active) for i, (policy, active) in enumerate(time_windows(ctx, features))]
    return SendTimePlan(
        zone=_zone(ctx, config.timezone or DEFAULT_ZONE, where),
        prior_strength=preference.prior_strength if preference else 10.0,
        outcomes=tuple(preference.positive_outcomes if preference else ("click", "convert")),
        windows=tuple(w for w, _ in windows),
        columns=tuple((w.column, flag) for w, flag in windows),
        profiles=ctx.model("send_time_profiles"), model=ctx.model("send_times"))
