"""Experiment analysis models of a flow with a holdout (docs/experiments.md), as sqlglot trees.

* `kaireon_<flow>__experiment_units`: one row per (run, customer) the run would have sent an offer
  to (intent-to-treat restricted to customers who would have received one), with the customer's
  group and outcomes in (as_of, as_of + outcomeWindowDays], never after the current run's as_of.
* `kaireon_<flow>__experiment_summary`: per run, and all runs pooled, over units whose window has
  closed: counts, rates, revenue sums, and the treatment-vs-holdout statistics (two-proportion z,
  Wilson intervals, Welch z on revenue per customer, sample-ratio-mismatch chi-square) with their
  two-sided p-values: the normal tail from EXP and arithmetic alone (`normal_tail`, Hart's rational
  approximation as West 2005 gives it; relative error below 1e-8 against scipy), the same on every engine.
* `kaireon_<flow>__uplift_training`: units joined to the flow's customer features, for fitting
  uplift models from the flow's own holdouts (issue 5 part 4).

Every division is guarded with NULLIF: a statistic that is undefined (an empty arm, a zero
standard error, fewer than two customers for a variance) is NULL, never NaN or infinity.
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_double, cast_text, relation
from ..plan.context import FlowContext, col, lit
from ..plan.context import RUN_PARAMS
from ..plan.context import HISTORY_MODEL
from .common import DECISION_LOG

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)
POOLED = "(all runs)"
GROUPS = ("treatment", "holdout")


def has_experiment(ctx: FlowContext) -> bool:
    """A flow is analysed when its experiment is enabled with a holdout share above 0."""
    return ctx.holdout_percent > 0


def _num(value: float) -> exp.Expression:
    return exp.cast(exp.Literal.number(repr(float(value))), "DOUBLE")


def _dbl(e: exp.Expression, ctx: FlowContext) -> exp.Expression:
    return cast_double(e)


def _div(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    """a / b, NULL when b is 0 or NULL."""
    return exp.Div(this=exp.paren(a), expression=exp.func("NULLIF", b, _num(0)))


def _mul(*factors: exp.Expression) -> exp.Expression:
    out = exp.paren(factors[0])
    for f in factors[1:]:
        out = exp.Mul(this=out, expression=exp.paren(f))
    return out


def _sub(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.Sub(this=exp.paren(a), expression=exp.paren(b))


def _add(*terms: exp.Expression) -> exp.Expression:
    out = exp.paren(terms[0])
    for t in terms[1:]:
        out = exp.Add(this=out, expression=exp.paren(t))
    return out


def _sqrt(e: exp.Expression) -> exp.Expression:
    return exp.Sqrt(this=e)


def _eq(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.EQ(this=a, expression=b)


def _as(e: exp.Expression, name: str) -> exp.Expression:
    return exp.alias_(e, name, quoted=True)


def _window_end(as_of: exp.Expression, days: float) -> exp.Expression:
    seconds = days * 86400
    amount = str(int(seconds)) if float(seconds).is_integer() else repr(seconds)
    return exp.Add(this=as_of, expression=exp.Interval(this=exp.Literal.string(amount), unit=exp.var("SECOND")))


# ---- units --------------------------------------------------------------------------------------

UNIT_COLUMNS = {
    "run_id": "The run that assigned the customer.",
    "as_of": "When that run decided (UTC); outcomes count after it.",
    "decision_flow_key": "Key of the Decision Flow.",
    "customer_id": "Customer key.",
    "experiment_group": "'treatment' or 'holdout' (S5 bucket).",
    "source": "'decision_log' (kaireon_decision_log) or 'assignments_relation' (experiment.assignmentsRelation).",
    "model_id": "The model that scored the customer's first-ranked decision of the run (S8); NULL without a model "
                "or from assignmentsRelation.",
    "window_end": "as_of + outcomeWindowDays: outcomes count in (as_of, window_end], and never after the current as_of.",
    "window_complete": "True when window_end <= the current run's as_of: only these units enter the summary.",
    "conversions": "Number of `outcome` interactions of the customer in the window (any offer, channel or flow).",
    "converted": "1 when conversions > 0, else 0.",
    "revenue": "Sum of `value` of the customer's `revenueOutcome` interactions in the window; 0 when none.",
}


def _log_units(ctx: FlowContext) -> exp.Select:
    """Customers a logged run decided for: delivered (treatment) or withheld (holdout) decisions."""
    return (
        exp.select(col("run_id", "l"), _as(exp.Min(this=col("as_of", "l")), "as_of"), col("customer_id", "l"),
                   _as(exp.Min(this=col("experiment_group", "l")), "experiment_group"),
                   _as(lit("decision_log"), "source"),
                   _as(exp.Min(this=exp.case().when(_eq(col("rank", "l"), lit(1)), col("model_id", "l"))), "model_id"))
        .from_(relation(DECISION_LOG).as_("l"))
        .where(_eq(col("decision_flow_key", "l"), lit(ctx.flow.key)))
        .group_by(col("run_id", "l"), col("customer_id", "l"))
    )


def _relation_units(ctx: FlowContext, name: str) -> exp.Select:
    """Customers a past run (configured relation) would have sent an offer to; runs in the log win."""
    logged = (exp.select(col("run_id", "l2")).from_(relation(DECISION_LOG).as_("l2"))
              .where(_eq(col("decision_flow_key", "l2"), lit(ctx.flow.key))))
    run_id = cast_text(col("run_id", "r"))
    return (
        exp.select(_as(run_id, "run_id"), _as(exp.cast(col("as_of", "r"), "TIMESTAMP"), "as_of"),
                   _as(cast_text(col("customer_id", "r")), "customer_id"),
                   _as(cast_text(col("experiment_group", "r")), "experiment_group"),
                   _as(lit("assignments_relation"), "source"), _as(cast_text(exp.null()), "model_id"))
        .from_(relation(name).as_("r"))
        .where(exp.and_(
            _eq(col("decision_flow_key", "r"), lit(ctx.flow.key)),
            _eq(col("would_receive", "r"), exp.true()),
            exp.not_(exp.In(this=run_id.copy(), query=logged.subquery())),
        ))
    )


def _assigned(ctx: FlowContext) -> exp.Expression:
    """Every (run, customer) unit: from the decision log, and the configured relation of past runs."""
    assigned: exp.Expression = _log_units(ctx)
    if ctx.experiment.assignments_relation:
        assigned = exp.union(assigned, _relation_units(ctx, ctx.experiment.assignments_relation), distinct=False)
    return assigned


def _h(name: str) -> exp.Column:
    return col(name, "h")


def _outcomes(ctx: FlowContext, window_end: exp.Expression) -> exp.Select:
    """Per unit: conversions and revenue of the customer's history rows in (as_of, window_end], up to now."""
    outcome = ctx.experiment.outcome
    revenue_outcome = ctx.experiment.revenue_outcome or outcome
    is_outcome = _eq(_h("outcome"), lit(outcome))
    is_revenue = _eq(_h("outcome"), lit(revenue_outcome))
    return (
        exp.select(col("run_id", "a"), col("customer_id", "a"),
                   _as(exp.Sum(this=exp.case().when(is_outcome, lit(1)).else_(lit(0))), "conversions"),
                   _as(exp.Sum(this=exp.case().when(is_revenue.copy(), _h("value")).else_(exp.null())), "revenue"))
        .from_(exp.to_table("assigned").as_("a"))
        .join(relation(HISTORY_MODEL).as_("h"), on=_eq(_h("customer_id"), col("customer_id", "a")))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .where(exp.and_(
            exp.In(this=_h("outcome"), expressions=[lit(o) for o in dict.fromkeys([outcome, revenue_outcome])]),
            exp.GT(this=_h("occurred_at"), expression=col("as_of", "a")),
            exp.LTE(this=_h("occurred_at"), expression=window_end.copy()),
            exp.LTE(this=_h("occurred_at"), expression=col("as_of", "p")),
        ))
        .group_by(col("run_id", "a"), col("customer_id", "a"))
    )


