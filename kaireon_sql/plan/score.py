"""Scoring: the weighted formula of S5, a free expression, or plain priority."""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.flows import ScoreConfig
from ..config.models import MODEL_TYPES, UPLIFT, AlgorithmModel
from ..errors import ConfigError, UnsupportedFeature
from .uplift import scores_model_name
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


@dataclass(frozen=True)
class ScoreModel:
    """Where a flow's score model puts its scores: a relation joined to the candidates."""

    relation: str
    per_offer: bool  # joined on offer_id too
    propensity_column: str
    uplift_column: str


def _uplift_engine(ctx: FlowContext, model: AlgorithmModel) -> ScoreModel:
    """An uplift model scored in the warehouse per customer (p_with_offer is the propensity with the offer)."""
    return ScoreModel(scores_model_name(model), False, "p_with_offer", "uplift")


def _precomputed(ctx: FlowContext, model: AlgorithmModel) -> ScoreModel:
    """Engines scored outside the warehouse: read from the model's `scoresRelation`, else refused."""
    if not model.scores_relation:
        raise UnsupportedFeature(model.location.at("scoresRelation"),
                                 f"model {model.name!r} has no 'scoresRelation'; this version reads propensity "
                                 "and uplift from a relation of precomputed scores (customer_id, offer_id, propensity, "
                                 "uplift) or from an uplift model (modelType: uplift, modelFile)")
    return ScoreModel(model.scores_relation, True, "propensity", "uplift")


# Scoring engine (AlgorithmModel.modelType) -> compiler. Only `uplift` is scored in the warehouse;
# every other engine is compiled only as a relation of precomputed scores and refused without one.
# Every modelType has an entry (tests/test_registries.py).
SCORING_ENGINES = {UPLIFT: _uplift_engine, **{name: _precomputed for name in MODEL_TYPES}}


def model_scores(ctx: FlowContext) -> ScoreModel | None:
    """The flow's score model (score node `modelId`), or None.

    A `scoresRelation` holds precomputed scores per customer and offer; an uplift model is scored
    in the warehouse per customer.
    """
    if not ctx.score.model_id:
        return None
    node = ctx.single(ScoreConfig)
    model = ctx.project.lookup("algorithmModels", ctx.score.model_id, ctx.node_location(node.id, "config.modelId"))
    return SCORING_ENGINES[model.model_type](ctx, model)


@dataclass(frozen=True)
class ScorePlan:
    """The score of a candidate row, and the model whose propensity and uplift it reads (if any)."""

    expression: exp.Expression
    model: ScoreModel | None


def plan_score(ctx: FlowContext) -> ScorePlan:
    return ScorePlan(score_expression(ctx), model_scores(ctx))
