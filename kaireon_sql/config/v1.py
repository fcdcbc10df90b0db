"""Fixed-stage (v1) Decision Flows, compiled to the equivalent v2 nodes when the config loads (S7).

A v1 definition is `draftConfig` (or `config`) with `version: 1` (optional) and `stages`:

    stages:
      inventory:   {scope, categoryIds, offerIds, includeStatuses}  -> an `inventory` node
      enrichment:  {sources: [...]}                                   -> an `enrich` node (required)
      filter:
        qualification: {mode, ruleIds, logic}                         -> a `qualify` node
        contactPolicy: {policyIds}                                    -> a `contact_policy` node
        conditions: [...]   mode: all | any   label                   -> a `filter` node (only with conditions)
      scoring:     {method, formula, expression, modelId, ...}       -> a `score` node
      ranking:     {method, maxCandidates, ...}                      -> a `rank` node
      compute:     {overrides, extras, transforms}                   -> a `compute` node (always present)

Every stage block is the v2 node's config class itself, so its fields, defaults and checks are the
v2 node's, and errors name the v1 path the user wrote. Everything later (planning, SQL, outputs) reads
only the compiled v2 definition, so a v1 flow and its hand-written v2 equivalent decide identically.
Errors found after loading (references, formulas, plans) are reported at the v1 path too: a v1 flow's
`location` rewrites `draftConfig.nodes[i]...` paths to the stage the node came from (V1Location).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import PrivateAttr, model_validator

from ..errors import Location
from .base import FieldError, Model
from .flows import (ComputeConfig, ContactPolicyConfig, EnrichConfig, FilterCondition, FilterConfig, FlowConfig,
                    FlowDefinition, InventoryConfig, Node, QualifyConfig, RankConfig, ScoreConfig)


class FilterStage(Model):
    """`stages.filter`: qualification rules, contact policies, then field conditions (the v2 phase-1 order)."""

    qualification: QualifyConfig = QualifyConfig()
    contact_policy: ContactPolicyConfig = ContactPolicyConfig()
    conditions: list[FilterCondition] = []
    mode: Literal["all", "any"] = "all"
    label: str | None = None  # `rule_name` of the conditions' rejections (default 'filter')

    @model_validator(mode="after")
    def _conditions(self) -> "FilterStage":
        for name in ("mode", "label"):
            if name in self.model_fields_set and not self.conditions:
                raise FieldError(name, f"{name!r} is only read with 'conditions' (the filter stage's field "
                                       "conditions); add conditions or drop it")
        return self


class Stages(Model):
    inventory: InventoryConfig = InventoryConfig()
    enrichment: EnrichConfig
    filter: FilterStage = FilterStage()
    scoring: ScoreConfig = ScoreConfig()
    ranking: RankConfig = RankConfig()
    compute: ComputeConfig = ComputeConfig()


class FixedStageFlow(Model):
    """A v1 flow definition; `compiled` is the equivalent v2 definition every later stage reads."""

    version: Literal[1] = 1
    flow_config: FlowConfig = FlowConfig()
    stages: Stages

    _compiled: FlowDefinition | None = PrivateAttr(default=None)
    _paths: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _compile(self) -> "FixedStageFlow":
        nodes, paths = compile_stages(self.stages)
        self._compiled = FlowDefinition.model_construct(version=2, flow_config=self.flow_config, nodes=nodes)
        self._paths = tuple(paths)
        return self

    @property
    def compiled(self) -> FlowDefinition:
        return self._compiled  # type: ignore[return-value]

    @property
    def node_paths(self) -> tuple[str, ...]:
        """Per compiled node (by index), the v1 path it comes from."""
        return self._paths


def _node(path: str, config, label: str | None = None) -> tuple[Node, str]:
    """The v2 node of the stage at `path`; its id is the stage's name (the path's last part)."""
    node_type = config.model_fields["kaireon_type"].default
    node_id = path.rsplit(".", 1)[-1]
    return Node.model_construct(id=node_id, type=node_type, phase=None, position=None, label=label,
                                config=config), path


def compile_stages(stages: Stages) -> tuple[list[Node], list[str]]:
    """The v2 nodes of a v1 flow, in execution order, and per node the v1 path it comes from."""
    f = stages.filter
    out = [_node("stages.inventory", stages.inventory), _node("stages.enrichment", stages.enrichment),
           _node("stages.filter.qualification", f.qualification),
           _node("stages.filter.contactPolicy", f.contact_policy)]
    if f.conditions:
        out.append(_node("stages.filter", FilterConfig.model_construct(mode=f.mode, conditions=f.conditions), f.label))
    out += [_node("stages.scoring", stages.scoring), _node("stages.ranking", stages.ranking),
            _node("stages.compute", stages.compute)]
    return [n for n, _ in out], [p for _, p in out]


# `<key>.nodes[i]` (optionally `.config`, `.type`, `.id` or `.label`) and `<key>.nodes`, as plan and
# resolve code name v2 paths.
_NODE_PATH = re.compile(r"^(draftConfig|config)\.nodes\[(\d+)\](?:\.(?:config|type|id|label)(?=\.|$))?")
_NODES = re.compile(r"^(draftConfig|config)\.nodes(?=\.|$)")


def v1_path(path: str, node_paths: tuple[str, ...]) -> str:
    """A v2 path of a compiled v1 flow as the v1 path the user wrote."""
    m = _NODE_PATH.match(path)
    if m and int(m.group(2)) < len(node_paths):
        return f"{m.group(1)}.{node_paths[int(m.group(2))]}{path[m.end():]}"
    m = _NODES.match(path)
    if m:
        return f"{m.group(1)}.stages{path[m.end():]}"
    return path


@dataclass(frozen=True)
class V1Location(Location):
    """A v1 flow's location: v2 node paths are shown as the v1 stage paths they were compiled from."""

    node_paths: tuple[str, ...] = ()
    raw: str = ""  # the path as the compiler named it (v2); `field` is it rewritten

    @classmethod
    def of(cls, base: Location, node_paths: tuple[str, ...]) -> "V1Location":
        return cls(base.file, base.kind, base.index, base.label, v1_path(base.field, node_paths), node_paths,
                   base.field)

    def at(self, field: str) -> "V1Location":
        joined = f"{self.raw}.{field}" if self.raw and field else (field or self.raw)
        return V1Location(self.file, self.kind, self.index, self.label, v1_path(joined, self.node_paths),
                          self.node_paths, joined)
