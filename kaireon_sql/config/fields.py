"""Every config field, classified (S10): compiled into behaviour, metadata, or refused at validate time.

`FIELDS` maps each pydantic config class to its fields (camelCase, as in files) and says, for each:

- compiled: the field changes what the models do (or is enforced at validate time);
- metadata: documented as never changing a decision (names for people, descriptions, colours,
  provider settings); it is left out of the flow's config hash;
- refused: accepted by the schema (so payloads keep their shape) but not supported yet: a value
  other than the field's default is refused at validate time, naming the field.

`REFUSED_CLASSES` are whole objects or node types not supported yet: any such object is refused.
tests/test_nothing_silent.py walks every model reachable from the project config and fails on a
field missing here; the README's config reference lists every field of this registry.
"""
from __future__ import annotations

import functools
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..errors import ConfigError, Location
from . import catalog, flows, models, policies, rules, transforms
from .project import KINDS, Project

COMPILED, METADATA, REFUSED = "compiled", "metadata", "refused"


@dataclass(frozen=True)
class Entry:
    kind: str  # compiled | metadata | refused
    note: str
    example: Any = None  # refused fields: a value the schema accepts and validate refuses (for the tests)


def C(note: str) -> Entry:
    return Entry(COMPILED, note)


def M(note: str) -> Entry:
    return Entry(METADATA, note)


def R(note: str, example: Any) -> Entry:
    return Entry(REFUSED, note, example)


def _object(name: str = "referable by name (when no `id`)", **fields: Entry) -> dict[str, Entry]:
    """The fields every top-level object has, and its own."""
    return {"id": C("stable reference other objects use; the output id where the object has one"),
            "name": C(name), "description": M("documentation"), **fields}


_MISSING_NEVER = "this rule type's value is never missing (the rule reads no nullable attribute); " \
                 "`missing` applies to attribute_condition and metric_condition"
_RULE_COMMON = {"multiplier": C("fit stage: the relevance factor when the rule fails; refused on eligibility "
                                "and qualification rules, which drop the candidate instead")}

_BAYESIAN = {
    "smoothingWeight": C("m of the hierarchical shrinkage (default 10)"),
    "windowDays": C("impressions (and their attributed positives) of the last windowDays days count (default 30)"),
    "groupBy": C("customer fields: one rate per offer and group, shrunk toward the offer's"),
}

