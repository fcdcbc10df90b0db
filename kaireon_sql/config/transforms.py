"""Compute transforms (S7): typed post-processing of a compute node's personalization values.

`compute.config.transforms` is a list applied in order; each names a `field` (a computed custom field
of the offers' categories, or one of the node's `extras`) and rewrites its value with a formula
(plan/personalize.py builds the formula tree, so S5's NULL and rounding rules hold on every engine):

- `round`   {digits}:          round(value, digits), half away from zero
- `clamp`   {min, max}:        min when value < min, max when value > max, else value (NULL stays NULL)
- `default` {value}:           coalesce(value, <value>)
- `lookup`  {mapping, default}: the mapped value of the value (keys compared as text or numbers);
                               unmapped values give `default` when given, else the value itself
- `format`  (refused at validate time: no formula function formats numbers as text yet)
"""
from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from .base import FieldError, Model

Scalar = Union[str, float]


class TransformBase(Model):
    field: str = Field(min_length=1)


class RoundTransform(TransformBase):
    type: Literal["round"]
    digits: int = Field(default=0, ge=0, le=12)


class ClampTransform(TransformBase):
    type: Literal["clamp"]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> "ClampTransform":
        if self.min is None and self.max is None:
            raise FieldError("min", "a clamp transform needs 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldError("max", f"'max' ({self.max}) is below 'min' ({self.min})")
        return self


class DefaultTransform(TransformBase):
    type: Literal["default"]
    value: Scalar

    @model_validator(mode="after")
    def _finite(self) -> "DefaultTransform":
        if isinstance(self.value, float) and not math.isfinite(self.value):
            raise FieldError("value", "expected a finite number or a text")
        return self


class LookupTransform(TransformBase):
    type: Literal["lookup"]
    mapping: dict[str, Scalar] = Field(min_length=1, max_length=1000)
    default: Scalar | None = None


class FormatTransform(TransformBase):
    type: Literal["format"]
    pattern: str


TRANSFORMS = (RoundTransform, ClampTransform, DefaultTransform, LookupTransform, FormatTransform)
AnyTransform = Annotated[Union[TRANSFORMS], Field(discriminator="type")]
