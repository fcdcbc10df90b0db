"""Uplift models of a project by name: which `modelType: uplift` models are scored in the warehouse,
the model each one's scores are in (flows whose score node names the model read it), and the fitted
model file each one scores with, loaded and checked while planning (`plan_uplift`).

numpy and scipy load only for projects with uplift models: this module imports the light
`kaireon_sql.uplift` package, whose exports (`UpliftModel`, `model_sql`) load their numpy modules on
first use (uplift/__init__.py), and only `load` uses them, once a model is configured.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import uplift
from ..config.catalog import check_column
from ..config.models import AlgorithmModel
from ..config.project import Project
from ..errors import ConfigError, Location

if TYPE_CHECKING:
    from ..uplift.model import UpliftModel

PREFIX = "kaireon_uplift__"


def scores_model_name(model: AlgorithmModel) -> str:
    return PREFIX + (re.sub(r"[^a-z0-9]+", "_", model.ref.lower()).strip("_") or "model")


def uplift_models(project: Project) -> list[AlgorithmModel]:
    return [m for m in project.all("algorithmModels") if m.model_type == "uplift" and m.status == "active"]


@dataclass(frozen=True)
class UpliftScoring:
    """One uplift model scored in the warehouse: what its scores model (sql/uplift.py) reads."""

    name: str  # the scores model
    fitted: UpliftModel  # the model file, loaded and its feature names checked
    source: str  # the features relation it scores
    key_column: str  # the customer key column of that relation
    where: Location  # the model's modelFile, where compiling the fitted model reports an error


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


def plan_uplift(project: Project, model: AlgorithmModel) -> UpliftScoring:
    """The scoring of an active uplift model: its features relation resolved and its model file loaded."""
    if model.features_relation is None and not project.schemas:
        raise ConfigError(model.location.at("featuresRelation"), "no schema to read features from; set 'featuresRelation'")
    source = model.features_relation or project.schemas[0].relation_name
    return UpliftScoring(scores_model_name(model), load(project, model), source, model.key_column,
                         model.location.at("modelFile"))
