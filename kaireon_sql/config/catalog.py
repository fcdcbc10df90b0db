"""The offer catalogue and customer data: schemas, categories, offers, channels, creatives, segments."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import IDENTIFIER, ConfigObject, FieldError, Model

# dataType (as in KaireonAI schema payloads) -> formula type
DATA_TYPES: dict[str, str] = {
    "varchar": "text", "text": "text", "string": "text", "char": "text",
    "integer": "number", "int": "number", "bigint": "number", "smallint": "number",
    "decimal": "number", "numeric": "number", "double": "number", "float": "number", "real": "number",
    "boolean": "boolean", "bool": "boolean",
    "timestamp": "timestamp", "datetime": "timestamp", "date": "timestamp",
}

RELATION = re.compile(
    r"""^(?:[A-Za-z_][A-Za-z0-9_]*|source\(\s*(['"])[A-Za-z_][A-Za-z0-9_]*\1\s*,\s*(['"])[A-Za-z_][A-Za-z0-9_]*\2\s*\))\Z"""
)


JINJA_DELIMITERS = ("{{", "{%", "{#")
# control characters (C0, DEL, C1) and line/paragraph separators: never in a name
_CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]")
COLUMN_MAX = 63  # PostgreSQL truncates longer names (bytes); no engine needs more for a column kaireon reads


def shown(value: str, limit: int = 60) -> str:
    """A value for an error message: repr, cut after `limit` characters."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} characters)"


def check_identifier(value: str) -> str:
    """Names used as formula identifiers and column names: letters, digits and _, not starting with a digit."""
    if not IDENTIFIER.match(value):
        raise ValueError(f"expected a name of letters, digits and _ that does not start with a digit, got {shown(value)}")
    return value


def check_column(value: str | None) -> str | None:
    """A column of a warehouse relation kaireon reads. Always quoted in SQL (so spaces, quotes and
    non-ASCII letters are fine), but it must not open a Jinja tag in the dbt model file, hold a
    control character or line separator, or exceed 63 UTF-8 bytes."""
    if value is None:
        return value
    if (not value or any(d in value for d in JINJA_DELIMITERS) or _CONTROL.search(value)
            or len(value.encode("utf-8")) > COLUMN_MAX):
        raise ValueError(f"expected a column name of 1-{COLUMN_MAX} bytes without '{{{{', '{{%', '{{#' or control "
                         f"characters, got {shown(value)}")
    return value


def check_relation(value: str) -> str:
    if not RELATION.match(value):
        raise ValueError(
            "expected a dbt model or seed name (letters, digits, _) or source('source_name', 'table_name'), "
            f"got {shown(value)}"
        )
    return value


class SchemaField(Model):
    name: str
    data_type: str = Field(alias="dataType")
    is_unique: bool = False
    is_nullable: bool = True
    column: str | None = None  # relation column, when it differs from `name`
    description: str | None = None
    display_name: str | None = None
    default_value: Any = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_identifier(v)

    @field_validator("column")
    @classmethod
    def _column(cls, v: str | None) -> str | None:
        return check_column(v)

    @field_validator("data_type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v.lower() not in DATA_TYPES:
            raise ValueError(f"expected one of {', '.join(sorted(DATA_TYPES))}, got {v!r}")
        return v.lower()

    @property
    def kind(self) -> str:
        return DATA_TYPES[self.data_type]

    @property
    def source_column(self) -> str:
        return self.column or self.name


class Schema(ConfigObject):
    display_name: str | None = None
    relation: str | None = None  # defaults to the schema name
    fields: list[SchemaField]

    @field_validator("relation")
    @classmethod
    def _relation(cls, v: str | None) -> str | None:
        return None if v is None else check_relation(v)

    @model_validator(mode="after")
    def _name_as_relation(self) -> "Schema":
        if self.relation is None and not RELATION.match(self.name):
            raise FieldError("relation", f"the schema's name {shown(self.name)} is its relation when 'relation' is "
                             "not set, and it is not a dbt model or seed name; expected 'relation' (a name of "
                             "letters, digits and _, or source('source_name', 'table_name'))")
        return self

    @model_validator(mode="after")
    def _unique_fields(self) -> "Schema":
        seen: set[str] = set()
        for i, f in enumerate(self.fields):
            if f.name.lower() in seen:
                raise FieldError(f"fields[{i}].name", f"field {f.name!r} is declared twice")
            seen.add(f.name.lower())
        return self

    @property
    def relation_name(self) -> str:
        return self.relation or self.name

    def field(self, name: str) -> SchemaField | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def key_field(self) -> SchemaField | None:
        return next((f for f in self.fields if f.is_unique), None)


class CustomField(Model):
    """A category custom field: a computed formula, or a static value each offer sets."""

    name: str
    type: Literal["computed", "number", "text", "string", "boolean"] = "text"
    formula: str | None = None
    output_type: Literal["number", "text"] | None = None
    default_value: Any = None
    required: bool = False
    description: str | None = None
    label: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_identifier(v)

    @model_validator(mode="after")
    def _computed(self) -> "CustomField":
        if self.type == "computed":
            if not self.formula:
                raise FieldError("formula", "a computed custom field needs a 'formula'")
            if self.output_type is None:
                self.output_type = "number"
        elif self.formula is not None:
            raise FieldError("formula", f"'formula' is only allowed when type is 'computed', not {self.type!r}")
        return self

    @property
    def value_kind(self) -> str:
        if self.type == "computed":
            return self.output_type or "number"
        return {"string": "text"}.get(self.type, self.type)


class Category(ConfigObject):
    display_order: int | None = None
    color: str | None = None
    custom_fields: list[CustomField] = []


class SubCategory(ConfigObject):
    category_id: str
    custom_fields: list[CustomField] = []


class Channel(ConfigObject):
    channel_type: str | None = None
    delivery_mode: Literal["api", "file", "integration", "manual"] | None = None
    impression_mode: Literal["explicit", "implicit"] | None = None
    provider_config: dict[str, Any] = {}
    status: str | None = None
    consent_field: str | None = None  # schema field holding consent for this channel
    # false: the channel needs no consent (e.g. an in-app placement); otherwise a flow using the
    # channel needs a consent field (S10)
    requires_consent: bool | None = None

    @model_validator(mode="after")
    def _consent(self) -> "Channel":
        if self.requires_consent is False and self.consent_field is not None:
            raise FieldError("requiresConsent", "a channel with requiresConsent: false takes no 'consentField'")
        return self


class Placement(ConfigObject):
    channel_id: str | None = None
    slot_type: str | None = None
    max_slots: int | None = Field(default=None, ge=1)
    status: str | None = None


class Budget(Model):
    """An offer's budget, always enforced (S10) in every flow that decides the offer, per calendar
    period (UTC) or in total: impressions, conversions, and money (totalBudget, spent at
    costPerImpression per impression)."""

    max_impressions: int | None = Field(default=None, gt=0)
    max_conversions: int | None = Field(default=None, gt=0)
    period: Literal["daily", "weekly", "monthly", "total"] = "total"
    total_budget: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    cost_per_impression: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _enforceable(self) -> "Budget":
        if self.total_budget is not None and self.cost_per_impression is None:
            raise FieldError("costPerImpression", "'totalBudget' needs 'costPerImpression' (the spend of one "
                             "impression): the budget is enforced as impressions x costPerImpression <= totalBudget")
        if self.cost_per_impression is not None and self.total_budget is None:
            raise FieldError("totalBudget", "'costPerImpression' prices impressions against 'totalBudget'; "
                             "set 'totalBudget' or remove 'costPerImpression'")
        if self.max_impressions is None and self.max_conversions is None and self.total_budget is None:
            raise ValueError("a budget needs 'maxImpressions', 'maxConversions' or 'totalBudget' + "
                             "'costPerImpression' (a budget without a limit would be ignored)")
        return self

    @property
    def affordable_impressions(self) -> int | None:
        """floor(totalBudget / costPerImpression), exact on the decimal values as written."""
        if self.total_budget is None or self.cost_per_impression is None:
            return None
        return int(Decimal(repr(self.total_budget)) // Decimal(repr(self.cost_per_impression)))

    @property
    def impression_limit(self) -> int | None:
        """Impressions the period allows: the smaller of maxImpressions and what totalBudget buys."""
        limits = [v for v in (self.max_impressions, self.affordable_impressions) if v is not None]
        return min(limits) if limits else None


def utc_moment(value: str) -> datetime:
    """An ISO 8601 date or date-time as a naive UTC datetime: a date is 00:00 UTC of that day, a
    date-time without an offset is UTC, one with an offset (or Z) is converted to UTC."""
    if not isinstance(value, str) or not SCHEDULE_MOMENT.match(value):
        raise ValueError(f"expected an ISO 8601 date (2026-11-01) or date-time (2026-11-01T08:00:00Z, "
                         f"2026-11-01T08:00:00+01:00), got {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise ValueError(f"expected a valid ISO 8601 date or date-time, got {value!r} ({exc})") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


SCHEDULE_MOMENT = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+-](?:0\d|1[0-4]):[0-5]\d)?)?$")


class Schedule(Model):
    """When an offer may be decided: runs with startDate <= as_of < endDate (UTC)."""

    start_date: str | None = None
    end_date: str | None = None

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _yaml_dates(cls, v: Any) -> Any:
        """Unquoted YAML dates and timestamps arrive as date/datetime objects: back to ISO text."""
        return v.isoformat() if isinstance(v, (date, datetime)) else v

    @field_validator("start_date", "end_date")
    @classmethod
    def _moment(cls, v: str | None) -> str | None:
        if v is not None:
            utc_moment(v)
        return v

    @model_validator(mode="after")
    def _order(self) -> "Schedule":
        if self.start_date is not None and self.end_date is not None and self.start >= self.end:
            raise FieldError("endDate", f"endDate {self.end_date!r} is not after startDate {self.start_date!r}: "
                                        "no run could decide the offer")
        return self

    @property
    def start(self) -> datetime | None:
        return None if self.start_date is None else utc_moment(self.start_date)

    @property
    def end(self) -> datetime | None:
        return None if self.end_date is None else utc_moment(self.end_date)


OFFER_STATUSES = ("active", "inactive", "draft", "archived", "paused")


def check_tiers(tiers: list[float] | None) -> list[float] | None:
    """discountTiers (S9, docs/discount_learner.md): a non-empty list of distinct percents in [0, 100]."""
    if tiers is None:
        return None
    if not tiers:
        raise ValueError("expected a non-empty list of discount percents in [0, 100] (e.g. [0, 10, 20])")
    for i, tier in enumerate(tiers):
        if not 0 <= tier <= 100:
            raise ValueError(f"tier [{i}] is {tier:g}; expected a percent in [0, 100]")
        if tier in tiers[:i]:
            raise ValueError(f"tier [{i}] ({tier:g}) is listed twice; expected distinct tiers")
    return tiers


# A tier is a JSON/YAML number (strict: "10" or true is refused, not read as 10 or 1).
DiscountTier = Annotated[float, Field(strict=True)]


class Offer(ConfigObject):
    key: str | None = None
    status: Literal["active", "inactive", "draft", "archived", "paused"] = "active"
    category: str | None = None  # free-text label, as in KaireonAI payloads
    category_id: str | None = None
    sub_category_id: str | None = None
    priority: float = Field(default=0)
    business_value: float | None = None
    revenue_value: float | None = None
    margin: float | None = None
    cost: float | None = None
    mandatory: bool = False
    tags: list[str] = []
    custom_fields: dict[str, Any] = {}
    budget: Budget | None = None
    schedule: Schedule | None = None
    # Channels the offer can be sent on (ids or names of declared channels); default: every
    # channel of the flow. A flow never makes a candidate of an offer on another channel.
    channels: list[str] | None = Field(default=None, min_length=1)
    # The offer's discount tiers (S9 discount learner); they override the flow's flowConfig.discountTiers.
    discount_tiers: list[DiscountTier] | None = None

    @field_validator("discount_tiers")
    @classmethod
    def _tiers(cls, v: list[float] | None) -> list[float] | None:
        return check_tiers(v)

    def names(self) -> list[str]:
        return [n for n in (self.id, self.key, self.name) if n is not None]


class Creative(ConfigObject):
    offer_id: str
    channel_id: str | None = None
    placement_id: str | None = None
    status: str | None = "active"
    content: dict[str, Any] = {}
    template_type: str | None = None
    weight: float | None = Field(default=None, ge=0)
    variant: str | None = None


class Segment(ConfigObject):
    """Membership from a relation of (customer_id, segment) rows, or a predicate formula."""

    relation: str | None = None
    customer_column: str = "customer_id"
    segment_column: str = "segment"
    segment_value: str | None = None  # value in `segment_column`; default the segment's name
    formula: str | None = None

    @field_validator("relation")
    @classmethod
    def _relation(cls, v: str | None) -> str | None:
        return None if v is None else check_relation(v)

    @field_validator("customer_column", "segment_column")
    @classmethod
    def _columns(cls, v: str) -> str:
        return check_column(v)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _one_source(self) -> "Segment":
        if self.relation and self.formula:
            raise FieldError("formula", "a segment takes either 'relation' or 'formula', not both")
        return self


# Outcomes every project knows (S3 plus the adverse outcomes of seed 001); others are declared
# in interactionHistory.customOutcomes so that a typo in a rule or policy is caught at validate time.
STANDARD_OUTCOMES = ("impression", "click", "convert", "dismiss", "open",
                     "complaint", "unsubscribe", "hard_bounce", "spam_report")


class DecisionLogInput(Model):
    """Past decisions (S8) the attribution reads instead of kaireon_decision_log: a relation with
    customer_id, offer_id, channel, as_of, run_id and model_id, every row a delivered decision (and, when a
    flow has discountTiers, discount_pct and decision_flow_key: docs/discount_learner.md)."""

    relation: str

    @field_validator("relation")
    @classmethod
    def _relation(cls, v: str) -> str:
        return check_relation(v)


class InteractionHistory(Model):
    relation: str = "interaction_history"
    description: str | None = None
    custom_outcomes: list[str] = []
    # S8 attribution (kaireon_attribution): outcomes that count as positive, attributed to the latest
    # impression of the same customer and offer within attributionWindowDays before them
    positive_outcomes: list[str] = Field(default=["click", "convert"], min_length=1)
    attribution_window_days: float = Field(default=7, gt=0, le=3650)
    decision_log: DecisionLogInput | None = None

    @property
    def outcomes(self) -> tuple[str, ...]:
        return STANDARD_OUTCOMES + tuple(o for o in self.custom_outcomes if o not in STANDARD_OUTCOMES)

    @field_validator("relation")
    @classmethod
    def _relation(cls, v: str) -> str:
        return check_relation(v)

    @model_validator(mode="after")
    def _positives(self) -> "InteractionHistory":
        for i, outcome in enumerate(self.positive_outcomes):
            if outcome == "impression" or outcome not in self.outcomes:
                raise FieldError(f"positiveOutcomes[{i}]",
                                 f"expected an outcome other than 'impression' (one of: "
                                 f"{', '.join(o for o in self.outcomes if o != 'impression')}; others are declared "
                                 f"in customOutcomes), got {shown(outcome)}")
        if len(set(self.positive_outcomes)) != len(self.positive_outcomes):
            raise FieldError("positiveOutcomes", "an outcome is listed twice")
        return self
