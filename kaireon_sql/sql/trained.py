"""Project-level models of the trained engines (plan/trained.py): the gradient_boosted feature log
and the neural_cf factor relations."""
from __future__ import annotations

from sqlglot import exp

from ..dialect import DbtIncrementalOnly, cast_text, relation, this_relation
from ..plan.context import col
from ..plan.offers import OFFERS_MODEL
from ..plan.trained import Factors, LoggedFlow
from ..trees import number

# Columns of every feature log before the features: which decision the row is.
LOG_KEYS = ("run_id", "as_of", "decision_flow_key", "customer_id", "offer_id", "channel")
RUN_KEY = ("run_id", "decision_flow_key")


def _flow_rows(flow: LoggedFlow) -> exp.Select:
    """One flow's delivered decisions of this run with the features of their customer and offer now (decision time)."""
    query = exp.select(*[col(k, "d") for k in LOG_KEYS]).from_(relation(flow.decisions).as_("d"))
    query = query.join(relation(flow.customers).as_("c"), join_type="left",
                       on=exp.EQ(this=col("customer_id", "c"), expression=col("customer_id", "d")))
    query = query.join(relation(OFFERS_MODEL).as_("o"), join_type="left",
                       on=exp.EQ(this=col("offer_id", "o"), expression=col("offer_id", "d")))
    return query.select(*[exp.alias_(value.copy(), name, quoted=True) for name, value in flow.values], copy=False)


def feature_log(flows: list[LoggedFlow]) -> exp.Select:
    """The rows of runs the log does not hold yet (append strategy; a re-run adds nothing)."""
    current = _flow_rows(flows[0])
    for flow in flows[1:]:
        current = exp.union(current, _flow_rows(flow), distinct=False)
    logged = (exp.select(exp.Literal.number(1)).from_(this_relation().as_("l"))
              .where(exp.and_(*[exp.EQ(this=col(k, "l"), expression=col(k, "r")) for k in RUN_KEY])))
    columns = [*LOG_KEYS, *(name for name, _ in flows[0].values)]
    return (exp.select(*[col(c, "r") for c in columns]).from_(current.subquery("r"))
            .where(DbtIncrementalOnly(this=exp.not_(exp.Exists(this=logged)))))


def _values(alias: str, columns: list[str], rows: list[list[exp.Expression]]) -> exp.Select:
    table = exp.Values(expressions=[exp.Tuple(expressions=r) for r in rows],
                       alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True),
                                            columns=[exp.to_identifier(c, quoted=True) for c in columns]))
    return exp.select(*[col(c, alias) for c in columns]).from_(table)


def customer_factors(factors: Factors) -> exp.Select:
    """customer_id, u0 .. u{k-1}: one row per customer the model has factors for (exact doubles)."""
    names = [f"u{j}" for j in range(factors.k)]
    rows = [[cast_text(exp.Literal.string(c)), *[number(x) for x in u]] for c, u in factors.customers]
    return _values("f", ["customer_id", *names], rows or [[cast_text(exp.null()), *[number(0.0)] * factors.k]]) \
        .where(exp.not_(exp.Is(this=col("customer_id", "f"), expression=exp.null())))


def offer_factors(factors: Factors) -> exp.Select:
    """offer_id, b, v0 .. v{k-1}: one row per offer the model has factors for."""
    names = [f"v{j}" for j in range(factors.k)]
    rows = [[cast_text(exp.Literal.string(o)), number(b), *[number(x) for x in v]] for o, b, v in factors.offers]
    return _values("f", ["offer_id", "b", *names], rows or [[cast_text(exp.null()), number(0.0), *[number(0.0)] * factors.k]]) \
        .where(exp.not_(exp.Is(this=col("offer_id", "f"), expression=exp.null())))
