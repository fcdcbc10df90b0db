"""Engines that learn from the attributed history in the warehouse (S8): bayesian, epsilon_greedy, thompson_bandit.

Each model of these types has a per-offer posterior model (`model_relation(model, 'posterior')`, built by
sql/posteriors.py from kaireon_attribution): for offer o with n impressions in the window (impression_at in
(as_of - windowDays, as_of]) and k of them with an attributed positive, the global rate
g = (k_all + 1) / (n_all + 2), the category rate p_c = (k_c + m g) / (n_c + m) and the offer's
p_o = (k_o + m p_c) / (n_o + m), m = smoothingWeight. Every offer of the catalogue has a row (an offer never
shown scores p_c, or g without a category). With `groupBy` (customer fields) a second model
(`model_relation(model, 'group_posterior')`) holds one rate per offer and group of values,
p_og = (k_og + m p_o) / (n_og + m); a candidate whose group has no row (or a NULL value) scores p_o.

- bayesian: the propensity is that rate.
- epsilon_greedy: a customer explores in a run iff hash_uniform(salt, run_id, customer_id) < epsilon and then
  scores hash_uniform(salt, run_id, customer_id, offer_id), else the bayesian rate (salt default the model id).
- thompson_bandit: a draw of Beta(priorAlpha + k_o, priorBeta + n_o - k_o) seeded by
  (salt, run_id, customer_id, offer_id) (dialect/sampling.py beta_draw).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.catalog import Schema
from ..config.flows import EnrichConfig
from ..config.models import AlgorithmModel, BayesianConfig, EpsilonGreedyConfig, ThompsonConfig
from ..config.project import Project
from ..dialect.sampling import beta_draw, hash_uniform
from ..errors import ConfigError
from .checks import concat
from .context import CUSTOMER_PREFIX, FlowContext, col, lit
from .engine import EngineInput, EngineScore, ModelJoin, model_relation, offer_key

POSTERIOR, GROUP_POSTERIOR = "posterior", "group_posterior"


@dataclass(frozen=True)
class GroupPlan:
    """Where a model's groupBy fields are read: one schema relation, its key column, the fields' columns."""

    relation: str
    key_column: str
    columns: tuple[tuple[str, str], ...]  # (column of the group posterior = cust__<field>, source column)
    schema: str  # the schema's name (the flows must load the fields from it)


@dataclass(frozen=True)
class PosteriorPlan:
    """A model's posterior models: names, smoothing weight m, window, and its groups (if any)."""

    name: str
    group_name: str
    smoothing: float
    window_days: float
    group: GroupPlan | None


def _key_column(project: Project, schema: Schema) -> str:
    """The schema's customer key: the lookupKey the flows' enrich nodes read it by (default customer_id)."""
    sources = [src for flow in project.flows for n in flow.definition.nodes if isinstance(n.config, EnrichConfig)
               for src in n.config.sources if src.schema_id in schema.names()]
    key = sources[0].lookup_key if sources else "customer_id"
    found = schema.field(key)
    return found.source_column if found is not None else key


def _group_plan(project: Project, model: AlgorithmModel, fields: list[str]) -> GroupPlan | None:
    """The schema holding every groupBy field (the first declaring the first field), or a ConfigError."""
    if not fields:
        return None
    names = [f[len("customer."):] for f in fields]
    schema = next((s for s in project.schemas if s.field(names[0]) is not None), None)
    for i, name in enumerate(names):
        if schema is None or schema.field(name) is None:
            raise ConfigError(model.location.at(f"config.groupBy[{i}]"),
                              f"no schema declares customer field {name!r}" if schema is None else
                              f"schema {schema.name!r} (of groupBy[0]) has no field {name!r}; the groupBy fields "
                              "are read from one schema")
    columns = tuple((CUSTOMER_PREFIX + n, schema.field(n).source_column) for n in names)
    return GroupPlan(schema.relation_name, _key_column(project, schema), columns, schema.name)


