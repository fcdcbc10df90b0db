"""Algorithm models (S8) as a flow's score reads them: one engine per `modelType`.

An engine plans, for one model and one flow, an `EngineScore`: the relations to join to the
candidate rows (each on columns of the customer `c`, the offer `o` and the run `p`) and the
propensity (and uplift) expression over the joined row. A NULL propensity reads as the prior
(PROPENSITY_PRIOR), a NULL uplift as UPLIFT_PRIOR. Engines that learn in the warehouse name
project-level models (`model_relation`) that the compiler builds once per model a flow uses
(compiler.ENGINE_MODELS); the flows only read them.

Adding an engine: a planner here (or a module of its own that this table imports) and, when it
reads project-level models, their builder in compiler.ENGINE_MODELS. tests/test_registries.py
checks every modelType has an entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlglot import exp

from ..config.models import (BAYESIAN, EPSILON_GREEDY, MODEL_TYPES, ONLINE_LEARNER, SCORECARD, THOMPSON_BANDIT, UPLIFT,
                             AlgorithmModel)
from ..errors import UnsupportedFeature
from . import trained
from .context import FlowContext, col
from .engine import (MODEL_PREFIX, EngineInput, EngineScore, ModelJoin, customer_key, model_relation,  # noqa: F401
                     offer_key)
from .learned import bayesian_engine, epsilon_greedy_engine, thompson_engine
from .online import online_engine
from .scorecard import scorecard_engine
from .uplift import scores_model_name


def _uplift_engine(inp: EngineInput) -> EngineScore:
    """An uplift model scored in the warehouse per customer (p_with_offer is the propensity with the offer)."""
    a = inp.join_alias()
    join = ModelJoin(scores_model_name(inp.model), a, customer_key(a))
    return EngineScore((join,), col("p_with_offer", a), col("uplift", a))


def _precomputed(inp: EngineInput) -> EngineScore:
    """Engines scored outside the warehouse: read from the model's `scoresRelation`, else refused."""
    model = inp.model
    if not model.scores_relation:
        raise UnsupportedFeature(model.location.at("scoresRelation"),
                                 f"model {model.name!r} has no 'scoresRelation'; this version reads propensity "
                                 "and uplift from a relation of precomputed scores (customer_id, offer_id, propensity, "
                                 "uplift) or from an uplift model (modelType: uplift, modelFile)")
    a = inp.join_alias()
    join = ModelJoin(model.scores_relation, a, exp.and_(customer_key(a), offer_key(a)))
    return EngineScore((join,), col("propensity", a), col("uplift", a))


def _gradient_boosted(inp: EngineInput) -> EngineScore:
    """Trees of the model file (`kaireon train`) over the candidate row's features (plan/trained.py)."""
    if inp.model.scores_relation:  # scores made elsewhere, read as they are
        return _precomputed(inp)
    return EngineScore((), trained.gbm_propensity(inp.ctx, inp.model))


def _ncf_fallback(inp: EngineInput) -> EngineScore:
    """What scores a neural_cf row whose customer or offer has no factors: the bayesian rate (S8, m = 10,
    30 days; its posterior model is built for the neural_cf model too, compiler.ENGINE_MODELS)."""
    return bayesian_engine(EngineInput(inp.ctx, inp.model, inp.join_alias(2)))


def _neural_cf(inp: EngineInput) -> EngineScore:
    """sigmoid(b_o + u_c . v_o) by joining the model's factor relations; no factors: the fallback."""
    if inp.model.scores_relation:
        return _precomputed(inp)
    factors = trained.load_ncf(inp.ctx.project, inp.model)  # the file checked while planning
    cu, of = inp.join_alias(), inp.join_alias(1)
    joins = (ModelJoin(model_relation(inp.model, "customer_factors"), cu, customer_key(cu)),
             ModelJoin(model_relation(inp.model, "offer_factors"), of, offer_key(of)))
    propensity = trained.ncf_propensity(cu, of, factors.k)
    fallback = _ncf_fallback(inp)
    return EngineScore(joins + fallback.joins, exp.func("COALESCE", propensity, fallback.propensity))


def in_warehouse(engine: Callable[[EngineInput], EngineScore]) -> Callable[[EngineInput], EngineScore]:
    """An engine computed in the warehouse; a model of its type with a `scoresRelation` reads that instead
    (config/models.py: such a model takes no `config`)."""
    def plan(inp: EngineInput) -> EngineScore:
        return _precomputed(inp) if inp.model.scores_relation else engine(inp)
    return plan


# Scoring engine (AlgorithmModel.modelType) -> planner. Every modelType has an entry
# (tests/test_registries.py); an engine not compiled in the warehouse reads `scoresRelation`.
ENGINES: dict[str, Callable[[EngineInput], EngineScore]] = {
    UPLIFT: _uplift_engine, **{name: _precomputed for name in MODEL_TYPES},
    BAYESIAN: in_warehouse(bayesian_engine),
    EPSILON_GREEDY: in_warehouse(epsilon_greedy_engine),
    THOMPSON_BANDIT: in_warehouse(thompson_engine),
    SCORECARD: in_warehouse(scorecard_engine),
    trained.GBM: _gradient_boosted, trained.NCF: _neural_cf,
    ONLINE_LEARNER: in_warehouse(online_engine),
}


def plan_engine(ctx: FlowContext, model: AlgorithmModel, alias: str) -> EngineScore:
    return ENGINES[model.model_type](EngineInput(ctx, model, alias))


@dataclass(frozen=True)
class ModelSlot:
    """One model a flow's score may use, and what it gives a candidate row."""

    model: AlgorithmModel
    score: EngineScore


@dataclass(frozen=True)
class ModelChoice:
    """The models of a flow's score and which one scores a candidate row.

    `chooser` is the chosen model's id over the row (overrides, champion-challenger; S8), or None
    when one model scores every row (`slots[0]`).
    """

    slots: tuple[ModelSlot, ...]
    chooser: exp.Expression | None = None

    @property
    def models(self) -> tuple[AlgorithmModel, ...]:
        return tuple(s.model for s in self.slots)