FIELDS: dict[type[BaseModel], dict[str, Entry]] = {
    # ---- catalogue ---------------------------------------------------------------------------
    catalog.Schema: _object(
        name="referable by name; the default relation",
        displayName=M("display name"),
        relation=C("the dbt model, seed or source the schema reads"),
        fields=C("the declared columns; formulas and rules are type-checked against them")),
    catalog.SchemaField: {
        "name": C("the attribute name (`customer.<name>`)"),
        "dataType": C("type of the attribute in formulas and rules; the column is cast to it"),
        "isUnique": M("documents the key; a flow joins on its enrich source's `lookupKey` (default customer_id) "
                      "and tests it unique in the customers model"),
        "isNullable": M("documentation; NULL handling is the rules' `missing` and the formulas' NULL rules (S5)"),
        "column": C("the relation's column when it differs from `name`"),
        "description": M("documentation"),
        "displayName": M("display name"),
        "defaultValue": R("NULL attributes get no default; use coalesce() in a formula or `missing: pass` "
                          "on a rule", 0),
    },
    catalog.Category: _object(
        name="referable by name; `category_name` in outputs and `offer.categoryName`",
        displayOrder=M("display order in a UI"),
        color=M("display colour"),
        customFields=C("computed fields (personalization) and static fields the offers set")),
    catalog.SubCategory: _object(
        categoryId=M("a checked reference to the parent category; an offer's category is its own `categoryId`"),
        customFields=C("as a category's custom fields, for offers of the sub-category")),
    catalog.CustomField: {
        "name": C("the field name: `offer.<name>` (static) or a personalization key (computed)"),
        "type": C("computed, or the type of a static field"),
        "formula": C("the formula of a computed field"),
        "outputType": C("number or text result of a computed field"),
        "defaultValue": C("the value of a static field for offers that do not set it; refused on computed fields"),
        "required": C("an offer of the category must set the static field (checked at validate time)"),
        "description": M("documentation"),
        "label": M("display label"),
    },
    catalog.Channel: _object(
        name="referable by name; the consent convention consent<Name>",
        channelType=C("the consent convention consent<channelType>; otherwise a label"),
        deliveryMode=M("how a downstream tool delivers (decisions are tables either way)"),
        impressionMode=M("how impressions are recorded downstream; one `impression` row is one contact (S3)"),
        providerConfig=M("provider settings for the downstream sender"),
        status=C("a flow deciding on a channel whose status is set and not 'active' is refused at validate time"),
        consentField=C("the boolean schema field holding consent for the channel (stage `consent`)"),
        requiresConsent=C("false: the channel needs no consent check; otherwise a flow using the channel needs a "
                          "consent field (refused at validate time without one)")),
    catalog.Placement: _object(
        channelId=C("the channel a group node fills the placement from (candidates on that channel); "
                    "without one, any channel"),
        slotType=M("display slot type (banner, widget, ...) for the downstream renderer"),
        maxSlots=C("how many decisions a group node puts in the placement, slots 1..maxSlots (default 1)"),
        status=C("a flow deciding for a placement (flowConfig.placementId or a group node) whose status is set "
                 "and not 'active' is refused at validate time")),
    catalog.Offer: _object(
        name="`offer_name` in outputs; referable by name",
        key=C("`offer.key`; referable by key"),
        status=C("the inventory node's `includeStatuses` (default active) selects offers by status"),
        category=C("free-text label, `offer.category` in formulas and filters"),
        categoryId=C("the offer's category: scopes, custom fields, `category_name`"),
        subCategoryId=C("the offer's sub-category: scopes and custom fields"),
        priority=C("rank tie-break and the E term of the score (S5)"),
        businessValue=C("the I term of the score (S5); `offer.businessValue`"),
        revenueValue=C("`offer.revenueValue` in formulas and filters (a column of kaireon_offers)"),
        margin=C("`offer.margin` in formulas and filters (a column of kaireon_offers)"),
        cost=C("`offer.cost` in formulas and filters (a column of kaireon_offers)"),
        mandatory=C("a mandatory offer skips bypassable contact policies; `offer.mandatory`"),
        tags=M("labels; not readable in formulas"),
        customFields=C("values of the category's static custom fields (`offer.<field>`)"),
        budget=C("the offer's budget, always enforced"),
        schedule=C("runs whose as_of lies outside [startDate, endDate) do not decide the offer (inventory)"),
        channels=C("channels the offer can be sent on"),
        discountTiers=C("the offer's discount tiers in percent (S9 discount learner); override the flow's "
                        "flowConfig.discountTiers")),
    catalog.Budget: {
        "maxImpressions": C("impressions in the period, enforced within the run and across runs"),
        "maxConversions": C("conversions in the period"),
        "period": C("daily | weekly | monthly | total, calendar periods in UTC"),
        "totalBudget": C("spend cap, with costPerImpression"),
        "costPerImpression": C("cost of one impression against totalBudget"),
    },
    catalog.Schedule: {
        "startDate": C("first moment (inclusive) a run may decide the offer; a date is 00:00 UTC of that day"),
        "endDate": C("moment (exclusive) from which runs no longer decide the offer; a date is 00:00 UTC"),
    },
    catalog.Creative: _object(
        offerId=C("the creative's offer: the scope of creative-scoped contact policies"),
        channelId=C("the creative's channel: narrows creative-scoped contact policies"),
        placementId=C("a creative with a placement matches only the match_creatives node's placement (its "
                      "`placementId`, else flowConfig.placementId); one without matches any"),
        status=C("only active creatives (status active, the default) are matched to candidates"),
        content=M("the creative's content for the downstream sender"),
        templateType=M("template type for the downstream sender"),
        weight=C("share of the weighted choice among the offer's matching creatives (default 1; 0: never chosen)"),
        variant=M("variant label (the readout names creatives by id and name)")),
    catalog.Segment: _object(
        name="referable by name; the default `segmentValue`",
        relation=C("membership relation (customer, segment) rows"),
        customerColumn=C("customer column of the membership relation; refused with `formula`"),
        segmentColumn=C("segment column of the membership relation; refused with `formula`"),
        segmentValue=C("value in `segmentColumn` (default the segment name); refused with `formula`"),
        formula=C("membership predicate over `customer.*`")),
    catalog.InteractionHistory: {
        "relation": C("where the interaction history is"),
        "description": M("documentation"),
        "customOutcomes": C("outcome types rules and policies may name beyond the standard ones"),
        "positiveOutcomes": C("outcomes the attribution (kaireon_attribution, S8) counts as positive; default "
                              "click and convert"),
        "attributionWindowDays": C("a positive is attributed to the latest impression at most this many days "
                                   "before it (default 7)"),
        "decisionLog": C("past decisions the attribution reads instead of kaireon_decision_log"),
    },
    catalog.DecisionLogInput: {"relation": C("the relation of past decisions")},
    # ---- scoring and measurement -------------------------------------------------------------
    models.BehavioralMetric: _object(
        aggregation=C("count, sum, avg, min, max or ratio"),
        sourceField=C("what is aggregated"),
        denominatorField=C("the denominator of a ratio"),
        windowDays=C("the rolling window back from as_of"),
        dimensions=C("grain of the metric model"),
        computeMode=M("every metric is computed from the history up to as_of in each build; both modes give "
                      "that value (realtime still takes count and sum only)"),
        status=C("only active metrics get a model; a metric_condition on a metric that is not active is refused")),
    models.AlgorithmModel: _object(
        modelType=C("the engine (plan/models.py ENGINES): scorecard, bayesian, thompson_bandit, epsilon_greedy "
                    "and online_learner are computed in the warehouse (or read `scoresRelation` when given); uplift is scored from "
                    "`modelFile`; any other type needs `scoresRelation` and then documents how those scores were made"),
        status=C("a score node or propensity rule referring to a model that is not active is refused (S8)"),
        config=C("the engine's settings: one class per modelType computed in the warehouse (scorecard, bayesian, "
                 "thompson_bandit, epsilon_greedy, online_learner); gradient_boosted and neural_cf read theirs "
                 "(docs/engines_trained.md; an unknown key is refused, plan/trained.py settings_errors); refused on "
                 "other types and with `scoresRelation`"),
        scoresRelation=C("relation of precomputed scores: customer_id, offer_id, propensity, uplift; a model "
                         "computed in the warehouse reads these instead when given (and then takes no `config`)"),
        modelFile=C("a model written by `kaireon uplift fit`"),
        featuresRelation=C("the relation an uplift model is scored over"),
        keyColumn=C("the customer key column of an uplift model's features relation; refused on other models")),
    models.BayesianConfig: _BAYESIAN,
    models.EpsilonGreedyConfig: {
        **_BAYESIAN,
        "epsilon": C("share of customers exploring per run: hash_uniform(salt, run_id, customer_id) < epsilon"),
        "salt": C("salt of the exploration hashes (default the model id)")},
    models.ThompsonConfig: {
        "windowDays": C("impressions (and their attributed positives) of the last windowDays days count (default 30)"),
        "priorAlpha": C("a of the Beta(a + k, b + n - k) draw (default 1)"),
        "priorBeta": C("b of the Beta(a + k, b + n - k) draw (default 1)"),
        "salt": C("salt of the seeding hashes (default the model id)")},
    models.OnlineLearnerConfig: {
        "features": C("customer number fields x_j of sigmoid(b_o + sum w_j x_j)"),
        "learningRate": C("step size of the run's gradient step"),
        "regularization": C("L2 penalty on the feature weights in the gradient step"),
        "priorIntercept": C("every offer's intercept before its first rows (the weights start at 0)"),
        "schemaId": C("the schema the training rows read the features from")},
    models.ScorecardConfig: {"baseScore": C("the score before the terms"), "weights": C("the terms")},
    models.ScorecardWeight: {"field": C("customer.<field> or offer.<field> (a number)"),
                             "weight": C("the term's factor"), "bins": C("value ranges -> points (optional)")},
    models.ScorecardBin: {"min": C("lowest value of the bin (inclusive; open when missing)"),
                          "max": C("the bin's end (exclusive; open when missing)"),
                          "points": C("what a value in the bin scores (times the weight)")},
    models.ArbitrationProfile: _object(
        weights=C("the weights of the composite score (S8)"),
        isDefault=C("the profile of flows whose score node has method model and names no profile"),
        status=C("a profile a flow uses must be active (refused at validate time otherwise)"),
        fatigueDays=C("fatigue: the window of impressions to the customer, in days"),
        fatigueCap=C("fatigue: impressions that make fatigue 0"),
        recencyDays=C("recency: days since the offer last reached the customer that make recency 1")),
    models.ArbitrationWeights: {f: C("a weight of the arbitration composite (S8)")
                                for f in ("conversion", "margin", "fatigue", "fairness", "recency")},
    # ---- qualification rules -----------------------------------------------------------------
    rules.QualificationRule: _object(
        name="`rule_name` of rejections; referable by name",
        ruleType=C("which rule"),
        scope=C("which candidates the rule applies to"),
        scopeId=C("the object the scope names"),
        stage=C("eligibility and qualification drop the candidate; fit multiplies R"),
        priority=C("rule order (S5)"),
        status=C("only active rules run, unless the qualify node lists `ruleIds`"),
        config=C("the rule type's settings")),
    rules.AttributeCondition: {
        "missing": C("pass: a NULL attribute passes"), **_RULE_COMMON,
        "attribute": C("the customer attribute"), "operator": C("the comparison"), "value": C("the operand"),
    },
    rules.SegmentRequired: {
        "missing": R(_MISSING_NEVER, "pass"), **_RULE_COMMON,
        "segmentId": C("the segment"), "segment": C("the segment (by name)"), "negate": C("must not be a member"),
    },
    rules.PropensityThreshold: {
        "missing": R(_MISSING_NEVER, "pass"), **_RULE_COMMON,
        "threshold": C("the minimum score"), "operator": C("gte or gt"),
        "modelId": C("must be the flow's score model"),
        "score": C("propensity or uplift; the flow's score node must have a model"),
    },
    rules.RecencyCheck: {
        "missing": R(_MISSING_NEVER, "pass"), **_RULE_COMMON,
        "condition": C("has or has_not"), "withinDays": C("the window"), "outcomeType": C("the outcome counted"),
        "sameOffer": C("only interactions with this offer"), "channel": C("only interactions on this channel"),
    },
    rules.MetricCondition: {
        "missing": C("pass: a NULL metric value passes"), **_RULE_COMMON,
        "metricId": C("the behavioral metric"), "operator": C("the comparison"), "value": C("the operand"),
    },
    # ---- contact policies --------------------------------------------------------------------
    policies.ContactPolicy: _object(
        name="`rule_name` of rejections; referable by name",
        ruleType=C("which policy"), scope=C("which candidates and contacts the policy covers"),
        scopeId=C("the object the scope names"), priority=C("policy order (S5)"),
        status=C("only active policies run, unless the contact_policy node lists `policyIds`"),
        bypassable=C("allow_override matches and mandatory offers skip the policy"),
        config=C("the policy type's settings")),
    policies.FrequencyCap: {f: C("the cap (see Contact policies)") for f in
                            ("maxPerDay", "maxPerWeek", "maxPerMonth", "maxContacts", "windowDays", "perOffer")},
    policies.CustomerTotalCap: {"maxTotal": C("the cap"), "periodType": C("the calendar period (UTC, ISO weeks)")},
    policies.Cooldown: {"cooldownHours": C("the cooldown"), "perOffer": C("per offer")},
    policies.TimeWindow: {"startHour": C("first allowed local hour"), "endHour": C("first hour no longer allowed"),
                          "timezone": C("the zone, or customer.<field>"), "daysOfWeek": C("allowed local days")},
    policies.OutcomeBased: {"outcomeType": C("the outcome"), "outcomeTypes": C("the outcomes"),
                            "preset": C("adverse_outcomes"), "lookbackDays": C("the window"),
                            "perOffer": C("only outcomes on this offer")},
    policies.SegmentExclusion: {"excludeSegments": C("the segments excluded")},
    policies.MutualExclusion: {"offerIds": C("the group of offers"), "lookbackDays": C("the window")},
    policies.CrossChannelCap: {"channels": C("the channels counted"), "maxContacts": C("the cap"),
                               "windowDays": C("the window")},
    policies.BudgetExhausted: {},
    policies.AllowOverride: {},
    # ---- Decision Flows ----------------------------------------------------------------------
    flows.DecisionFlow: _object(
        key=C("`decision_flow_key`, model names, the default salt and run id"),
        version=C("`decision_flow_version` in outputs"),
        status=C("'archived' is refused (the flow would still run); other statuses: a flow in the config "
                 "folder is taken as published (S2)"),
        draftConfig=C("the flow's definition"), config=C("the flow's definition")),
    flows.FlowDefinition: {"version": C("2: a composable pipeline (1, or `stages`: a fixed-stage flow, below)"),
                           "flowConfig": C("flow settings"), "nodes": C("the pipeline")},
    flows.FixedStageFlow: {"version": C("1: a fixed-stage flow, compiled to the equivalent v2 nodes (docs/v1_flows.md)"),
                        "flowConfig": C("flow settings, as a v2 flow's"), "stages": C("the fixed stages")},
    flows.Stages: {"inventory": C("an inventory node"), "enrichment": C("an enrich node (required)"),
                "filter": C("qualify and contact_policy nodes, then a filter node when it has conditions"),
                "scoring": C("a score node"), "ranking": C("a rank node"), "compute": C("a compute node")},
    flows.FilterStage: {"qualification": C("the qualify node's config"),
                     "contactPolicy": C("the contact_policy node's config"),
                     "conditions": C("a filter node's conditions"), "mode": C("all or any, of the conditions"),
                     "label": C("`rule_name` of the conditions' rejections (default 'filter')")},
    flows.FlowConfig: {
        "experiment": C("holdout and analysis"),
        "channel": C("the channel or channels decided (default the run's `channel` var); 'auto' is refused"),
        "placementId": C("the placement the flow decides for (placement-scoped rules)"),
        "rejections": C("volume of kaireon_rejections"),
        "runOrder": C("order of the flows of one build (ascending, then flow key): a flow's caps and budgets "
                      "count the decisions of the flows before it (S7)"),
        "arbitrationProfileId": C("the arbitration profile of a model score (the score node's own wins)"),
        "allowSameOfferOnSeveralChannels": C("true: an offer may go to a customer on several of the flow's channels "
                                             "in one run (default: one channel per offer, the first in list order "
                                             "that has a contact left)"),
        "discountTiers": C("discount tiers in percent the discount learner chooses among (S9, "
                           "docs/discount_learner.md); an offer's own discountTiers win"),
        "discount": C("the discount learner's groupBy, prior, windowDays and salt"),
    },
    flows.DiscountSettings: {
        "groupBy": C("customer field whose values pool the tiers' outcomes (default lifecycleStage; null: one pool)"),
        "prior": C("the Beta prior of every tier's conversion rate"),
        "windowDays": C("attributed impressions of the last windowDays (default 30) count"),
        "salt": C("salt of the per-customer Thompson draws (default the flow key)"),
    },
    flows.DiscountPrior: {"alpha": C("prior alpha (default 1)"), "beta": C("prior beta (default 1)")},
    flows.Experiment: {
        "enabled": C("turns the holdout on"),
        "holdoutPercent": C("the holdout share (S5) while `enabled` is true (false switches the holdout off)"),
        "controlGroupAction": C("no_offers or priority_only"),
        "salt": C("the bucket salt (S5)"),
        "outcomeWindowDays": C("experiment analysis: the outcome window"),
        "outcome": C("experiment analysis: the conversion outcome"),
        "revenueOutcome": C("experiment analysis: the revenue outcome"),
        "assignmentsRelation": C("experiment analysis: past runs' assignments"),
        "minGroupSize": C("experiment analysis: the underpowered warning"),
    },
    flows.Rejections: {"volume": C("all, sampled or none"),
                       "sampleRate": C("share of customers recorded with volume 'sampled'; refused with other volumes")},
    flows.Node: {"id": C("the node's id (`rule_name` of filter and match_creatives rejections without a label)"),
                 "type": C("the node type"),
                 "phase": C("execution order"), "position": C("execution order"),
                 "label": C("`rule_name` of filter and match_creatives rejections; a display name for other nodes"),
                 "config": C("the node's settings")},
    flows.InventoryConfig: {"scope": C("all, category or manual"),
                            "categoryIds": C("the categories of scope 'category'; refused with other scopes"),
                            "offerIds": C("the offers of scope 'manual'; refused with other scopes"),
                            "includeStatuses": C("offer statuses in the inventory")},
    flows.EnrichConfig: {"sources": C("the schemas loaded")},
    flows.EnrichSource: {"schemaId": C("the schema"), "lookupKey": C("the customer key field"),
                         "fields": C("the fields loaded (default all; consent fields always)")},
    flows.QualifyConfig: {"mode": C("all or any; refused with `logic`"),
                          "ruleIds": C("the rules (default every active rule)"), "logic": C("an AND/OR tree")},
    flows.RuleGroup: {"operator": C("AND or OR"), "conditions": C("rules and groups")},
    flows.RuleLeaf: {"ruleId": C("the rule")},
    flows.ContactPolicyConfig: {"mode": C("all (the only mode)"),
                                "policyIds": C("the policies (default every active policy)")},
    flows.FilterConfig: {"mode": C("all or any"), "conditions": C("the conditions")},
    flows.FilterCondition: {"field": C("customer.x, offer.x or channel"), "operator": C("the comparison"),
                            "value": C("the operand"), "valueFormula": C("a formula operand")},
    flows.ScoreConfig: {
        "method": C("formula, expression, priority, or model (the score is the model's propensity, S8)"),
        "formula": C("the weights of method formula; refused with other methods"),
        "expression": C("the formula of method expression"),
        "modelId": C("the model providing P and U"),
        "overrides": C("per-offer, category or channel models (S8; offer before category before channel)"),
        "championChallenger": C("customers hashed below trafficPercent are scored by the challenger (S8)"),
        "arbitrationProfileId": C("the arbitration profile of a model score (S8)"),
    },
    flows.ModelOverride: {"scope": C("offer, category or channel"), "scopeId": C("the offer, category or channel"),
                          "modelId": C("the model scoring the scope's candidates")},
    flows.ChampionChallenger: {"challengerModelId": C("the challenger model"),
                               "trafficPercent": C("the share of customers the challenger scores"),
                               "salt": C("the hash salt (default '<flow key>:challenger')")},
    flows.ScoreWeights: {f: C("a weight of S5's formula") for f in
                         ("propensityWeight", "relevanceWeight", "impactWeight", "emphasisWeight", "upliftWeight")},
    flows.RankConfig: {"method": C("topN, diversity, round_robin or explore_exploit (S7, docs/rank_methods.md)"),
                       "maxCandidates": C("the top N"),
                       "maxPerGroup": C("diversity: at most k kept per group (default 1); refused with other methods"),
                       "groupBy": C("diversity, round_robin: category (default), subCategory, channel or an offer "
                                    "field; an unknown field is refused; refused with other methods"),
                       "explorationRate": C("explore_exploit: the share e of customers who explore in a run "
                                            "(required); refused with other methods"),
                       "salt": C("explore_exploit: the hash salt (default the flow key); refused with other methods"),
                       "perChannel": C("maxCandidates counts per customer and channel (default: per customer, "
                                       "across channels); `rank` is then the position within customer and channel")},
    flows.ComputeConfig: {"overrides": C("per-offer formulas of computed fields"),
                          "extras": C("further computed personalization fields"),
                          "transforms": C("round, clamp, default and lookup rewrite a computed field or extra, "
                                          "in order (docs/v1_flows.md); format is refused")},
    transforms.RoundTransform: {"type": C("round"), "field": C("the computed field or extra"),
                                "digits": C("digits kept, half away from zero (default 0)")},
    transforms.ClampTransform: {"type": C("clamp"), "field": C("the computed field or extra"),
                                "min": C("values below become min"), "max": C("values above become max")},
    transforms.DefaultTransform: {"type": C("default"), "field": C("the computed field or extra"),
                                  "value": C("the value when the field is NULL")},
    transforms.LookupTransform: {"type": C("lookup"), "field": C("the computed field or extra"),
                                 "mapping": C("value -> replacement"),
                                 "default": C("the replacement of unmapped values (default: the value)")},
    transforms.FormatTransform: {"type": R("part of a format transform", "format"),
                                 "field": R("part of a format transform", "x"),
                                 "pattern": R("part of a format transform", "%.2f")},
    flows.ComputeOverride: {"field": C("the computed field"), "formula": C("its formula"),
                            "offerId": C("the offer (default all)")},
    flows.ComputedExtra: {"name": C("the personalization key"), "formula": C("its formula"),
                          "outputType": C("number or text")},
    flows.SetPropertiesConfig: {"properties": C("personalization properties")},
    flows.Property: {"name": C("the key"), "value": C("a constant"), "formula": C("a formula")},
    flows.ResponseConfig: {
        "responseFormat": C("standard: the S4 tables; grouped also builds <flow>__decisions_grouped and "
                            "kaireon_decisions_grouped, one JSON array of decisions per customer and placement "
                            "(or channel without a group node)"),
        "includeTrace": C("kaireon_traces and <flow>__traces: every candidate of sampled customers, with each "
                          "check's result, score, rank and fate (docs/traces.md)"),
        "decisionTraceSampleRate": C("the traced share: customers with hash_uniform('trace', run_id, customer_id) "
                                     "below it (default 1)"),
    },
    flows.MatchCreativesConfig: {
        "placementId": C("the placement creatives are matched for (default flowConfig.placementId)"),
        "salt": C("salt of hash_uniform(salt, customer_id, offer_id, channel), the weighted choice (default the flow key)"),
        "channelId": R("the candidate's channel picks its creatives (S7); a node-level channel would only reject "
                       "the candidates of other channels", "email"),
    },
    flows.GroupConfig: {"strategy": C("priority_fill (the only strategy): placements filled in the listed order"),
                        "placementIds": C("the placements, filled in this order with the kept candidates on "
                                          "each one's channel, in rank order")},
    flows.CallFlowConfig: {"flowKey": C("the called flow: its candidates past its phase-1 nodes join this flow's "
                                        "(docs/call_flow.md)"),
                           "merge": C("append (the only mode; 'replace' is refused)")},
}

