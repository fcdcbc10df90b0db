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

The stage models (FixedStageFlow, Stages, FilterStage) and compile_stages are in config/flows.py, next
to the node classes they reuse (this module holds the paths, so flows.py imports it, not the reverse).
Every stage block is the v2 node's config class itself, so its fields, defaults and checks are the v2
node's, and errors name the v1 path the user wrote. Everything later (planning, SQL, outputs) reads
only the compiled v2 definition, so a v1 flow and its hand-written v2 equivalent decide identically.
Errors found after loading (references, formulas, plans) are reported at the v1 path too: a v1 flow's
`location` rewrites `draftConfig.nodes[i]...` paths to the stage the node came from (V1Location).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import Location


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
