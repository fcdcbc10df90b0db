"""The online_learner's models (S8; docs/online_learner.md): the coefficients state and the coefficients
the candidates join.

`state` (incremental, append): one version per run, the rows (as_of, update_n, kind, term,
coefficient, rows): kind 'intercept' (term = offer_id) or 'weight' (term = the feature). A run reads
the latest version before its as_of from {{ this }} (none on a first build or --full-refresh: the
prior), takes one full-batch gradient step on the attribution rows whose window closed in
(previous as_of, as_of] and appends the result. A run whose as_of is not later than every logged
version appends nothing (the guard: dbt's is_incremental() around a NOT EXISTS over {{ this }}).

`coefficients` (table): per catalogue offer, the intercept and the weights (w_0, w_1, ... in feature
order) of the latest version at or before the run's as_of; prior values where the state has none.
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import DbtIncrementalOnly, cast_double, cast_text, finite_or_null, incremental_this, minus_seconds
from ..dialect import relation, this_relation
from ..plan.context import ATTRIBUTION_MODEL, RUN_PARAMS, col, lit
from ..plan.offers import OFFERS_MODEL
from ..plan.online import OnlinePlan, feature_value, linear, sigmoid, weight_column

INTERCEPT, WEIGHT = "intercept", "weight"
STATE_COLUMNS = {
    "as_of": "The run's as_of this version was computed at.",
    "update_n": "The version: 1 on a first build (or --full-refresh), then one more per run that appended.",
    "kind": "'intercept' (term = an offer_id) or 'weight' (term = a customer feature).",
    "term": "The offer of an intercept, the feature of a weight.",
    "coefficient": "The coefficient after this run's gradient step.",
    "rows": "Attribution rows (impressions) the step read.",
}


def _empty_state() -> exp.Select:
    typed = {"as_of": exp.cast(exp.null(), "TIMESTAMP"), "update_n": exp.cast(exp.null(), "BIGINT"),
             "kind": cast_text(exp.null()), "term": cast_text(exp.null()),
             "coefficient": cast_double(exp.null()), "rows": exp.cast(exp.null(), "BIGINT")}
    return exp.select(*[exp.alias_(v, c, quoted=True) for c, v in typed.items()]).where(exp.false())


def _is(alias: str, kind: str, term: str | None = None) -> exp.Expression:
    kind_is = exp.EQ(this=col("kind", alias), expression=lit(kind))
    return kind_is if term is None else exp.and_(kind_is, exp.EQ(this=col("term", alias), expression=lit(term)))


def _weights(plan: OnlinePlan, source: str) -> exp.Select:
    """One row: each feature's weight in `source` (NULL when it has none) as w_i."""
    return exp.select(*[exp.alias_(exp.Max(this=exp.case().when(_is(source, WEIGHT, f.name), col("coefficient", source))),
                                   weight_column(i), quoted=True) for i, f in enumerate(plan.features)]
                      or [exp.alias_(lit(0), "none", quoted=True)]).from_(source)


def _intercept(alias: str, plan: OnlinePlan) -> exp.Expression:
    return exp.func("COALESCE", col("coefficient", alias), lit(plan.settings.prior_intercept))


def _weight(i: int, alias: str = "w") -> exp.Expression:
    return exp.func("COALESCE", col(weight_column(i), alias), lit(0.0))


def _batch(plan: OnlinePlan) -> exp.Select:
    """Attribution rows whose window closed in (previous as_of, as_of]: offer, y and the features x_i."""
    window = plan.window_seconds
    closed = exp.LTE(this=col("impression_at", "a"), expression=minus_seconds(col("as_of", "p"), window))
    new = exp.or_(exp.Is(this=col("as_of", "l"), expression=exp.null()),
                  exp.GT(this=col("impression_at", "a"), expression=minus_seconds(col("as_of", "l"), window)))
    xs = [exp.alias_(feature_value(finite_or_null(col(f.column, "s"))), f"x_{i}", quoted=True)
          for i, f in enumerate(plan.features)]
    query = (exp.select(col("offer_id", "a"), exp.alias_(cast_double(col("positive", "a")), "y", quoted=True), *xs)
             .from_(relation(ATTRIBUTION_MODEL).as_("a"))
             .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
             .join(exp.to_table("latest").as_("l"), join_type="cross"))
    if plan.features:
        query = query.join(relation(plan.relation).as_("s"), join_type="left",
                           on=exp.EQ(this=cast_text(col(plan.key_column, "s")), expression=col("customer_id", "a")))
    return query.where(exp.and_(closed, new))


