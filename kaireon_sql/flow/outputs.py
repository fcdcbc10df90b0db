"""The S4 output models of one flow: decisions, withheld decisions, assignments, rejections, funnel."""
from __future__ import annotations

from sqlglot import exp

from ..dialect import md5_bucket, relation
from .candidates import CandidatePlan
from .checks import concat
from .context import FlowContext, col, lit
from .customers import RUN_PARAMS
from .personalization import personalization

DECISION_COLUMNS = (
    "run_id", "as_of", "decision_flow_key", "decision_flow_version", "config_hash", "customer_id", "channel",
    "rank", "offer_id", "offer_name", "category_name", "priority", "score", "personalization", "experiment_group",
)
ASSIGNMENT_COLUMNS = ("run_id", "as_of", "decision_flow_key", "customer_id", "bucket", "experiment_group")
REJECTION_COLUMNS = (
    "run_id", "as_of", "decision_flow_key", "customer_id", "offer_id", "offer_name", "channel",
    "experiment_group", "stage", "rule_name", "reason",
)
FUNNEL_COLUMNS = (
    "run_id", "as_of", "decision_flow_key", "decision_flow_version", "customers", "holdout_customers",
    "total_candidates", "after_qualification", "after_contact_policy", "decided", "withheld",
)


def run_id(ctx: FlowContext) -> exp.Expression:
    """The run's `run_id` var, else '<flow key>@<as_of>'."""
    return exp.func("COALESCE", col("run_id", "p"), concat(ctx.flow.key + "@", col("as_of_text", "p")))


def _provenance(ctx: FlowContext) -> list[exp.Expression]:
    return [
        exp.alias_(run_id(ctx), "run_id", quoted=True),
        exp.alias_(col("as_of", "p"), "as_of", quoted=True),
        exp.alias_(lit(ctx.flow.key), "decision_flow_key", quoted=True),
    ]


def _from_candidates(ctx: FlowContext) -> exp.Select:
    return exp.select().from_(relation(ctx.model("candidates")).as_("k")).join(relation(RUN_PARAMS).as_("p"), join_type="cross")


def decided_rows(ctx: FlowContext, delivered: bool) -> exp.Select:
    """Survivors within the top N: delivered (treatment, or priority_only holdout) or withheld."""
    holdout = exp.EQ(this=col("experiment_group", "k"), expression=lit("holdout"))
    withheld = holdout if ctx.experiment.control_group_action == "no_offers" else exp.false()
    if ctx.holdout_percent <= 0:
        withheld = exp.false()
    which = exp.not_(withheld) if delivered else withheld
    return (
        _from_candidates(ctx)
        .select(*_provenance(ctx))
        .select(
            exp.alias_(lit(ctx.flow.version), "decision_flow_version", quoted=True),
            exp.alias_(lit(ctx.config_hash), "config_hash", quoted=True),
            col("customer_id", "k"), col("channel", "k"), col("rank", "k"), col("offer_id", "k"),
            col("offer_name", "k"), col("category_name", "k"), col("priority", "k"), col("score", "k"),
            exp.alias_(_qualify_columns(personalization(ctx), "k"), "personalization", quoted=True),
            col("experiment_group", "k"),
        )
        .where(exp.and_(exp.LTE(this=col("rank", "k"), expression=lit(ctx.top_n)), which))
    )


