"""The traces stage (S7 `includeTrace`, plan/traces.py): one row per candidate (customer x offer x channel)
of the traced customers, with the result of every check as a JSON array, its score, rank and fate.

Off the decision path (as the rejections model's all_pairs): nothing reads the traces model, and a flow
without includeTrace has none. Rows: every pair of the flow's inventory offer channels (whatever its
fate), then the called flow's candidates (sql/calls.py, `source_flow_key` the called flow, no checks of
this flow). Fate: `rejected` (the first failing check, else the within-run cap or budget that trimmed it:
`fate_stage`, `fate_rule`, `fate_reason` as in kaireon_rejections), else `decided` (in the flow's
decisions), `withheld` (in its withheld decisions), else `ranked_out` (docs/traces.md).
"""
from __future__ import annotations

import json

from sqlglot import exp

from ..dialect import hash_uniform, relation
from ..plan.checks import concat, never_null, qualify_columns
from ..plan.context import RUN_PARAMS, col, lit
from ..plan.flow import FlowPlan
from ..plan.traces import TRACE_SALT
from .common import all_of, first_failing
from .pairs import nested_creatives, pairs

KEYS = ("customer_id", "offer_id", "channel")


def _run_id(plan: FlowPlan) -> exp.Expression:
    """The run's `run_id` var, else '<flow key>@<as_of>' (S7; as the output models write it)."""
    return exp.func("COALESCE", col("run_id", "p"), concat(plan.ctx.flow.key + "@", col("as_of_text", "p")))


def _sampled(plan: FlowPlan) -> exp.Expression:
    """hash_uniform('trace', run_id, customer_id) < decisionTraceSampleRate, over the customers `c` and run `p`."""
    if plan.traces.rate >= 1:
        return exp.true()
    if plan.traces.rate <= 0:
        return exp.false()
    drawn = hash_uniform([lit(TRACE_SALT), _run_id(plan), col("customer_id", "c")])
    return exp.LT(this=drawn, expression=lit(plan.traces.rate))


def _traced(plan: FlowPlan) -> tuple[tuple[exp.Expression, exp.Expression], ...]:
    """The traced customers as a join (one md5 per customer, before the customers meet the offers); none at rate 1."""
    if plan.traces.rate >= 1:
        return ()
    traced = (exp.select(col("customer_id", "c")).from_(relation(plan.ctx.model("customers")).as_("c"))
              .join(relation(RUN_PARAMS).as_("p"), join_type="cross").where(_sampled(plan)))
    return ((exp.paren(traced, copy=False).as_("ts"), exp.EQ(this=col("customer_id", "ts"), expression=col("customer_id", "c"))),)


def _result(i: int) -> str:
    return f"trace_failed_{i}"  # the i-th check's result (TRUE: it drops the candidate), evaluated once a row


def _checks_json(plan: FlowPlan) -> exp.Expression:
    """JSON array text: {"stage", "rule", "passed"} for every check of the flow, in execution order.

    The constant parts are JSON text written here (json.dumps) and reach SQL as escaped string literals
    (lit); per row only `true` / `false` is chosen, so every engine writes the same text, cheaply."""
    if not plan.checks:
        return lit("[]")
    parts: list[exp.Expression | str] = []
    for i, check in enumerate(plan.checks, start=1):
        head = json.dumps({"stage": check.stage, "rule": check.name}, ensure_ascii=False)[:-1] + ', "passed": '
        parts.append(("[" if i == 1 else "}, ") + head)
        parts.append(exp.case().when(col(_result(i)), lit("false")).else_(lit("true")))
    return concat(*parts, "}]")


def _failed(plan: FlowPlan) -> exp.Expression:
    total: exp.Expression = lit(0)
    for i in range(1, len(plan.checks) + 1):
        total = exp.Add(this=total, expression=exp.case().when(col(_result(i)), lit(1)).else_(lit(0)))
    return total


def _traced_columns(plan: FlowPlan) -> list[exp.Expression]:
    return [exp.alias_(lit(plan.ctx.flow.key), "source_flow_key", quoted=True),
            exp.alias_(_checks_json(plan), "checks", quoted=True), exp.alias_(_failed(plan), "failed_checks", quoted=True)]


