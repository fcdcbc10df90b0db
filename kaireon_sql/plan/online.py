"""The `online_learner` engine (S8), planned: a logistic model whose coefficients the warehouse updates
each run (docs/online_learner.md).

propensity = sigmoid(b_o + sum_j w_j x_j), x_j the customer's `config.features` (NULL reads 0), b_o the
offer's intercept. The coefficients live in an incremental model (`model_relation(model, 'state')`, one
version per run, built by sql/online_learner.py); the candidates join `model_relation(model,
'coefficients')`, one row per catalogue offer with the latest version at or before the run's as_of.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.catalog import Schema, SchemaField
from ..config.models import AlgorithmModel, OnlineLearnerConfig
from ..config.project import Project
from ..dialect import cast_double, extreme
from ..errors import ConfigError
from .context import col, lit
from .engine import EngineInput, EngineScore, ModelJoin, model_relation, offer_key

STATE, COEFFICIENTS = "state", "coefficients"
Z_LIMIT = 500.0  # the linear predictor is clipped to [-500, 500] before EXP (no overflow on any engine)


@dataclass(frozen=True)
class OnlineFeature:
    name: str  # the customer field
    column: str  # its column in the schema's relation (training rows)


@dataclass(frozen=True)
class OnlinePlan:
    """What the state and coefficients models of one online_learner model are built from."""

    model: AlgorithmModel
    settings: OnlineLearnerConfig
    features: tuple[OnlineFeature, ...]
    relation: str  # the schema relation the training rows read the features from
    key_column: str  # its customer key column
    window_seconds: float  # an impression is learned from once its attribution window has closed

    @property
    def state(self) -> str:
        return model_relation(self.model, STATE)

    @property
    def coefficients(self) -> str:
        return model_relation(self.model, COEFFICIENTS)


def weight_column(i: int) -> str:
    """The coefficients model's column of feature i's weight."""
    return f"w_{i}"


def settings_of(model: AlgorithmModel) -> OnlineLearnerConfig:
    """The model's typed config (config/models.py validated it when the project loaded)."""
    settings = model.settings
    assert isinstance(settings, OnlineLearnerConfig), model.model_type
    return settings


def _schema(project: Project, model: AlgorithmModel, settings: OnlineLearnerConfig) -> Schema:
    where = model.location.at("config.schemaId")
    if settings.schema_id is not None:
        return project.lookup("schemas", settings.schema_id, where)  # type: ignore[return-value]
    for schema in project.schemas:
        if all(schema.field(f) is not None for f in settings.fields):
            return schema
    raise ConfigError(model.location.at("config.features"),
                      f"no schema declares every feature ({', '.join(settings.features)}); expected customer "
                      "fields of one schema (or name it in config.schemaId)")


def _feature(schema: Schema, name: str, model: AlgorithmModel, i: int) -> OnlineFeature:
    field = schema.field(name)
    if field is None or field.kind != "number":
        found = "is not a number field" if field is not None else "is not declared"
        raise ConfigError(model.location.at(f"config.features[{i}]"),
                          f"customer.{name} {found} in schema {schema.name!r}; expected a number field of: "
                          + ", ".join(f.name for f in schema.fields if f.kind == "number"))
    return OnlineFeature(name, field.source_column)


def _key(schema: Schema, model: AlgorithmModel) -> SchemaField:
    key = schema.key_field or schema.field("customer_id")
    if key is None:
        raise ConfigError(model.location.at("config.schemaId"),
                          f"schema {schema.name!r} has no customer key (a field with isUnique, or customer_id) "
                          "to join the training rows on")
    return key


def online_plan(project: Project, model: AlgorithmModel) -> OnlinePlan:
    """The model's plan: its settings checked against the project's schemas (ConfigError otherwise)."""
    settings = settings_of(model)
    schema = _schema(project, model, settings)
    features = tuple(_feature(schema, name, model, i) for i, name in enumerate(settings.fields))
    window = project.interaction_history.attribution_window_days * 86400
    return OnlinePlan(model, settings, features, schema.relation_name, _key(schema, model).source_column, window)


def sigmoid(z: exp.Expression) -> exp.Expression:
    """1 / (1 + EXP(-z)), z clipped to [-Z_LIMIT, Z_LIMIT]."""
    clipped = extreme([extreme([z, lit(-Z_LIMIT)], largest=True), lit(Z_LIMIT)], largest=False)
    denominator = exp.Add(this=lit(1.0), expression=exp.Exp(this=exp.Neg(this=exp.paren(clipped, copy=False))))
    return exp.Div(this=lit(1.0), expression=exp.paren(denominator, copy=False))


def feature_value(value: exp.Expression) -> exp.Expression:
    """A feature as the model reads it: a DOUBLE, NULL (missing, NaN, +-inf upstream) read as 0."""
    return exp.func("COALESCE", cast_double(value), lit(0.0))


def linear(intercept: exp.Expression, terms: list[tuple[exp.Expression, exp.Expression]]) -> exp.Expression:
    """intercept + w_1 * x_1 + ... in feature order (the same order the Python reference sums in)."""
    z = intercept
    for weight, x in terms:
        z = exp.Add(this=z, expression=exp.Mul(this=weight, expression=x))
    return z


def online_engine(inp: EngineInput) -> EngineScore:
    """Joins the model's coefficients per offer; propensity = sigmoid(b_o + sum_j w_j x_j) over the row."""
    plan = online_plan(inp.ctx.project, inp.model)
    a = inp.join_alias()
    where = inp.model.location.at("config.features")
    terms = []
    for i, feature in enumerate(plan.features):
        column = inp.ctx.customer_field(feature.name, where).column
        terms.append((col(weight_column(i), a), feature_value(col(column, "c"))))
    z = linear(col("intercept", a), terms)
    return EngineScore((ModelJoin(plan.coefficients, a, offer_key(a)),), sigmoid(z))
