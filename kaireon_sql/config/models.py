"""Scoring and measurement objects: algorithm models, arbitration profiles, behavioral metrics."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from .base import TYPE_TAG, ConfigObject, FieldError, Model, tag_config, variant, variants
from .catalog import check_column, check_relation

# Model types that read a 'scoresRelation' of precomputed scores; UPLIFT is scored from its 'modelFile'.
MODEL_TYPES = (
    "scorecard", "bayesian", "gradient_boosted", "thompson_bandit", "epsilon_greedy", "neural_cf", "online_learner",
)
SCORECARD, BAYESIAN, GRADIENT_BOOSTED, THOMPSON_BANDIT, EPSILON_GREEDY, NEURAL_CF, ONLINE_LEARNER = MODEL_TYPES
UPLIFT = "uplift"
ModelType = Literal[MODEL_TYPES + (UPLIFT,)]


class ModelConfig(Model):
    """An algorithm model's typed `config`, one class per modelType (MODEL_CONFIGS), computed in the warehouse.

    A model of such a type with a `scoresRelation` reads those precomputed scores instead (as every type did
    before its engine was compiled) and takes no `config`: settings it would not read are refused."""


_MAX_DAYS = 3650  # ten years of history: a window beyond is a typo


def _customer_field(value: str) -> str:
    """`customer.<field>`: a customer field (checked against the flows that use the model at plan time)."""
    name = value[len("customer."):] if value.startswith("customer.") else ""
    check_column(name)  # letters, digits and _
    return value


class BayesianConfig(ModelConfig):
    """S8 bayesian: hierarchical shrinkage of attributed positives per offer (and groupBy customer fields)."""

    kaireon_type: variant(BAYESIAN)
    smoothing_weight: float = Field(default=10.0, gt=0, le=1e9)
    window_days: float = Field(default=30.0, gt=0, le=_MAX_DAYS)
    group_by: list[str] = Field(default=[], max_length=4)

    @model_validator(mode="after")
    def _groups(self) -> "BayesianConfig":
        for i, name in enumerate(self.group_by):
            try:
                _customer_field(name)
            except ValueError:
                raise FieldError(f"groupBy[{i}]", f"expected customer.<field>, got {name!r}") from None
        if len(set(self.group_by)) != len(self.group_by):
            raise FieldError("groupBy", "a field is listed twice")
        return self


class EpsilonGreedyConfig(BayesianConfig):
    """S8 epsilon_greedy: explore with probability epsilon (hash_uniform), else the bayesian propensity."""

    kaireon_type: variant(EPSILON_GREEDY)
    epsilon: float = Field(ge=0, le=1)
    salt: str | None = Field(default=None, min_length=1, max_length=200)


class ThompsonConfig(ModelConfig):
    """S8 thompson_bandit: one Beta(priorAlpha + k, priorBeta + n - k) draw per customer and offer."""

    kaireon_type: variant(THOMPSON_BANDIT)
    window_days: float = Field(default=30.0, gt=0, le=_MAX_DAYS)
    prior_alpha: float = Field(default=1.0, gt=0, le=1e9)
    prior_beta: float = Field(default=1.0, gt=0, le=1e9)
    salt: str | None = Field(default=None, min_length=1, max_length=200)


class ScorecardBin(Model):
    """A value range [min, max) (a missing bound is open) and the points a value in it scores."""

    min: float | None = None
    max: float | None = None
    points: float

    @model_validator(mode="after")
    def _range(self) -> "ScorecardBin":
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise FieldError("max", f"expected max > min ({self.min:g}), got {self.max:g}")
        return self


class ScorecardWeight(Model):
    """One term: weight * the field's value, or weight * the points of the bin the value falls in."""

    field: str
    weight: float = Field(default=1.0, ge=-1e9, le=1e9)
    bins: list[ScorecardBin] = Field(default=[], max_length=100)

    @field_validator("field")
    @classmethod
    def _field(cls, v: str) -> str:
        prefix, _, name = v.partition(".")
        if prefix not in ("customer", "offer") or not name:
            raise ValueError(f"expected customer.<field> or offer.<field>, got {v!r}")
        return v


