"""Uplift modelling: learners fitted in numpy, scored in the warehouse as one SQL expression.

    model = fit_uplift(load_table("train.csv"), "treatment", "visit", learner="t")
    model.save("model.json")
    select = model_sql(model, engine("duckdb"), "customer_features", keep=("customer_id",))
    report = evaluate(y, model.uplift(table), t)
"""
from .dataset import MIN_PER_ARM, Table, UpliftDataError, UpliftDataWarning, load_table, table_from_arrays
from .learners import LEARNERS, fit_arrays, fit_uplift
from .metrics import evaluate, qini_auc_score, qini_curve, uplift_at_k, uplift_auc_score
from .model import UpliftModel
from .scoring import OUTPUT_COLUMNS, check_columns, model_sql, required_columns
from .segments import Thresholds

__all__ = [
    "LEARNERS", "MIN_PER_ARM", "OUTPUT_COLUMNS", "Table", "Thresholds", "UpliftDataError", "UpliftDataWarning",
    "UpliftModel", "check_columns", "evaluate", "fit_arrays", "fit_uplift", "load_table", "model_sql",
    "qini_auc_score", "qini_curve", "required_columns", "table_from_arrays", "uplift_at_k", "uplift_auc_score",
]
