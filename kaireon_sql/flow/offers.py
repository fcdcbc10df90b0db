"""The offer catalogue as a model: one row per offer, static custom fields as columns."""
from __future__ import annotations

from sqlglot import exp

from ..config.project import Project
from ..dialect import data_type
from .context import OFFER_COLUMNS, OFFER_FIELD_PREFIX, lit

OFFERS_MODEL = "kaireon_offers"


def static_fields(project: Project) -> dict[str, str]:
    out: dict[str, str] = {}
    for kind in ("categories", "subCategories"):
        for cat in project.all(kind):
            for cf in cat.custom_fields:
                if cf.type != "computed":
                    out.setdefault(cf.name, cf.value_kind)
    return out


SQL_TYPES = {"text": "text_type", "number": "double_type", "boolean": "BOOLEAN", "timestamp": "TIMESTAMP"}


def _type(kind: str) -> exp.DataType:
    return data_type(SQL_TYPES[kind])


# Offer budgets (always enforced, contact_policy._budget): NULL where an offer has none.
# budget_impression_limit: impressions a period allows, the smaller of maxImpressions and
# floor(totalBudget / costPerImpression); budget_limit_text names that limit in rejection reasons.
BUDGET_COLUMNS = {"budget_max_impressions": "number", "budget_max_conversions": "number", "budget_period": "text",
                  "budget_total_budget": "number", "budget_cost_per_impression": "number",
                  "budget_impression_limit": "number", "budget_limit_text": "text"}


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


# An offer's schedule (UTC): only runs with schedule_start <= as_of < schedule_end decide it; NULL = open.
SCHEDULE_COLUMNS = {"schedule_start": "timestamp", "schedule_end": "timestamp"}


def _moment(value) -> str | None:
    return None if value is None else value.isoformat(sep=" ")


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
        "budget_max_impressions": offer.budget.max_impressions if offer.budget else None,
        "budget_max_conversions": offer.budget.max_conversions if offer.budget else None,
        "budget_period": offer.budget.period if offer.budget else None,
        "schedule_start": _moment(offer.schedule.start) if offer.schedule else None,
        "schedule_end": _moment(offer.schedule.end) if offer.schedule else None,
        "budget_total_budget": offer.budget.total_budget if offer.budget else None,
        "budget_cost_per_impression": offer.budget.cost_per_impression if offer.budget else None,
        "budget_impression_limit": offer.budget.impression_limit if offer.budget else None,
        "budget_limit_text": budget_limit_text(offer.budget) if offer.budget else None,
    }
    defaults = {cf.name: cf.default_value for c in (category, sub) if c for cf in c.custom_fields}
    for name in custom:
        values[OFFER_FIELD_PREFIX + name] = offer.custom_fields.get(name, defaults.get(name))
    return values


def offers_model(project: Project) -> exp.Select:
    """SELECT typed columns FROM (VALUES ...) with one row per configured offer."""
    custom = static_fields(project)
    kinds = {column: kind for column, kind in OFFER_COLUMNS.values()}
    kinds.update(BUDGET_COLUMNS)
    kinds.update(SCHEDULE_COLUMNS)
    kinds.update({OFFER_FIELD_PREFIX + n: k for n, k in custom.items()})
    columns = list(kinds)
    rows = [_row(project, o, custom) for o in project.offers]
    if not rows:
        values = exp.select(*[exp.alias_(exp.cast(exp.null(), _type(kinds[c])), c, quoted=True) for c in columns]).where(exp.false())
        return values
    tuples = [exp.Tuple(expressions=[lit(float(r[c]) if kinds[c] == "number" and r[c] is not None else r[c]) for c in columns]) for r in rows]
    table = exp.Values(expressions=tuples, alias=exp.TableAlias(this=exp.to_identifier("o", quoted=True),
                                                                 columns=[exp.to_identifier(c, quoted=True) for c in columns]))
    return exp.select(*[exp.alias_(exp.cast(exp.column(c, "o", quoted=True), _type(kinds[c])), c, quoted=True) for c in columns]).from_(table)