def units_model(ctx: FlowContext) -> exp.Select:
    window_end = _window_end(col("as_of", "a"), ctx.experiment.outcome_window_days)
    outcomes = _outcomes(ctx, window_end)
    conversions = exp.cast(exp.func("COALESCE", col("conversions", "o"), lit(0)), "BIGINT")
    return (
        exp.select(
            col("run_id", "a"), col("as_of", "a"), _as(lit(ctx.flow.key), "decision_flow_key"),
            col("customer_id", "a"), col("experiment_group", "a"), col("source", "a"), col("model_id", "a"),
            _as(window_end, "window_end"),
            _as(exp.LTE(this=window_end.copy(), expression=col("as_of", "p")), "window_complete"),
            _as(conversions, "conversions"),
            _as(exp.case().when(exp.GT(this=conversions.copy(), expression=lit(0)), lit(1)).else_(lit(0)), "converted"),
            _as(_dbl(exp.func("COALESCE", col("revenue", "o"), lit(0)), ctx), "revenue"),
        )
        .from_(exp.to_table("assigned").as_("a"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .join(exp.paren(outcomes).as_("o"), join_type="left",
              on=exp.and_(_eq(col("run_id", "o"), col("run_id", "a")), _eq(col("customer_id", "o"), col("customer_id", "a"))))
        .with_("assigned", as_=_assigned(ctx))
    )


# ---- summary ------------------------------------------------------------------------------------

SUMMARY_COLUMNS = {
    "decision_flow_key": "Key of the Decision Flow.",
    "analysis": "'run' (one run's units) or 'pooled' (all runs' units together).",
    "run_id": f"The run, or '{POOLED}' for the pooled row.",
    "as_of": "The run's as_of (pooled: the latest).",
    "runs": "Number of runs in the row.",
    "outcome": "The interaction outcome counted as a conversion.",
    "revenue_outcome": "The outcome whose `value` is revenue.",
    "window_days": "Outcome window after as_of, in days.",
    "expected_holdout_share": "holdoutPercent / 100 of the flow's config: the split the SRM check expects.",
    "min_group_size": "experiment.minGroupSize: arms below it are underpowered.",
    "underpowered": "True when an arm has fewer than min_group_size customers.",
    **{f"{g}_{k}": d.format(g=g) for g in GROUPS for k, d in {
        "n": "Customers in {g}.",
        "conversions": "Customers in {g} with at least one conversion in the window.",
        "conversion_rate": "conversions / n in {g} (NULL when n = 0).",
        "wilson_low": "Lower end of the Wilson 95% interval of the {g} conversion rate (NULL when n = 0).",
        "wilson_high": "Upper end of the Wilson 95% interval of the {g} conversion rate (NULL when n = 0).",
        "revenue_sum": "Sum of revenue of {g} customers.",
        "revenue_sum_squares": "Sum of squared revenue of {g} customers.",
        "revenue_per_customer": "revenue_sum / n in {g} (NULL when n = 0).",
        "revenue_variance": "Sample variance (n - 1) of revenue per {g} customer (NULL when n < 2).",
    }.items()},
    "lift_abs": "treatment_conversion_rate - holdout_conversion_rate.",
    "lift_rel": "lift_abs / holdout_conversion_rate (NULL when the holdout rate is 0).",
    "lift_low": "lift_abs - 1.96 x unpooled standard error (Wald 95% interval).",
    "lift_high": "lift_abs + 1.96 x unpooled standard error.",
    "z": "Two-proportion z statistic with the pooled rate (NULL when its standard error is 0).",
    "revenue_diff": "treatment_revenue_per_customer - holdout_revenue_per_customer.",
    "revenue_diff_se": "sqrt(var_t / n_t + var_h / n_h) (Welch).",
    "revenue_diff_low": "revenue_diff - 1.96 x revenue_diff_se.",
    "revenue_diff_high": "revenue_diff + 1.96 x revenue_diff_se.",
    "welch_z": "revenue_diff / revenue_diff_se (NULL when the standard error is 0 or undefined).",
    "welch_df": "Welch-Satterthwaite degrees of freedom (NULL when undefined).",
    "incremental_revenue": "revenue_diff x treatment_n: revenue the treatment brought beyond the holdout's rate.",
    "incremental_revenue_low": "revenue_diff_low x treatment_n.",
    "incremental_revenue_high": "revenue_diff_high x treatment_n.",
    "srm_chi2": "Sample-ratio-mismatch chi-square (1 df) of the arm sizes against expected_holdout_share.",
    "p_conversion": "Two-sided p-value of z (normal): 2 P(Z > |z|); NULL when z is.",
    "p_revenue": "Two-sided p-value of welch_z (normal approximation, as `kaireon experiments` reads it); NULL when "
                 "welch_z is.",
    "p_srm": "p-value of srm_chi2 (chi-square, 1 df) = 2 P(Z > sqrt(srm_chi2)); below 0.001 the assignment is suspect.",
}
# p-value column -> the statistic it tests (its absolute value; SRM: the square root of the chi-square)
P_VALUES = {"p_conversion": "z", "p_revenue": "welch_z", "p_srm": "srm_chi2"}
TAIL_CUT = 37.0  # 2 P(Z > 37) = 1.1e-299: 0 from there on (and no EXP underflow, which PostgreSQL raises)
SPLIT = 7.07106781186547  # 5 sqrt(2): the rational approximation below, the continued fraction above
TAIL_NUMERATOR = (0.0352624965998911, 0.700383064443688, 6.37396220353165, 33.912866078383, 112.079291497871,
                  221.213596169931, 220.206867912376)
TAIL_DENOMINATOR = (0.0883883476483184, 1.75566716318264, 16.064177579207, 86.7807322029461, 296.564248779674,
                    637.333633378831, 793.826512519948, 440.413735824752)
SQRT_2PI = 2.506628274631


def _u(name: str) -> exp.Column:
    return col(name, "u")


def _in_group(g: str) -> exp.Expression:
    return _eq(_u("experiment_group"), lit(g))


def _sum_if(g: str, value: exp.Expression) -> exp.Expression:
    return exp.Sum(this=exp.case().when(_in_group(g), value).else_(lit(0)))


def _group_aggregates(ctx: FlowContext, g: str) -> list[exp.Expression]:
    """Size, conversions, revenue sums and revenue variance of group `g` over units `u`."""
    revenue = _u("revenue")
    return [
        _as(exp.cast(_sum_if(g, lit(1)), "BIGINT"), f"{g}_n"),
        _as(exp.cast(_sum_if(g, _u("converted")), "BIGINT"), f"{g}_conversions"),
        _as(_dbl(_sum_if(g, revenue), ctx), f"{g}_revenue_sum"),
        _as(_dbl(_sum_if(g, exp.Mul(this=revenue.copy(), expression=revenue.copy())), ctx), f"{g}_revenue_sum_squares"),
        _as(exp.Variance(this=exp.case().when(_in_group(g), revenue.copy()).else_(exp.null())),
            f"{g}_revenue_variance"),
    ]


def _aggregates(ctx: FlowContext, grouped: bool) -> exp.Select:
    """Per run (grouped) or pooled over all runs: the arms' aggregates over units whose window closed."""
    select = exp.select(
        _as(lit("run" if grouped else "pooled"), "analysis"),
        _as(_u("run_id") if grouped else lit(POOLED), "run_id"),
        _as(exp.Max(this=_u("as_of")), "as_of"),
        _as(exp.Count(this=exp.Distinct(expressions=[_u("run_id")])), "runs"),
    )
    for g in GROUPS:
        select = select.select(*_group_aggregates(ctx, g))
    query = select.from_(exp.to_table("u")).where(_eq(_u("window_complete"), exp.true()))
    if grouped:
        return query.group_by(_u("run_id"))
    return query.having(exp.GT(this=exp.Count(this=exp.Star()), expression=lit(0)))


# The statistics read three layers: the aggregates ("r"), per-group sizes, rates, means and
# variances of the mean over them, then the contrasts and their standard errors over those (both
# "a"). Each is computed once and read by name instead of repeating its expression.

def _a(name: str) -> exp.Column:
    return col(name, "a")


def _per_group(suffix: str) -> dict[str, exp.Column]:
    """Per group: the column `<group>_<suffix>` of the layer below (alias "a")."""
    return {g: _a(f"{g}_{suffix}") for g in GROUPS}


def _per_group_layer(ctx: FlowContext) -> exp.Select:
    """SELECT *, per group: size, conversion rate, revenue per customer and variance of that mean."""
    per_group = exp.select(exp.Star())
    for g in GROUPS:
        size = _dbl(col(f"{g}_n", "r"), ctx)
        per_group = per_group.select(
            _as(size, f"{g}_size"),
            _as(_div(_dbl(col(f"{g}_conversions", "r"), ctx), size.copy()), f"{g}_rate"),
            _as(_div(col(f"{g}_revenue_sum", "r"), size.copy()), f"{g}_mean"),
            _as(_div(col(f"{g}_revenue_variance", "r"), size.copy()), f"{g}_var_over_n"),
        )
    return per_group


def _contrast_layer() -> exp.Select:
    """SELECT *, total_size, lift_est, lift_se, diff_est, diff_se over the per-group layer."""
    n, rate, mean, var_over_n = (_per_group(s) for s in ("size", "rate", "mean", "var_over_n"))
    contrasts = {
        "total_size": _add(n["treatment"], n["holdout"]),
        "lift_est": _sub(rate["treatment"], rate["holdout"]),
        "lift_se": _sqrt(_add(*[_div(_mul(rate[g].copy(), _sub(_num(1), rate[g].copy())), n[g].copy()) for g in GROUPS])),
        "diff_est": _sub(mean["treatment"], mean["holdout"]),
        "diff_se": _sqrt(_add(var_over_n["treatment"], var_over_n["holdout"])),
    }
    return exp.select(exp.Star(), *[_as(e, name) for name, e in contrasts.items()])


def _wilson(g: str, sign: int) -> exp.Expression:
    """An end of the Wilson 95% interval of group `g`'s conversion rate."""
    p, m = _a(f"{g}_rate"), _a(f"{g}_size")
    z2 = _num(Z95 * Z95)
    denom = _add(_num(1), _div(z2.copy(), m.copy()))
    center = _add(p.copy(), _div(z2.copy(), _mul(_num(2), m.copy())))
    spread = _add(_div(_mul(p.copy(), _sub(_num(1), p.copy())), m.copy()),
                  _div(z2.copy(), _mul(_num(4), m.copy(), m.copy())))
    half = _mul(_num(Z95), _sqrt(spread))
    numerator = _add(center, half) if sign > 0 else _sub(center, half)
    return _div(numerator, denom)


def _summary_header(ctx: FlowContext, share: float) -> list[exp.Expression]:
    exp_cfg = ctx.experiment
    min_size = exp_cfg.min_group_size
    underpowered = exp.or_(*[exp.LT(this=_a(f"{g}_n"), expression=lit(min_size)) for g in GROUPS])
    return [
        _as(lit(ctx.flow.key), "decision_flow_key"), _a("analysis"), _a("run_id"), _a("as_of"), _a("runs"),
        _as(lit(exp_cfg.outcome), "outcome"), _as(lit(exp_cfg.revenue_outcome or exp_cfg.outcome), "revenue_outcome"),
        _as(_num(exp_cfg.outcome_window_days), "window_days"), _as(_num(share), "expected_holdout_share"),
        _as(lit(min_size), "min_group_size"), _as(underpowered, "underpowered"),
    ]


def _group_columns(ctx: FlowContext, g: str) -> list[exp.Expression]:
    return [
        _a(f"{g}_n"), _a(f"{g}_conversions"), _as(_a(f"{g}_rate"), f"{g}_conversion_rate"),
        _as(_wilson(g, -1), f"{g}_wilson_low"), _as(_wilson(g, +1), f"{g}_wilson_high"),
        _a(f"{g}_revenue_sum"), _a(f"{g}_revenue_sum_squares"), _as(_a(f"{g}_mean"), f"{g}_revenue_per_customer"),
        _as(_dbl(_a(f"{g}_revenue_variance"), ctx), f"{g}_revenue_variance"),
    ]


def _lift_columns(ctx: FlowContext) -> list[exp.Expression]:
    """Conversion lift, its Wald interval, and the two-proportion z with the pooled rate."""
    n = _per_group("size")
    lift, se_lift, z = _a("lift_est"), _a("lift_se"), _num(Z95)
    pooled = _div(_add(_dbl(_a("treatment_conversions"), ctx), _dbl(_a("holdout_conversions"), ctx)), _a("total_size"))
    inv_n = _add(_div(_num(1), n["treatment"]), _div(_num(1), n["holdout"]))
    se_pooled = _sqrt(_mul(pooled, _sub(_num(1), pooled.copy()), inv_n))
    return [
        _as(lift, "lift_abs"), _as(_div(lift.copy(), _a("holdout_rate")), "lift_rel"),
        _as(_sub(lift.copy(), _mul(z.copy(), se_lift.copy())), "lift_low"),
        _as(_add(lift.copy(), _mul(z.copy(), se_lift.copy())), "lift_high"),
        _as(_div(lift.copy(), se_pooled), "z"),
    ]


def _revenue_columns() -> list[exp.Expression]:
    """Revenue per customer difference (Welch), its interval, and the incremental revenue."""
    n, var_over_n = _per_group("size"), _per_group("var_over_n")
    diff, se_diff, z, treated = _a("diff_est"), _a("diff_se"), _num(Z95), n["treatment"]
    df_den = _add(*[_div(_mul(var_over_n[g].copy(), var_over_n[g].copy()), _sub(n[g].copy(), _num(1))) for g in GROUPS])
    df = _div(_mul(se_diff.copy(), se_diff.copy(), se_diff.copy(), se_diff.copy()), df_den)
    low = _sub(diff.copy(), _mul(z.copy(), se_diff.copy()))
    high = _add(diff.copy(), _mul(z.copy(), se_diff.copy()))
    return [
        _as(diff, "revenue_diff"), _as(se_diff, "revenue_diff_se"), _as(low, "revenue_diff_low"),
        _as(high, "revenue_diff_high"), _as(_div(diff.copy(), se_diff.copy()), "welch_z"), _as(df, "welch_df"),
        _as(_mul(diff.copy(), treated.copy()), "incremental_revenue"),
        _as(_mul(low.copy(), treated.copy()), "incremental_revenue_low"),
        _as(_mul(high.copy(), treated.copy()), "incremental_revenue_high"),
    ]


def _srm_chi2(share: float) -> exp.Expression:
    """Sample-ratio-mismatch chi-square of the arm sizes against the configured split."""
    n, total = _per_group("size"), _a("total_size")
    expected = {"holdout": _mul(total.copy(), _num(share)), "treatment": _mul(total.copy(), _num(1 - share))}
    return _add(*[_div(_mul(_sub(n[g].copy(), expected[g].copy()), _sub(n[g].copy(), expected[g].copy())),
                       expected[g].copy()) for g in GROUPS])


def _horner(x: exp.Expression, coefficients: tuple[float, ...]) -> exp.Expression:
    out: exp.Expression = _num(coefficients[0])
    for c in coefficients[1:]:
        out = _add(_mul(out, x.copy()), _num(c))
    return out


def normal_tail(x: exp.Expression) -> exp.Expression:
    """P(Z > x) for a standard normal Z and 0 <= x < TAIL_CUT (x read several times: pass a column)."""
    density = exp.Exp(this=exp.Neg(this=_div(_mul(x.copy(), x.copy()), _num(2))))
    rational = _div(_mul(density, _horner(x, TAIL_NUMERATOR)), _horner(x, TAIL_DENOMINATOR))
    fraction: exp.Expression = _add(x.copy(), _num(0.65))
    for k in (4, 3, 2, 1):
        fraction = _add(x.copy(), _div(_num(k), fraction))
    continued = _div(_div(density.copy(), fraction), _num(SQRT_2PI))
    return exp.case().when(exp.LT(this=x.copy(), expression=_num(SPLIT)), rational).else_(continued)


def _statistic(name: str, table: str) -> exp.Expression:
    """|statistic| of a p-value (the square root of the SRM chi-square) over `table`."""
    value = col(name, table)
    return _sqrt(value) if name == "srm_chi2" else exp.Abs(this=value)


def _p_value(p_name: str) -> exp.Expression:
    """2 P(Z > |statistic|): NULL when it is NULL, 0 beyond TAIL_CUT; the tail reads the clamped `t` column."""
    tail = normal_tail(col(f"{p_name}__x", "t"))
    return (exp.case().when(exp.Is(this=col(P_VALUES[p_name], "t"), expression=exp.null()), exp.null())
            .when(exp.GTE(this=_statistic(P_VALUES[p_name], "t"), expression=_num(TAIL_CUT)), _num(0))
            .else_(_mul(_num(2), tail)))


def _with_p_values(summary: exp.Select) -> exp.Select:
    """The summary's columns and the p-values of its statistics (P_VALUES), over two layers: the clamped
    |statistic| (`<p>__x`, 0 where NULL or beyond TAIL_CUT), then the tail over that column."""
    clamped = exp.select(exp.Star())
    for p_name, stat_name in P_VALUES.items():
        stat = _statistic(stat_name, "s")
        clamped = clamped.select(_as(exp.case().when(exp.LT(this=stat, expression=_num(TAIL_CUT)), stat.copy())
                                     .else_(_num(0)), f"{p_name}__x"))
    clamped = clamped.from_(exp.paren(summary).as_("s"))
    names = [c for c in SUMMARY_COLUMNS if c not in P_VALUES]
    return (exp.select(*[col(c, "t") for c in names], *[_as(_p_value(p), p) for p in P_VALUES])
            .from_(exp.paren(clamped).as_("t")))


def summary_model(ctx: FlowContext) -> exp.Select:
    share = ctx.holdout_percent / 100
    select = exp.select(*_summary_header(ctx, share))
    for g in GROUPS:
        select = select.select(*_group_columns(ctx, g))
    select = select.select(*_lift_columns(ctx), *_revenue_columns(), _as(_srm_chi2(share), "srm_chi2"))
    aggregates = exp.union(_aggregates(ctx, True), _aggregates(ctx, False), distinct=False)
    per_group = _per_group_layer(ctx).from_(exp.paren(aggregates).as_("r"))
    contrast_layer = _contrast_layer().from_(exp.paren(per_group).as_("a"))
    units = exp.select(exp.Star()).from_(relation(ctx.model("experiment_units")))
    return _with_p_values(select.from_(exp.paren(contrast_layer).as_("a"))).with_("u", as_=units)


# ---- per-model comparison (S8: champion-challenger) ----------------------------------------------

MODEL_COLUMNS = ("model_id", "customers", "conversions", "revenue_sum")


def model_comparison(units_model: str) -> exp.Select:
    """Per model_id of the treatment units whose window closed (all runs pooled): customers, customers
    with a conversion, revenue. `kaireon experiments` adds rates, value per customer and the z-test
    of each challenger against the champion (experiments/readout.py model_lines)."""
    done = exp.and_(_eq(_u("window_complete"), exp.true()), _eq(_u("experiment_group"), lit("treatment")))
    return (
        exp.select(_u("model_id"), _as(exp.cast(exp.Count(this=exp.Star()), "BIGINT"), "customers"),
                   _as(exp.cast(exp.Sum(this=_u("converted")), "BIGINT"), "conversions"),
                   _as(cast_double(exp.Sum(this=_u("revenue"))), "revenue_sum"))
        .from_(relation(units_model).as_("u"))
        .where(done)
        .group_by(_u("model_id"))
        .order_by(_u("model_id"))
    )


# ---- per-creative comparison (S7 match_creatives: the A/B readout) -------------------------------

CREATIVE_COLUMNS = ("offer_id", "creative_id", "impressions", "conversions")


def creative_comparison(attribution: exp.Expression, creative_ids: list[str]) -> exp.Select:
    """Per offer and creative (of `creative_ids`), over `attribution` (the kaireon_attribution rows, S8):
    impressions and impressions with an attributed positive outcome. `kaireon experiments` adds each
    variant's rate and its z-test against the offer's first variant by id (experiments/readout.py)."""
    a = lambda name: col(name, "a")  # noqa: E731
    converted = exp.case().when(_eq(a("positive"), lit(1)), lit(1)).else_(lit(0))
    ids = exp.In(this=a("creative_id"), expressions=[lit(c) for c in creative_ids]) if creative_ids else exp.false()
    return (
        exp.select(a("offer_id"), a("creative_id"), _as(exp.cast(exp.Count(this=exp.Star()), "BIGINT"), "impressions"),
                   _as(exp.cast(exp.Sum(this=converted), "BIGINT"), "conversions"))
        .from_(exp.paren(attribution).as_("a"))
        .where(ids)
        .group_by(a("offer_id"), a("creative_id"))
        .order_by(a("offer_id"), a("creative_id"))
    )


# ---- training data --------------------------------------------------------------------------------

TRAINING_FIXED = ("customer_id", "run_id", "as_of", "treatment", "outcome", "revenue")


def training_features(ctx: FlowContext) -> dict[str, str]:
    """Feature column -> the flow's customer-model column: the enriched schema fields by name
    (a name that clashes with a fixed column gets the prefix `feature_`)."""
    taken = {c.lower() for c in TRAINING_FIXED}
    out: dict[str, str] = {}
    for name, enriched in ctx.fields.items():
        column = name if name.lower() not in taken else f"feature_{name}"
        taken.add(column.lower())
        out[column] = enriched.column
    return out


def training_model(ctx: FlowContext) -> exp.Select:
    treatment = exp.case().when(_eq(_u("experiment_group"), lit("treatment")), lit(1)).else_(lit(0))
    select = exp.select(
        _u("customer_id"), _u("run_id"), _u("as_of"), _as(treatment, "treatment"),
        _as(_u("converted"), "outcome"), _u("revenue"),
        *[_as(col(source, "c"), name) for name, source in training_features(ctx).items()],
    )
    return (
        select.from_(relation(ctx.model("experiment_units")).as_("u"))
        .join(relation(ctx.model("customers")).as_("c"), on=_eq(col("customer_id", "c"), _u("customer_id")))
        .where(_eq(_u("window_complete"), exp.true()))
    )
