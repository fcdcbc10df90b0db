"""`kaireon discounts`: the discount learner's readout (S9, docs/discount_learner.md), per flow.

Reads kaireon_discount_readout (built by `kaireon run` when a flow has discountTiers) through `dbt show`:
per tier and group, the decided impressions that carried the tier, conversions, the rate with its Wilson
95% interval and the posterior mean; per flow, the mean discount per converted decision.
"""
from __future__ import annotations

from sqlglot import exp

from . import runner
from .dialect import engine, relation
from .errors import DbtRunError, KaireonError

READOUT = "kaireon_discount_readout"


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def readout_query(flow: str | None = None) -> exp.Select:
    select = exp.select("*").from_(relation(READOUT))
    if flow is not None:
        select = select.where(exp.EQ(this=_col("decision_flow_key"), expression=exp.Literal.string(flow)))
    return select.order_by(_col("decision_flow_key"), _col("discount_pct"), _col("group_value"))


def _pct(value) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def readout_lines(rows: list[dict]) -> list[str]:
    """One block per flow: its mean discount per converted decision, then a line per tier and group."""
    out: list[str] = []
    for flow in sorted({r["decision_flow_key"] for r in rows}):
        mine = sorted((r for r in rows if r["decision_flow_key"] == flow),
                      key=lambda r: (float(r["discount_pct"]), str(r["group_value"] or "")))
        mean = mine[0]["mean_discount_converted"]
        out.append(f"flow {flow}: mean discount per converted decision "
                   + ("-" if mean is None else f"{float(mean):g}%"))
        for r in mine:
            group = "all customers" if r["group_value"] is None else f"group {r['group_value']}"
            out.append(f"  {float(r['discount_pct']):g}% ({group}): {int(r['conversions'])}/{int(r['decisions'])} "
                       f"converted, {_pct(r['conversion_rate'])} [95% {_pct(r['ci_low'])} - {_pct(r['ci_high'])}], "
                       f"posterior mean {float(r['posterior_mean']):.3f}")
    return out or ["no decision carried a discount tier yet"]


def cmd_discounts(args) -> int:
    from .cli import _project  # lazy: the CLI's project lookup, for this subcommand only

    project = _project(args)
    eng = engine(args.engine or project.engine_name())
    try:
        rows = runner.query(project, readout_query(args.flow), eng)
    except DbtRunError as exc:
        raise KaireonError(f"cannot read {READOUT} ({exc}); a flow needs discountTiers and a `kaireon run` "
                           "first") from None
    print("\n".join(readout_lines(rows)))
    return 0
