"""The personalization stage: the JSON text column of a decision, over the candidates model `table`."""
from __future__ import annotations

from sqlglot import exp

from ..plan.checks import qualify_columns
from ..plan.flow import FlowPlan


def personalization(plan: FlowPlan, table: str = "k") -> exp.Expression:
    """JSON object text: computed fields of the offer's category, compute extras, then properties
    (compiled by plan.personalize), reading the candidate-model columns of `table`."""
    return qualify_columns(plan.personalize.expression, table)
