"""Several flows in one build (S7): decided one after another, by `flowConfig.runOrder` (ascending,
default 0), then flow key. A flow's caps and offer budgets count the history, the decisions of the
flows before it in this build (delivered and withheld), and its own (sql/features.py prior_aggregate reads them).
"""
from __future__ import annotations

from ..config.flows import DecisionFlow
from .context import FlowContext, flow_model, model_slug

# The models of a flow a later flow of the build reads (its decisions, delivered and withheld).
DECISION_PARTS = ("decisions", "withheld_decisions")


def run_order_key(flow: DecisionFlow) -> tuple[int, str]:
    """S7: runOrder ascending, then flow key."""
    return flow.definition.flow_config.run_order, flow.key


def flows_in_order(flows: list[DecisionFlow]) -> list[DecisionFlow]:
    return sorted(flows, key=run_order_key)


def earlier_flows(ctx: FlowContext) -> list[DecisionFlow]:
    """The flows of the build decided before this one."""
    mine = run_order_key(ctx.flow)
    return [f for f in flows_in_order(ctx.project.flows) if f is not ctx.flow and run_order_key(f) < mine]


def has_earlier_flows(ctx: FlowContext) -> bool:
    return bool(earlier_flows(ctx))


def earlier_decision_models(ctx: FlowContext) -> tuple[str, ...]:
    """The decisions and withheld decisions models of the flows decided before this one, in build order."""
    return tuple(flow_model(model_slug(f.key), part) for f in earlier_flows(ctx) for part in DECISION_PARTS)
