"""Orders and lifecycle stage (S3, S9): the typed orders, RFM per customer at as_of, the stage per customer,
the stage log (one snapshot per as_of) and the stage transitions since the previous logged run.

Only orders with ordered_at <= as_of are read, so a run is reproducible. An order is an order_id of a
customer: its time is the earliest ordered_at of its rows, its amount their sum. Days are whole UTC
calendar days between dates (as formulas' days_since()).
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import DbtIncrementalOnly, cast_double, cast_text, relation, this_relation
from ..plan.context import RUN_PARAMS, col, lit
from ..plan.lifecycle import LIFECYCLE_MODEL, LOG_MODEL, ORDERS_MODEL, RFM_MODEL, STAGE_COLUMN, LifecyclePlan, stage_case
from .common import row_number

# S3's order columns and their types
ORDER_COLUMNS = {"customer_id": "text", "order_id": "text", "ordered_at": "timestamp", "amount": "double",
                 "category": "text"}
RFM_COLUMNS = {
    "customer_id": "Customer key.",
    "as_of": "The run's as_of: the RFM figures count the orders at or before it.",
    "recency_days": "UTC calendar days from the last order's date to as_of's date.",
    "frequency": "Number of orders (distinct order_id).",
    "monetary": "Sum of the orders' amounts.",
    "first_order_at": "The first order's ordered_at (UTC).",
    "last_order_at": "The last order's ordered_at (UTC).",
    "previous_order_at": "The order before the last one (UTC); NULL with a single order.",
    "gap_days": "UTC calendar days between the previous order and the last one; NULL with a single order.",
    "days_since_first_order": "UTC calendar days from the first order's date to as_of's date.",
}
RFM_FIGURES = tuple(c for c in RFM_COLUMNS if c not in ("customer_id", "as_of"))


def _typed(name: str, kind: str) -> exp.Expression:
    source = col(name, "o")
    if kind == "text":
        return cast_text(source)
    if kind == "double":
        return cast_double(source)
    return exp.cast(source, "TIMESTAMP")


def orders_model(orders: str) -> exp.Select:
    """The configured orders relation with S3's columns, typed the same on every engine."""
    return exp.select(*[exp.alias_(_typed(n, k), n, quoted=True) for n, k in ORDER_COLUMNS.items()]).from_(
        relation(orders).as_("o"))


def days_between(later: exp.Expression, earlier: exp.Expression) -> exp.Expression:
    """Whole UTC calendar days from `earlier`'s date to `later`'s."""
    diff = exp.DateDiff(this=exp.cast(later, "DATE"), expression=exp.cast(earlier, "DATE"), unit=exp.var("DAY"))
    return exp.cast(diff, "BIGINT")