def _scored(plan: OnlinePlan) -> exp.Select:
    """Each batch row with its residual r = sigmoid(b_o + w . x) - y under the previous coefficients."""
    z = linear(_intercept("i", plan), [(_weight(i), col(f"x_{i}", "b")) for i in range(len(plan.features))])
    residual = exp.Sub(this=sigmoid(z), expression=col("y", "b"))
    on = exp.and_(_is("i", INTERCEPT), exp.EQ(this=col("term", "i"), expression=col("offer_id", "b")))
    return (exp.select(col("offer_id", "b"), *[col(f"x_{i}", "b") for i in range(len(plan.features))],
                       exp.alias_(residual, "r", quoted=True))
            .from_(exp.to_table("batch").as_("b")).join(exp.to_table("weights").as_("w"), join_type="cross")
            .join(exp.to_table("prev").as_("i"), join_type="left", on=on))


def _totals(plan: OnlinePlan) -> exp.Select:
    """n rows and each feature's gradient sum g_i = sum(r x_i)."""
    sums = [exp.alias_(exp.func("COALESCE", exp.Sum(this=exp.Mul(this=col("r"), expression=col(f"x_{i}"))), lit(0.0)),
                       f"g_{i}", quoted=True) for i in range(len(plan.features))]
    return exp.select(exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True), *sums).from_("scored")


def _step(previous: exp.Expression, gradient: exp.Expression, lr: float) -> exp.Expression:
    """previous - lr * gradient / n when the batch has rows, else previous."""
    n = cast_double(col("n", "t"))
    moved = exp.Sub(this=previous, expression=exp.Div(this=exp.Mul(this=lit(lr), expression=gradient), expression=n))
    return exp.case().when(exp.GT(this=col("n", "t"), expression=lit(0)), moved).else_(previous.copy())


def _intercepts(plan: OnlinePlan) -> exp.Select:
    """Every offer with an intercept before or rows now: b - lr * sum(r) / n."""
    offers = exp.union(exp.select(exp.alias_(col("term"), "offer_id", quoted=True)).from_("prev").where(_is("prev", INTERCEPT)),
                       exp.select(col("offer_id")).from_("scored"), distinct=True)
    grads = exp.select(col("offer_id"), exp.alias_(exp.Sum(this=col("r")), "g", quoted=True)).from_("scored").group_by(col("offer_id"))
    gradient = exp.func("COALESCE", col("g", "g"), lit(0.0))
    on_prev = exp.and_(_is("i", INTERCEPT), exp.EQ(this=col("term", "i"), expression=col("offer_id", "o")))
    return (exp.select(exp.alias_(lit(INTERCEPT), "kind", quoted=True), exp.alias_(col("offer_id", "o"), "term", quoted=True),
                       exp.alias_(_step(_intercept("i", plan), gradient, plan.settings.learning_rate), "coefficient", quoted=True))
            .from_(exp.paren(offers, copy=False).as_("o")).join(exp.to_table("totals").as_("t"), join_type="cross")
            .join(exp.to_table("prev").as_("i"), join_type="left", on=on_prev)
            .join(exp.paren(grads, copy=False).as_("g"), join_type="left",
                  on=exp.EQ(this=col("offer_id", "g"), expression=col("offer_id", "o"))))


def _weight_row(plan: OnlinePlan, i: int) -> exp.Select:
    """Feature i: w - lr * (g_i / n + regularization * w) = w - lr * (g_i + n * regularization * w) / n."""
    w = _weight(i)
    penalty = exp.Mul(this=exp.Mul(this=cast_double(col("n", "t")), expression=lit(plan.settings.regularization)),
                      expression=w.copy())
    gradient = exp.paren(exp.Add(this=col(f"g_{i}", "t"), expression=penalty), copy=False)
    return (exp.select(exp.alias_(lit(WEIGHT), "kind", quoted=True), exp.alias_(lit(plan.features[i].name), "term", quoted=True),
                       exp.alias_(_step(w, gradient, plan.settings.learning_rate), "coefficient", quoted=True))
            .from_(exp.to_table("totals").as_("t")).join(exp.to_table("weights").as_("w"), join_type="cross"))


