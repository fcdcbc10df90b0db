"""Decision traces (S7 `response` node, `includeTrace: true`): for the customers with
hash_uniform('trace', run_id, customer_id) below `decisionTraceSampleRate` (default 1), every candidate
with the result of every check, its score, rank and fate (docs/traces.md). Built off the decision path,
like the rejections model's all_pairs: a flow without includeTrace has no traces model and pays nothing."""
from __future__ import annotations

from dataclasses import dataclass

from ..config.flows import ResponseConfig
from .context import FlowContext

TRACE_SALT = "trace"
TRACES_MODEL = "kaireon_traces"
TRACE_COLUMNS = (
    "run_id", "as_of", "decision_flow_key", "customer_id", "offer_id", "offer_name", "channel", "experiment_group",
    "source_flow_key", "checks", "failed_checks", "score", "rank", "fate", "fate_stage", "fate_rule", "fate_reason",
)
FATES = ("decided", "withheld", "rejected", "ranked_out")


@dataclass(frozen=True)
class TracePlan:
    """Which customers the flow traces (sample rate) and its traces model."""

    rate: float
    model: str


def plan_traces(ctx: FlowContext) -> TracePlan | None:
    node = ctx.single(ResponseConfig)
    if node is None or not node.config.include_trace:
        return None
    return TracePlan(float(node.config.decision_trace_sample_rate), ctx.model("traces"))
