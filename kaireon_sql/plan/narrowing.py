"""Narrowing checks of a flow: consent, qualification rules (hard checks in rule order, and the
fit-stage relevance multiplier) and filter nodes."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from ..config.rules import (
    AttributeCondition, MetricCondition, PropensityThreshold, QualificationRule, RecencyCheck, SegmentRequired,
)
from ..config.flows import FilterConfig, QualifyConfig, RuleGroup, RuleLeaf
from ..dialect import minus_seconds
from ..errors import ConfigError, UnsupportedFeature
from .metrics import counts_as_zero
from .checks import Check, never_null, text
from .conditions import COMPARISONS, describe, predicate
from .context import FlowContext, col, lit
from .features import Features
from .formulas import compile_formula, offer_value, resolver
from .lifecycle import lifecycle_stage, reads_stage, stage_attribute
from .scope import applies


def rule_order(rules: list[QualificationRule]) -> list[QualificationRule]:
    """S5: priority descending, then name."""
    return sorted(rules, key=lambda r: (-r.priority, r.name))


# ---- consent ---------------------------------------------------------------------------------

NO_CONSENT_NEEDED = ""  # consent_field's answer for a channel declared with requiresConsent: false


def consent_field(ctx: FlowContext, channel: str) -> str | None:
    """The enriched field holding consent for `channel`, NO_CONSENT_NEEDED, or None when there is none."""
    obj = ctx.channel_object(channel)
    if obj is not None and obj.requires_consent is False:
        return NO_CONSENT_NEEDED
    if obj is not None and obj.consent_field:
        ctx.customer_field(obj.consent_field, obj.location.at("consentField"))
        return obj.consent_field
    wanted = {f"consent{channel}".lower()} | ({f"consent{obj.name}".lower()} if obj else set())
    if obj is not None and obj.channel_type:
        wanted.add(f"consent{obj.channel_type}".lower())
    return next((name for name in ctx.fields if name.lower() in wanted), None)


def _no_consent_message(ctx: FlowContext, channel: str) -> str:
    consent = "consent" + channel[:1].upper() + channel[1:]
    return (f"channel {channel!r} has no consent field, so the flow would contact every customer on it without "
            f"a consent check (S10); expected the channel's 'consentField', a boolean schema field named "
            f"{consent!r} that the flow's enrich node loads, or 'requiresConsent: false' on the channel "
            "(declared under 'channels')")


def _check_listed(ctx: FlowContext, names: list[str]) -> None:
    """The flow's listed channels are active and each has a consent field or requiresConsent: false."""
    listed = "channels" if ctx.definition.flow_config.routes else "channel"  # channel: auto lists them in `channels`
    where = ctx.flow.location.at(f"{ctx.definition_key}.flowConfig.{listed}")
    for channel in names:
        obj = ctx.channel_object(channel)
        if obj is not None and obj.status not in (None, "active"):
            raise ConfigError(where, f"channel {channel!r} has status {obj.status!r}; a flow decides only on "
                                     "active channels (set its status to active or leave it out)")
        if consent_field(ctx, channel) is None:
            raise ConfigError(where, _no_consent_message(ctx, channel))


def consent_checks(ctx: FlowContext) -> list[Check]:
    """A candidate on a channel whose consent field is false (or unknown) is suppressed.

    A flow's listed channels each need a consent field or `requiresConsent: false` (refused at
    validate time otherwise). With the run's `channel` var, a candidate on a channel with neither
    is rejected at stage consent.
    """
    if ctx.channels is not None:
        names = ctx.channels
        _check_listed(ctx, names)
    else:
        declared = [c.ref for c in ctx.project.all("channels") if c.status in (None, "active")]
        names = declared or ["email", "sms", "push"]
    checks = []
    cleared = []
    for channel in names:
        field = consent_field(ctx, channel)
        if field is None:
            continue
        cleared.append(channel)
        if field == NO_CONSENT_NEEDED:
            continue
        consented = exp.func("COALESCE", col(ctx.fields[field].column), exp.false())
        blocks = exp.and_(exp.EQ(this=col("channel"), expression=lit(channel)), exp.not_(consented))
        checks.append(Check("consent", f"Consent ({channel})", blocks,
                            text(f"Consent: customer has not consented to {channel} ({field} is not true)")))
    if ctx.channels is None:
        # the run's channel var may name any channel: one without a consent field sends nothing
        known = exp.In(this=col("channel"), expressions=[lit(c) for c in cleared]) if cleared else exp.false()
        checks.append(Check("consent", "Consent (no consent field)", exp.not_(never_null(known)),
                            text("Consent: the run's channel has no consent field (declare the channel with a "
                                 "consentField, or requiresConsent: false)")))
    return checks


