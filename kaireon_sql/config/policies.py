"""Contact policies: caps, cooldowns, quiet hours and suppressions applied after qualification."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from ..timezones import zone_problem
from .base import TYPE_FIELD, ConfigObject, FieldError, Model, tag_config, variant, variants

DAYS_OF_WEEK = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ADVERSE_OUTCOMES = ("complaint", "unsubscribe", "hard_bounce", "spam_report")
PolicyScope = Literal["global", "offer", "creative", "channel", "category", "segment"]


class PolicyConfig(Model):
    pass


class FrequencyCap(PolicyConfig):
    kaireon_type: variant("frequency_cap")
    max_per_day: int | None = Field(default=None, gt=0)
    max_per_week: int | None = Field(default=None, gt=0)
    max_per_month: int | None = Field(default=None, gt=0)
    max_contacts: int | None = Field(default=None, gt=0)
    window_days: float | None = Field(default=None, gt=0)
    per_offer: bool = False  # count and cap each offer separately (beyond the seeds)

    @model_validator(mode="after")
    def _some_cap(self) -> "FrequencyCap":
        if (self.max_contacts is None) != (self.window_days is None):
            raise FieldError("windowDays" if self.window_days is None else "maxContacts", "'maxContacts' and 'windowDays' go together")
        if not any(v is not None for v in (self.max_per_day, self.max_per_week, self.max_per_month, self.max_contacts)):
            raise ValueError("frequency_cap needs maxPerDay, maxPerWeek, maxPerMonth or maxContacts + windowDays")
        return self


class CustomerTotalCap(PolicyConfig):
    kaireon_type: variant("customer_total_cap")
    max_total: int = Field(gt=0)
    period_type: Literal["daily", "weekly", "monthly"] = "monthly"


class Cooldown(PolicyConfig):
    kaireon_type: variant("cooldown")
    cooldown_hours: float = Field(gt=0)
    per_offer: bool = False  # cool down each offer separately (beyond the seeds)


class TimeWindow(PolicyConfig):
    kaireon_type: variant("time_window")
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=23)
    timezone: str = "UTC"
    days_of_week: list[Literal[DAYS_OF_WEEK]] | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if v.startswith("customer."):  # read per row; a NULL or unknown zone rejects that customer (S5)
            return v
        problem = zone_problem(v)  # the list the SQL converts with (kaireon_sql/timezones.py), not this machine's
        if problem is not None:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> "TimeWindow":
        if self.start_hour == self.end_hour:
            raise FieldError("endHour", "startHour equals endHour: the window would never allow a contact")
        return self


class OutcomeBased(PolicyConfig):
    kaireon_type: variant("outcome_based")
    outcome_type: str | None = None
    outcome_types: list[str] | None = None
    preset: Literal["adverse_outcomes"] | None = None
    lookback_days: float = Field(default=30, gt=0)
    per_offer: bool = False  # suppress only the offer the outcome was on (e.g. already converted)

    @model_validator(mode="after")
    def _some(self) -> "OutcomeBased":
        if not (self.outcome_type or self.outcome_types or self.preset):
            raise ValueError("outcome_based needs 'outcomeType', 'outcomeTypes' or preset 'adverse_outcomes'")
        return self

    @property
    def outcomes(self) -> list[str]:
        found = list(self.outcome_types or []) + ([self.outcome_type] if self.outcome_type else [])
        return found + (list(ADVERSE_OUTCOMES) if self.preset else [])


class SegmentExclusion(PolicyConfig):
    kaireon_type: variant("segment_exclusion")
    exclude_segments: list[str] = Field(min_length=1)


class MutualExclusion(PolicyConfig):
    kaireon_type: variant("mutual_exclusion")
    offer_ids: list[str] = Field(min_length=2)
    lookback_days: float = Field(default=30, gt=0)


class CrossChannelCap(PolicyConfig):
    kaireon_type: variant("cross_channel_cap")
    channels: list[str] = Field(min_length=2)
    max_contacts: int = Field(gt=0)
    window_days: float = Field(gt=0)


class BudgetExhausted(PolicyConfig):
    kaireon_type: variant("budget_exhausted")


class AllowOverride(PolicyConfig):
    kaireon_type: variant("allow_override")


POLICY_CONFIGS: dict[str, type[PolicyConfig]] = variants(
    FrequencyCap, CustomerTotalCap, Cooldown, TimeWindow, OutcomeBased, SegmentExclusion, MutualExclusion,
    CrossChannelCap, BudgetExhausted, AllowOverride)
PolicyType = Literal[tuple(POLICY_CONFIGS)]
AnyPolicyConfig = Annotated[Union[tuple(POLICY_CONFIGS.values())], Field(discriminator=TYPE_FIELD)]


class ContactPolicy(ConfigObject):
    rule_type: PolicyType
    scope: PolicyScope = "global"
    scope_id: str | None = None
    priority: int = 0
    status: Literal["active", "inactive", "draft"] = "active"
    bypassable: bool = False  # allow_override matches and mandatory offers skip it when true
    config: AnyPolicyConfig

    @model_validator(mode="before")
    @classmethod
    def _typed_config(cls, data: Any) -> Any:
        return tag_config(data, "ruleType", POLICY_CONFIGS)

    @model_validator(mode="after")
    def _scope(self) -> "ContactPolicy":
        if self.scope != "global" and not self.scope_id:
            raise FieldError("scopeId", f"scope {self.scope!r} needs a 'scopeId' naming the {self.scope} it applies to "
                             "(a policy without one is not applied globally here)")
        if self.scope == "global" and self.scope_id:
            raise FieldError("scopeId", "a global policy takes no 'scopeId'; set 'scope' to what the id names")
        if isinstance(self.config, BudgetExhausted):
            # S10: a declared budget is always enforced; the policy only names its rejections and
            # places the budgets in the policy order
            if self.bypassable:
                raise FieldError("bypassable", "an offer budget is always enforced: a budget_exhausted policy "
                                 "cannot be bypassable")
            if self.scope != "global":
                raise FieldError("scope", "budget_exhausted enforces every offer's budget (an offer's budget counts "
                                 f"all customers and channels); expected scope 'global', got {self.scope!r}")
        return self
