"""A check is one reason a candidate can be dropped: stage, name, when it blocks, and why."""
from __future__ import annotations

from dataclasses import dataclass, replace

from sqlglot import exp

from .context import lit


@dataclass(frozen=True)
class Check:
    stage: str  # consent | qualification | filter | contact_policy
    name: str
    blocks: exp.Expression  # TRUE when the candidate is dropped here (never NULL)
    reason: exp.Expression  # text of the rejection reason
    # (customer side, offer side) equalities every passing candidate satisfies: the candidate
    # model joins customers to offers on them instead of crossing every customer with every offer
    join_keys: tuple[tuple[exp.Expression, exp.Expression], ...] = ()


@dataclass(frozen=True)
class Quota:
    """A cap enforced within the run: at most `remaining` survivors per partition, best first.

    Customer caps partition by customer (the best-ranked offers keep the contacts left); offer
    budgets partition by offer and order by score across customers (a global allocation).
    """

    stage: str
    name: str
    partition: tuple[exp.Expression, ...]
    applies: exp.Expression  # TRUE when the candidate counts against this cap
    remaining: exp.Expression  # contacts left (may be <= 0)
    reason: exp.Expression
    order: tuple[exp.Ordered, ...] | None = None  # default: the flow's delivery order
    # True when a check of the same policy blocks every candidate this quota counts once nothing
    # is left (remaining <= 0): a quota that ranks each candidate first then never trims.
    paired_check: bool = False
    # Set when the flow's plan numbers its quotas (`numbered`): the reject code, the candidates
    # model's CTE of this quota and the columns it adds (rank within the partition, contacts left,
    # and whether a candidate is still alive for the next quota).
    code: int = 0
    cte: str = ""
    rank_column: str = ""
    left_column: str = ""
    alive_column: str = ""

    def numbered(self, position: int, code: int) -> Quota:
        """This quota as the `position`-th (from 1) of its flow, with reject code `code`."""
        name = f"quota_{position}"
        return replace(self, code=code, cte=name, rank_column=f"{name}_rank", left_column=f"{name}_left",
                       alive_column=f"{name}_alive")


def text(value: str) -> exp.Expression:
    return lit(value)


def concat(*parts: exp.Expression | str) -> exp.Expression:
    """Text concatenation with `||` (NULL parts are the caller's concern)."""
    items = [lit(p) if isinstance(p, str) else p for p in parts]
    out = items[0]
    for item in items[1:]:
        out = exp.DPipe(this=out, expression=item, safe=False)
    return out


def never_null(predicate: exp.Expression) -> exp.Expression:
    return exp.func("COALESCE", predicate, exp.false())


def reads_only(expression: exp.Expression, names: set[str] | frozenset[str],
               tables: tuple[str, ...] = ("", "p")) -> bool:
    """True when every column `expression` reads is one of `names`, of a table in `tables`."""
    return all(c.name in names and c.table in tables for c in expression.find_all(exp.Column))


def qualify_columns(expression: exp.Expression, table: str) -> exp.Expression:
    """`expression` with its unqualified columns read from `table`."""
    expression = expression.copy()
    for column in expression.find_all(exp.Column):
        if not column.table:
            column.set("table", exp.to_identifier(table, quoted=True))
    return expression