# ---- one rule --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompiledRule:
    rule: QualificationRule
    applies: exp.Expression
    passes: exp.Expression  # never NULL
    reason: exp.Expression


def _attribute(ctx: FlowContext, features: Features, rule: QualificationRule,
               cfg: AttributeCondition) -> tuple[exp.Expression, str]:
    where = rule.location.at("config.attribute")
    subject = cfg.attribute if cfg.attribute.startswith("customer.") else f"customer.{cfg.attribute}"
    if reads_stage(ctx, cfg.attribute):  # S9: the stage, from the orders
        attr, kind = stage_attribute(features, cfg.operator, cfg.value, rule.location.at("config.value"))
    else:
        enriched = ctx.customer_field(cfg.attribute, where)
        attr, kind = col(enriched.column), enriched.field.kind
    passes = predicate(attr, kind, cfg.operator, cfg.value, cfg.missing, rule.location.at("config.value"))
    return passes, describe(subject, cfg.operator, cfg.value)


def _segment_required(ctx: FlowContext, features: Features, rule: QualificationRule,
                      cfg: SegmentRequired) -> tuple[exp.Expression, str]:
    seg = ctx.project.lookup("segments", cfg.segment_ref, rule.location.at("config"))
    member = features.segment(seg)
    passes = exp.not_(never_null(member)) if cfg.negate else never_null(member)
    return passes, f"customer {'must not' if cfg.negate else 'must'} be in segment {seg.name!r}"


def _propensity_threshold(ctx: FlowContext, features: Features, rule: QualificationRule,
                          cfg: PropensityThreshold) -> tuple[exp.Expression, str]:
    flow_model = ctx.score.model_id
    if not flow_model:
        prior = "propensity would be the constant prior 0.5" if cfg.score == "propensity" else "uplift would be 0"
        raise ConfigError(rule.location.at("ruleType"),
                          f"a propensity_threshold rule needs a model providing the score, but flow "
                          f"{ctx.flow.key!r} has no score node 'modelId', so the {prior} for every candidate; "
                          "expected a score node with a modelId (or leave the rule out of this flow's qualify node)")
    if cfg.model_id and (not flow_model or ctx.project.find("algorithmModels", cfg.model_id)
                         is not ctx.project.find("algorithmModels", flow_model)):
        raise UnsupportedFeature(rule.location.at("config.modelId"),
                                 "a propensity rule must read the flow's own score model (score node 'modelId')")
    op = exp.GTE if cfg.operator == "gte" else exp.GT
    passes = never_null(op(this=col(cfg.score), expression=lit(float(cfg.threshold))))
    return passes, f"{cfg.score} {'>=' if cfg.operator == 'gte' else '>'} {cfg.threshold:g}"


def _recency_check(ctx: FlowContext, features: Features, rule: QualificationRule,
                   cfg: RecencyCheck) -> tuple[exp.Expression, str]:
    last = features.last_interaction(cfg.outcome_type, cfg.channel, cfg.same_offer)
    recent = never_null(exp.GT(this=last, expression=minus_seconds(col("as_of"), cfg.within_days * 86400)))
    passes = recent if cfg.condition == "has" else exp.not_(recent)
    what = f"a {cfg.outcome_type}" + (" of this offer" if cfg.same_offer else "") + (f" on {cfg.channel}" if cfg.channel else "")
    return passes, f"customer {'must have' if cfg.condition == 'has' else 'must not have'} {what} within {cfg.within_days:g} days"


def _metric_condition(ctx: FlowContext, features: Features, rule: QualificationRule,
                      cfg: MetricCondition) -> tuple[exp.Expression, str]:
    metric = ctx.project.lookup("behavioralMetrics", cfg.metric_id, rule.location.at("config.metricId"))
    if set(metric.dimensions) - {"offer"}:
        raise UnsupportedFeature(rule.location.at("config.metricId"),
                                 "metric_condition reads metrics with no dimension or the 'offer' dimension only")
    value = features.metric(metric)
    if counts_as_zero(metric):
        value = exp.func("COALESCE", value, exp.Literal.number(0))
    passes = predicate(value, "number", cfg.operator, cfg.value, cfg.missing, rule.location.at("config.value"))
    return passes, describe(f"metric {metric.name}", cfg.operator, cfg.value)