# Whole objects refused: any instance is refused, whatever its fields.
REFUSED_CLASSES: dict[type[BaseModel], str] = {
    transforms.FormatTransform: "format transforms are not supported yet (no formula function formats a number as "
                                "text); use round, or concat() in an extra",
}


# Where each class sits in a config file, for the README's reference.
LABELS: dict[type[BaseModel], str] = {
    catalog.Schema: "schemas[]", catalog.SchemaField: "schemas[].fields[]", catalog.Category: "categories[]",
    catalog.SubCategory: "subCategories[]", catalog.CustomField: "categories[].customFields[]",
    catalog.Channel: "channels[]", catalog.Placement: "placements[]", catalog.Offer: "offers[]",
    catalog.Budget: "offers[].budget", catalog.Schedule: "offers[].schedule", catalog.Creative: "creatives[]",
    catalog.Segment: "segments[]", catalog.InteractionHistory: "interactionHistory",
    catalog.DecisionLogInput: "interactionHistory.decisionLog",
    models.BehavioralMetric: "behavioralMetrics[]", models.AlgorithmModel: "algorithmModels[]",
    models.BayesianConfig: "algorithmModels[].config (bayesian)",
    models.EpsilonGreedyConfig: "algorithmModels[].config (epsilon_greedy)",
    models.ThompsonConfig: "algorithmModels[].config (thompson_bandit)",
    models.ScorecardConfig: "algorithmModels[].config (scorecard)",
    models.OnlineLearnerConfig: "algorithmModels[].config (online_learner)",
    models.ScorecardWeight: "algorithmModels[].config (scorecard).weights[]",
    models.ScorecardBin: "algorithmModels[].config (scorecard).weights[].bins[]",
    models.ArbitrationProfile: "arbitrationProfiles[]", models.ArbitrationWeights: "arbitrationProfiles[].weights",
    rules.QualificationRule: "qualificationRules[]",
    rules.AttributeCondition: "qualificationRules[].config (attribute_condition)",
    rules.SegmentRequired: "qualificationRules[].config (segment_required)",
    rules.PropensityThreshold: "qualificationRules[].config (propensity_threshold)",
    rules.RecencyCheck: "qualificationRules[].config (recency_check)",
    rules.MetricCondition: "qualificationRules[].config (metric_condition)",
    policies.ContactPolicy: "contactPolicies[]",
    **{cls: f"contactPolicies[].config ({tag})" for tag, cls in policies.POLICY_CONFIGS.items()},
    flows.DecisionFlow: "decisionFlows[]", flows.FlowDefinition: "decisionFlows[].draftConfig (or config)",
    flows.FixedStageFlow: "decisionFlows[].draftConfig (or config), version 1", flows.Stages: "….stages",
    flows.FilterStage: "….stages.filter",
    flows.FlowConfig: "….flowConfig", flows.Experiment: "….flowConfig.experiment",
    flows.Rejections: "….flowConfig.rejections", flows.Node: "….nodes[]",
    flows.DiscountSettings: "….flowConfig.discount", flows.DiscountPrior: "….flowConfig.discount.prior",
    **{cls: f"….nodes[].config ({tag})" for tag, cls in flows.NODE_CONFIGS.items()},
    flows.EnrichSource: "….config (enrich).sources[]", flows.RuleGroup: "….config (qualify).logic",
    flows.RuleLeaf: "….logic.conditions[] (a rule)", flows.FilterCondition: "….config (filter).conditions[]",
    flows.ScoreWeights: "….config (score).formula", flows.ModelOverride: "….config (score).overrides[]",
    flows.ChampionChallenger: "….config (score).championChallenger", flows.ComputeOverride: "….config (compute).overrides[]",
    flows.ComputedExtra: "….config (compute).extras[]",
    **{cls: f"….config (compute).transforms[] ({cls.model_fields['type'].annotation.__args__[0]})"
       for cls in transforms.TRANSFORMS}, flows.Property: "….config (set_properties).properties[]",
}


