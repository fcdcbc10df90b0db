"""The columns of the S4 output relations every flow produces (SPEC S4), in their order."""
from __future__ import annotations

DECISION_COLUMNS = (
    "run_id", "as_of", "decision_flow_key", "decision_flow_version", "config_hash", "customer_id", "channel",
    "rank", "offer_id", "offer_name", "category_name", "priority", "score", "personalization", "experiment_group",
)
ASSIGNMENT_COLUMNS = ("run_id", "as_of", "decision_flow_key", "customer_id", "bucket", "experiment_group")
REJECTION_COLUMNS = (
    "run_id", "as_of", "decision_flow_key", "customer_id", "offer_id", "offer_name", "channel",
    "experiment_group", "stage", "rule_name", "reason",
)
FUNNEL_COLUMNS = (
    "run_id", "as_of", "decision_flow_key", "decision_flow_version", "customers", "holdout_customers",
    "total_candidates", "after_qualification", "after_contact_policy", "decided", "withheld",
)
