"""The offer catalogue's columns: what `kaireon_offers` holds, for the stage that builds it
(sql/offers.py) and the stages that read it (candidates)."""
from __future__ import annotations

from ..config.project import Project
from .context import OFFER_COLUMNS, OFFER_FIELD_PREFIX

OFFERS_MODEL = "kaireon_offers"

# Offer budgets (always enforced, plan/policies.py _budget): NULL where an offer has none.
# budget_impression_limit: impressions a period allows, the smaller of maxImpressions and
# floor(totalBudget / costPerImpression); budget_limit_text names that limit in rejection reasons.
BUDGET_COLUMNS = {"budget_max_impressions": "number", "budget_max_conversions": "number", "budget_period": "text",
                  "budget_total_budget": "number", "budget_cost_per_impression": "number",
                  "budget_impression_limit": "number", "budget_limit_text": "text"}

# An offer's schedule (UTC): only runs with schedule_start <= as_of < schedule_end decide it; NULL = open.
SCHEDULE_COLUMNS = {"schedule_start": "timestamp", "schedule_end": "timestamp"}


def static_fields(project: Project) -> dict[str, str]:
    """Custom field name -> value kind of every non-computed category and sub-category field."""
    out: dict[str, str] = {}
    for kind in ("categories", "subCategories"):
        for cat in project.all(kind):
            for cf in cat.custom_fields:
                if cf.type != "computed":
                    out.setdefault(cf.name, cf.value_kind)
    return out


def offer_column_kinds(project: Project) -> dict[str, str]:
    """Every column of the offers model, in order, with its kind (text, number, boolean, timestamp)."""
    kinds = {column: kind for column, kind in OFFER_COLUMNS.values()}
    kinds.update(BUDGET_COLUMNS)
    kinds.update(SCHEDULE_COLUMNS)
    kinds.update({OFFER_FIELD_PREFIX + n: k for n, k in static_fields(project).items()})
    return kinds