# Qualification rule config class -> its compiler: (passes, condition text). Every class of
# config.rules.RULE_CONFIGS has one (tests/test_registries.py).
RULE_COMPILERS = {
    AttributeCondition: _attribute, SegmentRequired: _segment_required, PropensityThreshold: _propensity_threshold,
    RecencyCheck: _recency_check, MetricCondition: _metric_condition,
}


def compile_rule(ctx: FlowContext, features: Features, rule: QualificationRule) -> CompiledRule:
    passes, condition = RULE_COMPILERS[type(rule.config)](ctx, features, rule, rule.config)
    reason = text(f"Qualification rule '{rule.name}' not met: requires {condition}")
    return CompiledRule(rule, applies(ctx, features, rule), passes, reason)


# ---- the qualify node ------------------------------------------------------------------------

def _selected_rules(ctx: FlowContext, cfg: QualifyConfig, where) -> list[QualificationRule]:
    if cfg.rule_ids is None:
        return [r for r in ctx.project.rules if r.status == "active"]
    return [ctx.project.lookup("qualificationRules", r, where) for r in cfg.rule_ids]


def _group(ctx: FlowContext, features: Features, group: RuleGroup, where) -> tuple[exp.Expression, exp.Expression, list[str]]:
    """(applies, passes, names) of an AND/OR group; rules outside their scope are ignored."""
    parts = []
    for i, cond in enumerate(group.conditions):
        if isinstance(cond, RuleLeaf):
            rule = ctx.project.lookup("qualificationRules", cond.rule_id, where.at(f"conditions[{i}].ruleId"))
            if not rule.hard:
                raise ConfigError(where.at(f"conditions[{i}].ruleId"),
                                  f"rule {rule.name!r} is a fit-stage (soft) rule; logic trees take eligibility or qualification rules")
            c = compile_rule(ctx, features, rule)
            parts.append((c.applies, c.passes, [rule.name]))
        else:
            parts.append(_group(ctx, features, cond, where.at(f"conditions[{i}]")))
    any_applies = exp.or_(*[p[0] for p in parts])
    if group.operator.upper() == "AND":
        passes = exp.and_(*[exp.or_(exp.not_(a), p) for a, p, _ in parts])
    else:
        passes = exp.or_(*[exp.and_(a, p) for a, p, _ in parts])
    return any_applies, passes, [n for _, _, names in parts for n in names]


def _relevance(ctx: FlowContext, features: Features, rules: list[QualificationRule]) -> exp.Expression:
    """The relevance multiplier R of fit (soft) rules: each failed rule multiplies by its multiplier."""
    fit = [compile_rule(ctx, features, r) for r in rule_order([r for r in rules if not r.hard])]
    relevance: exp.Expression = lit(1.0)
    for c in fit:
        failed = exp.and_(c.applies, exp.not_(c.passes))
        factor = exp.case().when(failed, lit(float(c.rule.config.multiplier))).else_(lit(1.0))
        relevance = exp.Mul(this=relevance, expression=factor)
    return relevance


def _logic_checks(ctx: FlowContext, features: Features, logic: RuleGroup, where) -> list[Check]:
    """One check per top-level condition of a logic tree (an OR tree is one condition)."""
    top = RuleGroup(operator="AND", conditions=[logic]) if logic.operator.upper() == "OR" else logic
    checks: list[Check] = []
    for i, cond in enumerate(top.conditions):
        if isinstance(cond, RuleLeaf):
            rule = ctx.project.lookup("qualificationRules", cond.rule_id, where.at(f"logic.conditions[{i}].ruleId"))
            c = compile_rule(ctx, features, rule)
            checks.append(Check("qualification", rule.name, exp.and_(c.applies, exp.not_(c.passes)), c.reason))
            continue
        a, p, names = _group(ctx, features, cond, where.at(f"logic.conditions[{i}]"))
        name = f"{cond.operator.lower()}(" + ", ".join(names) + ")"
        listed = ", ".join(repr(n) for n in names)
        checks.append(Check("qualification", name, exp.and_(a, exp.not_(p)),
                            text(f"Qualification: none of the rules {listed} passed")
                            if cond.operator.upper() == "OR" else
                            text(f"Qualification: not all of the rules {listed} passed")))
    return checks


