"""Decision Flows (v2 composable pipeline): flow config and the 13 node types; v1 stages in config/v1.py."""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Discriminator, Field, PrivateAttr, Tag, field_validator, model_validator

from .base import IDENTIFIER, TYPE_FIELD, ConfigObject, FieldError, Model, tag_config, variant, variants
from .catalog import DiscountTier, check_relation, check_tiers
from .rules import Operator, check_operand
from .transforms import AnyTransform
from .v1 import V1Location

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


# RankConfig fields read by one or two methods only (S7); set for another method, they are refused (S10).
# (camelCase name, snake_case attribute) -> the methods that read it.
RANK_METHOD_FIELDS = {("maxPerGroup", "max_per_group"): (DIVERSITY,), ("groupBy", "group_by"): (DIVERSITY, ROUND_ROBIN),
                      ("explorationRate", "exploration_rate"): (EXPLORE_EXPLOIT,), ("salt", "salt"): (EXPLORE_EXPLOIT,)}


class RankConfig(NodeConfig):
    kaireon_type: variant("rank")
    method: Literal[RANK_METHOD_NAMES] = TOP_N
    max_candidates: int = Field(default=1, ge=1, le=1000)
    per_channel: bool = False  # S7: maxCandidates counts per customer and channel (default: per customer)
    max_per_group: int = Field(default=1, ge=1, le=1000)  # diversity: k kept per group
    group_by: str = "category"  # diversity, round_robin: category | subCategory | channel | an offer field
    exploration_rate: float | None = Field(default=None, ge=0, le=1)  # explore_exploit: e
    salt: str | None = None  # explore_exploit: the hash salt (default the flow key)

    @model_validator(mode="after")
    def _method_fields(self) -> "RankConfig":
        for (name, attribute), methods in RANK_METHOD_FIELDS.items():
            if self.method not in methods and attribute in self.model_fields_set:
                raise FieldError(name, f"{name!r} is only read by rank method(s) {', '.join(map(repr, methods))}, "
                                       f"not {self.method!r}; drop it or change 'method'")
        if self.method == EXPLORE_EXPLOIT and self.exploration_rate is None:
            raise FieldError("explorationRate", "method 'explore_exploit' needs 'explorationRate', a number in [0, 1]")
        return self


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
    transforms: list[AnyTransform] = []  # config/transforms.py; applied in order (plan/transforms.py)


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
    # S7: the customers with hash_uniform('trace', run_id, customer_id) below it are traced (docs/traces.md)
    decision_trace_sample_rate: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _trace(self) -> "ResponseConfig":
        if "decision_trace_sample_rate" in self.model_fields_set and not self.include_trace:
            raise FieldError("decisionTraceSampleRate", "'decisionTraceSampleRate' is only read with "
                                                        "includeTrace: true; set includeTrace or drop it")
        return self


class MatchCreativesConfig(NodeConfig):
    """S7: each candidate gets one active creative of its offer on its channel, chosen by weight."""

    kaireon_type: variant("match_creatives")
    placement_id: str | None = None  # default: flowConfig.placementId
    channel_id: str | None = None  # refused (config/fields.py): the candidate's channel picks the creatives
    salt: str | None = Field(default=None, min_length=1)  # of hash_uniform(salt, customer_id, offer_id, channel); default the flow key


class GroupConfig(NodeConfig):
    """S7 placements: the listed placements are filled in order, each with up to its `maxSlots` of the
    customer's kept candidates on its channel, in the rank node's final order (plan/placements.py)."""

    kaireon_type: variant("group")
    strategy: Literal["priority_fill"] = "priority_fill"
    placement_ids: list[str] = []

    @model_validator(mode="after")
    def _placements(self) -> "GroupConfig":
        if not self.placement_ids:
            raise FieldError("placementIds", "a group node fills the placements it lists; expected a non-empty "
                                             "'placementIds' list of placement ids, filled in that order")
        seen: set[str] = set()
        for i, ref in enumerate(self.placement_ids):
            if ref in seen:
                raise FieldError(f"placementIds[{i}]", f"placement {ref!r} is listed twice; a placement is filled "
                                                       "once, expected each id once")
            seen.add(ref)
        return self


class CallFlowConfig(NodeConfig):
    kaireon_type: variant("call_flow")
    flow_key: str
    merge: Literal["append", "replace"] = "append"

    @model_validator(mode="after")
    def _merge(self) -> "CallFlowConfig":
        if self.merge == "replace":
            raise FieldError("merge", "merge 'replace' (the called flow's candidates instead of the calling flow's) "
                                      "is not supported; expected 'append' (the default): the called flow's "
                                      "candidates join the calling flow's (docs/call_flow.md)")
        return self


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


class DiscountPrior(Model):
    """The Beta(alpha, beta) prior of every tier's conversion rate (S9 discount learner)."""

    alpha: float = Field(default=1.0, gt=0)
    beta: float = Field(default=1.0, gt=0)