class ScorecardConfig(ModelConfig):
    """S8 scorecard: baseScore + the weighted terms, NULL terms 0, clipped to [0, 1]."""

    kaireon_type: variant(SCORECARD)
    base_score: float = Field(default=0.0, ge=-1e9, le=1e9)
    weights: list[ScorecardWeight] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _not_all_zero(self) -> "ScorecardConfig":
        if all(w.weight == 0 for w in self.weights):
            raise FieldError("weights", "every weight is 0: the score would be the constant baseScore; give a "
                                        "field a non-zero weight")
        return self


class OnlineLearnerConfig(ModelConfig):
    """S8 online_learner (docs/online_learner.md): a logistic model, one full-batch gradient step per run.

    `features` are customer number fields, `learningRate` the step size, `regularization` the L2
    penalty on the feature weights, `priorIntercept` every offer's intercept before its first rows (the
    weights start at 0); `schemaId` the schema the training rows read the features from (default: the
    first schema declaring them all). Fields are checked against the schemas at plan time (plan/online.py).
    """

    kaireon_type: variant(ONLINE_LEARNER)
    features: list[str] = Field(default=[], max_length=50)
    learning_rate: float = Field(default=0.5, gt=0, le=1000)
    regularization: float = Field(default=0.0, ge=0, le=1000)
    prior_intercept: float = Field(default=0.0, ge=-50, le=50)
    schema_id: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _features(self) -> "OnlineLearnerConfig":
        for i, name in enumerate(self.features):
            try:
                _customer_field(name)
            except ValueError:
                raise FieldError(f"features[{i}]", f"expected customer.<field> (a number field), got {name!r}") from None
        if len(set(self.features)) != len(self.features):
            raise FieldError("features", "a feature is listed twice")
        return self

    @property
    def fields(self) -> tuple[str, ...]:
        """The customer field names of `features` (without the `customer.` prefix)."""
        return tuple(f[len("customer."):] for f in self.features)


# modelType -> the class of its `config` (one line per engine). A type without one takes no config.
MODEL_CONFIGS: dict[str, type[ModelConfig]] = variants(
    BayesianConfig, EpsilonGreedyConfig, ThompsonConfig, ScorecardConfig, OnlineLearnerConfig)
UNTYPED = "untyped"  # the tag of a config of a modelType without a class: an (empty) mapping
# Trained outside the warehouse (`kaireon train`): an untyped `config` whose keys plan/trained.py checks
TRAINED = (GRADIENT_BOOSTED, NEURAL_CF)


def _config_tag(value: Any) -> str:
    kind = value.get(TYPE_TAG) if isinstance(value, dict) else getattr(value, "kaireon_type", None)
    return kind if kind in MODEL_CONFIGS else UNTYPED


AnyModelConfig = Annotated[Union[tuple(Annotated[c, Tag(t)] for t, c in MODEL_CONFIGS.items())
                                 + (Annotated[dict[str, Any], Tag(UNTYPED)],)], Discriminator(_config_tag)]


