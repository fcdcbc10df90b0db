"""Uplift models scored in the warehouse: one model per `modelType: uplift` algorithm model.

The model file (written by `kaireon uplift fit`) compiles to a SELECT over the features relation
giving p_with_offer, p_without_offer, uplift, segment and top_features per customer; a flow whose
score node names the model reads P = p_with_offer and U = uplift from it (S5 score formula).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING
from pathlib import Path

from sqlglot import exp

from ..config.catalog import check_column
from ..config.models import AlgorithmModel
from ..config.project import Project
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..uplift.model import UpliftModel

PREFIX = "kaireon_uplift__"


def scores_model_name(model: AlgorithmModel) -> str:
    return PREFIX + (re.sub(r"[^a-z0-9]+", "_", model.ref.lower()).strip("_") or "model")


def load(project: Project, model: AlgorithmModel) -> UpliftModel:
    from ..uplift.model import UpliftModel  # numpy/scipy load only for projects with uplift models

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
    try:
        fitted = UpliftModel.load(path)
    except Exception as exc:  # a malformed or foreign file
        raise ConfigError(model.location.at("modelFile"), f"cannot read uplift model {str(given)!r}: {exc}") from None
    for name in fitted.features:  # columns of the features relation, written into the model's SQL
        try:
            check_column(name)
        except ValueError as exc:
            raise ConfigError(model.location.at("modelFile"), f"uplift model {str(given)!r}: feature: {exc}") from None
    return fitted


def scores_model(project: Project, model: AlgorithmModel) -> exp.Select:
    """SELECT <key>, p_with_offer, p_without_offer, uplift, segment, top_features FROM the features."""
    if model.features_relation is None and not project.schemas:
        raise ConfigError(model.location.at("featuresRelation"), "no schema to read features from; set 'featuresRelation'")
    source = model.features_relation or project.schemas[0].relation_name
    fitted = load(project, model)
    try:
        from ..uplift.scoring import model_sql

        select = model_sql(fitted, source, keep=(model.key_column,))
    except Exception as exc:
        raise ConfigError(model.location.at("modelFile"), f"cannot compile uplift model: {exc}") from None
    if model.key_column != "customer_id":
        select = exp.select(exp.alias_(exp.column(model.key_column, quoted=True), "customer_id", quoted=True),
                            *[exp.column(c, quoted=True) for c in
                              ("p_with_offer", "p_without_offer", "uplift", "segment", "top_features")]
                            ).from_(select.subquery("u"))
    return select


def uplift_models(project: Project) -> list[AlgorithmModel]:
    return [m for m in project.all("algorithmModels") if m.model_type == "uplift" and m.status == "active"]
