"""Scoring: the weighted formula of S5, a free expression, plain priority, or a model's propensity (S8)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.flows import ChampionChallenger, ModelOverride, ScoreConfig
from ..config.models import AlgorithmModel
from ..dialect import hash_uniform as sampled_uniform
from ..errors import ConfigError
from .arbitration import ArbitrationPlan, composite, plan_arbitration
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


def score_expression(ctx: FlowContext, arbitration: ArbitrationPlan | None = None) -> exp.Expression:
    """Score of a candidate row (columns propensity, relevance, uplift, business_value, priority).

    Method model: the chosen model's propensity, or with an arbitration profile its composite (S8).
    """
    cfg: ScoreConfig = ctx.score
    if cfg.method == "priority":
        return _per_hundred("priority")
    if cfg.method == "model":  # the model's propensity (S8)
        return col("propensity") if arbitration is None else composite(arbitration)
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




def hash_uniform(parts: list[exp.Expression | str]) -> exp.Expression:
    """S7's hash_uniform(a, b, ...) (dialect/sampling.py), text parts as literals."""
    return sampled_uniform([lit(p) if isinstance(p, str) else p for p in parts])


# an override's scope -> (kind of object its scopeId names, offer-channel column `o` compared with its id)
OVERRIDE_COLUMNS = {"offer": ("offers", "offer_id"), "category": ("categories", "category_id"),
                    "channel": ("channels", "channel")}
SCOPE_ORDER = ("offer", "category", "channel")  # S8: an offer override before a category's before a channel's


def challenger_salt(ctx: FlowContext, cc: ChampionChallenger) -> str:
    return cc.salt if cc.salt is not None else f"{ctx.flow.key}:challenger"


def _model(ctx: FlowContext, ref: str, field_name: str) -> AlgorithmModel:
    node = ctx.single(ScoreConfig)
    return ctx.project.lookup("algorithmModels", ref, ctx.node_location(node.id, f"config.{field_name}"))


def _override_match(ctx: FlowContext, i: int, o: ModelOverride) -> exp.Expression:
    """The candidate rows (customers `c` x offer channels `o`) an override covers."""
    kind, column = OVERRIDE_COLUMNS[o.scope]
    if kind == "channels" and not ctx.project.all("channels"):
        target = o.scope_id  # no channels declared: a channel is named by itself, as in flows
    else:
        node = ctx.single(ScoreConfig)
        target = ctx.project.lookup(kind, o.scope_id, ctx.node_location(node.id, f"config.overrides[{i}].scopeId")).ref
    return exp.EQ(this=col(column, "o"), expression=lit(target))


def _chooser(ctx: FlowContext, champion: AlgorithmModel, models: dict[str, AlgorithmModel]) -> exp.Expression | None:
    """The chosen model's id over a candidate row: overrides first (offer, category, channel; then config
    order), then champion-challenger for the rows no override covers, else the champion."""
    cfg: ScoreConfig = ctx.score
    case = exp.case()
    ordered = sorted(enumerate(cfg.overrides), key=lambda io: (SCOPE_ORDER.index(io[1].scope), io[0]))
    for i, o in ordered:
        model = _model(ctx, o.model_id, f"overrides[{i}].modelId")
        models.setdefault(model.ref, model)
        case = case.when(_override_match(ctx, i, o), lit(model.ref), copy=False)
    cc = cfg.champion_challenger
    if cc is not None:
        challenger = _model(ctx, cc.challenger_model_id, "championChallenger.challengerModelId")
        models.setdefault(challenger.ref, challenger)
        drawn = hash_uniform([challenger_salt(ctx, cc), col("customer_id", "c")])
        case = case.when(exp.LT(this=drawn, expression=lit(float(cc.traffic_percent) / 100.0)), lit(challenger.ref),
                         copy=False)
    if not case.args.get("ifs"):
        return None
    return case.else_(lit(champion.ref), copy=False)


def model_choice(ctx: FlowContext) -> ModelChoice | None:
    """The models of the flow's score (score node `modelId`, its overrides and challenger), or None.

    Each model is planned by its engine (plan/models.py ENGINES); the champion's joins are aliased
    `m`, further models' `m2`, `m3`, ... in the order the config names them.
    """
    if not ctx.score.model_id:
        return None
    champion = _model(ctx, ctx.score.model_id, "modelId")
    models: dict[str, AlgorithmModel] = {champion.ref: champion}
    chooser = _chooser(ctx, champion, models)
    slots = tuple(ModelSlot(m, plan_engine(ctx, m, "m" if n == 0 else f"m{n + 1}")) for n, m in enumerate(models.values()))
    return ModelChoice(slots, chooser)


@dataclass(frozen=True)
class ScorePlan:
    """The score of a candidate row, the models whose propensity and uplift it reads (if any), and the
    arbitration profile that turns a model score into a composite (if any)."""

    expression: exp.Expression
    models: ModelChoice | None
    arbitration: ArbitrationPlan | None = None


def plan_score(ctx: FlowContext) -> ScorePlan:
    arbitration = plan_arbitration(ctx, ctx.features)
    return ScorePlan(score_expression(ctx, arbitration), model_choice(ctx), arbitration)
