"""Trained engines (S8): `gradient_boosted` and `neural_cf`, scored from the model file `kaireon train` writes.

- **The model file**: `config.modelFile` (relative to the config folder), by default
  `models/<model slug>.json` in the config folder. JSON: `format`, the features the model was trained
  on (name, encoding, the categories of a text feature), and the trees (`kaireon_sql.trees.Tree`
  dicts) and baseline, or the factors. Read and checked while planning: a missing, foreign or stale
  file (features no longer in the schema, `config.features` changed since training) is a ConfigError
  naming the file and field.
- **gradient_boosted**: propensity = sigmoid(baseline + sum of the trees) over the candidate row's
  features encoded as the trainer encoded them (`encode`): numbers as DOUBLE, booleans 1/0, text as
  the index of its value in the file's sorted categories (a value not seen in training, or NULL, is
  missing and takes the tree's missing branch).
- **neural_cf**: customer factors u_c and offer factors v_o with bias b_o, as two project-level
  models (VALUES of the file's factors, sql/trained.py); propensity = sigmoid(b_o + sum_k u_ck v_ok),
  NULL for a customer or offer without factors, which the engine's fallback scores (`NCF_FALLBACK`).
- **Feature log** (`FeatureLog`): for every active gradient_boosted model, an incremental model of
  the model's features as they were when each decision was made, the training rows of `kaireon train`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from ..config.models import GRADIENT_BOOSTED, NEURAL_CF, AlgorithmModel
from ..config.project import Project
from ..errors import ConfigError, Location
from ..trees import Tree, ensemble_sql, number
from .context import OFFER_COLUMNS, OFFER_FIELD_PREFIX, FlowContext, col, lit
from .formulas import customer_value, offer_value

GBM, NCF = GRADIENT_BOOSTED, NEURAL_CF
FILE_FORMATS = {GBM: "kaireon-gradient-boosted-model", NCF: "kaireon-neural-cf-model"}
# config keys each trained engine reads (scoring, or `kaireon train`: its training settings);
# any other key is refused at validate time (`settings_errors`).
SETTINGS = {
    GBM: ("features", "modelFile", "attributionWindowDays", "positiveOutcomes", "maxIter", "learningRate",
          "maxLeafNodes", "maxDepth", "minSamplesLeaf", "l2Regularization"),
    NCF: ("modelFile", "attributionWindowDays", "positiveOutcomes", "factors", "epochs", "learningRate", "l2"),
}
FEATURE_LOG = "feature_log"  # part of the feature log model's name (plan/models.py model_relation)


def slug(model: AlgorithmModel) -> str:
    return re.sub(r"[^a-z0-9]+", "_", model.ref.lower()).strip("_") or "model"


def settings_errors(project: Project) -> list[ConfigError]:
    """Unknown `config` keys of the trained engines' models (other types' config is typed: config/models.py)."""
    errors = []
    for model in project.all("algorithmModels"):
        if model.model_type not in SETTINGS or model.settings is not None:
            continue
        allowed = SETTINGS[model.model_type]
        for key in model.config:
            if key not in allowed:
                expected = ", ".join(allowed) if allowed else f"none: modelType {model.model_type!r} reads no settings"
                errors.append(ConfigError(model.location.at(f"config.{key}"),
                                          f"unknown setting {key!r}; expected one of: {expected}"))
    return errors


def model_file(project: Project, model: AlgorithmModel) -> tuple[Path, str, Location]:
    """(path, path as configured, location of the setting) of a trained model's file, inside the config folder."""
    given = model.config.get("modelFile", f"models/{slug(model)}.json")
    where = model.location.at("config.modelFile")
    if not isinstance(given, str) or not given or Path(given).is_absolute() or Path(given).anchor:
        raise ConfigError(where, f"expected a path relative to the config folder, got {given!r}")
    path = project.root / given
    try:
        path.resolve().relative_to(project.root.resolve())
    except ValueError:
        raise ConfigError(where, "expected a path inside the config folder; it resolves outside it") from None
    return path, given, where