def _updated(plan: OnlinePlan) -> exp.Expression:
    parts: exp.Expression = _intercepts(plan)
    for i in range(len(plan.features)):
        parts = exp.union(parts, _weight_row(plan, i), distinct=False)
    return parts


def state_sql(plan: OnlinePlan) -> exp.Select:
    """The state model: the previous version (from {{ this }}) moved one gradient step, once per as_of."""
    earlier = exp.select("*").from_(incremental_this(_empty_state()).as_("s"))
    latest = exp.select(exp.alias_(exp.Max(this=col("update_n")), "update_n", quoted=True),
                        exp.alias_(exp.Max(this=col("as_of")), "as_of", quoted=True)).from_("earlier")
    prev = (exp.select(col("kind", "e"), col("term", "e"), col("coefficient", "e")).from_(exp.to_table("earlier").as_("e"))
            .join(exp.to_table("latest").as_("l"), on=exp.EQ(this=col("update_n", "e"), expression=col("update_n", "l"))))
    logged = (exp.select(lit(1)).from_(this_relation().as_("x"))
              .where(exp.GTE(this=col("as_of", "x"), expression=col("as_of", "p"))))
    version = exp.Add(this=exp.func("COALESCE", col("update_n", "l"), lit(0)), expression=lit(1))
    query = (exp.select(col("as_of", "p"), exp.alias_(version, "update_n", quoted=True), col("kind", "u"), col("term", "u"),
                        col("coefficient", "u"), exp.alias_(col("n", "t"), "rows", quoted=True))
             .from_(exp.paren(_updated(plan), copy=False).as_("u"))
             .join(relation(RUN_PARAMS).as_("p"), join_type="cross").join(exp.to_table("latest").as_("l"), join_type="cross")
             .join(exp.to_table("totals").as_("t"), join_type="cross")
             .where(DbtIncrementalOnly(this=exp.not_(exp.Exists(this=logged)))))
    ctes = (("earlier", earlier), ("latest", latest), ("prev", prev), ("weights", _weights(plan, "prev")),
            ("batch", _batch(plan)), ("scored", _scored(plan)), ("totals", _totals(plan)))
    for name, cte in ctes:
        query = query.with_(name, as_=cte, copy=False)
    return query


def coefficients_sql(plan: OnlinePlan) -> exp.Select:
    """Per catalogue offer: intercept, w_0.. of the latest state version with as_of <= the run's as_of."""
    upto = (exp.select(col("kind", "s"), col("term", "s"), col("coefficient", "s"), col("update_n", "s"))
            .from_(relation(plan.state).as_("s")).join(relation(RUN_PARAMS).as_("p"), join_type="cross")
            .where(exp.LTE(this=col("as_of", "s"), expression=col("as_of", "p"))))
    version = exp.select(exp.alias_(exp.Max(this=col("update_n")), "update_n", quoted=True)).from_("upto")
    current = (exp.select(col("kind", "u"), col("term", "u"), col("coefficient", "u")).from_(exp.to_table("upto").as_("u"))
               .join(exp.to_table("ver").as_("v"), on=exp.EQ(this=col("update_n", "u"), expression=col("update_n", "v"))))
    on = exp.and_(_is("i", INTERCEPT), exp.EQ(this=col("term", "i"), expression=col("offer_id", "o")))
    query = (exp.select(col("offer_id", "o"), exp.alias_(_intercept("i", plan), "intercept", quoted=True),
                        *[exp.alias_(_weight(i), weight_column(i), quoted=True) for i in range(len(plan.features))],
                        col("update_n", "v"))
             .from_(relation(OFFERS_MODEL).as_("o")).join(exp.to_table("weights").as_("w"), join_type="cross")
             .join(exp.to_table("ver").as_("v"), join_type="cross")
             .join(exp.to_table("cur").as_("i"), join_type="left", on=on))
    for name, cte in (("upto", upto), ("ver", version), ("cur", current), ("weights", _weights(plan, "cur"))):
        query = query.with_(name, as_=cte, copy=False)
    return query
