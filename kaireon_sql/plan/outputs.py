"""The S4 output relations every flow produces (SPEC S4): their columns, in order, and what a flow's
experiment and rejections settings decide about them."""
from __future__ import annotations

from dataclasses import dataclass

from .context import FlowContext

DECISION_COLUMNS = (
    "decision_id", "run_id", "as_of", "decision_flow_key", "decision_flow_version", "config_hash", "customer_id", "channel",
    "rank", "offer_id", "offer_name", "category_name", "priority", "score", "personalization", "experiment_group",
    "model_id", "explored", "creative_id", "creative_name", "placement_id", "slot",
    "channel_preference", "send_at", "send_hour_local", "discount_pct",
)
# Columns of the S7 pipeline's nodes, NULL (explored: FALSE) where a flow has no such node.
PIPELINE_COLUMNS = ("explored", "creative_id", "creative_name", "placement_id", "slot")
# Columns of the S9 customer-intelligence models, NULL where a flow does not use them.
INTELLIGENCE_COLUMNS = ("channel_preference", "send_at", "send_hour_local", "discount_pct")
ASSIGNMENT_COLUMNS = ("run_id", "as_of", "decision_flow_key", "customer_id", "bucket", "experiment_group")
REJECTION_COLUMNS = (
    "run_id", "as_of", "decision_flow_key", "customer_id", "offer_id", "offer_name", "channel",
    "experiment_group", "stage", "rule_name", "reason",
)
FUNNEL_COLUMNS = (
    "run_id", "as_of", "decision_flow_key", "decision_flow_version", "customers", "holdout_customers",
    "total_candidates", "after_qualification", "after_contact_policy", "decided", "withheld",
)
# The parts of decision_id, a stable key per decided row (reverse-ETL upserts): md5 of each part's length,
# ':' and the part, in this order (the key the decisions' and the log's uniqueness tests use).
DECISION_KEY = ("run_id", "decision_flow_key", "customer_id", "offer_id", "channel")

# The BI contract (dbt model contracts on the S4 relations): each output column's type, by name, as a
# type of dialect.data_type ('text_type' and 'double_type' are the engine's own text and double types).
TEXT, DOUBLE, STAMP, BIGINT, INT, BOOL = "text_type", "double_type", "TIMESTAMP", "BIGINT", "INT", "BOOLEAN"
OUTPUT_TYPES = {
    **dict.fromkeys(("decision_id", "run_id", "decision_flow_key", "config_hash", "customer_id", "channel",
                     "offer_id", "offer_name", "category_name", "personalization", "experiment_group", "model_id",
                     "creative_id", "creative_name", "placement_id", "stage", "rule_name", "reason",
                     "source_flow_key", "checks", "fate", "fate_stage", "fate_rule", "fate_reason", "decisions"), TEXT),
    **dict.fromkeys(("as_of", "send_at"), STAMP),
    **dict.fromkeys(("priority", "score", "channel_preference", "discount_pct"), DOUBLE),
    **dict.fromkeys(("rank", "bucket", "customers", "holdout_customers", "total_candidates", "after_qualification",
                     "after_contact_policy", "decided", "withheld", "decision_count"), BIGINT),
    **dict.fromkeys(("decision_flow_version", "slot", "send_hour_local", "failed_checks"), INT),
    **dict.fromkeys(("explored", "delivered"), BOOL),
}


@dataclass(frozen=True)
class RejectionsPlan:
    """What the rejections model records (flowConfig.rejections)."""

    volume: str  # all | sampled | none
    # sampled: the customers whose rejections bucket (0..9999) is below this have all their rejections recorded
    sample_limit: int = 10000


def plan_rejections(ctx: FlowContext) -> RejectionsPlan:
    config = ctx.definition.flow_config.rejections
    return RejectionsPlan(config.volume, int(round(config.sample_rate * 10000)))


@dataclass(frozen=True)
class HoldoutPlan:
    """How the customers model assigns the experiment group (S5)."""

    salt: str  # bucket = int(md5(salt || ':' || customer_id)[:8], 16) % 10000
    threshold: float  # buckets below it are the holdout (holdoutPercent x 100; 0: no holdout)


def plan_holdout(ctx: FlowContext) -> HoldoutPlan:
    return HoldoutPlan(ctx.salt, ctx.holdout_percent * 100)


def withholds(ctx: FlowContext) -> bool:
    """True when the holdout's decisions are withheld (a holdout share, controlGroupAction no_offers)."""
    return ctx.holdout_percent > 0 and ctx.experiment.control_group_action == "no_offers"