def feature_names(model: AlgorithmModel) -> list[str]:
    """`config.features`: a non-empty list of distinct `customer.<field>` / `offer.<field>` names."""
    where = model.location.at("config.features")
    names = model.config.get("features")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(where, "expected a non-empty list of feature names such as 'customer.age', 'offer.margin'")
    if len(set(names)) != len(names):
        raise ConfigError(where, "a feature is listed twice")
    for name in names:
        if not re.fullmatch(r"(customer|offer)\.[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(where, f"feature {name!r}: expected 'customer.<field>' or 'offer.<field>'")
    return names


def feature_kind(project: Project, name: str, where: Location) -> str:
    """number, boolean or text: the type of a feature in the project's schemas / offer fields."""
    source, field_name = name.split(".", 1)
    if source == "customer":
        kinds = {f.kind for s in project.schemas for f in s.fields if f.name == field_name}
    elif field_name in OFFER_COLUMNS:
        kinds = {OFFER_COLUMNS[field_name][1]}
    else:
        kinds = {cf.value_kind for kind in ("categories", "subCategories") for c in project.all(kind)
                 for cf in c.custom_fields if cf.name == field_name and cf.type != "computed"}
    if not kinds:
        raise ConfigError(where, f"feature {name!r} is no longer a field of any schema or offer category; "
                                 "fix config.features and retrain with `kaireon train`")
    kind = sorted(kinds)[0]
    if len(kinds) > 1 or kind not in ("number", "boolean", "text"):
        raise ConfigError(where, f"feature {name!r}: expected one number, boolean or text field, found {sorted(kinds)}")
    return kind


def log_column(name: str) -> str:
    """The feature log's column of feature `customer.x` / `offer.x`: customer__x / offer__x."""
    return name.replace(".", "__", 1)


@dataclass(frozen=True)
class Feature:
    name: str  # customer.x or offer.x
    kind: str  # number, boolean or text
    categories: tuple[str, ...] = ()  # text: the training values, sorted; the code is the index


def read_file(project: Project, model: AlgorithmModel) -> tuple[dict, str, Location]:
    """The model file's JSON, or a ConfigError naming it (missing, unreadable, of another kind or model)."""
    path, given, where = model_file(project, model)
    if not path.is_file():
        raise ConfigError(where, f"model file {given!r} not found in the config folder; train it with "
                                 f"`kaireon train {model.ref}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(where, f"cannot read model file {given!r}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FILE_FORMATS[model.model_type]:
        raise ConfigError(where, f"model file {given!r} is not a {model.model_type} model file "
                                 f"(expected format {FILE_FORMATS[model.model_type]!r}); retrain with `kaireon train {model.ref}`")
    return data, given, where


def _file_features(data: dict, given: str, where: Location) -> list[Feature]:
    try:
        return [Feature(str(f["name"]), str(f["kind"]), tuple(str(c) for c in f.get("categories", ())))
                for f in data["features"]]
    except (KeyError, TypeError) as exc:
        raise ConfigError(where, f"model file {given!r}: malformed 'features' ({exc})") from None


def checked_features(project: Project, model: AlgorithmModel, data: dict, given: str, where: Location) -> list[Feature]:
    """The file's features, equal to `config.features` and of the types the schemas give them now."""
    features = _file_features(data, given, where)
    configured = feature_names(model)
    if [f.name for f in features] != configured:
        raise ConfigError(model.location.at("config.features"),
                          f"model file {given!r} is stale: trained on {[f.name for f in features]}, config.features "
                          f"is {configured}; retrain with `kaireon train {model.ref}`")
    for f in features:
        kind = feature_kind(project, f.name, model.location.at("config.features"))
        if kind != f.kind:
            raise ConfigError(model.location.at("config.features"),
                              f"model file {given!r} is stale: feature {f.name!r} was a {f.kind} at training and is a "
                              f"{kind} now; retrain with `kaireon train {model.ref}`")
    return features


@dataclass(frozen=True)
class Boosted:
    """A gradient_boosted model file, loaded and checked."""

    features: tuple[Feature, ...]
    baseline: float
    trees: tuple[Tree, ...]


def load_gbm(project: Project, model: AlgorithmModel) -> Boosted:
    data, given, where = read_file(project, model)
    features = checked_features(project, model, data, given, where)
    try:
        trees = tuple(Tree.from_dict(t) for t in data["trees"])
        baseline = float(data["baseline"])
        if any(f >= len(features) for t in trees for f, left in zip(t.feature, t.left) if left != -1):
            raise ValueError("a tree reads a feature the file does not list")
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(where, f"model file {given!r}: malformed trees ({exc}); retrain with "
                                 f"`kaireon train {model.ref}`") from None
    return Boosted(tuple(features), baseline, trees)


def encode(feature: Feature, value: exp.Expression) -> exp.Expression:
    """The DOUBLE the trees read for `value` (the trainer's encoding; NULL is missing)."""
    if feature.kind == "number":
        return exp.cast(value, "DOUBLE")
    if feature.kind == "boolean":
        return exp.case().when(exp.EQ(this=value.copy(), expression=exp.true()), number(1.0)) \
            .when(exp.EQ(this=value.copy(), expression=exp.false()), number(0.0))
    case = exp.case()
    for i, category in enumerate(feature.categories):
        case = case.when(exp.EQ(this=value.copy(), expression=lit(category)), number(float(i)), copy=False)
    return case if feature.categories else exp.cast(exp.null(), "DOUBLE")


def row_value(ctx: FlowContext, name: str, where: Location) -> exp.Expression:
    """A feature's value on the flow's candidate row (`customer.x` must be loaded by the enrich node)."""
    source, field_name = name.split(".", 1)
    if source == "customer":
        ctx.customer_field(name, where)  # a clear error when the flow does not load it
        found = customer_value(ctx, field_name)
    else:
        found = offer_value(ctx, field_name)
    if found is None:
        raise ConfigError(where, f"feature {name!r} is not a field of the flow's candidate rows")
    return found.sql


def sigmoid(z: exp.Expression) -> exp.Expression:
    return exp.Div(this=number(1.0), expression=exp.paren(exp.Add(
        this=number(1.0), expression=exp.func("EXP", exp.Neg(this=exp.paren(z))))))


def gbm_propensity(ctx: FlowContext, model: AlgorithmModel) -> exp.Expression:
    """sigmoid(baseline + sum of the trees) over the candidate row: the library's predict_proba."""
    boosted = load_gbm(ctx.project, model)
    where = model.location.at("config.features")
    features = [encode(f, row_value(ctx, f.name, where)) for f in boosted.features]
    return sigmoid(ensemble_sql(boosted.trees, features, boosted.baseline))


@dataclass(frozen=True)
class Factors:
    """A neural_cf model file: per customer and per offer factors (k each) and the offers' biases."""

    k: int
    customers: tuple[tuple[str, tuple[float, ...]], ...]
    offers: tuple[tuple[str, float, tuple[float, ...]], ...]


def load_ncf(project: Project, model: AlgorithmModel) -> Factors:
    data, given, where = read_file(project, model)
    try:
        k = int(data["factors"])
        customers = tuple((str(c), tuple(float(x) for x in u)) for c, u in data["customers"])
        offers = tuple((str(o), float(b), tuple(float(x) for x in v)) for o, b, v in data["offers"])
        if k < 1 or any(len(u) != k for _, u in customers) or any(len(v) != k for _, _, v in offers):
            raise ValueError(f"every factor vector must have {k} values")
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(where, f"model file {given!r}: malformed factors ({exc}); retrain with "
                                 f"`kaireon train {model.ref}`") from None
    return Factors(k, customers, offers)


def ncf_propensity(customer_alias: str, offer_alias: str, k: int) -> exp.Expression:
    """sigmoid(b_o + u_c0 v_o0 + ... ) in factor order; NULL when the customer or the offer has no factors."""
    z: exp.Expression = col("b", offer_alias)
    for j in range(k):
        z = exp.Add(this=z, expression=exp.Mul(this=col(f"u{j}", customer_alias), expression=col(f"v{j}", offer_alias)))
    both = exp.and_(exp.not_(exp.Is(this=col("u0", customer_alias), expression=exp.null())),
                    exp.not_(exp.Is(this=col("b", offer_alias), expression=exp.null())))
    return exp.case().when(both, sigmoid(z))


@dataclass(frozen=True)
class LoggedFlow:
    """A flow whose decisions the feature log records: its decisions and customers models, the values."""

    decisions: str
    customers: str
    values: tuple[tuple[str, exp.Expression], ...]  # feature log column -> value over c (customers), o (offers)


def _logged_value(ctx: FlowContext, name: str, kind: str) -> exp.Expression | None:
    source, field_name = name.split(".", 1)
    if source == "customer":
        enriched = ctx.fields.get(field_name)
        if enriched is None or enriched.field.kind != kind:
            return None
        value: exp.Expression = col(enriched.column, "c")
    elif field_name in OFFER_COLUMNS:
        value = col(OFFER_COLUMNS[field_name][0], "o")
    else:
        value = col(OFFER_FIELD_PREFIX + field_name, "o")
    return exp.cast(value, {"number": "DOUBLE", "boolean": "BOOLEAN", "text": "TEXT"}[kind])


def logged_flow(ctx: FlowContext, model: AlgorithmModel) -> LoggedFlow | None:
    """What the feature log of `model` reads from flow `ctx`, or None when the flow does not load its features."""
    values = []
    for name in feature_names(model):
        value = _logged_value(ctx, name, feature_kind(ctx.project, name, model.location.at("config.features")))
        if value is None:
            return None
        values.append((log_column(name), value))
    return LoggedFlow(ctx.model("decisions"), ctx.model("customers"), tuple(values))


def gbm_models(project: Project) -> list[AlgorithmModel]:
    return [m for m in project.all("algorithmModels") if m.model_type == GBM and m.status == "active"]
