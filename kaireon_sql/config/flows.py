"""Decision Flows (v2 composable pipeline): flow config and the 13 node types."""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, field_validator, model_validator

from .base import TYPE_FIELD, ConfigObject, FieldError, Model, tag_config, variant, variants
from .catalog import check_relation
from .rules import Operator, check_operand

class NodeConfig(Model):
    pass


class InventoryConfig(NodeConfig):
    kaireon_type: variant("inventory")
    scope: Literal["all", "category", "manual"] = "all"
    category_ids: list[str] = []
    offer_ids: list[str] = []
    include_statuses: list[Literal["active", "inactive", "draft", "archived", "paused"]] = ["active"]

    @model_validator(mode="after")
    def _lists(self) -> "InventoryConfig":
        if self.scope == "category" and not self.category_ids:
            raise FieldError("categoryIds", "scope 'category' needs a non-empty 'categoryIds' list")
        if self.scope == "manual" and not self.offer_ids:
            raise FieldError("offerIds", "scope 'manual' needs a non-empty 'offerIds' list")
        if self.scope != "category" and self.category_ids:
            raise FieldError("categoryIds", f"'categoryIds' is only read with scope 'category', not {self.scope!r}")
        if self.scope != "manual" and self.offer_ids:
            raise FieldError("offerIds", f"'offerIds' is only read with scope 'manual', not {self.scope!r}")
        return self


class EnrichSource(Model):
    schema_id: str
    lookup_key: str = "customer_id"
    fields: list[str] = []  # empty: every field of the schema


class EnrichConfig(NodeConfig):
    kaireon_type: variant("enrich")
    sources: list[EnrichSource] = Field(min_length=1)


class RuleLeaf(Model):
    rule_id: str


class RuleGroup(Model):
    operator: Literal["AND", "OR", "and", "or"]
    conditions: list[Union["RuleGroup", RuleLeaf]] = Field(min_length=1)


class QualifyConfig(NodeConfig):
    kaireon_type: variant("qualify")
    mode: Literal["all", "any"] = "all"
    rule_ids: list[str] | None = None  # default: every active rule
    logic: RuleGroup | None = None

    @model_validator(mode="after")
    def _mode(self) -> "QualifyConfig":
        if self.logic is not None and self.mode != "all":
            raise FieldError("mode", "'mode' is not read when 'logic' is given (the tree decides); drop 'mode'")
        return self


class ContactPolicyConfig(NodeConfig):
    kaireon_type: variant("contact_policy")
    mode: Literal["all"] = "all"
    policy_ids: list[str] | None = None  # default: every active policy


class FilterCondition(Model):
    field: str
    operator: Operator
    value: Any = None
    value_formula: str | None = None

    @model_validator(mode="after")
    def _operand(self) -> "FilterCondition":
        if self.value_formula is not None:
            if "value" in self.model_fields_set:
                raise FieldError("valueFormula", "give either 'value' or 'valueFormula', not both")
            if self.operator in ("exists", "not_exists", "in", "not_in"):
                raise FieldError("valueFormula", f"operator {self.operator!r} does not take 'valueFormula'")
            return self
        check_operand(self.operator, self.value, "value" in self.model_fields_set)
        return self


class FilterConfig(NodeConfig):
    kaireon_type: variant("filter")
    mode: Literal["all", "any"] = "all"
    conditions: list[FilterCondition] = Field(min_length=1)


class ScoreWeights(Model):
    propensity_weight: float = Field(default=0.0, ge=0)
    relevance_weight: float = Field(default=0.0, ge=0)
    impact_weight: float = Field(default=0.0, ge=0)
    emphasis_weight: float = Field(default=0.0, ge=0)
    uplift_weight: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _positive(self) -> "ScoreWeights":
        total = (self.propensity_weight + self.relevance_weight + self.impact_weight
                 + self.emphasis_weight + self.uplift_weight)
        if total <= 0:
            raise ValueError("at least one weight must be greater than 0")
        return self


class ModelOverride(Model):
    """S8: candidates in the scope (an offer, a category or a channel) are scored by `modelId`."""

    scope: Literal["offer", "category", "channel"]
    scope_id: str
    model_id: str


class ChampionChallenger(Model):
    """S8: customers with hash_uniform(salt, customer_id) < trafficPercent / 100 are scored by the challenger."""

    challenger_model_id: str
    traffic_percent: float = Field(ge=0, le=100)
    salt: str | None = None  # default '<flow key>:challenger'


