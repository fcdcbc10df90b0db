"""Scoring and measurement objects: algorithm models, arbitration profiles, behavioral metrics."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import ConfigObject, FieldError, Model
from .catalog import check_column, check_relation

# Model types that read a 'scoresRelation' of precomputed scores; UPLIFT is scored from its 'modelFile'.
MODEL_TYPES = (
    "scorecard", "bayesian", "gradient_boosted", "thompson_bandit", "epsilon_greedy", "neural_cf", "online_learner",
)
UPLIFT = "uplift"
ModelType = Literal[MODEL_TYPES + (UPLIFT,)]


class AlgorithmModel(ConfigObject):
    model_type: ModelType
    status: Literal["active", "inactive", "draft", "training"] = "active"
    config: dict[str, Any] = {}
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
