"""Uplift modelling: learners fitted in numpy, scored in the warehouse as one SQL expression.

    model = fit_uplift(load_table("train.csv"), "treatment", "visit", learner="t")
    model.save("model.json")
    select = model_sql(model, "customer_features", keep=("customer_id",))  # render(select, engine("duckdb"))
    report = evaluate(y, model.uplift(table), t)
    forest = fit_uplift(table, "treatment", "visit", learner="forest",
                        forest=ForestParams(n_trees=200, max_depth=6, min_leaf=800))  # trees scored in SQL too
"""
from importlib import import_module

# Exports load on first use: the CLI registers `kaireon uplift` without paying for scipy on every
# `kaireon compile` (about 2 s of imports).
_EXPORTS = {
    "MIN_PER_ARM": "dataset", "Table": "dataset", "UpliftDataError": "dataset", "UpliftDataWarning": "dataset",
    "load_table": "dataset", "table_from_arrays": "dataset",
    "LEARNERS": "learners", "fit_arrays": "learners", "fit_uplift": "learners", "ForestParams": "forest",
    "evaluate": "metrics", "qini_auc_score": "metrics", "qini_curve": "metrics", "uplift_at_k": "metrics",
    "uplift_auc_score": "metrics",
    "UpliftModel": "model",
    "OUTPUT_COLUMNS": "scoring", "check_columns": "scoring", "model_sql": "scoring", "required_columns": "scoring",
    "Thresholds": "segments",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ForestParams", "LEARNERS", "MIN_PER_ARM", "OUTPUT_COLUMNS", "Table", "Thresholds", "UpliftDataError", "UpliftDataWarning",
    "UpliftModel", "check_columns", "evaluate", "fit_arrays", "fit_uplift", "load_table", "model_sql",
    "qini_auc_score", "qini_curve", "required_columns", "table_from_arrays", "uplift_at_k", "uplift_auc_score",
]
