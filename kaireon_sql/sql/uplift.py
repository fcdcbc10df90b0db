"""Uplift models scored in the warehouse: one model per `modelType: uplift` algorithm model.

The model file (written by `kaireon uplift fit`) compiles to a SELECT over the features relation
giving p_with_offer, p_without_offer, uplift, segment and top_features per customer; a flow whose
score node names the model reads P = p_with_offer and U = uplift from it (S5 score formula).

numpy and scipy load only for projects with uplift models: this module imports the light
`kaireon_sql.uplift` package, whose exports (`UpliftModel`, `model_sql`) load their numpy modules
on first use (uplift/__init__.py), and only `scores_model` uses them, once a model is configured.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlglot import exp

from .. import uplift
from ..config.catalog import check_column
from ..config.models import AlgorithmModel
from ..config.project import Project
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..uplift.model import UpliftModel

SCORE_COLUMNS = ("p_with_offer", "p_without_offer", "uplift", "segment", "top_features")


def _model_path(project: Project, model: AlgorithmModel) -> Path:
    """The model file: relative to the config folder and inside it (symlinks followed)."""
    where = model.location.at("modelFile")
    given = Path(model.model_file)
    if given.is_absolute() or given.anchor:
        raise ConfigError(where, "expected a path relative to the config folder, got an absolute path")
    path = project.root / given
    try:  # symlinks followed: the file itself must be inside the config folder
        path.resolve().relative_to(project.root.resolve())
    except ValueError:
        raise ConfigError(where, "expected a path inside the config folder; it resolves outside it") from None
    if not path.is_file():
        raise ConfigError(where, f"model file {str(given)!r} not found in the config folder; "
                          "write one with `kaireon uplift fit ... --out <file>`")
    return path


def load(project: Project, model: AlgorithmModel) -> UpliftModel:
    """The fitted model of `model.modelFile`, its feature names checked as column names."""
    path = _model_path(project, model)
    given = Path(model.model_file)
    model_type = uplift.UpliftModel  # loads numpy (outside the try: a missing numpy is not a bad file)
    try:
        fitted = model_type.load(path)
    except Exception as exc:  # a malformed or foreign file
        raise ConfigError(model.location.at("modelFile"), f"cannot read uplift model {str(given)!r}: {exc}") from None
    for name in fitted.features:  # columns of the features relation, written into the model's SQL
        try:
            check_column(name)
        except ValueError as exc:
            raise ConfigError(model.location.at("modelFile"), f"uplift model {str(given)!r}: feature: {exc}") from None
    return fitted


def _keyed_by_customer(select: exp.Select, key_column: str) -> exp.Select:
    """The scores with the model's key column named customer_id."""
    if key_column == "customer_id":
        return select
    return exp.select(exp.alias_(exp.column(key_column, quoted=True), "customer_id", quoted=True),
                      *[exp.column(c, quoted=True) for c in SCORE_COLUMNS]).from_(select.subquery("u"))


def scores_model(project: Project, model: AlgorithmModel) -> exp.Select:
    """SELECT <key>, p_with_offer, p_without_offer, uplift, segment, top_features FROM the features."""
    if model.features_relation is None and not project.schemas:
        raise ConfigError(model.location.at("featuresRelation"), "no schema to read features from; set 'featuresRelation'")
    source = model.features_relation or project.schemas[0].relation_name
    fitted = load(project, model)
    try:
        select = uplift.model_sql(fitted, source, keep=(model.key_column,))
    except Exception as exc:
        raise ConfigError(model.location.at("modelFile"), f"cannot compile uplift model: {exc}") from None
    return _keyed_by_customer(select, model.key_column)