def _names(fields: dict[str, Entry], kind: str, notes: bool) -> str:
    """The fields of one kind as `a` `b`, or with notes as `a` `b` (why); `c` (why), one group per note."""
    if not notes:
        return " ".join(f"`{alias}`" for alias, e in fields.items() if e.kind == kind)
    groups: dict[str, list[str]] = {}
    for alias, e in fields.items():
        if e.kind == kind:
            groups.setdefault(e.note, []).append(f"`{alias}`")
    return "; ".join(f"{' '.join(names)} ({note})" for note, names in groups.items())


def reference_table() -> str:
    """The README's table of every field: compiled, metadata (with why) and refused (with why)."""
    lines = ["| where | compiled | metadata (never changes a decision) | refused (not supported yet) |",
             "|---|---|---|---|"]
    for cls, fields in FIELDS.items():
        if cls in REFUSED_CLASSES:
            refused = f"the whole object: {REFUSED_CLASSES[cls]}; its fields " + _names(fields, REFUSED, False)
        else:
            refused = _names(fields, REFUSED, True)
        lines.append(f"| {LABELS[cls]} | {_names(fields, COMPILED, False) or '—'} | "
                     f"{_names(fields, METADATA, True) or '—'} | {refused or '—'} |")
    return "\n".join(lines) + "\n"


