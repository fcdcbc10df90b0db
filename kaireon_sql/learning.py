"""Project-level models of the engines that learn in the warehouse (S8): compiler.ENGINE_MODELS builders.

Each builder takes the project and one algorithm model and returns its dbt models. The attribution
model (kaireon_attribution) is shared: every builder whose engine reads it lists `attribution_models`
first, and the compiler keeps one copy of a model several builders list (compiler._algorithm_models),
so it is built only when a used model needs it.
"""
from __future__ import annotations

from .config.models import AlgorithmModel
from .config.project import Project
from .dbt_model import Model, unique
from .plan.context import ATTRIBUTION_MODEL
from .plan.learned import posterior_plan
from .sql.attribution import COLUMNS, attribution_sql
from .sql.posteriors import GROUP_COLUMNS, POSTERIOR_COLUMNS, group_posterior_sql, posterior_sql


def _zero_one() -> dict:
    return {"accepted_values": {"arguments": {"values": [0, 1], "quote": False}}}


def attribution_models(project: Project) -> list[Model]:
    """kaireon_attribution: every impression up to as_of, its attributed positive and the decision behind it."""
    history = project.interaction_history
    cols = {c: {"description": d} for c, d in COLUMNS.items()}
    for c in ("customer_id", "offer_id", "impression_at", "positive"):
        cols[c]["data_tests"] = ["not_null"]
    cols["positive"]["data_tests"].append(_zero_one())
    return [Model(ATTRIBUTION_MODEL, attribution_sql(history),
                  "Attribution (S8): one row per impression with occurred_at <= as_of; a positive outcome "
                  "(interactionHistory.positiveOutcomes) is attributed to the latest impression of the same customer "
                  "and offer (and channel) at most interactionHistory.attributionWindowDays "
                  f"({history.attribution_window_days:g}) days before it, at most one per impression; run_id and "
                  "model_id of the latest logged decision behind it.",
                  cols)]


def posterior_models(project: Project, model: AlgorithmModel) -> list[Model]:
    """bayesian, epsilon_greedy, thompson_bandit: the attribution, the per-offer posterior (and per group);
    nothing for a model that reads a `scoresRelation` instead."""
    if model.scores_relation:
        return []
    plan = posterior_plan(project, model)
    cols = {c: {"description": d} for c, d in POSTERIOR_COLUMNS.items()}
    for c in ("offer_id", "n", "k", "global_rate", "category_rate", "propensity"):
        cols[c]["data_tests"] = ["not_null"]
    models = attribution_models(project) + [Model(
        plan.name, posterior_sql(plan),
        f"Model '{model.ref}' ({model.model_type}, S8): per offer of the catalogue, impressions n and attributed "
        f"positives k of the last {plan.window_days:g} days and the hierarchical shrinkage rate (m = "
        f"{plan.smoothing:g}).", cols, [unique("offer_id")])]
    if plan.group is not None:
        names = [c for c, _ in plan.group.columns]
        gcols = {c: {"description": d} for c, d in GROUP_COLUMNS.items()}
        gcols.update({c: {"description": f"Group value: the customer's {c[len('cust__'):]}."} for c in names})
        models.append(Model(plan.group_name, group_posterior_sql(plan),
                            f"Model '{model.ref}' ({model.model_type}, S8): per offer and group of customers "
                            "(config.groupBy) seen in the window, the rate shrunk toward the offer's.",
                            gcols, [unique("offer_id", *names)]))
    return models