def _orders_until_as_of() -> exp.Select:
    """One row per customer and order_id with ordered_at <= as_of, ranked from the latest (1) back."""
    per_order = (
        exp.select(col("customer_id", "o"), col("order_id", "o"),
                   exp.alias_(exp.Min(this=col("ordered_at", "o")), "ordered_at", quoted=True),
                   exp.alias_(exp.Sum(this=col("amount", "o")), "amount", quoted=True))
        .from_(relation(ORDERS_MODEL).as_("o"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .where(exp.LTE(this=col("ordered_at", "o"), expression=col("as_of", "p")))
        .group_by(col("customer_id", "o"), col("order_id", "o"))
    )
    latest_first = [exp.Ordered(this=col("ordered_at"), desc=True), exp.Ordered(this=col("order_id"), desc=True)]
    rank = row_number([col("customer_id")], latest_first)
    return exp.select(exp.Star(), exp.alias_(rank, "order_rank", quoted=True)).from_(exp.paren(per_order).as_("q"))


def rfm_model() -> exp.Select:
    """kaireon_customer_rfm: one row per customer with an order at or before as_of."""
    previous = exp.case().when(exp.EQ(this=col("order_rank", "r"), expression=lit(2)), col("ordered_at", "r"))
    per_customer = (
        exp.select(col("customer_id", "r"),
                   exp.alias_(exp.Count(this=exp.Star()), "frequency", quoted=True),
                   exp.alias_(exp.Sum(this=col("amount", "r")), "monetary", quoted=True),
                   exp.alias_(exp.Min(this=col("ordered_at", "r")), "first_order_at", quoted=True),
                   exp.alias_(exp.Max(this=col("ordered_at", "r")), "last_order_at", quoted=True),
                   exp.alias_(exp.Max(this=previous), "previous_order_at", quoted=True))
        .from_(exp.paren(_orders_until_as_of()).as_("r"))
        .group_by(col("customer_id", "r"))
    )
    a, as_of = (lambda name: col(name, "a")), col("as_of", "p")  # noqa: E731
    return (
        exp.select(a("customer_id"), as_of.copy(),
                   exp.alias_(days_between(as_of.copy(), a("last_order_at")), "recency_days", quoted=True),
                   a("frequency"), a("monetary"), a("first_order_at"), a("last_order_at"), a("previous_order_at"),
                   exp.alias_(days_between(a("last_order_at"), a("previous_order_at")), "gap_days", quoted=True),
                   exp.alias_(days_between(as_of.copy(), a("first_order_at")), "days_since_first_order", quoted=True))
        .from_(exp.paren(per_customer).as_("a"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
    )


def _customers(plan: LifecyclePlan) -> exp.Expression:
    """The distinct customer keys of every flow's key source (NULL keys left out)."""
    selects = [exp.select(exp.alias_(cast_text(col(s.key_column, "s")), "customer_id", quoted=True)).distinct()
               .from_(relation(s.relation).as_("s"))
               .where(exp.not_(exp.Is(this=col(s.key_column, "s"), expression=exp.null())))
               for s in plan.customers]
    out: exp.Expression = selects[0]
    for select in selects[1:]:
        out = exp.union(out, select, distinct=True)
    return out


def lifecycle_model(plan: LifecyclePlan) -> exp.Select:
    """kaireon_lifecycle: one row per customer the flows decide for, with its stage (S9) and RFM figures."""
    zero = {"frequency": lit(0), "monetary": exp.cast(lit(0), "DOUBLE")}  # no order: none counted, nothing spent
    figures = [exp.alias_(exp.func("COALESCE", col(c, "r"), zero[c]) if c in zero else col(c, "r"), c, quoted=True)
               for c in RFM_FIGURES]
    stage = stage_case(lambda name: col(name, "r"), plan.days)
    return (
        exp.select(col("customer_id", "k"), col("as_of", "p"), exp.alias_(stage, STAGE_COLUMN, quoted=True), *figures)
        .from_(exp.paren(_customers(plan)).as_("k"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .join(relation(RFM_MODEL).as_("r"), join_type="left",
              on=exp.EQ(this=col("customer_id", "r"), expression=col("customer_id", "k")))
    )


LOG_COLUMNS = ("as_of", "customer_id", STAGE_COLUMN)


def log_model() -> exp.Select:
    """kaireon_lifecycle_log: this run's stages, appended once per as_of (a repeated as_of adds nothing)."""
    logged = (exp.select(lit(1)).from_(this_relation().as_("t"))
              .where(exp.EQ(this=col("as_of", "t"), expression=col("as_of", "l"))))
    return (exp.select(*[col(c, "l") for c in LOG_COLUMNS]).from_(relation(LIFECYCLE_MODEL).as_("l"))
            .where(DbtIncrementalOnly(this=exp.not_(exp.Exists(this=logged)))))


def _previous_as_of() -> exp.Select:
    """One row: the latest logged as_of before this run's (NULL on the first logged run)."""
    return (exp.select(exp.alias_(exp.Max(this=col("as_of", "g")), "previous_as_of", quoted=True))
            .from_(relation(LOG_MODEL).as_("g"))
            .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
            .where(exp.LT(this=col("as_of", "g"), expression=col("as_of", "p"))))


def transitions_model() -> exp.Select:
    """kaireon_lifecycle_transitions: customers per (from_stage, to_stage) between the previous logged run
    and this one; from_stage NULL: not in the previous run's log (every customer on the first run),
    to_stage NULL: in the previous run's log and not decided for now."""
    previous = (exp.select(col("customer_id", "g"), col(STAGE_COLUMN, "g")).from_(relation(LOG_MODEL).as_("g"))
                .join(exp.paren(_previous_as_of()).as_("v"),
                      on=exp.EQ(this=col("as_of", "g"), expression=col("previous_as_of", "v"))))
    current = exp.select(col("customer_id", "l"), col(STAGE_COLUMN, "l")).from_(relation(LIFECYCLE_MODEL).as_("l"))
    keys = [col("as_of", "p"), col("previous_as_of", "v"),
            exp.alias_(col(STAGE_COLUMN, "b"), "from_stage", quoted=True),
            exp.alias_(col(STAGE_COLUMN, "c"), "to_stage", quoted=True)]
    return (
        exp.select(*keys, exp.alias_(exp.Count(this=exp.Star()), "customers", quoted=True))
        .from_(exp.paren(current).as_("c"))
        .join(exp.paren(previous).as_("b"), join_type="full",
              on=exp.EQ(this=col("customer_id", "b"), expression=col("customer_id", "c")))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .join(exp.paren(_previous_as_of()).as_("v"), join_type="cross")
        .group_by(*[k.unalias() if isinstance(k, exp.Alias) else k for k in keys])
    )


__all__ = ["LOG_COLUMNS", "ORDER_COLUMNS", "RFM_COLUMNS", "days_between", "lifecycle_model", "log_model",
           "orders_model", "rfm_model", "transitions_model"]