def assignments(ctx: FlowContext) -> exp.Select:
    return (
        exp.select(*_provenance(ctx), col("customer_id", "c"), col("bucket", "c"), col("experiment_group", "c"))
        .from_(relation(ctx.model("customers")).as_("c"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
    )


def _by_code(plan: CandidatePlan, pick) -> exp.Expression:
    case = exp.case()
    for code, stage, name, reason in plan.codes():
        case = case.when(exp.EQ(this=col("reject_code", "k"), expression=lit(code)), pick(stage, name, reason))
    return case if case.args.get("ifs") else exp.cast(exp.null(), "VARCHAR")  # no checks: `CASE END` is invalid


def rejections(ctx: FlowContext, plan: CandidatePlan) -> exp.Select:
    rejected = exp.not_(exp.Is(this=col("reject_code", "k"), expression=exp.null()))
    volume = ctx.definition.flow_config.rejections
    if volume.volume == "none" or not list(plan.codes()):
        rejected = exp.false()
    elif volume.volume == "sampled":
        key = concat(col("customer_id", "k"), "|", col("offer_id", "k"), "|", col("channel", "k"))
        bucket = md5_bucket(key, 10000, ctx.engine)
        rejected = exp.and_(rejected, exp.LT(this=bucket, expression=lit(int(round(volume.sample_rate * 10000)))))
    return (
        _from_candidates(ctx)
        .select(*_provenance(ctx))
        .select(
            col("customer_id", "k"), col("offer_id", "k"), col("offer_name", "k"), col("channel", "k"),
            col("experiment_group", "k"),
            exp.alias_(_by_code(plan, lambda s, n, r: lit(s)), "stage", quoted=True),
            exp.alias_(_by_code(plan, lambda s, n, r: lit(n)), "rule_name", quoted=True),
            exp.alias_(_by_code(plan, lambda s, n, r: _qualify_columns(r, "k")), "reason", quoted=True),
        )
        .where(rejected)
    )


def _qualify_columns(reason: exp.Expression, table: str) -> exp.Expression:
    """Reasons are built on candidate columns; read them from table `table`."""
    reason = reason.copy()
    for column in reason.find_all(exp.Column):
        if not column.table:
            column.set("table", exp.to_identifier(table, quoted=True))
    return reason


def funnel(ctx: FlowContext, plan: CandidatePlan) -> exp.Select:
    def count_if(condition: exp.Expression) -> exp.Expression:
        return exp.Sum(this=exp.case().when(condition, lit(1)).else_(lit(0)))

    code = col("reject_code", "k")
    survivor = exp.Is(this=code, expression=exp.null())
    narrowing = plan.narrowing_codes
    past_qualification = exp.or_(survivor, exp.not_(exp.In(this=code, expressions=[lit(c) for c in narrowing]))) if narrowing else exp.true()
    top = exp.LTE(this=col("rank", "k"), expression=lit(ctx.top_n))
    holdout = exp.EQ(this=col("experiment_group", "k"), expression=lit("holdout"))
    withheld = exp.and_(top, holdout) if (ctx.holdout_percent > 0 and ctx.experiment.control_group_action == "no_offers") else exp.false()
    candidates = exp.select(
        exp.alias_(exp.Count(this=exp.Star()), "total_candidates", quoted=True),
        exp.alias_(count_if(past_qualification), "after_qualification", quoted=True),
        exp.alias_(count_if(survivor), "after_contact_policy", quoted=True),
        exp.alias_(count_if(exp.and_(top, exp.not_(withheld))), "decided", quoted=True),
        exp.alias_(count_if(withheld), "withheld", quoted=True),
    ).from_(relation(ctx.model("candidates")).as_("k"))
    customers = exp.select(
        exp.alias_(exp.Count(this=exp.Star()), "customers", quoted=True),
        exp.alias_(count_if(exp.EQ(this=col("experiment_group", "c"), expression=lit("holdout"))), "holdout_customers", quoted=True),
    ).from_(relation(ctx.model("customers")).as_("c"))
    as_int = lambda name, t: exp.alias_(exp.cast(exp.func("COALESCE", col(name, t), lit(0)), "BIGINT"), name, quoted=True)
    return (
        exp.select(*_provenance(ctx), exp.alias_(lit(ctx.flow.version), "decision_flow_version", quoted=True),
                   as_int("customers", "cu"), as_int("holdout_customers", "cu"),
                   as_int("total_candidates", "ca"), as_int("after_qualification", "ca"),
                   as_int("after_contact_policy", "ca"), as_int("decided", "ca"), as_int("withheld", "ca"))
        .from_(relation(RUN_PARAMS).as_("p"))
        .join(exp.paren(customers).as_("cu"), join_type="cross")
        .join(exp.paren(candidates).as_("ca"), join_type="cross")
    )