def entry(cls: type[BaseModel], alias: str) -> Entry | None:
    return FIELDS.get(cls, {}).get(alias)


def _alias(name: str, info) -> str:
    return info.alias or name


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    if isinstance(annotation, typing.ForwardRef) or isinstance(annotation, str):
        return True  # the recursive rule tree
    return any(_holds_models(a) for a in typing.get_args(annotation))


@dataclass(frozen=True)
class _Plan:
    """Per class, what the walks look at: refused and metadata fields, and fields that may hold models."""

    refused: tuple[tuple[str, str, Entry, Any, bool], ...]  # name, alias, entry, default, required
    metadata: tuple[tuple[str, str], ...]
    nested: tuple[tuple[str, str], ...]


@functools.cache
def _plan(cls: type[BaseModel]) -> _Plan:
    refused, metadata, nested = [], [], []
    for name, info in cls.model_fields.items():
        alias = _alias(name, info)
        found = entry(cls, alias)
        if found is not None and found.kind == REFUSED:
            required = info.is_required()
            refused.append((name, alias, found, None if required else info.get_default(call_default_factory=True),
                            required))
        elif found is not None and found.kind == METADATA:
            metadata.append((name, alias))
            continue
        if _holds_models(info.annotation):
            nested.append((name, alias))
    return _Plan(tuple(refused), tuple(metadata), tuple(nested))


