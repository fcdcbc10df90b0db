"""The typed `config` of an `online_learner` algorithm model (S8; docs/online_learner.md).

A logistic model, one full-batch gradient step per run: `features` are customer fields (numbers),
`learningRate` the step size, `regularization` the L2 penalty on the feature weights, and
`priorIntercept` the coefficient every offer's intercept starts from (the feature weights start at 0).
Fields the schema must declare are checked at plan time (plan/online.py), against the project's schemas.
"""
from __future__ import annotations

from pydantic import Field, field_validator

from .base import FieldError, Model
from .catalog import check_column

ONLINE_LEARNER = "online_learner"  # the modelType (config/models.py MODEL_TYPES)
MAX_FEATURES = 50


class OnlineLearnerConfig(Model):
    features: list[str] = Field(default=[], max_length=MAX_FEATURES)
    learning_rate: float = Field(default=0.5, gt=0, le=1000)
    regularization: float = Field(default=0.0, ge=0, le=1000)
    prior_intercept: float = Field(default=0.0, ge=-50, le=50)
    # the schema the training rows read the features from (default: the first schema declaring them all)
    schema_id: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("features")
    @classmethod
    def _features(cls, v: list[str]) -> list[str]:
        for i, name in enumerate(v):
            field = name[len("customer."):] if name.startswith("customer.") else ""
            try:
                check_column(field)
            except ValueError:
                raise FieldError(f"features[{i}]", f"expected customer.<field> (a number field), got {name!r}") from None
        if len(set(v)) != len(v):
            raise FieldError("features", "a feature is listed twice")
        return v

    @property
    def fields(self) -> tuple[str, ...]:
        """The customer field names of `features` (without the `customer.` prefix)."""
        return tuple(f[len("customer."):] for f in self.features)
