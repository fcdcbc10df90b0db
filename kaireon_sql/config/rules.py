"""Qualification rules: five rule types, seven scopes, hard and soft (fit) stages."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from .. import regex
from .base import TYPE_FIELD, ConfigObject, FieldError, Model, tag_config, variant, variants

OPERATORS = (
    "eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in",
    "contains", "starts_with", "regex", "exists", "not_exists",
)
Operator = Literal[OPERATORS]
Comparison = Literal["eq", "neq", "gt", "gte", "lt", "lte"]
RuleScope = Literal["global", "category", "subcategory", "offer", "channel", "segment", "placement"]


def check_operand(operator: str, value: Any, has_value: bool) -> None:
    """The shape of `value` each operator expects (shared by rules and filter conditions)."""
    if operator in ("exists", "not_exists"):
        if has_value and value is not None:
            raise FieldError("value", f"operator {operator!r} takes no 'value'")
        return
    if not has_value or value is None:
        raise FieldError("value", f"operator {operator!r} needs a 'value'")
    if operator in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise FieldError("value", f"operator {operator!r} needs 'value' to be a non-empty list")
        for item in value:
            if not isinstance(item, (str, int, float, bool)):
                raise FieldError("value", f"operator {operator!r} needs a list of numbers or strings, got {item!r}")
    elif operator in ("contains", "starts_with", "regex"):
        if not isinstance(value, str):
            raise FieldError("value", f"operator {operator!r} needs a string 'value', got {value!r}")
        if operator == "regex":
            try:
                regex.parse(value)
            except regex.RegexError as exc:
                raise FieldError("value", regex.describe(value, exc)) from None
    elif operator in ("gt", "gte", "lt", "lte"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise FieldError("value", f"operator {operator!r} needs a number or string 'value', got {value!r}")
    elif not isinstance(value, (str, int, float, bool)):
        raise FieldError("value", f"operator {operator!r} needs a number, string or boolean 'value', got {value!r}")


class RuleConfig(Model):
    missing: Literal["fail", "pass"] = "fail"
    multiplier: float = Field(default=0.5, ge=0)  # fit stage: score multiplier when the rule fails


class AttributeCondition(RuleConfig):
    kaireon_type: variant("attribute_condition")
    attribute: str
    operator: Operator
    value: Any = None

    @model_validator(mode="after")
    def _operand(self) -> "AttributeCondition":
        check_operand(self.operator, self.value, "value" in self.model_fields_set)
        return self


class SegmentRequired(RuleConfig):
    kaireon_type: variant("segment_required")
    segment_id: str | None = None
    segment: str | None = None
    negate: bool = False  # true: the customer must NOT be in the segment

    @model_validator(mode="after")
    def _one(self) -> "SegmentRequired":
        if (self.segment_id is None) == (self.segment is None):
            raise FieldError("segmentId", "segment_required needs exactly one of 'segmentId' or 'segment'")
        return self

    @property
    def segment_ref(self) -> str:
        return self.segment_id if self.segment_id is not None else self.segment  # type: ignore[return-value]


class PropensityThreshold(RuleConfig):
    kaireon_type: variant("propensity_threshold")
    threshold: float = Field(ge=-1, le=1)
    operator: Literal["gt", "gte"] = "gte"
    model_id: str | None = None
    score: Literal["propensity", "uplift"] = "propensity"  # uplift: seed 003's targeting by incremental effect

    @model_validator(mode="after")
    def _range(self) -> "PropensityThreshold":
        if self.score == "propensity" and self.threshold < 0:
            raise FieldError("threshold", f"a propensity threshold is between 0 and 1, got {self.threshold}")
        return self


class RecencyCheck(RuleConfig):
    kaireon_type: variant("recency_check")
    condition: Literal["has", "has_not"]
    within_days: float = Field(gt=0)
    outcome_type: str = "impression"
    same_offer: bool = False
    channel: str | None = None


class MetricCondition(RuleConfig):
    kaireon_type: variant("metric_condition")
    metric_id: str
    operator: Comparison
    value: float


RULE_CONFIGS: dict[str, type[RuleConfig]] = variants(
    AttributeCondition, SegmentRequired, PropensityThreshold, RecencyCheck, MetricCondition)
RuleType = Literal[tuple(RULE_CONFIGS)]
AnyRuleConfig = Annotated[Union[tuple(RULE_CONFIGS.values())], Field(discriminator=TYPE_FIELD)]


class QualificationRule(ConfigObject):
    rule_type: RuleType
    scope: RuleScope = "global"
    scope_id: str | None = None
    stage: Literal["eligibility", "qualification", "fit"] = "qualification"
    priority: int = 0
    status: Literal["active", "inactive", "draft"] = "active"
    config: AnyRuleConfig

    @model_validator(mode="before")
    @classmethod
    def _typed_config(cls, data: Any) -> Any:
        return tag_config(data, "ruleType", RULE_CONFIGS)

    @model_validator(mode="after")
    def _scope(self) -> "QualificationRule":
        if self.scope != "global" and not self.scope_id:
            raise FieldError("scopeId", f"scope {self.scope!r} needs a 'scopeId' naming the {self.scope} it applies to")
        if self.scope == "global" and self.scope_id:
            raise FieldError("scopeId", "a global rule takes no 'scopeId'; set 'scope' to what the id names")
        return self

    @property
    def hard(self) -> bool:
        return self.stage != "fit"
