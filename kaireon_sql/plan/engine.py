"""What a scoring engine plans from and gives (plan/models.py ENGINES): EngineInput -> EngineScore.

In a module of its own so that engines in modules of their own (plan/learned.py, plan/scorecard.py) and
the ENGINES table that imports them do not import each other; plan/models.py re-exports these names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from ..config.models import AlgorithmModel
from ..dialect import cast_text
from .context import FlowContext, col

MODEL_PREFIX = "kaireon_model__"


def model_relation(model: AlgorithmModel, part: str = "") -> str:
    """The name of a project-level model of algorithm model `model` (e.g. its per-offer posterior)."""
    slug = re.sub(r"[^a-z0-9]+", "_", model.ref.lower()).strip("_") or "model"
    return MODEL_PREFIX + slug + (f"__{part}" if part else "")


@dataclass(frozen=True)
class ModelJoin:
    """A relation left-joined to the candidate rows as `alias` on `on` (over the row's c, o, p and `alias`)."""

    relation: str
    alias: str
    on: exp.Expression


@dataclass(frozen=True)
class EngineScore:
    """What one model gives a candidate row: joins, then propensity (NULL: the prior) and uplift."""

    joins: tuple[ModelJoin, ...]
    propensity: exp.Expression
    uplift: exp.Expression | None = None


@dataclass(frozen=True)
class EngineInput:
    """What an engine plans from: the flow, the model, and the alias prefix of its joins (unique per model)."""

    ctx: FlowContext
    model: AlgorithmModel
    alias: str

    def join_alias(self, n: int = 0) -> str:
        return self.alias if n == 0 else f"{self.alias}_{n}"


def customer_key(alias: str) -> exp.Expression:
    """The join of a per-customer relation `alias` (its customer_id read as text, as the customer keys are)."""
    return exp.EQ(this=cast_text(col("customer_id", alias)), expression=col("customer_id", "c"))


def offer_key(alias: str) -> exp.Expression:
    return exp.EQ(this=col("offer_id", alias), expression=col("offer_id", "o"))
