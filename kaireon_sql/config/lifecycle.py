"""Orders (S3) and the lifecycle stage thresholds (S9): the top-level mappings `orders` and `lifecycle`."""
from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt, field_validator, model_validator

from .base import FieldError, Model
from .catalog import check_relation

# S9's stages, in the order they are tried: the first that matches is the customer's stage.
STAGES = ("new", "won_back", "active", "at_risk", "lapsed")


FEATURE = "lifecycleStage"  # customer.lifecycleStage
# Operators a rule or filter may compare the stage with (the others would order stage names as text).
STAGE_OPERATORS = ("eq", "neq", "in", "not_in")
NO_ORDERS = ("customer.lifecycleStage is computed from orders (S9), and no orders relation is configured; "
             "expected a top-level 'orders' mapping in a config file: orders: {relation: <dbt model or seed>} "
             "(or orders: {} for a model or seed named 'orders')")


def stage_value_error(operator: str, value: Any) -> str | None:
    """Why a rule or filter comparing customer.lifecycleStage with `value` by `operator` is refused, or None."""
    if operator not in STAGE_OPERATORS:
        return (f"operator {operator!r} does not apply to customer.lifecycleStage; expected one of "
                f"{', '.join(STAGE_OPERATORS)}")
    listed = value if isinstance(value, list) else [value]
    for v in listed:
        if not isinstance(v, str) or v not in STAGES:
            return f"unknown lifecycle stage {v!r}; expected one of: {', '.join(STAGES)}"
    return None


class Orders(Model):
    """Where the orders are: a relation with customer_id, order_id, ordered_at (UTC), amount and category."""

    relation: str = "orders"
    description: str | None = None

    @field_validator("relation")
    @classmethod
    def _relation(cls, v: str) -> str:
        return check_relation(v)


class Lifecycle(Model):
    """S9's thresholds in days ("within N days" is N days or fewer)."""

    new_days: StrictInt = Field(default=30, gt=0, le=36500)
    active_days: StrictInt = Field(default=60, gt=0, le=36500)
    lapsed_days: StrictInt = Field(default=180, gt=0, le=36500)
    description: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Lifecycle":
        for name, value in (("activeDays", self.active_days), ("newDays", self.new_days)):
            if value > self.lapsed_days:
                raise FieldError(name, f"expected a number of days at most lapsedDays ({self.lapsed_days}; a "
                                       f"customer whose last order is older is lapsed), got {value}")
        return self


__all__ = ["FEATURE", "NO_ORDERS", "STAGES", "STAGE_OPERATORS", "Lifecycle", "Orders", "stage_value_error"]