class AlgorithmModel(ConfigObject):
    model_type: ModelType
    status: Literal["active", "inactive", "draft", "training"] = "active"
    config: AnyModelConfig = {}
    # A relation of precomputed scores: customer_id, offer_id (optional), propensity, uplift (optional)
    scores_relation: str | None = None
    # modelType uplift: a model saved by `kaireon uplift fit` (path relative to the config folder),
    # scored in the warehouse over `featuresRelation` (default: the flow's first enrich schema)
    model_file: str | None = None
    features_relation: str | None = None
    key_column: str = "customer_id"

    @field_validator("scores_relation", "features_relation")
    @classmethod
    def _relation(cls, v: str | None) -> str | None:
        return None if v is None else check_relation(v)

    @field_validator("key_column")
    @classmethod
    def _column(cls, v: str) -> str:
        return check_column(v)  # type: ignore[return-value]

    @model_validator(mode="before")
    @classmethod
    def _typed_config(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("scoresRelation") is not None:
            return data  # precomputed scores: no settings (an untyped config, refused unless empty)
        if data.get("modelType") in MODEL_CONFIGS and "config" not in data:
            data = {**data, "config": {}}  # the type's defaults (and its required fields refused)
        return tag_config(data, "modelType", MODEL_CONFIGS)

    @property
    def settings(self) -> ModelConfig | None:
        """The typed config of a modelType with a class in MODEL_CONFIGS, else None."""
        return self.config if isinstance(self.config, ModelConfig) else None

    @model_validator(mode="after")
    def _config_of_type(self) -> "AlgorithmModel":
        if self.settings is None and self.config and not (self.model_type in TRAINED and not self.scores_relation):
            why = ("its scores are read from 'scoresRelation', so no setting would be read; remove 'config' (or "
                   "'scoresRelation', to compute the model in the warehouse)") if self.scores_relation else \
                  "its scores come from 'scoresRelation' or 'modelFile'; remove it"
            raise FieldError("config", f"modelType {self.model_type!r} takes no 'config' here: {why}")
        return self

    @model_validator(mode="after")
    def _uplift(self) -> "AlgorithmModel":
        if self.model_type == UPLIFT:
            if not self.model_file:
                raise FieldError("modelFile", "an uplift model needs 'modelFile' (written by `kaireon uplift fit`)")
            if self.scores_relation:
                raise FieldError("scoresRelation", "an uplift model is scored from its 'modelFile'; drop 'scoresRelation'")
        elif self.model_file or self.features_relation:
            raise FieldError("modelFile", "'modelFile' and 'featuresRelation' are for modelType 'uplift'")
        elif "key_column" in self.model_fields_set:
            raise FieldError("keyColumn", "'keyColumn' is for modelType 'uplift' (its features relation); a "
                                          "'scoresRelation' is joined on its customer_id column")
        return self


class ArbitrationWeights(Model):
    conversion: float = Field(default=1.0, ge=0)
    margin: float = Field(default=0.0, ge=0)
    fatigue: float = Field(default=0.0, ge=0)
    fairness: float = Field(default=0.0, ge=0)
    recency: float = Field(default=0.0, ge=0)


class ArbitrationProfile(ConfigObject):
    weights: ArbitrationWeights = ArbitrationWeights()
    is_default: bool = False
    status: Literal["active", "inactive", "draft"] = "active"
    fatigue_days: float = Field(default=7.0, gt=0)  # fatigue: impressions to the customer in the last fatigueDays
    fatigue_cap: float = Field(default=5.0, gt=0)  # ... over fatigueCap
    recency_days: float = Field(default=30.0, gt=0)  # recency: days since the offer last reached the customer / this


METRIC_SOURCES = ("impressions", "positive", "negative", "neutral", "converts", "totalValue")
MetricSource = Literal[METRIC_SOURCES]


class BehavioralMetric(ConfigObject):
    aggregation: Literal["count", "sum", "avg", "min", "max", "ratio"]
    source_field: MetricSource
    denominator_field: MetricSource | None = None
    window_days: float = Field(default=30, gt=0)
    dimensions: list[Literal["offer", "channel", "creative", "outcome"]] = Field(default=[], max_length=2)
    compute_mode: Literal["realtime", "batch"] = "batch"
    status: Literal["active", "inactive", "draft"] = "active"

    @model_validator(mode="after")
    def _ratio(self) -> "BehavioralMetric":
        if (self.aggregation == "ratio") != (self.denominator_field is not None):
            raise FieldError("denominatorField", "'denominatorField' is required for aggregation 'ratio' and only for it")
        if self.compute_mode == "realtime" and self.aggregation not in ("count", "sum"):
            raise ValueError("computeMode 'realtime' supports aggregation 'count' and 'sum' only")
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError("'dimensions' lists a dimension twice")
        return self