class ScoreConfig(NodeConfig):
    kaireon_type: variant("score")
    method: Literal["formula", "expression", "priority", "model"] = "formula"
    formula: ScoreWeights | None = None
    expression: str | None = None
    model_id: str | None = None
    overrides: list[ModelOverride] = []
    champion_challenger: ChampionChallenger | None = None
    arbitration_profile_id: str | None = None

    @model_validator(mode="after")
    def _method(self) -> "ScoreConfig":
        if self.method == "formula" and self.formula is None:
            self.formula = ScoreWeights(propensity_weight=1.0)
        if self.method == "model" and not self.model_id:
            raise FieldError("modelId", "method 'model' scores with an algorithm model; expected 'modelId'")
        if self.method == "expression" and not self.expression:
            raise FieldError("expression", "method 'expression' needs an 'expression' formula")
        if self.method != "expression" and self.expression is not None:
            raise FieldError("expression", "'expression' is only used with method 'expression'")
        if self.method != "formula" and self.formula is not None:
            raise FieldError("formula", f"'formula' (the weights) is only used with method 'formula', not {self.method!r}")
        if (self.overrides or self.champion_challenger) and not self.model_id:
            raise FieldError("overrides" if self.overrides else "championChallenger",
                             "overrides and championChallenger choose among models; expected 'modelId' (the champion, "
                             "the model of candidates no override covers)")
        if self.arbitration_profile_id and self.method != "model":
            raise FieldError("arbitrationProfileId", f"formula, expression and priority scores never arbitrate (S8); "
                                                     f"expected method 'model', not {self.method!r}")
        return self


# Rank methods (S7), written once: the compiler's tables (sql/rank.py, plan/rank.py) are keyed by these.
RANK_METHOD_NAMES = ("topN", "diversity", "round_robin", "explore_exploit")
TOP_N, DIVERSITY, ROUND_ROBIN, EXPLORE_EXPLOIT = RANK_METHOD_NAMES


class RankConfig(NodeConfig):
    kaireon_type: variant("rank")
    method: Literal[RANK_METHOD_NAMES] = TOP_N
    max_candidates: int = Field(default=1, ge=1, le=1000)
    per_channel: bool = False  # S7: maxCandidates counts per customer and channel (default: per customer)


class ComputedExtra(Model):
    name: str
    formula: str
    output_type: Literal["number", "text"] | None = None


class ComputeOverride(Model):
    field: str
    formula: str
    offer_id: str | None = None


class ComputeConfig(NodeConfig):
    kaireon_type: variant("compute")
    overrides: list[ComputeOverride] = []
    extras: list[ComputedExtra] = []
    transforms: list[dict[str, Any]] = []


class Property(Model):
    name: str
    value: str | int | float | bool | None = None
    formula: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "Property":
        if (self.formula is None) == ("value" not in self.model_fields_set):
            raise ValueError("a property needs exactly one of 'value' or 'formula'")
        return self


class SetPropertiesConfig(NodeConfig):
    kaireon_type: variant("set_properties")
    properties: list[Property] = Field(min_length=1)


class ResponseConfig(NodeConfig):
    kaireon_type: variant("response")
    response_format: Literal["standard", "grouped"] = "standard"
    include_trace: bool = False


class MatchCreativesConfig(NodeConfig):
    kaireon_type: variant("match_creatives")
    placement_id: str | None = None
    channel_id: str | None = None


class GroupConfig(NodeConfig):
    kaireon_type: variant("group")
    strategy: Literal["priority_fill"] = "priority_fill"
    placement_ids: list[str] = []


class CallFlowConfig(NodeConfig):
    kaireon_type: variant("call_flow")
    flow_key: str
    merge: Literal["append", "replace"] = "append"


NODE_CONFIGS: dict[str, type[NodeConfig]] = variants(
    InventoryConfig, MatchCreativesConfig, EnrichConfig, QualifyConfig, ContactPolicyConfig, FilterConfig,
    ScoreConfig, RankConfig, GroupConfig, ComputeConfig, SetPropertiesConfig, ResponseConfig, CallFlowConfig)
NODE_TYPES = tuple(NODE_CONFIGS)
NodeType = Literal[NODE_TYPES]
AnyNodeConfig = Annotated[Union[tuple(NODE_CONFIGS.values())], Field(discriminator=TYPE_FIELD)]


class Node(Model):
    id: str
    type: NodeType
    phase: Literal[1, 2, 3] | None = None
    position: int | None = None
    label: str | None = None
    config: AnyNodeConfig

    @model_validator(mode="before")
    @classmethod
    def _typed_config(cls, data: Any) -> Any:
        return tag_config(data, "type", NODE_CONFIGS)


