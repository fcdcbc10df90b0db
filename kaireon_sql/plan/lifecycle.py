"""Lifecycle stage (S9), planned: the model names, the stage rule, and the customer's stage in a flow.

The orders models (sql/lifecycle.py) are project-level and built only when a file declares `orders`:
`kaireon_orders` (typed staging), `kaireon_customer_rfm` (RFM per customer from the orders at or
before as_of), `kaireon_lifecycle` (one row per customer the flows decide for: stage and RFM),
`kaireon_lifecycle_log` (an incremental snapshot per as_of) and `kaireon_lifecycle_transitions`
(customers per from/to stage between the previous logged run and this one).

Other models read the customer's stage through `lifecycle_stage(features)`: the one planning
function that gives a flow's customer and candidate rows the stage column (it registers the join
of kaireon_lifecycle in the flow's feature registry, plan/features.py). Project-level models join
`LIFECYCLE_MODEL` (or `LOG_MODEL`, the stage at each logged as_of) on customer_id and read
`STAGE_COLUMN`. Days are whole UTC calendar days between dates, as formulas' days_since().
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlglot import exp

from ..config.lifecycle import FEATURE, NO_ORDERS, STAGE_OPERATORS, STAGES, Lifecycle, stage_value_error
from ..config.project import Project
from ..errors import ConfigError, Location
from .context import lit

ORDERS_MODEL = "kaireon_orders"
RFM_MODEL = "kaireon_customer_rfm"
LIFECYCLE_MODEL = "kaireon_lifecycle"
LOG_MODEL = "kaireon_lifecycle_log"
TRANSITIONS_MODEL = "kaireon_lifecycle_transitions"
STAGE_COLUMN = "lifecycle_stage"  # the stage's column in kaireon_lifecycle and kaireon_lifecycle_log
FLOW_COLUMN = "lc__lifecycle_stage"  # the stage's column in a flow's customers and candidates models
DEFAULT_STAGE = "lapsed"  # S9: a customer with no order (no row in kaireon_lifecycle) is lapsed


class Registry(Protocol):
    """What lifecycle_stage needs of the flow's feature registry (plan/features.py Features)."""

    ctx: Any

    def joined_column(self, relation: str, source_column: str, column: str, default: exp.Expression) -> exp.Expression: ...


def lifecycle_stage(features: Registry, where: Location | None = None) -> exp.Expression:
    """The customer's lifecycle stage (one of STAGES, never NULL) as a column of the flow's customer and
    candidate rows. Call it while the flow is planned (e.g. a discount learner's groupBy); a ConfigError
    at `where` (default the flow) when the project declares no orders."""
    if features.ctx.project.orders is None:
        raise ConfigError(where or features.ctx.flow.location, NO_ORDERS)
    return features.joined_column(LIFECYCLE_MODEL, STAGE_COLUMN, FLOW_COLUMN, lit(DEFAULT_STAGE))


def reads_stage(ctx: Any, name: str) -> bool:
    """`customer.<name>` is the derived stage: lifecycleStage, unless a schema declares a field of that name."""
    bare = name[len("customer."):] if name.startswith("customer.") else name
    return bare == FEATURE and not any(s.field(FEATURE) for s in ctx.project.schemas)


def stage_attribute(features: Registry, operator: str, value: Any, where: Location) -> tuple[exp.Expression, str]:
    """(column, type) of customer.lifecycleStage compared by an attribute rule or a filter condition; a
    ConfigError at `where` (the value) for an operator or a stage name S9 does not have."""
    problem = stage_value_error(operator, value)
    if problem is not None:
        raise ConfigError(where, problem)
    return lifecycle_stage(features, where), "text"


def stage_case(read: Callable[[str], exp.Expression], days: Lifecycle) -> exp.Expression:
    """S9's first matching stage from the RFM columns `read(name)` gives; NULL columns (no order) fall
    through every test to lapsed, a single order (no gap) is never a win-back."""
    recency, first, gap = read("recency_days"), read("days_since_first_order"), read("gap_days")
    within = lambda value, n: exp.LTE(this=value.copy(), expression=lit(n))  # noqa: E731
    return (exp.case()
            .when(within(first, days.new_days), lit("new"))
            .when(exp.and_(within(recency, days.active_days),
                           exp.GT(this=gap.copy(), expression=lit(days.lapsed_days))), lit("won_back"))
            .when(within(recency, days.active_days), lit("active"))
            .when(within(recency, days.lapsed_days), lit("at_risk"))
            .else_(lit(DEFAULT_STAGE)))


@dataclass(frozen=True)
class CustomerSource:
    """A relation of the customers kaireon_lifecycle has a row for, and its customer key column."""

    relation: str
    key_column: str


@dataclass(frozen=True)
class LifecyclePlan:
    """The project's lifecycle models: the orders relation, the thresholds and the customers' sources."""

    orders: str
    days: Lifecycle
    customers: tuple[CustomerSource, ...]  # each flow's key source (its enrich node's first), once each


def plan_lifecycle(project: Project, key_sources: list[tuple[str, str]]) -> LifecyclePlan | None:
    """The lifecycle models' plan over the flows' key sources (relation, key column); None without orders."""
    if project.orders is None:  # a `lifecycle` mapping without orders is refused when the config loads
        return None
    sources = tuple(CustomerSource(r, k) for r, k in dict.fromkeys(key_sources))
    return LifecyclePlan(project.orders.relation, project.stages, sources)


__all__ = ["DEFAULT_STAGE", "FEATURE", "FLOW_COLUMN", "LIFECYCLE_MODEL", "LOG_MODEL", "NO_ORDERS", "ORDERS_MODEL",
           "RFM_MODEL", "STAGES", "STAGE_COLUMN", "STAGE_OPERATORS", "TRANSITIONS_MODEL", "CustomerSource",
           "LifecyclePlan", "lifecycle_stage", "plan_lifecycle", "reads_stage", "stage_attribute", "stage_case"]