# groupBy's default: the S9 lifecycle stage, read as customer.lifecycleStage (docs/discount_learner.md)
DEFAULT_DISCOUNT_GROUP = "lifecycleStage"


class DiscountSettings(Model):
    """flowConfig.discount: how the discount learner pools outcomes and draws (docs/discount_learner.md)."""

    group_by: str | None = DEFAULT_DISCOUNT_GROUP  # a customer field (`x` or `customer.x`); null: one pool
    prior: DiscountPrior = DiscountPrior()
    window_days: float = Field(default=30, gt=0, le=3650)  # attributed impressions in (as_of - window, as_of]
    salt: str | None = Field(default=None, min_length=1)  # of the Thompson draws; default the flow key

    @field_validator("group_by")
    @classmethod
    def _group(cls, v: str | None) -> str | None:
        name = v[len("customer."):] if v is not None and v.startswith("customer.") else v
        if name is not None and not IDENTIFIER.match(name):
            raise ValueError(f"expected a customer field name (e.g. lifecycleStage or customer.segment), not {v!r}")
        return name


class FlowConfig(Model):
    experiment: Experiment = Experiment()
    channel: str | list[str] | None = None
    placement_id: str | None = None  # the placement the flow decides for (placement-scoped rules)
    rejections: Rejections = Rejections()
    arbitration_profile_id: str | None = None
    run_order: int = 0  # S7: flows of one build are decided by runOrder, then key
    allow_same_offer_on_several_channels: bool = False  # S7: default one channel per offer per customer per run
    discount_tiers: list[DiscountTier] | None = None  # S9 discount learner: percents; an offer's own list wins
    discount: DiscountSettings | None = None

    @field_validator("discount_tiers")
    @classmethod
    def _tiers(cls, v: list[float] | None) -> list[float] | None:
        return check_tiers(v)

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


# ---- fixed-stage (v1) definitions, compiled to v2 nodes when they load (docs/v1_flows.md, config/v1.py) ----

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
    node_type = type(config).model_fields["kaireon_type"].default
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



def _definition_kind(data: Any) -> str:
    """'v1' for a fixed-stage definition (`stages`, or `version: 1`), else 'v2'."""
    if isinstance(data, FixedStageFlow):
        return "v1"
    if isinstance(data, dict) and ("stages" in data or data.get("version") == 1):
        return "v1"
    return "v2"


AnyDefinition = Annotated[Union[Annotated[FlowDefinition, Tag("v2")], Annotated[FixedStageFlow, Tag("v1")]],
                          Discriminator(_definition_kind)]
DEFINITION_TAGS = ("v1", "v2")  # pydantic's union tags in error paths; the loader leaves them out


class DecisionFlow(ConfigObject):
    key: str
    version: int = Field(default=1, ge=1)
    status: Literal["draft", "published", "active", "archived"] | None = None
    draft_config: AnyDefinition | None = None
    config: AnyDefinition | None = None

    @model_validator(mode="before")
    @classmethod
    def _v1(cls, data: Any) -> Any:
        """`stages` belongs inside the definition: a clear message instead of 'unknown field'."""
        if isinstance(data, dict) and "stages" in data:
            raise FieldError("stages", "a fixed-stage (v1) flow's stages go inside its definition; expected "
                                       "draftConfig: {version: 1, flowConfig: ..., stages: {inventory: ..., "
                                       "enrichment: ..., filter: ..., scoring: ..., ranking: ...}}")
        return data

    @model_validator(mode="after")
    def _one_definition(self) -> "DecisionFlow":
        if self.draft_config is None and self.config is None:
            raise ValueError("a Decision Flow needs 'draftConfig' or 'config': version 2 with nodes, or version 1 with stages")
        if self.draft_config is not None and self.config is not None:
            raise ValueError("give either 'draftConfig' or 'config', not both")
        if self.status == "archived":
            raise FieldError("status", "an archived flow would still run: every flow in the config folder is taken "
                                       "as published (S2); remove the flow from the folder to stop it")
        return self

    @property
    def definition(self) -> FlowDefinition:
        """The v2 definition (a v1 flow's compiled nodes)."""
        written = self.config or self.draft_config
        return written.compiled if isinstance(written, FixedStageFlow) else written  # type: ignore[return-value]

    @property
    def fixed_stage(self) -> FixedStageFlow | None:
        written = self.config or self.draft_config
        return written if isinstance(written, FixedStageFlow) else None

    @property
    def location(self):
        """Where the flow is; a v1 flow's node paths read as the stage paths the user wrote."""
        v1 = self.fixed_stage
        return self._location if v1 is None else V1Location.of(self._location, v1.node_paths)

    def names(self) -> list[str]:
        return [n for n in (self.id, self.key, self.name) if n is not None]

    @property
    def ref(self) -> str:
        return self.key
