"""The offer catalogue as a model: one row per offer, static custom fields as columns."""
from __future__ import annotations

from sqlglot import exp

from ..config.project import Project
from ..dialect import data_type
from ..plan.context import OFFER_FIELD_PREFIX, lit
from ..plan.offers import offer_column_kinds, static_fields

SQL_TYPES = {"text": "text_type", "number": "double_type", "boolean": "BOOLEAN", "timestamp": "TIMESTAMP"}


def _type(kind: str) -> exp.DataType:
    return data_type(SQL_TYPES[kind])


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def budget_limit_text(budget) -> str | None:
    """'impression budget of 500', or 'total budget of 100 at 0.25 per impression' when money binds."""
    limit = budget.impression_limit
    if limit is None:
        return None
    if budget.max_impressions is not None and budget.max_impressions <= limit:
        return f"impression budget of {budget.max_impressions}"
    return (f"total budget of {_number_text(budget.total_budget)} at {_number_text(budget.cost_per_impression)} "
            "per impression")


def _moment(value) -> str | None:
    return None if value is None else value.isoformat(sep=" ")


def _budget_values(budget) -> dict[str, object]:
    return {
        "budget_max_impressions": budget.max_impressions if budget else None,
        "budget_max_conversions": budget.max_conversions if budget else None,
        "budget_period": budget.period if budget else None,
        "budget_total_budget": budget.total_budget if budget else None,
        "budget_cost_per_impression": budget.cost_per_impression if budget else None,
        "budget_impression_limit": budget.impression_limit if budget else None,
        "budget_limit_text": budget_limit_text(budget) if budget else None,
    }


def _row(project: Project, offer, custom: dict[str, str]) -> dict[str, object]:
    category = project.category_of(offer)
    sub = project.sub_category_of(offer)
    values: dict[str, object] = {
        "offer_id": offer.ref, "offer_name": offer.name, "offer_key": offer.key, "offer_status": offer.status,
        "category_label": offer.category, "category_id": category.ref if category else None,
        "category_name": category.name if category else None, "sub_category_id": sub.ref if sub else None,
        "priority": float(offer.priority), "business_value": offer.business_value,
        "revenue_value": offer.revenue_value, "margin": offer.margin, "cost": offer.cost,
        "mandatory": offer.mandatory,
        "schedule_start": _moment(offer.schedule.start) if offer.schedule else None,
        "schedule_end": _moment(offer.schedule.end) if offer.schedule else None,
        **_budget_values(offer.budget),
    }
    defaults = {cf.name: cf.default_value for c in (category, sub) if c for cf in c.custom_fields}
    for name in custom:
        values[OFFER_FIELD_PREFIX + name] = offer.custom_fields.get(name, defaults.get(name))
    return values


def _typed(value: exp.Expression, kind: str) -> exp.Expression:
    return exp.cast(value, _type(kind))


def _values(rows: list[dict[str, object]], kinds: dict[str, str]) -> exp.Values:
    """(VALUES ...) AS "o"(<columns>), numbers as doubles."""
    tuples = [exp.Tuple(expressions=[lit(float(r[c]) if kinds[c] == "number" and r[c] is not None else r[c])
                                     for c in kinds]) for r in rows]
    return exp.Values(expressions=tuples, alias=exp.TableAlias(this=exp.to_identifier("o", quoted=True),
                                                               columns=[exp.to_identifier(c, quoted=True) for c in kinds]))


def offers_model(project: Project) -> exp.Select:
    """SELECT typed columns FROM (VALUES ...) with one row per configured offer."""
    custom = static_fields(project)
    kinds = offer_column_kinds(project)
    rows = [_row(project, o, custom) for o in project.offers]
    if not rows:
        return exp.select(*[exp.alias_(_typed(exp.null(), k), c, quoted=True) for c, k in kinds.items()]).where(exp.false())
    return exp.select(*[exp.alias_(_typed(exp.column(c, "o", quoted=True), k), c, quoted=True)
                        for c, k in kinds.items()]).from_(_values(rows, kinds))