def _children(obj: BaseModel, path: str):
    """(path, child model) for every model held by a field of `obj`."""
    for name, alias in _plan(type(obj)).nested:
        value = getattr(obj, name)
        here = f"{path}.{alias}" if path else alias
        if isinstance(value, BaseModel):
            yield here, value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield f"{here}[{i}]", item


def _walk(obj: BaseModel, where: Location, path: str, errors: list[ConfigError]) -> None:
    cls = type(obj)
    refused = REFUSED_CLASSES.get(cls)
    if refused is not None:
        errors.append(ConfigError(where.at(path) if path else where, refused))
        return
    for name, alias, found, default, required in _plan(cls).refused:
        if required or getattr(obj, name) != default:
            errors.append(ConfigError(where.at(f"{path}.{alias}" if path else alias),
                                      f"{alias!r} is not supported yet ({found.note}); remove it"))
    for child_path, child in _children(obj, path):
        _walk(child, where, child_path, errors)


def refused_fields(project: Project) -> list[ConfigError]:
    """A validate-time error for every refused object and every refused field set to a non-default value."""
    errors: list[ConfigError] = []
    for kind in KINDS:
        for obj in project.objects[kind]:
            _walk(obj, obj.location, "", errors)
    return errors


def metadata_paths(obj: BaseModel) -> list[tuple[str, ...]]:
    """Paths (aliases and list indexes) of the metadata fields of `obj` and the models it holds."""
    out: list[tuple[str, ...]] = []

    def walk(o: BaseModel, prefix: tuple) -> None:
        plan = _plan(type(o))
        out.extend((*prefix, alias) for _, alias in plan.metadata)
        for name, alias in plan.nested:
            value = getattr(o, name)
            if isinstance(value, BaseModel):
                walk(value, (*prefix, alias))
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, BaseModel):
                        walk(item, (*prefix, alias, i))

    walk(obj, ())
    return out


def strip_metadata(dumped: Any, obj: BaseModel) -> Any:
    """`dumped` (obj.model_dump(by_alias=True)) without its metadata fields: what decisions depend on."""
    for path in metadata_paths(obj):
        node = dumped
        for part in path[:-1]:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return dumped
