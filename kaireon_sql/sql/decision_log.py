"""The decision log: every run's decisions and withheld decisions, appended once per run.

An incremental model (append strategy). On a first or `--full-refresh` build it holds the current
run; on later builds it appends the rows of (run_id, decision_flow_key) pairs not yet logged, so
re-running a run adds nothing. The guard is one node of the tree (`DbtIncrementalOnly`), rendered
as dbt's `{% if is_incremental() %}` around a NOT EXISTS over `{{ this }}`.
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import DbtIncrementalOnly, relation, this_relation
from ..plan.context import col, lit
from ..plan.outputs import DECISION_COLUMNS

LOG_COLUMNS = (*DECISION_COLUMNS, "delivered")
# A run is identified by its run_id within a flow (the default run_id already names the flow).
RUN_KEY = ("run_id", "decision_flow_key")


def _rows(model: str, delivered: bool) -> exp.Select:
    return exp.select(*[col(c) for c in DECISION_COLUMNS],
                      exp.alias_(exp.true() if delivered else exp.false(), "delivered", quoted=True)).from_(relation(model))


def decision_log(decisions: str, withheld: str) -> exp.Select:
    """Rows of `decisions` (delivered) and `withheld` (not delivered) of runs the log does not hold yet."""
    current = exp.union(_rows(decisions, True), _rows(withheld, False), distinct=False)
    logged = (
        exp.select(lit(1))
        .from_(this_relation().as_("l"))
        .where(exp.and_(*[exp.EQ(this=col(k, "l"), expression=col(k, "d")) for k in RUN_KEY]))
    )
    return (
        exp.select(*[col(c, "d") for c in LOG_COLUMNS])
        .from_(current.subquery("d"))
        .where(DbtIncrementalOnly(this=exp.not_(exp.Exists(this=logged))))
    )