def posterior_plan(project: Project, model: AlgorithmModel) -> PosteriorPlan:
    settings = model.settings
    smoothing = settings.smoothing_weight if isinstance(settings, BayesianConfig) else 10.0
    group_by = settings.group_by if isinstance(settings, BayesianConfig) else []
    window = settings.window_days if settings is not None else 30.0  # neural_cf's fallback: S8's defaults
    return PosteriorPlan(model_relation(model, POSTERIOR), model_relation(model, GROUP_POSTERIOR), smoothing,
                         window, _group_plan(project, model, group_by))


def run_id(ctx: FlowContext) -> exp.Expression:
    """The run's id as the outputs carry it: the `run_id` var, else '<flow key>@<as_of>' (run params `p`)."""
    return exp.func("COALESCE", col("run_id", "p"), concat(ctx.flow.key + "@", col("as_of_text", "p")))


def _check_groups(inp: EngineInput, group: GroupPlan) -> None:
    """The flow loads every groupBy field, from the schema the group posterior reads."""
    for i, (column, _) in enumerate(group.columns):
        where = inp.model.location.at(f"config.groupBy[{i}]")
        field = inp.ctx.customer_field(column[len(CUSTOMER_PREFIX):], where)
        if field.schema.name != group.schema:
            raise ConfigError(where, f"flow {inp.ctx.flow.key!r} loads {column[len(CUSTOMER_PREFIX):]!r} from schema "
                                     f"{field.schema.name!r}; the model's groups are read from {group.schema!r}")


def _bayesian_score(inp: EngineInput) -> tuple[tuple[ModelJoin, ...], exp.Expression]:
    """The posterior joins and the bayesian rate over the joined row (the group's, else the offer's)."""
    plan = posterior_plan(inp.ctx.project, inp.model)
    a = inp.join_alias()
    joins = [ModelJoin(plan.name, a, offer_key(a))]
    rate: exp.Expression = col("propensity", a)
    if plan.group is not None:
        _check_groups(inp, plan.group)
        g = inp.join_alias(1)
        on = exp.and_(offer_key(g), *[exp.EQ(this=col(c, g), expression=col(c, "c")) for c, _ in plan.group.columns])
        joins.append(ModelJoin(plan.group_name, g, on))
        rate = exp.func("COALESCE", col("propensity", g), rate)
    return tuple(joins), rate


def bayesian_engine(inp: EngineInput) -> EngineScore:
    joins, rate = _bayesian_score(inp)
    return EngineScore(joins, rate)


def _salt(inp: EngineInput, salt: str | None) -> exp.Expression:
    return lit(salt if salt is not None else inp.model.ref)


def epsilon_greedy_engine(inp: EngineInput) -> EngineScore:
    settings: EpsilonGreedyConfig = inp.model.settings  # type: ignore[assignment]
    joins, rate = _bayesian_score(inp)
    salt, run = _salt(inp, settings.salt), run_id(inp.ctx)
    explores = exp.LT(this=hash_uniform([salt, run, col("customer_id", "c")]), expression=lit(float(settings.epsilon)))
    explore = hash_uniform([salt.copy(), run.copy(), col("customer_id", "c"), col("offer_id", "o")])
    return EngineScore(joins, exp.case().when(explores, explore).else_(rate))


def thompson_engine(inp: EngineInput) -> EngineScore:
    settings: ThompsonConfig = inp.model.settings  # type: ignore[assignment]
    a = inp.join_alias()
    n = exp.func("COALESCE", exp.cast(col("n", a), "DOUBLE"), lit(0.0))
    k = exp.func("COALESCE", exp.cast(col("k", a), "DOUBLE"), lit(0.0))
    alpha = exp.Add(this=lit(float(settings.prior_alpha)), expression=k)
    beta = exp.Add(this=lit(float(settings.prior_beta)), expression=exp.paren(exp.Sub(this=n, expression=k.copy())))
    parts = [_salt(inp, settings.salt), run_id(inp.ctx), col("customer_id", "c"), col("offer_id", "o")]
    join = ModelJoin(model_relation(inp.model, POSTERIOR), a, offer_key(a))
    return EngineScore((join,), beta_draw(alpha, beta, parts))
