"""Project-level models of orders and lifecycle stage (S3, S9), built when a config file declares `orders`
(compiler step `lifecycle`): the typed orders, RFM per customer, the stage per customer, its log and the
transitions since the previous logged run. docs/lifecycle.md explains them with a worked example."""
from __future__ import annotations

from .config.lifecycle import STAGES
from .dbt_model import Model, not_null, unique
from .plan.lifecycle import (
    LIFECYCLE_MODEL, LOG_MODEL, ORDERS_MODEL, RFM_MODEL, STAGE_COLUMN, TRANSITIONS_MODEL, LifecyclePlan,
)
from .sql.lifecycle import RFM_COLUMNS, lifecycle_model, log_model, orders_model, rfm_model, transitions_model


def _stage_column(description: str) -> dict:
    return {"description": description,
            "data_tests": ["not_null", {"accepted_values": {"arguments": {"values": list(STAGES)}}}]}


def _lifecycle_columns(plan: LifecyclePlan) -> dict[str, dict]:
    d = plan.days
    cols = {c: {"description": text} for c, text in RFM_COLUMNS.items()}
    cols[STAGE_COLUMN] = _stage_column(
        f"S9, the first that matches: new (first order at most {d.new_days} days ago), won_back (last order at "
        f"most {d.active_days} days ago after a gap of more than {d.lapsed_days} days), active (last order at most "
        f"{d.active_days} days ago), at_risk (at most {d.lapsed_days}), lapsed (otherwise, or no order).")
    for c in ("customer_id", "as_of", "frequency", "monetary"):
        cols[c]["data_tests"] = ["not_null"]
    return cols


def _log_columns() -> dict[str, dict]:
    return {"as_of": {"description": "The as_of of the run the stage is of.", "data_tests": ["not_null"]},
            "customer_id": {"description": "Customer key.", "data_tests": ["not_null"]},
            STAGE_COLUMN: _stage_column("The customer's lifecycle stage at that as_of.")}


TRANSITION_COLUMNS = {
    "as_of": "This run's as_of.",
    "previous_as_of": "The latest logged as_of before it (NULL on the first logged run).",
    "from_stage": "Stage at previous_as_of; NULL: the customer is not in that run's log (everyone on the first run).",
    "to_stage": "Stage at as_of; NULL: logged at previous_as_of but not a customer of this run.",
    "customers": "Number of customers who went from from_stage to to_stage (equal stages: stayed).",
}


def lifecycle_models(plan: LifecyclePlan) -> list[Model]:
    """The five models, in dependency order."""
    rfm_cols = {c: {"description": text} for c, text in RFM_COLUMNS.items()}
    for c in ("customer_id", "as_of", "recency_days", "frequency", "first_order_at", "last_order_at"):
        rfm_cols[c]["data_tests"] = ["not_null"]
    return [
        Model(ORDERS_MODEL, orders_model(plan.orders), f"Orders (S3) from {plan.orders}, typed.",
              not_null("customer_id", "order_id", "ordered_at"), materialized="view"),
        Model(RFM_MODEL, rfm_model(), "RFM per customer from the orders at or before as_of (S9): recency in days, "
              "frequency, monetary, first and last order and the gap before the last one.", rfm_cols,
              [unique("customer_id")]),
        Model(LIFECYCLE_MODEL, lifecycle_model(plan), "Lifecycle stage (S9) and RFM figures of every customer the "
              "flows decide for (each flow's key source); customer.lifecycleStage in rules and formulas.",
              _lifecycle_columns(plan), [unique("customer_id")]),
        Model(LOG_MODEL, log_model(), "Every run's lifecycle stages, appended once per as_of: re-running an as_of "
              "adds nothing. Rebuild with dbt's --full-refresh.", _log_columns(), [unique("as_of", "customer_id")],
              materialized="incremental",
              config={"incremental_strategy": "append", "on_schema_change": "append_new_columns"}),
        Model(TRANSITIONS_MODEL, transitions_model(), "Customers per lifecycle stage transition between the "
              "previous logged run and this one (`kaireon run` prints it).",
              {c: {"description": text} for c, text in TRANSITION_COLUMNS.items()}),
    ]


__all__ = ["TRANSITION_COLUMNS", "lifecycle_models"]