class Experiment(Model):
    enabled: bool = False
    holdout_percent: float = Field(default=0, ge=0, le=100)
    control_group_action: Literal["no_offers", "priority_only"] = "no_offers"
    salt: str | None = None
    # Analysis (docs/experiments.md); not part of the decisions' config hash.
    outcome_window_days: float = Field(default=14, gt=0, le=3650)  # outcomes in (as_of, as_of + window]
    outcome: str = Field(default="convert", min_length=1)  # interaction outcome that counts as converted
    revenue_outcome: str | None = Field(default=None, min_length=1)  # outcome whose `value` is revenue; default `outcome`
    assignments_relation: str | None = None  # past runs' assignments (runs before the decision log)
    min_group_size: int = Field(default=30, ge=1)  # smaller arms: the readout warns the test is underpowered

    ANALYSIS_FIELDS: ClassVar[tuple[str, ...]] = (
        "outcomeWindowDays", "outcome", "revenueOutcome", "assignmentsRelation", "minGroupSize")

    @field_validator("assignments_relation")
    @classmethod
    def _relation(cls, v: str | None) -> str | None:
        return None if v is None else check_relation(v)


class Rejections(Model):
    volume: Literal["all", "sampled", "none"] = "all"
    sample_rate: float = Field(default=0.1, gt=0, le=1)

    @model_validator(mode="after")
    def _rate(self) -> "Rejections":
        if "sample_rate" in self.model_fields_set and self.volume != "sampled":
            raise FieldError("sampleRate", f"'sampleRate' is only read with volume 'sampled', not {self.volume!r}")
        return self


class FlowConfig(Model):
    experiment: Experiment = Experiment()
    channel: str | list[str] | None = None
    placement_id: str | None = None  # the placement the flow decides for (placement-scoped rules)
    rejections: Rejections = Rejections()
    arbitration_profile_id: str | None = None
    run_order: int = 0  # S7: flows of one build are decided by runOrder, then key
    allow_same_offer_on_several_channels: bool = False  # S7: default one channel per offer per customer per run

    @field_validator("channel")
    @classmethod
    def _auto(cls, v: str | list[str] | None) -> str | list[str] | None:
        if v == "auto" or (isinstance(v, list) and "auto" in v):
            raise ValueError("channel 'auto' (each customer's preferred consented channel, S9) is not supported yet; "
                             "expected a channel or a list of channels the flow decides on")
        return v


V1_STAGES = ("inventory", "filter", "scoring", "ranking")


class FlowDefinition(Model):
    version: Literal[2]
    flow_config: FlowConfig = FlowConfig()
    nodes: list[Node] = Field(min_length=1)

    @model_validator(mode="after")
    def _nodes(self) -> "FlowDefinition":
        seen: set[str] = set()
        for i, node in enumerate(self.nodes):
            if node.id in seen:
                raise FieldError(f"nodes[{i}].id", f"node id {node.id!r} is used twice; node ids must be unique in a flow")
            seen.add(node.id)
        return self


class DecisionFlow(ConfigObject):
    key: str
    version: int = Field(default=1, ge=1)
    status: Literal["draft", "published", "active", "archived"] | None = None
    draft_config: FlowDefinition | None = None
    config: FlowDefinition | None = None

    @model_validator(mode="before")
    @classmethod
    def _v1(cls, data: Any) -> Any:
        """A fixed-stage (v1) flow gets a clear refusal instead of a list of schema errors."""
        if isinstance(data, dict):
            if "stages" in data:
                raise FieldError("stages", "v1 fixed-stage flows (stages.inventory, stages.filter, stages.scoring, "
                                           "stages.ranking) are not supported yet; expected a version 2 composable "
                                           "pipeline: draftConfig: {version: 2, flowConfig: ..., nodes: [...]}")
            for key in ("draftConfig", "config"):
                definition = data.get(key)
                if isinstance(definition, dict) and ("stages" in definition or definition.get("version") == 1):
                    field = f"{key}.stages" if "stages" in definition else f"{key}.version"
                    raise FieldError(field, "v1 fixed-stage flows (stages.inventory, stages.filter, stages.scoring, "
                                            "stages.ranking) are not supported yet; expected a version 2 composable "
                                            f"pipeline: {key}: {{version: 2, flowConfig: ..., nodes: [...]}} with "
                                            "inventory, enrich, qualify, contact_policy, score and rank nodes")
        return data

    @model_validator(mode="after")
    def _one_definition(self) -> "DecisionFlow":
        if self.draft_config is None and self.config is None:
            raise ValueError("a Decision Flow needs 'draftConfig' or 'config' with version 2 and nodes")
        if self.draft_config is not None and self.config is not None:
            raise ValueError("give either 'draftConfig' or 'config', not both")
        if self.status == "archived":
            raise FieldError("status", "an archived flow would still run: every flow in the config folder is taken "
                                       "as published (S2); remove the flow from the folder to stop it")
        return self

    @property
    def definition(self) -> FlowDefinition:
        return self.config or self.draft_config  # type: ignore[return-value]

    def names(self) -> list[str]:
        return [n for n in (self.id, self.key, self.name) if n is not None]

    @property
    def ref(self) -> str:
        return self.key
