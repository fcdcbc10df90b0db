"""Scoring: the weighted formula of S5, a free expression, or plain priority."""
from __future__ import annotations

from sqlglot import exp

from ..config.flows import ScoreConfig
from ..errors import ConfigError, UnsupportedFeature
from .context import FlowContext, col, lit
from .formulas import compile_formula, resolver

# Propensity when no model provides one (S5), and uplift likewise.
PROPENSITY_PRIOR = 0.5
UPLIFT_PRIOR = 0.0


def clip(value: exp.Expression, low: float, high: float) -> exp.Expression:
    return (
        exp.case()
        .when(exp.LT(this=value, expression=lit(low)), lit(low))
        .when(exp.GT(this=value, expression=lit(high)), lit(high))
        .else_(value)
    )


def _per_hundred(column: str) -> exp.Expression:
    value = exp.func("COALESCE", exp.cast(col(column), "DOUBLE"), lit(0.0))
    return exp.Div(this=value, expression=lit(100.0))


def score_expression(ctx: FlowContext) -> exp.Expression:
    """Score of a candidate row (columns propensity, relevance, uplift, business_value, priority)."""
    cfg: ScoreConfig = ctx.score
    if cfg.overrides or cfg.champion_challenger:
        node = ctx.single(ScoreConfig)
        raise UnsupportedFeature(ctx.node_location(node.id, "config.overrides"),
                                 "score overrides and champion-challenger are not compiled by this version")
    if cfg.method == "priority":
        return _per_hundred("priority")
    if cfg.method == "expression":
        node = ctx.single(ScoreConfig)
        sql, kind = compile_formula(cfg.expression, ctx.node_location(node.id, "config.expression"), resolver(ctx))
        if kind != "number":
            raise ConfigError(ctx.node_location(node.id, "config.expression"), "a score expression must give a number, not text")
        return sql
    w = cfg.formula
    terms = [
        (w.propensity_weight, col("propensity")),
        (w.relevance_weight, col("relevance")),
        (w.impact_weight, clip(_per_hundred("business_value"), 0.0, 1.0)),
        (w.emphasis_weight, clip(_per_hundred("priority"), 0.0, 1.0)),
        (w.uplift_weight, clip(col("uplift"), -1.0, 1.0)),
    ]
    used = [(float(weight), term) for weight, term in terms if weight > 0]
    total = sum(weight for weight, _ in used)
    numerator: exp.Expression | None = None
    for weight, term in used:
        product = exp.Mul(this=lit(weight), expression=term)
        numerator = product if numerator is None else exp.Add(this=numerator, expression=product)
    return exp.Div(this=exp.paren(numerator), expression=lit(total))


def model_scores(ctx: FlowContext):
    """(relation, joins on offer too, propensity column, uplift column) of the flow's score model, or None.

    A `scoresRelation` holds precomputed scores per customer and offer; an uplift model is scored
    in the warehouse per customer (p_with_offer is the propensity with the offer).
    """
    if not ctx.score.model_id:
        return None
    node = ctx.single(ScoreConfig)
    model = ctx.project.lookup("algorithmModels", ctx.score.model_id, ctx.node_location(node.id, "config.modelId"))
    if model.model_type == "uplift":
        from .uplift_scores import scores_model_name

        return scores_model_name(model), False, "p_with_offer", "uplift"
    if not model.scores_relation:
        raise UnsupportedFeature(model.location.at("scoresRelation"),
                                 f"model {model.name!r} has no 'scoresRelation'; this version reads propensity "
                                 "and uplift from a relation of precomputed scores (customer_id, offer_id, propensity, "
                                 "uplift) or from an uplift model (modelType: uplift, modelFile)")
    return model.scores_relation, True, "propensity", "uplift"
