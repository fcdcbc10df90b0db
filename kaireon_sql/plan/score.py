"""Scoring: the weighted formula of S5, a free expression, plain priority, or a model's propensity (S8)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.flows import ScoreConfig
from ..errors import ConfigError, UnsupportedFeature
from .context import FlowContext, col, lit
from .models import ModelChoice, ModelSlot, plan_engine
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
    if cfg.method == "model":  # the model's propensity (S8)
        return col("propensity")
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


def model_choice(ctx: FlowContext) -> ModelChoice | None:
    """The models of the flow's score (score node `modelId`), or None without one.

    Each model is planned by its engine (plan/models.py ENGINES); the first model's joins are aliased
    `m`, further ones `m2`, `m3`, ...
    """
    if not ctx.score.model_id:
        return None
    node = ctx.single(ScoreConfig)
    model = ctx.project.lookup("algorithmModels", ctx.score.model_id, ctx.node_location(node.id, "config.modelId"))
    return ModelChoice((ModelSlot(model, plan_engine(ctx, model, "m")),))


@dataclass(frozen=True)
class ScorePlan:
    """The score of a candidate row, and the model whose propensity and uplift it reads (if any)."""

    expression: exp.Expression
    models: ModelChoice | None


def plan_score(ctx: FlowContext) -> ScorePlan:
    return ScorePlan(score_expression(ctx), model_choice(ctx))
