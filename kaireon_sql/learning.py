"""Project-level models of the engines that learn in the warehouse (S8): compiler.ENGINE_MODELS builders.

Each builder takes the project and one algorithm model and returns its dbt models. The attribution
model (kaireon_attribution) is shared: every builder whose engine reads it lists `attribution_models`
first, and the compiler keeps one copy of a model several builders list (compiler._algorithm_models),
so it is built only when a used model needs it.
"""
from __future__ import annotations

from .config.models import BAYESIAN, EPSILON_GREEDY, NEURAL_CF, ONLINE_LEARNER, THOMPSON_BANDIT, AlgorithmModel
from .config.project import Project
from .dbt_model import Model, unique
from .plan.context import ATTRIBUTION_MODEL
from .plan.discount import discount_windows
from .plan.learned import posterior_plan
from .sql.attribution import COLUMNS, attribution_sql
from .sql.posteriors import GROUP_COLUMNS, POSTERIOR_COLUMNS, group_posterior_sql, posterior_sql


# engines whose posteriors read the attribution over their `windowDays` (neural_cf: its bayesian fallback)
WINDOWED = (BAYESIAN, EPSILON_GREEDY, THOMPSON_BANDIT, NEURAL_CF)
DEFAULT_WINDOW_DAYS = 30.0  # S8's default windowDays (the neural_cf fallback's window)


def _zero_one() -> dict:
    return {"accepted_values": {"arguments": {"values": [0, 1], "quote": False}}}


def attribution_lookback(project: Project) -> float | None:
    """Days of history kaireon_attribution must cover: the widest `windowDays` of the active models whose
    posteriors read it (they read impressions of their last windowDays only); None, all history, when an
    active online_learner reads it (it learns from the rows since its previous update, however old). The
    discount learner's flows read their flowConfig.discount.windowDays."""
    days: list[float] = discount_windows(project)
    for model in project.all("algorithmModels"):
        if model.status != "active" or model.scores_relation:
            continue
        if model.model_type == ONLINE_LEARNER:
            return None
        if model.model_type in WINDOWED:
            days.append(float(getattr(model.settings, "window_days", DEFAULT_WINDOW_DAYS)))
    return max(days) if days else None


def attribution_models(project: Project) -> list[Model]:
    """kaireon_attribution: every impression up to as_of, its attributed positive and the decision behind it."""
    history = project.interaction_history
    cols = {c: {"description": d} for c, d in COLUMNS.items()}
    for c in ("customer_id", "offer_id", "impression_at", "positive"):
        cols[c]["data_tests"] = ["not_null"]
    cols["positive"]["data_tests"].append(_zero_one())
    lookback = attribution_lookback(project)
    return [Model(ATTRIBUTION_MODEL, attribution_sql(history, lookback, bool(discount_windows(project))),
                  "Attribution (S8): one row per impression with occurred_at <= as_of; a positive outcome "
                  "(interactionHistory.positiveOutcomes) is attributed to the latest impression of the same customer "
                  "and offer (and channel) at most interactionHistory.attributionWindowDays "
                  f"({history.attribution_window_days:g}) days before it, at most one per impression; run_id and "
                  "model_id (and discount_pct, decided_flow_key) of the latest logged decision behind it."
                  + (f" Impressions of the last {lookback:g} days (the widest windowDays of the models reading it)."
                     if lookback is not None else ""),
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
