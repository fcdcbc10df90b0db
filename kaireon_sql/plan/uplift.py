"""Uplift models of a project by name: which `modelType: uplift` models are scored in the warehouse,
and the model each one's scores are in (flows whose score node names the model read it)."""
from __future__ import annotations

import re

from ..config.models import AlgorithmModel
from ..config.project import Project

PREFIX = "kaireon_uplift__"


def scores_model_name(model: AlgorithmModel) -> str:
    return PREFIX + (re.sub(r"[^a-z0-9]+", "_", model.ref.lower()).strip("_") or "model")


def uplift_models(project: Project) -> list[AlgorithmModel]:
    return [m for m in project.all("algorithmModels") if m.model_type == "uplift" and m.status == "active"]
