"""Reference checks across objects: duplicates, dangling ids, and attributes of declared schemas."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from ..errors import ConfigError
from .base import ConfigObject
from .catalog import SubCategory
from .fields import refused_fields
from .lifecycle import FEATURE, NO_ORDERS, stage_value_error
from .flows import (
    CallFlowConfig, ContactPolicyConfig, EnrichConfig, GroupConfig, InventoryConfig, MatchCreativesConfig,
    QualifyConfig, RuleGroup, RuleLeaf, ScoreConfig,
)
from .policies import CrossChannelCap, MutualExclusion, OutcomeBased, SegmentExclusion
from .project import KINDS, NOUNS, Project
from .rules import AttributeCondition, MetricCondition, PropensityThreshold, RecencyCheck, SegmentRequired

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


OVERRIDE_SCOPES = {"offer": "offers", "category": "categories", "channel": "channels"}


def _score_refs(c: ScoreConfig, p: str) -> Refs:
    """The models (champion, overrides, challenger) and arbitration profile a score node names."""
    if c.model_id:
        yield f"{p}.modelId", "algorithmModels", c.model_id
    for i, o in enumerate(c.overrides):
        yield f"{p}.overrides[{i}].modelId", "algorithmModels", o.model_id
        if o.scope != "channel":  # channels may be undeclared (then the scopeId is the channel); plan/score.py checks
            yield f"{p}.overrides[{i}].scopeId", OVERRIDE_SCOPES[o.scope], o.scope_id
    if c.champion_challenger is not None:
        yield f"{p}.championChallenger.challengerModelId", "algorithmModels", c.champion_challenger.challenger_model_id
    if c.arbitration_profile_id:
        yield f"{p}.arbitrationProfileId", "arbitrationProfiles", c.arbitration_profile_id


def score_models(c: ScoreConfig) -> list[tuple[str, str]]:
    """(field path under the node's config, model ref) of every model a score node names."""
    out = [("modelId", c.model_id)] if c.model_id else []
    out += [(f"overrides[{i}].modelId", o.model_id) for i, o in enumerate(c.overrides)]
    if c.champion_challenger is not None:
        out.append(("championChallenger.challengerModelId", c.champion_challenger.challenger_model_id))
    return out


def _flow_refs(flow) -> Refs:
    definition_key = "config" if flow.config is not None else "draftConfig"
    definition = flow.definition
    fc = definition.flow_config
    if fc.placement_id:
        yield f"{definition_key}.flowConfig.placementId", "placements", fc.placement_id
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
        elif isinstance(c, ScoreConfig):
            yield from _score_refs(c, p)
        elif isinstance(c, MatchCreativesConfig):
            if c.placement_id:
                yield f"{p}.placementId", "placements", c.placement_id
            if c.channel_id:
                yield f"{p}.channelId", "channels", c.channel_id
        elif isinstance(c, GroupConfig):
            yield from ((f"{p}.placementIds[{i}]", "placements", r) for i, r in enumerate(c.placement_ids))
        elif isinstance(c, CallFlowConfig):
            yield f"{p}.flowKey", "decisionFlows", c.flow_key


def _declared(project: Project, kind: str) -> bool:
    """Channels are optional: with none declared, a channel scope names the channel itself (as flows do)."""
    return kind != "channels" or bool(project.objects["channels"])


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
        if obj.channels and _declared(project, "channels"):
            yield from ((f"channels[{i}]", "channels", c) for i, c in enumerate(obj.channels))
    elif kind == "creatives":
        yield "offerId", "offers", obj.offer_id
        if obj.channel_id:
            yield "channelId", "channels", obj.channel_id
        if obj.placement_id:
            yield "placementId", "placements", obj.placement_id
    elif kind == "qualificationRules":
        if obj.scope != "global" and _declared(project, RULE_SCOPES[obj.scope]):
            yield "scopeId", RULE_SCOPES[obj.scope], obj.scope_id
        c = obj.config
        if isinstance(c, SegmentRequired):
            yield ("config.segmentId" if c.segment_id else "config.segment"), "segments", c.segment_ref
        elif isinstance(c, PropensityThreshold) and c.model_id:
            yield "config.modelId", "algorithmModels", c.model_id
        elif isinstance(c, MetricCondition):
            yield "config.metricId", "behavioralMetrics", c.metric_id
    elif kind == "contactPolicies":
        if obj.scope != "global" and _declared(project, POLICY_SCOPES[obj.scope]):
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
    errors = _lifecycle_errors(project, declared)
    for rule in project.rules:
        if isinstance(rule.config, AttributeCondition) and rule.config.attribute in (FEATURE, f"customer.{FEATURE}") \
                and rule.config.attribute not in declared:
            continue  # the derived stage (S9): _lifecycle_errors
        if isinstance(rule.config, AttributeCondition) and rule.config.attribute not in declared:
            known = ", ".join(sorted(d for d in declared if d.startswith("customer.")))
            errors.append(ConfigError(
                rule.location.at("config.attribute"),
                f"attribute {rule.config.attribute!r} is not declared in any schema; expected one of: {known}",
            ))
    return errors


def _lifecycle_errors(project: Project, declared: set[str]) -> list[ConfigError]:
    """S9: thresholds need orders; a rule on the derived customer.lifecycleStage needs orders and names stages."""
    errors = []
    if project.lifecycle is not None and project.orders is None:
        errors.append(ConfigError(project.single_locations["lifecycle"], "lifecycle stages are computed from orders "
                                  "(S9) and no orders relation is configured; " + NO_ORDERS[NO_ORDERS.index("expected"):]))
    for rule in project.rules:
        cfg = rule.config
        if not isinstance(cfg, AttributeCondition) or cfg.attribute not in (FEATURE, f"customer.{FEATURE}") \
                or cfg.attribute in declared:
            continue
        problem = NO_ORDERS if project.orders is None else stage_value_error(cfg.operator, cfg.value)
        if problem is not None:
            field = "config.attribute" if project.orders is None else "config.value"
            errors.append(ConfigError(rule.location.at(field), problem))
    return errors


_VALUE_CHECKS = {
    "number": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "text": (lambda v: isinstance(v, str), "a string"),
    "boolean": (lambda v: isinstance(v, bool), "true or false"),
}


def _noun(owner: ConfigObject) -> str:
    return "sub-category" if isinstance(owner, SubCategory) else "category"


def _custom_field_errors(project: Project) -> list[ConfigError]:
    """Offers set only static custom fields their category or sub-category declares, with values of its type.

    The offer catalogue has one column per custom field name, so a name also needs one type
    across all categories.
    """
    errors: list[ConfigError] = []
    types: dict[str, tuple[str, ConfigObject, int]] = {}
    for kind in ("categories", "subCategories"):
        for owner in project.objects[kind]:
            for i, cf in enumerate(owner.custom_fields):
                if cf.type == "computed":
                    continue
                first = types.setdefault(cf.name, (cf.value_kind, owner, i))
                if first[0] != cf.value_kind:
                    errors.append(ConfigError(
                        owner.location.at(f"customFields[{i}].type"),
                        f"custom field {cf.name!r} is a {cf.value_kind} here but a {first[0]} in "
                        f"{first[1].location.at(f'customFields[{first[2]}]')}; offers share one column per custom "
                        "field name, so expected the same type",
                    ))
                check, expected = _VALUE_CHECKS[cf.value_kind]
                if cf.default_value is not None and not check(cf.default_value):
                    errors.append(ConfigError(
                        owner.location.at(f"customFields[{i}].defaultValue"),
                        f"expected {expected} for a {cf.value_kind} custom field, got {cf.default_value!r}",
                    ))
    for offer in project.offers:
        owners = [o for o in (project.category_of(offer), project.sub_category_of(offer)) if o is not None]
        declared = {cf.name: (cf, owner) for owner in owners for cf in owner.custom_fields}
        static = [name for name, (cf, _) in declared.items() if cf.type != "computed"]
        where_owner = " and ".join(f"{_noun(o)} {o.name!r}" for o in owners)
        for key, value in offer.custom_fields.items():
            where = offer.location.at(f"customFields.{key}")
            found = declared.get(key)
            if found is None:
                if not owners:
                    errors.append(ConfigError(where, f"custom field {key!r} is not declared: the offer has no "
                                                     "categoryId or subCategoryId; expected custom fields to be "
                                                     "declared in the category's 'customFields'"))
                else:
                    listing = ", ".join(repr(n) for n in static) or "none are declared"
                    errors.append(ConfigError(where, f"custom field {key!r} is not declared by {where_owner}; "
                                                     f"expected one of its static custom fields: {listing}"))
                continue
            cf, owner = found
            if cf.type == "computed":
                errors.append(ConfigError(where, f"custom field {key!r} of {_noun(owner)} {owner.name!r} is "
                                                 "computed from its formula; an offer cannot set it (use a compute "
                                                 "node override for one offer)"))
                continue
            check, expected = _VALUE_CHECKS[cf.value_kind]
            if value is not None and not check(value):
                errors.append(ConfigError(where, f"expected {expected} for {cf.value_kind} custom field {key!r}, "
                                                 f"got {value!r}"))
        for name in static:
            cf, owner = declared[name]
            if cf.required and offer.custom_fields.get(name) is None and cf.default_value is None:
                errors.append(ConfigError(offer.location.at("customFields"),
                                          f"required custom field {name!r} of {_noun(owner)} {owner.name!r} is not set; "
                                          f"expected a {cf.value_kind} value"))
    return errors


def _checked(fn: Callable[[], object], errors: list[ConfigError]) -> None:
    try:
        fn()
    except ConfigError as exc:
        errors.append(exc)


def _outcome_errors(project: Project) -> list[ConfigError]:
    """Outcome types named by rules and policies must be known or declared."""
    known = project.interaction_history.outcomes
    named: list[tuple] = []
    for rule in project.rules:
        if isinstance(rule.config, RecencyCheck):
            named.append((rule, "config.outcomeType", rule.config.outcome_type))
    for policy in project.policies:
        cfg = policy.config
        if isinstance(cfg, OutcomeBased):
            if cfg.outcome_type:
                named.append((policy, "config.outcomeType", cfg.outcome_type))
            named += [(policy, f"config.outcomeTypes[{i}]", o) for i, o in enumerate(cfg.outcome_types or [])]
    return [
        ConfigError(obj.location.at(path), f"unknown outcome type {value!r}; expected one of {', '.join(known)} "
                                           "(declare others in interactionHistory.customOutcomes)")
        for obj, path, value in named if value not in known
    ]


def _status_errors(project: Project) -> list[ConfigError]:
    """Objects a flow or rule uses must be active: an inactive model or metric is never used (S8)."""
    errors = []

    def inactive(kind: str, ref: str | None, where, noun: str) -> None:
        obj = project.find(kind, ref) if ref else None
        if obj is not None and obj.status not in (None, "active"):
            errors.append(ConfigError(where, f"{noun} {ref!r} has status {obj.status!r}; an inactive {noun} is "
                                             "never used, expected one with status active"))

    for flow in project.flows:
        key = "config" if flow.config is not None else "draftConfig"
        fc = flow.definition.flow_config
        inactive("placements", fc.placement_id, flow.location.at(f"{key}.flowConfig.placementId"), "placement")
        for n, node in enumerate(flow.definition.nodes):
            if isinstance(node.config, GroupConfig):
                for i, ref in enumerate(node.config.placement_ids):
                    inactive("placements", ref, flow.location.at(f"{key}.nodes[{n}].config.placementIds[{i}]"),
                             "placement")
            if isinstance(node.config, ScoreConfig):
                for path, ref in score_models(node.config):
                    inactive("algorithmModels", ref, flow.location.at(f"{key}.nodes[{n}].config.{path}"), "algorithm model")
                inactive("arbitrationProfiles", node.config.arbitration_profile_id,
                         flow.location.at(f"{key}.nodes[{n}].config.arbitrationProfileId"), "arbitration profile")
        inactive("arbitrationProfiles", fc.arbitration_profile_id,
                 flow.location.at(f"{key}.flowConfig.arbitrationProfileId"), "arbitration profile")
    for rule in project.rules:
        c = rule.config
        if isinstance(c, PropensityThreshold):
            inactive("algorithmModels", c.model_id, rule.location.at("config.modelId"), "algorithm model")
        elif isinstance(c, MetricCondition):
            inactive("behavioralMetrics", c.metric_id, rule.location.at("config.metricId"), "behavioral metric")
    return errors


def _profile_errors(project: Project) -> list[ConfigError]:
    """At most one default arbitration profile; a flow-level profile needs a model score (S8)."""
    defaults = [p for p in project.objects["arbitrationProfiles"] if p.is_default]
    errors = [ConfigError(p.location.at("isDefault"), f"arbitration profile {p.ref!r} is the default, but so is "
                                                      f"{defaults[0].ref!r} ({defaults[0].location}); expected at most "
                                                      "one profile with isDefault: true")
              for p in defaults[1:]]
    for flow in project.flows:
        key = "config" if flow.config is not None else "draftConfig"
        scores = [n.config for n in flow.definition.nodes if isinstance(n.config, ScoreConfig)]
        if flow.definition.flow_config.arbitration_profile_id and not any(c.method == "model" for c in scores):
            errors.append(ConfigError(flow.location.at(f"{key}.flowConfig.arbitrationProfileId"),
                                      "formula, expression and priority scores never arbitrate (S8); expected a "
                                      "score node with method 'model', or drop 'arbitrationProfileId'"))
    return errors


def _unread_errors(project: Project) -> list[ConfigError]:
    """Fields whose value is not read in the context they are set in (S10: nothing accepted is ignored)."""
    errors = _profile_errors(project)
    for rule in project.rules:
        if rule.hard and "multiplier" in rule.config.model_fields_set:
            errors.append(ConfigError(rule.location.at("config.multiplier"),
                                      f"'multiplier' is only read by fit-stage rules; a {rule.stage} rule drops the "
                                      "candidate instead (set stage: fit, or drop 'multiplier')"))
    for seg in project.all("segments"):
        if seg.formula is not None:
            for name in ("customer_column", "segment_column", "segment_value"):
                if name in seg.model_fields_set:
                    alias = type(seg).model_fields[name].alias
                    errors.append(ConfigError(seg.location.at(alias), f"{alias!r} is only read with a membership "
                                                                      "'relation', not with 'formula'"))
    for kind in ("categories", "subCategories"):
        for owner in project.objects[kind]:
            for i, cf in enumerate(owner.custom_fields):
                if cf.type == "computed" and cf.default_value is not None:
                    errors.append(ConfigError(owner.location.at(f"customFields[{i}].defaultValue"),
                                              "a computed custom field takes no 'defaultValue' (its formula gives the "
                                              "value; use coalesce() in the formula for a fallback)"))
    return errors


def check_references(project: Project) -> list[ConfigError]:
    errors = refused_fields(project) + _unread_errors(project)
    errors += _duplicates(project)
    for kind in KINDS:
        for obj in project.objects[kind]:
            for path, target, value in _refs(project, kind, obj):
                _checked(lambda: project.lookup(target, value, obj.location.at(path)), errors)
    errors.extend(_attribute_errors(project))
    errors.extend(_outcome_errors(project))
    errors.extend(_status_errors(project))
    if not errors:  # custom fields need the offers' categories resolved
        errors.extend(_custom_field_errors(project))
    return errors
