"""Reference checks across objects: duplicates, dangling ids, and attributes of declared schemas."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from ..errors import ConfigError
from .base import ConfigObject
from .flows import (
    CallFlowConfig, ContactPolicyConfig, EnrichConfig, GroupConfig, InventoryConfig, MatchCreativesConfig,
    QualifyConfig, RuleGroup, RuleLeaf, ScoreConfig,
)
from .policies import CrossChannelCap, MutualExclusion, SegmentExclusion
from .project import KINDS, NOUNS, Project
from .rules import AttributeCondition, MetricCondition, PropensityThreshold, SegmentRequired

RULE_SCOPES = {
    "category": "categories", "subcategory": "subCategories", "offer": "offers",
    "channel": "channels", "segment": "segments", "placement": "placements",
}
POLICY_SCOPES = {
    "offer": "offers", "creative": "creatives", "channel": "channels",
    "category": "categories", "segment": "segments",
}

# (field path, kind, value) triples an object refers to
Refs = Iterator[tuple[str, str, str]]


def _duplicates(project: Project) -> list[ConfigError]:
    errors = []
    for kind in KINDS:
        seen: dict[str, ConfigObject] = {}
        for obj in project.objects[kind]:
            for name in dict.fromkeys(obj.names()):
                first = seen.get(name)
                if first is not None and first is not obj:
                    errors.append(ConfigError(
                        obj.location.at("id" if name == obj.id else "name"),
                        f"duplicate {NOUNS[kind]} id or name {name!r}; first defined at {first.location}",
                    ))
                seen.setdefault(name, obj)
    return errors


def _rule_group_refs(group: RuleGroup, path: str) -> Refs:
    for i, cond in enumerate(group.conditions):
        if isinstance(cond, RuleLeaf):
            yield f"{path}.conditions[{i}].ruleId", "qualificationRules", cond.rule_id
        else:
            yield from _rule_group_refs(cond, f"{path}.conditions[{i}]")


def _flow_refs(flow) -> Refs:
    definition_key = "config" if flow.config is not None else "draftConfig"
    definition = flow.definition
    fc = definition.flow_config
    if fc.arbitration_profile_id:
        yield f"{definition_key}.flowConfig.arbitrationProfileId", "arbitrationProfiles", fc.arbitration_profile_id
    for n, node in enumerate(definition.nodes):
        p = f"{definition_key}.nodes[{n}].config"
        c = node.config
        if isinstance(c, InventoryConfig):
            yield from ((f"{p}.categoryIds[{i}]", "categories", r) for i, r in enumerate(c.category_ids))
            yield from ((f"{p}.offerIds[{i}]", "offers", r) for i, r in enumerate(c.offer_ids))
        elif isinstance(c, EnrichConfig):
            yield from ((f"{p}.sources[{i}].schemaId", "schemas", s.schema_id) for i, s in enumerate(c.sources))
        elif isinstance(c, QualifyConfig):
            yield from ((f"{p}.ruleIds[{i}]", "qualificationRules", r) for i, r in enumerate(c.rule_ids or []))
            if c.logic is not None:
                yield from _rule_group_refs(c.logic, f"{p}.logic")
        elif isinstance(c, ContactPolicyConfig):
            yield from ((f"{p}.policyIds[{i}]", "contactPolicies", r) for i, r in enumerate(c.policy_ids or []))
        elif isinstance(c, ScoreConfig) and c.model_id:
            yield f"{p}.modelId", "algorithmModels", c.model_id
        elif isinstance(c, MatchCreativesConfig):
            if c.placement_id:
                yield f"{p}.placementId", "placements", c.placement_id
            if c.channel_id:
                yield f"{p}.channelId", "channels", c.channel_id
        elif isinstance(c, GroupConfig):
            yield from ((f"{p}.placementIds[{i}]", "placements", r) for i, r in enumerate(c.placement_ids))
        elif isinstance(c, CallFlowConfig):
            yield f"{p}.flowKey", "decisionFlows", c.flow_key


def _refs(project: Project, kind: str, obj) -> Refs:
    """Every reference an object makes, as (field, kind referred to, value)."""
    if kind == "subCategories":
        yield "categoryId", "categories", obj.category_id
    elif kind == "placements" and obj.channel_id:
        yield "channelId", "channels", obj.channel_id
    elif kind == "offers":
        if obj.category_id:
            yield "categoryId", "categories", obj.category_id
        if obj.sub_category_id:
            yield "subCategoryId", "subCategories", obj.sub_category_id
    elif kind == "creatives":
        yield "offerId", "offers", obj.offer_id
        if obj.channel_id:
            yield "channelId", "channels", obj.channel_id
        if obj.placement_id:
            yield "placementId", "placements", obj.placement_id
    elif kind == "qualificationRules":
        if obj.scope != "global":
            yield "scopeId", RULE_SCOPES[obj.scope], obj.scope_id
        c = obj.config
        if isinstance(c, SegmentRequired):
            yield ("config.segmentId" if c.segment_id else "config.segment"), "segments", c.segment_ref
        elif isinstance(c, PropensityThreshold) and c.model_id:
            yield "config.modelId", "algorithmModels", c.model_id
        elif isinstance(c, MetricCondition):
            yield "config.metricId", "behavioralMetrics", c.metric_id
    elif kind == "contactPolicies":
        if obj.scope != "global":
            yield "scopeId", POLICY_SCOPES[obj.scope], obj.scope_id
        c = obj.config
        if isinstance(c, SegmentExclusion):
            yield from ((f"config.excludeSegments[{i}]", "segments", s) for i, s in enumerate(c.exclude_segments))
        elif isinstance(c, MutualExclusion):
            yield from ((f"config.offerIds[{i}]", "offers", s) for i, s in enumerate(c.offer_ids))
        elif isinstance(c, CrossChannelCap) and project.objects["channels"]:
            yield from ((f"config.channels[{i}]", "channels", s) for i, s in enumerate(c.channels))
    elif kind == "decisionFlows":
        yield from _flow_refs(obj)


def _attribute_errors(project: Project) -> list[ConfigError]:
    """Rules must read attributes that some schema declares."""
    declared = {f"customer.{f.name}" for s in project.schemas for f in s.fields}
    declared |= {f.name for s in project.schemas for f in s.fields}
    errors = []
    for rule in project.rules:
        if isinstance(rule.config, AttributeCondition) and rule.config.attribute not in declared:
            known = ", ".join(sorted(d for d in declared if d.startswith("customer.")))
            errors.append(ConfigError(
                rule.location.at("config.attribute"),
                f"attribute {rule.config.attribute!r} is not declared in any schema; expected one of: {known}",
            ))
    return errors


def _checked(fn: Callable[[], object], errors: list[ConfigError]) -> None:
    try:
        fn()
    except ConfigError as exc:
        errors.append(exc)


def check_references(project: Project) -> list[ConfigError]:
    errors = _duplicates(project)
    for kind in KINDS:
        for obj in project.objects[kind]:
            for path, target, value in _refs(project, kind, obj):
                _checked(lambda: project.lookup(target, value, obj.location.at(path)), errors)
    errors.extend(_attribute_errors(project))
    return errors