def _mode_checks(ctx: FlowContext, features: Features, cfg: QualifyConfig,
                 rules: list[QualificationRule]) -> list[Check]:
    """Hard rules in rule order: one check each (mode all), or one check that any passes (mode any)."""
    hard = [compile_rule(ctx, features, r) for r in rule_order([r for r in rules if r.hard])]
    if cfg.mode == "all":
        return [Check("qualification", c.rule.name, exp.and_(c.applies, exp.not_(c.passes)), c.reason) for c in hard]
    if not hard:
        return []
    any_applies = exp.or_(*[c.applies for c in hard])
    any_passes = exp.or_(*[exp.and_(c.applies, c.passes) for c in hard])
    names = [c.rule.name for c in hard]
    return [Check("qualification", "any(" + ", ".join(names) + ")", exp.and_(any_applies, exp.not_(any_passes)),
                  text("Qualification: none of the applicable rules passed"))]


def qualification(ctx: FlowContext, features: Features) -> tuple[list[Check], exp.Expression]:
    """Hard checks of the qualify node, in order, and the relevance multiplier R of fit rules."""
    node = ctx.qualify_node
    if node is None:
        return [], lit(1.0)
    cfg: QualifyConfig = node.config
    where = ctx.node_location(node.id, "config")
    rules = _selected_rules(ctx, cfg, where.at("ruleIds"))
    relevance = _relevance(ctx, features, rules)
    if cfg.logic is not None:
        return _logic_checks(ctx, features, cfg.logic, where), relevance
    return _mode_checks(ctx, features, cfg, rules), relevance


# ---- filter nodes: drop candidates by field conditions (the 13 operators) ----------------------

def _filter_field(ctx: FlowContext, name: str, where) -> tuple[exp.Expression, str]:
    if name == "channel":
        return col("channel"), "text"
    found = None
    if name.startswith("customer.") and reads_stage(ctx, name):  # S9: the stage, from the orders
        found = (lifecycle_stage(ctx.features, where), "text")
    elif name.startswith("customer."):
        enriched = ctx.fields.get(name[len("customer."):])
        found = (col(enriched.column), enriched.field.kind) if enriched else None
    elif name.startswith("offer."):
        value = offer_value(ctx, name[len("offer."):])
        found = (value.sql, value.type) if value else None
    if found is None:
        raise ConfigError(where, f"unknown field {name!r}; expected channel, customer.<field> or offer.<field>")
    return found


OFFER_REFERENCE = re.compile(r"\s*offer\.[A-Za-z_][A-Za-z0-9_]*\s*")


def filter_checks(ctx: FlowContext, node) -> list[Check]:
    cfg: FilterConfig = node.config
    label = node.label or node.id
    tests, texts, keys = [], [], []
    for i, cond in enumerate(cfg.conditions):
        where = ctx.node_location(node.id, f"config.conditions[{i}]")
        attr, kind = _filter_field(ctx, cond.field, where.at("field"))
        if cond.value_formula is not None:
            sql, out_kind = compile_formula(cond.value_formula, where.at("valueFormula"), resolver(ctx))
            if out_kind != kind and not (kind == "number" and out_kind == "number"):
                raise ConfigError(where.at("valueFormula"), f"formula gives a {out_kind} but {cond.field} is {kind}")
            if cond.operator not in COMPARISONS:
                raise ConfigError(where.at("operator"), f"'valueFormula' works with {', '.join(COMPARISONS)}, not {cond.operator!r}")
            value = exp.cast(attr, "DOUBLE") if kind == "number" else attr
            test = exp.func("COALESCE", COMPARISONS[cond.operator](this=value, expression=sql), exp.false())
            if (cfg.mode == "all" and cond.operator == "eq" and cond.field.startswith("customer.")
                    and OFFER_REFERENCE.fullmatch(cond.value_formula)):
                keys.append((value, sql))  # customer.X eq offer.Y: a join key (S6)
            texts.append(f"{cond.field} {cond.operator} ({cond.value_formula})")
        else:
            if reads_stage(ctx, cond.field):
                stage_attribute(ctx.features, cond.operator, cond.value, where.at("value"))  # stage names checked
            test = predicate(attr, kind, cond.operator, cond.value, "fail", where.at("value"))
            texts.append(describe(cond.field, cond.operator, cond.value))
        tests.append(test)
    passes = exp.and_(*tests) if cfg.mode == "all" else exp.or_(*tests)
    joined = (" and " if cfg.mode == "all" else " or ").join(texts)
    return [Check("filter", label, exp.not_(passes), text(f"Filter '{label}': {joined} not met"), tuple(keys))]
