"""Small SQL helpers the stage modules share (no stage logic here)."""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_text
from ..plan.context import col, lit


def all_of(table: str) -> exp.Column:
    """`"table".*`"""
    return exp.Column(this=exp.Star(), table=exp.to_identifier(table, quoted=True))


def values(alias: str, columns: list[str], rows) -> exp.Select:
    """SELECT the text columns of inline VALUES rows."""
    table = exp.Values(expressions=[exp.Tuple(expressions=[lit(v) for v in r]) for r in rows],
                       alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True),
                                            columns=[exp.to_identifier(c, quoted=True) for c in columns]))
    return exp.select(*[exp.alias_(cast_text(col(c, alias)), c, quoted=True) for c in columns]).from_(table)


def row_number(partition: list[exp.Expression], order) -> exp.Expression:
    return exp.Window(this=exp.RowNumber(), partition_by=partition, order=exp.Order(expressions=list(order)))


def first_failing(checks: list[tuple[int, exp.Expression]]) -> exp.Expression:
    """The code of the first (code, blocks) pair that blocks, else NULL."""
    if not checks:
        return exp.cast(exp.null(), "INT")
    case = exp.case()
    for code, blocks in checks:
        case = case.when(blocks.copy(), lit(code), copy=False)  # copy=True would copy the CASE each time
    return case


def customer_passes(*codes: str, blocked: str | None = None) -> exp.Expression:
    """Customers-model condition: none of `codes` set (and `blocked` set, when given)."""
    parts = [exp.Is(this=col(c, "c"), expression=exp.null()) for c in codes]
    if blocked is not None:
        parts.append(exp.not_(exp.Is(this=col(blocked, "c"), expression=exp.null())))
    return exp.and_(*parts)


# Every run's decisions and withheld decisions (sql/decision_log.py); the experiment stage reads it.
DECISION_LOG = "kaireon_decision_log"
