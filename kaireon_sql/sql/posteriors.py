"""Posterior models of the learning engines (plan/learned.py: the shrinkage rates, S8), from kaireon_attribution.

The window is impression_at in (as_of - windowDays, as_of]; a row counts one impression (n) and, when a
positive is attributed to it, one positive (k).
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_text, minus_seconds, relation
from ..plan.context import ATTRIBUTION_MODEL, RUN_PARAMS, col, lit
from ..plan.learned import PosteriorPlan
from ..plan.offers import OFFERS_MODEL

POSTERIOR_COLUMNS = {
    "offer_id": "Offer id (every offer of the catalogue).",
    "category_id": "The offer's category (NULL when it has none).",
    "n": "Impressions of the offer in the window.",
    "k": "Of them, impressions with an attributed positive outcome.",
    "global_rate": "g = (k_all + 1) / (n_all + 2) over every impression in the window.",
    "category_rate": "p_c = (k_c + m g) / (n_c + m) of the offer's category (g without a category).",
    "propensity": "p_o = (k + m p_c) / (n + m): the offer's shrunk rate.",
}
GROUP_COLUMNS = {
    "offer_id": "Offer id.",
    "n": "Impressions of the offer to customers of the group in the window.",
    "k": "Of them, impressions with an attributed positive outcome.",
    "propensity": "(k + m p_o) / (n + m): the group's rate shrunk toward the offer's (p_o of the posterior).",
}


def _d(e: exp.Expression) -> exp.Expression:
    return exp.cast(e, "DOUBLE")


def _rate(k: exp.Expression, n: exp.Expression, m: float, prior: exp.Expression) -> exp.Expression:
    """(k + m prior) / (n + m), k and n NULL read as 0."""
    k, n = exp.func("COALESCE", _d(k), lit(0.0)), exp.func("COALESCE", _d(n), lit(0.0))
    num = exp.Add(this=k, expression=exp.Mul(this=lit(float(m)), expression=prior))
    return exp.Div(this=exp.paren(num), expression=exp.paren(exp.Add(this=n, expression=lit(float(m)))))


def _window(plan: PosteriorPlan) -> exp.Select:
    """Attribution rows in the window, with the offer's category."""
    at = col("impression_at", "a")
    start = minus_seconds(col("as_of", "p"), plan.window_days * 86400)
    return (exp.select(col("customer_id", "a"), col("offer_id", "a"), col("positive", "a"), col("category_id", "o"))
            .from_(relation(ATTRIBUTION_MODEL).as_("a"))
            .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
            .join(relation(OFFERS_MODEL).as_("o"), join_type="left",
                  on=exp.EQ(this=col("offer_id", "o"), expression=col("offer_id", "a")))
            .where(exp.and_(exp.GT(this=at, expression=start), exp.LTE(this=at.copy(), expression=col("as_of", "p")))))


def _counts(keys: list[str], n: str, k: str, where: exp.Expression | None = None) -> exp.Select:
    query = exp.select(*[col(c) for c in keys], exp.alias_(exp.Count(this=exp.Star()), n, quoted=True),
                       exp.alias_(exp.Sum(this=col("positive")), k, quoted=True)).from_("w")
    if where is not None:
        query = query.where(where)
    return query.group_by(*[col(c) for c in keys]) if keys else query


def _rates(plan: PosteriorPlan) -> exp.Select:
    """Per offer of the catalogue: counts, g and p_c."""
    g = exp.Div(this=exp.paren(exp.Add(this=_d(exp.func("COALESCE", col("k_all", "t"), lit(0))), expression=lit(1.0))),
                expression=exp.paren(exp.Add(this=_d(col("n_all", "t")), expression=lit(2.0))))
    p_c = _rate(col("k_c", "cat"), col("n_c", "cat"), plan.smoothing, g.copy())
    return (exp.select(col("offer_id", "o"), col("category_id", "o"),
                       exp.alias_(exp.func("COALESCE", col("n_o", "f"), lit(0)), "n", quoted=True),
                       exp.alias_(exp.func("COALESCE", col("k_o", "f"), lit(0)), "k", quoted=True),
                       exp.alias_(g, "global_rate", quoted=True), exp.alias_(p_c, "category_rate", quoted=True))
            .from_(relation(OFFERS_MODEL).as_("o"))
            .join(exp.to_table("total").as_("t"), join_type="cross")
            .join(exp.to_table("cat").as_("cat"), join_type="left",
                  on=exp.EQ(this=col("category_id", "cat"), expression=col("category_id", "o")))
            .join(exp.to_table("per_offer").as_("f"), join_type="left",
                  on=exp.EQ(this=col("offer_id", "f"), expression=col("offer_id", "o"))))


def posterior_sql(plan: PosteriorPlan) -> exp.Select:
    """One row per offer of the catalogue: n, k, g, p_c and the propensity p_o (POSTERIOR_COLUMNS)."""
    p_o = _rate(col("k"), col("n"), plan.smoothing, col("category_rate"))
    query = exp.select(*[col(c) for c in POSTERIOR_COLUMNS if c != "propensity"],
                       exp.alias_(p_o, "propensity", quoted=True)).from_(exp.paren(_rates(plan)).as_("r"))
    ctes = (("w", _window(plan)), ("total", _counts([], "n_all", "k_all")),
            ("cat", _counts(["category_id"], "n_c", "k_c", exp.not_(exp.Is(this=col("category_id"),
                                                                        expression=exp.null())))),
            ("per_offer", _counts(["offer_id"], "n_o", "k_o")))
    for name, cte in ctes:
        query = query.with_(name, as_=cte, copy=False)
    return query


def group_posterior_sql(plan: PosteriorPlan) -> exp.Select:
    """One row per offer and group of customer values seen in the window (GROUP_COLUMNS + the group columns)."""
    group = plan.group
    names = [c for c, _ in group.columns]
    counted = (exp.select(col("offer_id", "w"), *[exp.alias_(col(src, "s"), c, quoted=True) for c, src in group.columns],
                          exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True),
                          exp.alias_(exp.Sum(this=col("positive", "w")), "k", quoted=True))
               .from_(exp.to_table("w").as_("w"))
               .join(relation(group.relation).as_("s"),
                     on=exp.EQ(this=cast_text(col(group.key_column, "s")), expression=col("customer_id", "w")))
               .where(exp.and_(*[exp.not_(exp.Is(this=col(src, "s"), expression=exp.null())) for _, src in group.columns]))
               .group_by(col("offer_id", "w"), *[col(src, "s") for _, src in group.columns]))
    rate = _rate(col("k", "g"), col("n", "g"), plan.smoothing, col("propensity", "po"))
    return (exp.select(col("offer_id", "g"), *[col(c, "g") for c in names], col("n", "g"), col("k", "g"),
                       exp.alias_(rate, "propensity", quoted=True))
            .from_(exp.paren(counted).as_("g"))
            .join(relation(plan.name).as_("po"), on=exp.EQ(this=col("offer_id", "po"), expression=col("offer_id", "g")))
            .with_("w", as_=_window(plan)))
