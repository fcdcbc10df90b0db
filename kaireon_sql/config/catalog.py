"""The offer catalogue and customer data: schemas, categories, offers, channels, creatives, segments."""
from __future__ import annotations

import re
from typing import Any, Literal

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
    r"""^(?:[A-Za-z_][A-Za-z0-9_]*|source\(\s*(['"])[A-Za-z_][A-Za-z0-9_]*\1\s*,\s*(['"])[A-Za-z_][A-Za-z0-9_]*\2\s*\))$"""
)


JINJA_DELIMITERS = ("{{", "{%", "{#")


def check_identifier(value: str) -> str:
    """Names used as formula identifiers and column names: letters, digits and _, not starting with a digit."""
    if not IDENTIFIER.match(value):
        raise ValueError(f"expected a name of letters, digits and _ that does not start with a digit, got {value!r}")
    return value


def check_column(value: str | None) -> str | None:
    """A warehouse column name; quoted in SQL, but it must not open a Jinja tag in the dbt model file."""
    if value is not None and (not value or any(d in value for d in JINJA_DELIMITERS) or "\x00" in value):
        raise ValueError(f"expected a column name without '{{{{', '{{%' or '{{#', got {value!r}")
    return value


def check_relation(value: str) -> str:
    if not RELATION.match(value):
        raise ValueError(
            "expected a dbt model or seed name (letters, digits, _) or source('source_name', 'table_name'), "
            f"got {value!r}"
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
    def _unique_fields(self) -> "Schema":
        if self.relation is None and not RELATION.match(self.name):
            raise FieldError("name", "without 'relation' the name is the relation read, so it must be a dbt model "
                                     f"or seed name (letters, digits, _); got {self.name!r}: set 'relation'")
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


class Placement(ConfigObject):
    channel_id: str | None = None
    slot_type: str | None = None
    max_slots: int | None = Field(default=None, ge=1)
    status: str | None = None


class Budget(Model):
    max_impressions: int | None = Field(default=None, gt=0)
    max_conversions: int | None = Field(default=None, gt=0)
    period: Literal["daily", "weekly", "monthly", "total"] = "total"
    total_budget: float | None = Field(default=None, ge=0)
    cost_per_impression: float | None = Field(default=None, ge=0)


class Schedule(Model):
    start_date: str | None = None
    end_date: str | None = None


OFFER_STATUSES = ("active", "inactive", "draft", "archived", "paused")


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


class InteractionHistory(Model):
    relation: str = "interaction_history"
    description: str | None = None
    custom_outcomes: list[str] = []

    @property
    def outcomes(self) -> tuple[str, ...]:
        return STANDARD_OUTCOMES + tuple(o for o in self.custom_outcomes if o not in STANDARD_OUTCOMES)

    @field_validator("relation")
    @classmethod
    def _relation(cls, v: str) -> str:
        return check_relation(v)
