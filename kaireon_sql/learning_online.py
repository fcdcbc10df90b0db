"""The online_learner's project-level models (compiler.ENGINE_MODELS): the attribution, the coefficients
state (incremental, one version per run) and the coefficients the candidates join (docs/online_learner.md)."""
from __future__ import annotations

from .config.models import AlgorithmModel
from .config.project import Project
from .dbt_model import Model, unique
from .learning import attribution_models
from .plan.online import online_plan, weight_column
from .sql.online_learner import STATE_COLUMNS, coefficients_sql, state_sql


def online_models(project: Project, model: AlgorithmModel) -> list[Model]:
    """The attribution, the state and the coefficients; nothing for a model reading a scoresRelation."""
    if model.scores_relation:
        return []
    plan = online_plan(project, model)
    s = plan.settings
    rule = (f"one full-batch gradient step per run on the attribution rows whose {plan.window_seconds / 86400:g}-day "
            f"window closed since the previous version (learningRate {s.learning_rate:g}, L2 regularization "
            f"{s.regularization:g} on the weights, intercepts from {s.prior_intercept:g}, weights from 0)")
    state_cols = {c: {"description": d, "data_tests": ["not_null"] if c != "coefficient" else []}
                  for c, d in STATE_COLUMNS.items()}
    state = Model(plan.state, state_sql(plan),
                  f"Model '{model.ref}' (online_learner, S8): its coefficients, one version appended per run: {rule}. "
                  "Re-running an as_of (or an earlier one) appends nothing; --full-refresh restarts from the prior.",
                  state_cols, [unique("update_n", "kind", "term")], materialized="incremental",
                  config={"incremental_strategy": "append", "on_schema_change": "append_new_columns"})
    cols = {"offer_id": {"description": "Offer (every offer of the catalogue).", "data_tests": ["not_null"]},
            "intercept": {"description": "The offer's intercept b_o.", "data_tests": ["not_null"]},
            **{weight_column(i): {"description": f"Weight of customer.{f.name}."} for i, f in enumerate(plan.features)},
            "update_n": {"description": "The state version read (NULL before the first)."}}
    coefficients = Model(plan.coefficients, coefficients_sql(plan),
                         f"Model '{model.ref}' (online_learner, S8): per offer, the coefficients of the latest state "
                         "version at or before the run's as_of; propensity = sigmoid(intercept + sum w_i x_i).",
                         cols, [unique("offer_id")])
    return attribution_models(project) + [state, coefficients]
