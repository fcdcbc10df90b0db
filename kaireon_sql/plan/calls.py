"""Sub-flows (S7 `call_flow`, `config.flowKey`): the called flow's candidates that pass all of its phase-1
nodes (its narrowing checks and contact policies, for the same customers and as_of) join the calling
flow's candidates at the call node; the calling flow's later nodes score and rank them (docs/call_flow.md).

What is refused at validate time (each error names the file, the flow, the node and the field):
- a call of the flow itself, or a cycle of calls (A calls B calls A);
- a called flow decided after the calling flow in the build (S7 `flowConfig.runOrder`, then key): the
  caller reads the called flow's candidates, whose caps may read the decisions of the flows before it;
- a phase-1 node (inventory, enrich, match_creatives, qualify, contact_policy, filter) after the call:
  the called candidates passed the called flow's checks, and nothing after the call checks them again;
- a second call_flow node in one flow (ctx.single).

Overlap: one candidate per customer x offer x channel. A pair the calling flow considers itself (an
offer of its inventory on one of its channels) is the caller's, with the caller's checks and fate;
the called flow adds only the pairs the caller does not consider.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config.flows import (
    CallFlowConfig, ContactPolicyConfig, DecisionFlow, EnrichConfig, FilterConfig, InventoryConfig,
    MatchCreativesConfig, QualifyConfig,
)
from ..config.project import Project
from ..errors import ConfigError
from .build_order import run_order_key
from .context import FlowContext, flow_model, model_slug

# Node types that cannot follow a call_flow node in the calling flow (phase-1 nodes: they check candidates).
NOT_AFTER_CALL = (InventoryConfig, EnrichConfig, MatchCreativesConfig, QualifyConfig, ContactPolicyConfig,
                  FilterConfig)


@dataclass(frozen=True)
class CallPlan:
    """The call node of a flow: which flow it calls and the relations the SQL reads and writes."""

    node_id: str
    called_key: str
    called_candidates: str  # the called flow's candidates model (rows with check_code NULL passed its checks)
    model: str  # this flow's model of the called candidates, with the calling flow's pair columns


def _called(project: Project, flow: DecisionFlow) -> DecisionFlow | None:
    """The flow `flow` calls (its call_flow node's flowKey), or None."""
    for node in flow.definition.nodes:
        if isinstance(node.config, CallFlowConfig):
            return project.find("decisionFlows", node.config.flow_key)
    return None


def _cycle(project: Project, flow: DecisionFlow) -> list[str] | None:
    """The keys of a cycle of calls through `flow` (first and last `flow.key`), or None."""
    chain, current = [flow.key], _called(project, flow)
    while current is not None:
        chain.append(current.key)
        if current is flow:
            return chain
        if current.key in chain[:-1]:
            return None  # a cycle that does not pass through `flow`: reported at that flow
        current = _called(project, current)
    return None


def _check_call(ctx: FlowContext, node, called: DecisionFlow) -> None:
    where = ctx.node_location(node.id, "config.flowKey")
    if called is ctx.flow:
        raise ConfigError(where, f"flow {ctx.flow.key!r} calls itself; expected the key of another Decision Flow")
    cycle = _cycle(ctx.project, ctx.flow)
    if cycle is not None:
        raise ConfigError(where, "a cycle of calls: " + " -> ".join(repr(k) for k in cycle)
                                 + "; expected flows that call each other in one direction only")
    if run_order_key(called) >= run_order_key(ctx.flow):
        raise ConfigError(where, f"the called flow {called.key!r} is decided after {ctx.flow.key!r} in the build "
                                 "(flowConfig.runOrder ascending, then flow key); expected a called flow decided "
                                 f"before its caller: give {called.key!r} a lower runOrder")


def _check_after(ctx: FlowContext, node) -> None:
    nodes = ctx.ordered_nodes
    for later in nodes[nodes.index(node) + 1:]:
        if isinstance(later.config, NOT_AFTER_CALL):
            raise ConfigError(ctx.node_location(later.id, "type"),
                              f"a {later.type!r} node cannot follow the call_flow node {node.id!r}: the called "
                              "flow's candidates passed its own phase-1 nodes and are not checked again; expected "
                              "the calling flow's inventory, enrich, qualify, contact_policy and filter nodes "
                              "before the call")


def plan_calls(ctx: FlowContext) -> CallPlan | None:
    """The flow's call_flow node, checked, or None (the flowKey reference itself is checked by config/resolve)."""
    node = ctx.single(CallFlowConfig)
    if node is None:
        return None
    called = ctx.project.lookup("decisionFlows", node.config.flow_key, ctx.node_location(node.id, "config.flowKey"))
    _check_call(ctx, node, called)
    _check_after(ctx, node)
    return CallPlan(node.id, called.key, flow_model(model_slug(called.key), "candidates"), ctx.model("called"))