def _own(plan: FlowPlan) -> exp.Select:
    """The flow's own pairs of traced customers: the first failing check, then each check's result once."""
    checks = [(i, c.blocks) for i, c in enumerate(plan.checks, start=1)]
    coded = exp.select("*", exp.alias_(first_failing(checks), "check_code", quoted=True)).from_(
        exp.paren(nested_creatives(plan, pairs(plan, joins=_traced(plan))), copy=False).as_("own"))
    results = exp.select("*", *[exp.alias_(never_null(blocks.copy()), _result(i), quoted=True) for i, blocks in checks])
    return (exp.select("*", exp.alias_(plan.relevance, "relevance", quoted=True), *_traced_columns(plan))
            .from_(exp.paren(results.from_(exp.paren(coded, copy=False).as_("coded")), copy=False).as_("checked")))


def _called(plan: FlowPlan) -> exp.Select:
    """The called flow's candidates of traced customers: no check of this flow ran on them."""
    calls = plan.calls
    unchecked = [exp.alias_(exp.false(), _result(i), quoted=True) for i in range(1, len(plan.checks) + 1)]
    return (exp.select(all_of("c"), *unchecked, col("relevance", "ck"),
                       exp.alias_(lit(calls.called_key), "source_flow_key", quoted=True),
                       exp.alias_(lit("[]"), "checks", quoted=True), exp.alias_(lit(0), "failed_checks", quoted=True))
            .from_(relation(calls.model).as_("c"))
            .join(relation(calls.called_candidates).as_("ck"), on=_on("ck", "c"))
            .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
            .where(_sampled(plan)))  # a few rows per customer: the draw per row is cheap


def _on(left: str, right: str) -> exp.Expression:
    return exp.and_(*[exp.EQ(this=col(k, left), expression=col(k, right)) for k in KEYS])


def _by_code(plan: FlowPlan, code: exp.Expression, pick) -> exp.Expression:
    """The stage, rule or reason of a reject code (checks 1.., quotas), NULL for none."""
    case = exp.case()
    for value, stage, name, reason in plan.codes():
        case = case.when(exp.EQ(this=code.copy(), expression=lit(value)), pick(stage, name, reason), copy=False)
    return case.else_(exp.cast(exp.null(), "VARCHAR"), copy=False) if case.args.get("ifs") else exp.cast(exp.null(), "VARCHAR")


def _fate(code: exp.Expression) -> exp.Expression:
    return (exp.case().when(exp.not_(exp.Is(this=code, expression=exp.null())), lit("rejected"))
            .when(exp.not_(exp.Is(this=col("offer_id", "d"), expression=exp.null())), lit("decided"))
            .when(exp.not_(exp.Is(this=col("offer_id", "w"), expression=exp.null())), lit("withheld"))
            .else_(lit("ranked_out")))


def _rows(plan: FlowPlan) -> exp.Expression:
    rows = _own(plan)
    if plan.calls is None:
        return rows
    return exp.union(rows, _called(plan), distinct=False)


def traces_model(plan: FlowPlan) -> exp.Select:
    """One row per candidate of the traced customers (plan.traces), with its checks, score, rank and fate."""
    ctx = plan.ctx
    scored = exp.select("*", exp.alias_(plan.score.expression, "score", quoted=True)).from_(
        exp.paren(_rows(plan), copy=False).as_("r"))
    code = exp.func("COALESCE", col("check_code", "t"), col("reject_code", "k"))
    return (
        exp.select(exp.alias_(_run_id(plan), "run_id", quoted=True), exp.alias_(col("as_of", "p"), "as_of", quoted=True),
                   exp.alias_(lit(ctx.flow.key), "decision_flow_key", quoted=True),
                   *[col(c, "t") for c in ("customer_id", "offer_id", "offer_name", "channel", "experiment_group",
                                            "source_flow_key", "checks", "failed_checks", "score")],
                   col("rank", "k"), exp.alias_(_fate(code), "fate", quoted=True),
                   exp.alias_(_by_code(plan, code, lambda s, n, r: lit(s)), "fate_stage", quoted=True),
                   exp.alias_(_by_code(plan, code, lambda s, n, r: lit(n)), "fate_rule", quoted=True),
                   exp.alias_(_by_code(plan, code, lambda s, n, r: qualify_columns(r, "t")), "fate_reason", quoted=True))
        .from_(exp.paren(scored, copy=False).as_("t"))
        .join(relation(ctx.model("candidates")).as_("k"), join_type="left", on=_on("k", "t"))
        .join(relation(ctx.model("decisions")).as_("d"), join_type="left", on=_on("d", "t"))
        .join(relation(ctx.model("withheld_decisions")).as_("w"), join_type="left", on=_on("w", "t"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
    )
