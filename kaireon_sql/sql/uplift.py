"""Uplift models scored in the warehouse: one model per `modelType: uplift` algorithm model.

The model file (written by `kaireon uplift fit`, loaded while planning: plan/uplift.py) compiles to a
SELECT over the features relation giving p_with_offer, p_without_offer, uplift, segment and
top_features per customer; a flow whose score node names the model reads P = p_with_offer and
U = uplift from it (S5 score formula).
"""
from __future__ import annotations

from sqlglot import exp

from .. import uplift
from ..errors import ConfigError
from ..plan.uplift import UpliftScoring

SCORE_COLUMNS = ("p_with_offer", "p_without_offer", "uplift", "segment", "top_features")


def _keyed_by_customer(select: exp.Select, key_column: str) -> exp.Select:
    """The scores with the model's key column named customer_id."""
    if key_column == "customer_id":
        return select
    return exp.select(exp.alias_(exp.column(key_column, quoted=True), "customer_id", quoted=True),
                      *[exp.column(c, quoted=True) for c in SCORE_COLUMNS]).from_(select.subquery("u"))


def scores_sql(scoring: UpliftScoring) -> exp.Select:
    """SELECT <key>, p_with_offer, p_without_offer, uplift, segment, top_features FROM the features."""
    try:
        select = uplift.model_sql(scoring.fitted, scoring.source, keep=(scoring.key_column,))
    except Exception as exc:
        raise ConfigError(scoring.where, f"cannot compile uplift model: {exc}") from None
    return _keyed_by_customer(select, scoring.key_column)
