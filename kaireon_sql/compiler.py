"""Config -> dbt models: the list of models (SQL trees plus properties) a project compiles to."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from sqlglot import exp

from .config.flows import DecisionFlow
from .config.models import BAYESIAN, EPSILON_GREEDY, ONLINE_LEARNER, THOMPSON_BANDIT, AlgorithmModel, BehavioralMetric
from .config.project import Project
from .dbt_model import Model
from .dialect import column_type, relation
from .errors import ConfigError, ConfigErrors
from .gc_passes import fewer_gc_passes
from .learning import attribution_models, posterior_models
from .learning_online import online_models
from .lifecycle import lifecycle_models
from .plan import outputs
from .plan.build_order import flows_in_order
from .plan.context import HISTORY_MODEL, RUN_PARAMS, FlowContext, flow_model
from .plan.flow import FlowPlan, plan_flow, refuse_uncompiled_nodes
from .plan.formula_check import formula_errors
from .plan.lifecycle import plan_lifecycle
from .plan.offers import OFFERS_MODEL
from .plan import trained
from .plan.models import model_relation
from .plan.uplift import plan_uplift, uplift_models
from .sql import channel_preference, discount, experiments, history, metrics
from .sql.common import DECISION_LOG
from .sql.decision_log import LOG_COLUMNS, RUN_KEY, decision_log
from .sql.history import staging_model
from .sql.offers import offers_model
from .sql.calls import called_model
from .sql.candidates import candidates_model
from .sql.customers import customers_model
from .sql.outputs import assignments, decided_rows, funnel, rejections
from .sql.personalization import personalization
from .sql.placements import GROUPED_COLUMNS, grouped_model, slots_model
from .sql.rank import rank_sql
from .sql.send_time import profiles_model, send_times_model
from .sql.traces import traces_model
from .plan.traces import TRACE_COLUMNS, TRACES_MODEL
from .sql import trained as trained_sql
from .sql.uplift import scores_sql

STAGES = ["consent", "qualification", "filter", "match_creatives", "contact_policy"]
GROUPS = ["treatment", "holdout"]


def _not_null(*names: str, **described: str) -> dict[str, dict]:
    cols = {n: {"description": described.get(n, ""), "data_tests": ["not_null"]} for n in names}
    return cols


def _unique(*columns: str) -> dict:
    return {"kaireon_sql.unique_combination": {"arguments": {"columns": list(columns)}}}


def _accepted(values: list[str]) -> dict:
    return {"accepted_values": {"arguments": {"values": values}}}


COLUMN_DOCS = {
    "decision_id": "Stable key of the decided row, for reverse-ETL upserts: md5 of run_id, decision_flow_key, "
                   "customer_id, offer_id and channel, each as its length in characters, ':' and the value "
                   "(docs/bi_contract.md). Unique per relation and across runs in the decision log.",
    "run_id": "The run's id: the `run_id` var, else '<flow key>@<as_of>'.",
    "as_of": "The timestamp (UTC) the run decided at: the `as_of` var.",
    "decision_flow_key": "Key of the Decision Flow.",
    "decision_flow_version": "The flow's `version` field.",
    "config_hash": "Hash of the config this flow's decisions depend on.",
    "customer_id": "Customer key.",
    "channel": "Channel the decision is for.",
    "rank": "Position among the customer's decisions, 1 = best (score desc, priority desc, offer id asc).",
    "offer_id": "Offer id (the config `id`, else its name).",
    "offer_name": "Offer name.",
    "category_name": "Name of the offer's category.",
    "priority": "Offer priority.",
    "score": "Score from the flow's score node.",
    "personalization": "JSON object text: computed fields and properties for the creative.",
    "experiment_group": "'treatment' or 'holdout'.",
    "model_id": "The algorithm model that scored the decision (overrides, champion-challenger; S8); NULL without one.",
    "explored": "True when the customer explored in this run (rank method explore_exploit): random order, not rank order.",
    "creative_id": "Creative chosen by the flow's match_creatives node (weighted, stable per customer); NULL without one.",
    "creative_name": "Name of that creative; NULL without one.",
    "placement_id": "Placement the decision fills (the flow's group node); NULL without one.",
    "slot": "Slot within the placement, 1..maxSlots; NULL without a group node.",
    "channel_preference": "Posterior mean preference of the customer for the decision's channel (channel: auto, S9); NULL otherwise.",
    "send_at": "When to send (UTC): the first allowed hour start at or after as_of at the customer's preferred local hour (sendTime: optimize, S9); NULL otherwise.",
    "send_hour_local": "The local hour of send_at in the customer's time zone (sendTime: optimize); NULL otherwise.",
    "discount_pct": "Discount tier in percent the discount learner chose (discountTiers, S9); NULL without tiers.",
    "bucket": "Holdout bucket: int(md5(salt || ':' || customer_id)[:8], 16) % 10000.",
    "stage": "Where the candidate was dropped: consent, qualification, filter or contact_policy.",
    "rule_name": "Name of the first rule or policy that dropped the candidate.",
    "reason": "Why, in KaireonAI's words.",
    "delivered": "True for decisions delivered (kaireon_decisions), false for withheld ones (holdout).",
    "customers": "Customers the flow evaluated in the run (every row of its customers model).",
    "holdout_customers": "Of those, customers in the holdout group (experiment_group 'holdout').",
    "total_candidates": "customers x the offer-channel pairs of the flow's inventory: every candidate before any check.",
    "after_qualification": "Candidates past every narrowing check (consent, qualification rules, filters, creatives).",
    "after_contact_policy": "Of those, candidates past the contact policies, caps and budgets too (kept for ranking).",
    "decided": "Decisions delivered (rows of kaireon_decisions for the run and flow).",
    "withheld": "Decisions withheld from holdout customers (rows of kaireon_withheld_decisions for the run and flow).",
}


def _decision_columns() -> dict[str, dict]:
    cols = {c: {"description": COLUMN_DOCS.get(c, "")} for c in outputs.DECISION_COLUMNS}
    for c in ("run_id", "as_of", "decision_flow_key", "customer_id", "channel", "rank", "offer_id", "experiment_group"):
        cols[c]["data_tests"] = ["not_null"]
    cols["experiment_group"]["data_tests"].append(_accepted(GROUPS))
    cols["decision_id"]["data_tests"] = ["not_null", "unique"]
    return cols


def _decision_tests(plan: FlowPlan) -> list[dict]:
    """`rank` is unique and contiguous per customer, or per customer and channel with rank.config.perChannel;
    with a group node, one decision per slot of a placement."""
    within = ["run_id", "decision_flow_key", "customer_id"] + (["channel"] if plan.rank.per_channel else [])
    tests = [
        _unique(*within, "rank"),
        _unique("run_id", "decision_flow_key", "customer_id", "offer_id", "channel"),
        {"kaireon_sql.rank_contiguous": {"arguments": {"partition_by": within}}},
    ]
    if plan.placements is not None:  # a group node: one decision per slot of a placement
        tests.append(_unique("run_id", "decision_flow_key", "customer_id", "placement_id", "slot"))
    return tests


def _placement_models(plan: FlowPlan, rank) -> list[Model]:
    """The group node's slots (sql/placements.py), read by the decisions and the funnel; none without one."""
    if plan.placements is None:
        return []
    key = plan.ctx.flow.key
    return [Model(plan.ctx.model("slots"), slots_model(plan, rank),
                  f"Flow '{key}': the kept candidates that found a slot of the group node's placements (filled in "
                  "the listed order, in rank order), with placement_id, slot and rank among the customer's slotted "
                  "candidates.", _not_null("customer_id", "offer_id", "channel", "placement_id", "slot", "rank"),
                  [_unique("customer_id", "offer_id", "channel"), _unique("customer_id", "placement_id", "slot"),
                   {"kaireon_sql.rank_contiguous": {"arguments": {"partition_by": ["customer_id"]}}}])]


SEND_TIME_DOCS = {
    "time_zone": "The customer's zone the hours are local to; NULL when it is NULL or unknown.",
    "positive_outcomes": "The customer's positive outcomes on the channel at or before as_of (sendTimePreference.positiveOutcomes).",
    "preferred_hour": "Local hour 0..23 with the highest (count_h + m pop_h) / (total + m), ties the earliest; NULL "
                      "without a profile (a channel without positive outcomes, a zone unknown).",
    "preferred_count": "The customer's positive outcomes at the preferred hour.",
    "preferred_score": "(count_h + m pop_h) / (total + m) at the preferred hour.",
    "profile": "customer (own outcomes), population (none of their own: the channel's profile), none (the channel "
               "has no positive outcomes) or time zone unknown.",
    "send_at": COLUMN_DOCS["send_at"], "send_hour_local": COLUMN_DOCS["send_hour_local"],
}


def _send_time_models(plan: FlowPlan, rank) -> list[Model]:
    """sendTime: optimize (S9, docs/send_time.md): the hour profiles, then the decided candidates' send times."""
    st = plan.send_time
    if st is None:
        return []
    key = plan.ctx.flow.key
    profile_cols = {c: {"description": SEND_TIME_DOCS.get(c) or COLUMN_DOCS.get(c, "")} for c in (
        "customer_id", "channel", "time_zone", "positive_outcomes", "preferred_hour", "preferred_count",
        "preferred_score", "profile")}
    times_cols = {c: {"description": SEND_TIME_DOCS.get(c) or COLUMN_DOCS.get(c, "")} for c in (
        "customer_id", "offer_id", "channel", "preferred_hour", "send_at", "send_hour_local")}
    for c in ("customer_id", "channel", "positive_outcomes", "profile"):
        profile_cols[c]["data_tests"] = ["not_null"]
    return [Model(st.profiles, profiles_model(plan),
                  f"Flow '{key}': send-time profile per customer and channel: positive outcomes by local hour, "
                  f"smoothed toward the channel's population profile (priorStrength {st.prior_strength:g}), and the "
                  "preferred hour (S9).", profile_cols, [_unique("customer_id", "channel")]),
            Model(st.model, send_times_model(plan, rank),
                  f"Flow '{key}': send_at and send_hour_local of each decided candidate: the first hour start at or "
                  "after as_of at the preferred local hour that every time window allows (S9).",
                  times_cols, [_unique("customer_id", "offer_id", "channel")])]


GROUPED_DOCS = {
    "placement_id": "The placement of the row's decisions (a group node); NULL without one.",
    "channel": "The channel of the row's decisions (without a group node, the row's key); with a group node, "
               "the placement's decisions' channel when they share one, else NULL.",
    "send_at": "The send time (UTC, flowConfig.sendTime: optimize) of the row's decisions when they share one "
               "(one customer and channel share a preferred hour; offer-scoped time windows can move one offer), "
               "else NULL; NULL without sendTime: optimize. Each decision's is in the flow's decisions.",
    "decision_count": "Number of decisions in `decisions`.",
    "decisions": "JSON array text of the decisions, in slot (group node) or rank order: objects with rank, slot, "
                 "offer_id, offer_name, category_name, channel, placement_id, score, priority, explored, "
                 "creative_id, creative_name, model_id, channel_preference, send_hour_local, discount_pct "
                 "and personalization (a JSON object).",
}


def _grouped_models(plan: FlowPlan) -> list[Model]:
    """responseFormat grouped: one row per customer and placement (or channel) of the flow's decisions."""
    if not plan.grouped:
        return []
    key = plan.ctx.flow.key
    cols = {c: {"description": GROUPED_DOCS.get(c) or COLUMN_DOCS.get(c, "")} for c in GROUPED_COLUMNS}
    for c in ("run_id", "decision_flow_key", "customer_id", "decision_count", "decisions"):
        cols[c]["data_tests"] = ["not_null"]
    return [Model(plan.ctx.model("decisions_grouped"), grouped_model(plan),
                  f"Flow '{key}': its decisions grouped per customer and "
                  f"{'placement' if plan.placements is not None else 'channel'}, as a JSON array (S7 response).",
                  cols, [_unique("run_id", "decision_flow_key", "customer_id", "placement_id", "channel")])]


def _assignment_columns() -> dict[str, dict]:
    cols = {c: {"description": COLUMN_DOCS.get(c, ""), "data_tests": ["not_null"]} for c in outputs.ASSIGNMENT_COLUMNS}
    cols["experiment_group"]["data_tests"].append(_accepted(GROUPS))
    cols["bucket"]["data_tests"].append({"kaireon_sql.value_between": {"arguments": {"min_value": 0, "max_value": 9999}}})
    return cols


def _rejection_columns() -> dict[str, dict]:
    cols = {c: {"description": COLUMN_DOCS.get(c, "")} for c in outputs.REJECTION_COLUMNS}
    for c in ("run_id", "customer_id", "offer_id", "stage", "rule_name", "reason"):
        cols[c]["data_tests"] = ["not_null"]
    cols["stage"]["data_tests"].append(_accepted(STAGES))
    return cols


def _funnel_columns() -> dict[str, dict]:
    """Every funnel column documented (S4); the counts are never NULL."""
    cols = {c: {"description": COLUMN_DOCS.get(c, "")} for c in outputs.FUNNEL_COLUMNS}
    for c in ("run_id", "decision_flow_key", *outputs.FUNNEL_COLUMNS[4:]):
        cols[c]["data_tests"] = ["not_null"]
    return cols


def _customer_tests(plan: FlowPlan) -> list[dict]:
    """The customers model's data checks: one row per customer, and each customer time zone column a
    known zone name (a warning naming the customers and values; they are rejected as S5 says)."""
    zones = [{"kaireon_sql.known_time_zone": {"arguments": {"zone_column": z.column, "hour_column": z.hour}}}
             for z in plan.features.zones]
    return [_unique("customer_id"), *zones]


def _flow_models(plan: FlowPlan) -> list[Model]:
    """One flow's S4 models from its plan: each stage's SQL, with the model's dbt properties."""
    ctx, key = plan.ctx, plan.ctx.flow.key
    rank, personalized = rank_sql(plan), personalization(plan)
    return [
        *_routing_models(plan),
        Model(ctx.model("customers"), customers_model(plan),
              f"Flow '{key}': customers with the fields its enrich node loads, holdout bucket and group, and "
              "history aggregates its rules read.",
              _not_null("customer_id", "bucket", "experiment_group"), _customer_tests(plan)),
        *_called_models(plan),
        Model(ctx.model("candidates"), candidates_model(plan),
              f"Flow '{key}': the candidates past every narrowing check (of customers no customer-level "
              "contact policy blocks), with their fate: reject_code (NULL = kept or ranked out), score and rank (NULL = not kept).",
              _not_null("customer_id", "offer_id", "channel"), [_unique("customer_id", "offer_id", "channel")]),
        *_placement_models(plan, rank),
        *_discount_models(plan),
        *_send_time_models(plan, rank),
        Model(ctx.model("decisions"), decided_rows(plan, rank, personalized, delivered=True),
              f"Flow '{key}': decisions to deliver.", _decision_columns(), _decision_tests(plan)),
        *_grouped_models(plan),
        Model(ctx.model("withheld_decisions"), decided_rows(plan, rank, personalized.copy(), delivered=False),
              f"Flow '{key}': what holdout customers would have received (never delivered).",
              _decision_columns(), _decision_tests(plan)),
        Model(ctx.model("assignments"), assignments(plan),
              f"Flow '{key}': experiment group of every customer the flow evaluated.",
              _assignment_columns(), [_unique("run_id", "decision_flow_key", "customer_id")]),
        Model(ctx.model("rejections"), rejections(plan),
              f"Flow '{key}': one row per dropped candidate naming the first rule or policy that dropped it.",
              _rejection_columns()),
        Model(ctx.model("funnel"), funnel(plan, rank),
              f"Flow '{key}': candidate counts per stage.",
              _funnel_columns(), [_unique("run_id", "decision_flow_key")]),
    ] + _trace_models(plan)


def _discount_models(plan: FlowPlan) -> list[Model]:
    """The discount learner (S9, docs/discount_learner.md): the tiers' posteriors and the chosen tiers."""
    if plan.discount is None:
        return []
    key, d = plan.ctx.flow.key, plan.discount
    pcols = {c: {"description": v} for c, v in discount.POSTERIOR_COLUMNS.items()}
    ccols = {c: {"description": v} for c, v in discount.CHOICE_COLUMNS.items()}
    for c in ("discount_pct", "n", "k", "alpha", "beta"):
        pcols[c]["data_tests"] = ["not_null"]
    for c in ("customer_id", "offer_id", "channel", "discount_pct", "draw"):
        ccols[c]["data_tests"] = ["not_null"]
    return [Model(d.posterior, discount.posterior_sql(plan),
                  f"Flow '{key}': per discount tier and group ({d.group_field or 'one pool'}), the decided impressions "
                  f"of the last {d.window_days:g} days that carried the tier, their attributed positives and the Beta "
                  "posterior.", pcols, [_unique("discount_pct", "group_value")]),
            Model(d.choices, discount.choices_sql(plan),
                  f"Flow '{key}': the discount tier of each kept candidate (Thompson draw x offer value x (1 - tier / "
                  "100), ties to the lowest tier).", ccols, [_unique("customer_id", "offer_id", "channel")])]
def _routing_models(plan: FlowPlan) -> list[Model]:
    """channel: auto (S9): the flow's channel preference per customer and channel (docs/channel_preference.md)."""
    if plan.routing is None:
        return []
    cols = {c: {"description": d, "data_tests": ["not_null"]} for c, d in channel_preference.COLUMNS.items()}
    return [Model(plan.routing.model, channel_preference.channel_preference_model(plan),
                  f"Flow '{plan.ctx.flow.key}': channel preference (S9) of every customer on each channel it routes "
                  "among (channel: auto): Beta-Binomial posterior mean toward the channel's population rate.",
                  cols, [_unique("customer_id", "channel")])]


def _called_models(plan: FlowPlan) -> list[Model]:
    """A call_flow node's model: the called flow's candidates past its phase-1 nodes (docs/call_flow.md)."""
    if plan.calls is None:
        return []
    return [Model(plan.calls.model, called_model(plan),
                  f"Flow '{plan.ctx.flow.key}': the candidates of the flow it calls ('{plan.calls.called_key}') that "
                  "passed every check of that flow, for this flow's customers; they join this flow's candidates.",
                  _not_null("customer_id", "offer_id", "channel"), [_unique("customer_id", "offer_id", "channel")])]


TRACE_DOCS = {
    "source_flow_key": "The flow whose phase-1 nodes the candidate went through: this flow, or the flow its "
                       "call_flow node calls.",
    "checks": "JSON array text, one object per check of this flow in execution order: "
              '{"stage": ..., "rule": ..., "passed": true|false}; [] for a called flow\'s candidate.',
    "failed_checks": "How many of those checks the candidate failed.",
    "score": "The score node's value for the candidate (computed for rejected candidates too).",
    "rank": "Position among the customer's surviving candidates (the candidates model's rank); NULL when dropped "
            "before the rank.",
    "fate": "decided | withheld | rejected | ranked_out.",
    "fate_stage": "For a rejected candidate: the stage of the first check, cap or budget that dropped it.",
    "fate_rule": "For a rejected candidate: the rule, policy or budget that dropped it.",
    "fate_reason": "For a rejected candidate: why, as in kaireon_rejections.",
}


def _trace_columns() -> dict[str, dict]:
    cols = {c: {"description": TRACE_DOCS.get(c) or COLUMN_DOCS.get(c, "")} for c in TRACE_COLUMNS}
    for c in ("run_id", "decision_flow_key", "customer_id", "offer_id", "channel", "fate", "checks"):
        cols[c]["data_tests"] = ["not_null"]
    cols["fate"]["data_tests"].append(_accepted(["decided", "withheld", "rejected", "ranked_out"]))
    return cols


def _trace_models(plan: FlowPlan) -> list[Model]:
    """includeTrace: every candidate of the traced customers with its checks, score, rank and fate."""
    if plan.traces is None:
        return []
    return [Model(plan.traces.model, traces_model(plan),
                  f"Flow '{plan.ctx.flow.key}': decision traces of a share of customers "
                  f"(decisionTraceSampleRate {plan.traces.rate:g}): every candidate with each check's result, score, "
                  "rank and fate (docs/traces.md).", _trace_columns(),
                  [_unique("run_id", "customer_id", "offer_id", "channel")])]


def _zero_one() -> dict:
    return {"accepted_values": {"arguments": {"values": [0, 1], "quote": False}}}


def _units_columns() -> dict[str, dict]:
    cols = {c: {"description": d, "data_tests": [] if c in ("source", "model_id") else ["not_null"]}
            for c, d in experiments.UNIT_COLUMNS.items()}
    cols["experiment_group"]["data_tests"].append(_accepted(GROUPS))
    cols["converted"]["data_tests"].append(_zero_one())
    return cols


def _summary_columns() -> dict[str, dict]:
    cols = {c: {"description": d} for c, d in experiments.SUMMARY_COLUMNS.items()}
    for c in ("decision_flow_key", "analysis", "run_id", "treatment_n", "holdout_n"):
        cols[c]["data_tests"] = ["not_null"]
    return cols


def _training_columns(ctx: FlowContext) -> dict[str, dict]:
    cols = {c: {"description": d, "data_tests": ["not_null"]} for c, d in (
        ("customer_id", "Customer key."), ("run_id", "The run that assigned the customer."),
        ("as_of", "When that run decided (UTC)."), ("treatment", "1 = treatment, 0 = holdout."),
        ("outcome", "1 when the customer converted in the outcome window, else 0."),
        ("revenue", "Revenue in the outcome window (0 when none)."))}
    cols["treatment"]["data_tests"].append(_zero_one())
    cols["outcome"]["data_tests"].append(_zero_one())
    for name, source in experiments.training_features(ctx).items():
        cols[name] = {"description": f"Feature: the customer's {source[len('cust__'):]} as the customer "
                                     "relation holds it now (a snapshot, not as of the run)."}
    return cols


def _experiment_models(ctx: FlowContext) -> list[Model]:
    """Experiment analysis and uplift training data of a flow with a holdout (docs/experiments.md)."""
    if not experiments.has_experiment(ctx):
        return []
    key = ctx.flow.key
    return [
        Model(ctx.model("experiment_units"), experiments.units_model(ctx),
              f"Flow '{key}': one row per run and customer the run would have sent an offer to (delivered or "
              "withheld), with group and outcomes in the window after the run's as_of.",
              _units_columns(), [_unique("run_id", "customer_id")]),
        Model(ctx.model("experiment_summary"), experiments.summary_model(ctx),
              f"Flow '{key}': treatment vs holdout per run and pooled, over units whose outcome window has closed: "
              "conversion lift (two-proportion z, Wilson), revenue per customer (Welch) and the SRM chi-square, "
              "with their p-values. NULL = undefined (empty arm, zero standard error).",
              _summary_columns(), [_unique("analysis", "run_id")]),
        Model(ctx.model("uplift_training"), experiments.training_model(ctx),
              f"Flow '{key}': uplift training rows from the flow's own experiment: treatment, outcome and revenue "
              "in the window, and the customer's features.",
              _training_columns(ctx), [_unique("run_id", "customer_id")]),
    ]


UNIONS = {
    "kaireon_decisions": ("decisions", outputs.DECISION_COLUMNS,
                          "Decisions to deliver, all flows (S4). Read by BI and reverse-ETL."),
    "kaireon_withheld_decisions": ("withheld_decisions", outputs.DECISION_COLUMNS,
                                   "What holdout customers would have received, all flows (S4). Never delivered."),
    "kaireon_assignments": ("assignments", outputs.ASSIGNMENT_COLUMNS,
                            "Experiment group of every evaluated customer, all flows (S4)."),
    "kaireon_rejections": ("rejections", outputs.REJECTION_COLUMNS,
                           "Dropped candidates with stage, rule and reason, all flows (S4)."),
    "kaireon_funnel": ("funnel", outputs.FUNNEL_COLUMNS, "Per run and flow: candidates at each stage (S4)."),
}


# dbt model contracts (the BI contract, docs/bi_contract.md): the S4 unions declare each column's type
# (plan.outputs.OUTPUT_TYPES, written per engine by the writer) and cast each column to it, so the
# relation's types are the declared ones on every engine and dbt checks them at build time.
CONTRACT = {"contract": {"enforced": True}}


def _typed(columns: dict[str, dict]) -> dict[str, dict]:
    """`columns` with each column's contract type (a dialect.data_type name)."""
    return {c: {**spec, "data_type": outputs.OUTPUT_TYPES[c]} for c, spec in columns.items()}


def _union_column(name: str, typed: bool) -> exp.Expression:
    column = exp.column(name, quoted=True)
    if not typed:
        return column
    return exp.alias_(exp.Cast(this=column, to=column_type(outputs.OUTPUT_TYPES[name])), name, quoted=True)


def _union(flow_models: list[str], columns: tuple[str, ...], typed: bool = False) -> exp.Expression:
    """UNION ALL of `columns` of the flows' models; `typed`: each column cast to its contract type."""
    selects = [exp.select(*[_union_column(c, typed) for c in columns]).from_(relation(m)) for m in flow_models]
    out: exp.Expression = selects[0]
    for s in selects[1:]:
        out = exp.union(out, s, distinct=False)
    return out


@dataclass
class _Build:
    """What the steps of one compile share: the inputs, the flows compiled so far, the errors collected."""

    project: Project
    errors: list[ConfigError] = field(default_factory=list)
    slugs: dict[str, str] = field(default_factory=dict)  # model slug -> flow key
    plans: list[FlowPlan] = field(default_factory=list)  # per flow, in runOrder
    flow_models: list[list[Model]] = field(default_factory=list)  # per flow, in build order
    experiment_models: list[list[Model]] = field(default_factory=list)  # likewise


def _collecting(build: _Build, make: Callable[[], list[Model]]) -> list[Model]:
    """make()'s models; a ConfigError is kept for the `collected_errors` step, which raises them together."""
    try:
        return make()
    except ConfigError as exc:
        build.errors.append(exc)
        return []


def _run_params(build: _Build) -> list[Model]:
    return [Model(RUN_PARAMS, "{{ kaireon_sql.run_params() }}",
                  "Run parameters: as_of (UTC), as_of_text, run_id and channel, from dbt vars (S3).",
                  _not_null("as_of", "as_of_text"))]


def _offers(build: _Build) -> list[Model]:
    return [Model(OFFERS_MODEL, offers_model(build.project),
                  "The offer catalogue from config, one row per offer.",
                  _not_null("offer_id", "offer_name"), [_unique("offer_id")])]


def _history_staging(build: _Build) -> list[Model]:
    project = build.project
    return [Model(HISTORY_MODEL, staging_model(project),
                  f"Interaction history (S3) from {project.interaction_history.relation}, typed. "
                  "One impression = one contact.",
                  _not_null("customer_id", "outcome", "occurred_at"), materialized="view")]


def _metric_model(name: str, metric: BehavioralMetric) -> Model:
    keys = metrics.metric_keys(metric)
    cols = {k: {"description": COLUMN_DOCS.get(k, "") or f"Dimension {k}.",
                # creative_id is nullable in S3: interactions without a creative form their own group
                "data_tests": [] if k == "creative_id" else ["not_null"]} for k in keys}
    cols["value"] = {"description": f"Value of the metric '{metric.name}'."}
    return Model(name, metrics.metric_model(metric), metrics.describe(metric), cols, [_unique(*keys)])


def _summary_and_metrics(project: Project) -> list[Model]:
    summary_cols = {c: {"description": d} for c, d in history.SUMMARY_COLUMNS.items()}
    for key in history.SUMMARY_KEYS:
        summary_cols[key]["data_tests"] = ["not_null"]
    models = [Model(history.SUMMARY_MODEL, history.summary_model(), history.SUMMARY_DESCRIPTION, summary_cols,
                    [_unique(*history.SUMMARY_KEYS)])]
    return models + [_metric_model(name, metric) for name, metric in metrics.metric_models(project)]


def _history_models(build: _Build) -> list[Model]:
    """Project-level models over interaction history: the daily summary and one per behavioral metric."""
    return _collecting(build, partial(_summary_and_metrics, build.project))


def _uplift_scores_model(build: _Build, model: AlgorithmModel) -> list[Model]:
    scoring = plan_uplift(build.project, model)  # the model file read and checked before its SQL
    return [Model(
        scoring.name, scores_sql(scoring),
        f"Uplift model '{model.name}' scored in the warehouse: P(outcome | offer), P(outcome | no offer), "
        "uplift, segment and the top contributing features per customer.",
        _not_null("customer_id", "p_with_offer", "p_without_offer", "uplift", "segment"), [_unique("customer_id")])]


def _uplift_scores(build: _Build) -> list[Model]:
    """One scores model per active uplift model (flows whose score node names one read it)."""
    models: list[Model] = []
    for model in uplift_models(build.project):
        models += _collecting(build, partial(_uplift_scores_model, build, model))
    return models


def _plan_flow(build: _Build, flow: DecisionFlow) -> list[Model]:
    """One flow's plan (every reference resolved, every formula it reads checked), kept for `flows`."""
    ctx = FlowContext(build.project, flow)
    refuse_uncompiled_nodes(ctx)
    if ctx.slug in build.slugs:
        raise ConfigError(flow.location.at("key"),
                          f"flow key {flow.key!r} gives the same model names as flow {build.slugs[ctx.slug]!r}")
    build.slugs[ctx.slug] = flow.key
    build.plans.append(plan_flow(ctx))
    return []


def _compile_flow(build: _Build, plan: FlowPlan) -> list[Model]:
    """One flow's models from its plan; its experiment models are kept for the `experiment_models` step."""
    flow_models = _flow_models(plan)
    build.flow_models.append(flow_models)
    build.experiment_models.append(_experiment_models(plan.ctx))
    return flow_models


def _formula_check(build: _Build) -> list[Model]:
    """Every formula of the config, used or not, parsed and type-checked before any flow compiles."""
    build.errors += formula_errors(build.project)
    return []


def _lifecycle(build: _Build) -> list[Model]:
    """S9: orders, RFM and the lifecycle models over the planned flows' customers (none without `orders`)."""
    keys = [(plan.enrich.key.relation, plan.enrich.key.key_column) for plan in build.plans]
    plan = plan_lifecycle(build.project, keys) if keys else None
    return lifecycle_models(plan) if plan is not None else []


def _plans(build: _Build) -> list[Model]:
    """Every flow's plan, in runOrder, before any flow's SQL (S7: earlier flows' decisions are built first)."""
    for flow in flows_in_order(build.project.flows):
        _collecting(build, partial(_plan_flow, build, flow))
    return []


# modelType -> the project-level models its engine's scores read (plan/models.py model_relation), built
# once per model that a planned flow uses. Engines without an entry read only relations of their own
# (a scoresRelation, an uplift scores model) or compute everything on the candidate row.
def _ncf_factors(project: Project, model: AlgorithmModel) -> list[Model]:
    """neural_cf: the model file's customer and offer factors as two relations (sql/trained.py)."""
    if model.scores_relation:
        return []
    factors = trained.load_ncf(project, model)
    return [Model(model_relation(model, "customer_factors"), trained_sql.customer_factors(factors),
                  f"Model '{model.name}' (neural_cf): customer factors u0..u{factors.k - 1} from its model file.",
                  _not_null("customer_id"), [_unique("customer_id")]),
            Model(model_relation(model, "offer_factors"), trained_sql.offer_factors(factors),
                  f"Model '{model.name}' (neural_cf): offer bias b and factors v0..v{factors.k - 1} from its model file.",
                  _not_null("offer_id", "b"), [_unique("offer_id")])]


ENGINE_MODELS: dict[str, Callable[[Project, AlgorithmModel], list[Model]]] = {
    BAYESIAN: posterior_models,
    EPSILON_GREEDY: posterior_models,
    THOMPSON_BANDIT: posterior_models,
    trained.NCF: lambda project, model: _ncf_factors(project, model) + posterior_models(project, model),
    ONLINE_LEARNER: online_models,
}


def _model_settings(build: _Build) -> list[Model]:
    """Every algorithm model's `config` keys checked against what its engine reads (plan/trained.py)."""
    build.errors += trained.settings_errors(build.project)
    return []


def _feature_log(build: _Build, model: AlgorithmModel) -> list[Model]:
    flows = [f for f in (trained.logged_flow(plan.ctx, model) for plan in build.plans) if f is not None]
    if not flows:  # no flow loads the model's features: nothing to log (`kaireon train` says so)
        return []
    cols = {c: {"description": COLUMN_DOCS.get(c, "")} for c in trained_sql.LOG_KEYS}
    for name, _ in flows[0].values:
        cols[name] = {"description": "The feature's value when the decision was made."}
    return [Model(model_relation(model, trained.FEATURE_LOG), trained_sql.feature_log(flows),
                  f"Model '{model.name}' (gradient_boosted): its features as they were at each delivered decision, "
                  "appended once per (run_id, decision_flow_key); `kaireon train` reads it.", cols, [],
                  materialized="incremental",
                  config={"incremental_strategy": "append", "on_schema_change": "append_new_columns"})]


def _feature_logs(build: _Build) -> list[Model]:
    """One feature log per active gradient_boosted model, over the flows that load its features."""
    models: list[Model] = []
    for model in trained.gbm_models(build.project):
        models += _collecting(build, partial(_feature_log, build, model))
    return models


def _used_models(build: _Build) -> list[AlgorithmModel]:
    """The algorithm models the planned flows score with, each once, in the order first used."""
    used: dict[int, AlgorithmModel] = {}
    for plan in build.plans:
        for model in plan.score.models.models if plan.score.models else ():
            used.setdefault(id(model), model)
    return list(used.values())


def _algorithm_models(build: _Build) -> list[Model]:
    """The project-level models of every algorithm model the flows use (S8), before the flows read them.

    A model several builders list (the shared kaireon_attribution) is kept once, where first listed."""
    models: dict[str, Model] = {}
    for model in _used_models(build):
        builder = ENGINE_MODELS.get(model.model_type)
        if builder is not None:
            for built in _collecting(build, partial(builder, build.project, model)):
                models.setdefault(built.name, built)
    if any(plan.discount is not None for plan in build.plans):  # the discount learner reads the attribution
        for built in attribution_models(build.project):
            models.setdefault(built.name, built)
    return list(models.values())


def _flows(build: _Build) -> list[Model]:
    """Every planned flow's models, in runOrder."""
    models: list[Model] = []
    for plan in build.plans:
        models += _collecting(build, partial(_compile_flow, build, plan))
    return models


def _collected_errors(build: _Build) -> list[Model]:
    """Every ConfigError of the steps before, raised together: the steps after read every flow's models."""
    if build.errors:  # a flow that reaches a broken formula reports it again: each error once
        raise ConfigErrors(list({str(e): e for e in build.errors}.values()))
    return []


def _unions(build: _Build) -> list[Model]:
    """The S4 relations over all flows: one view per output, a UNION ALL of the flows' tables."""
    first = next(iter(build.slugs))
    models = []
    for name, (part, columns, description) in UNIONS.items():
        sample = next(m for m in build.flow_models[0] if m.name == flow_model(first, part))
        # A view: one copy of the rows (each flow's table), nothing to rebuild. No data tests but decision_id's
        # unique: the flow models' tests cover every row, and flow keys keep the flows' rows apart.
        docs = _typed({c: {"description": sample.columns.get(c, {}).get("description") or COLUMN_DOCS.get(c, "")}
                       for c in columns})
        union = _union([flow_model(slug, part) for slug in build.slugs], columns, typed=True)
        if "decision_id" in docs:  # unique across flows too: the key names the flow
            docs["decision_id"]["data_tests"] = ["unique"]
        models.append(Model(name, union, description, docs, [],
                            materialized="view", config=dict(CONTRACT)))
    return models


def _traces_union(build: _Build) -> list[Model]:
    """kaireon_traces: the traces of every flow with includeTrace (none without such a flow)."""
    traced = [plan.traces.model for plan in build.plans if plan.traces is not None]
    if not traced:
        return []
    docs = {c: {"description": v["description"]} for c, v in _trace_columns().items()}
    return [Model(TRACES_MODEL, _union(traced, TRACE_COLUMNS, typed=True), "Decision traces of every flow with "
                  "includeTrace (S7): a share of customers, every candidate with its checks, score, rank and fate.",
                  _typed(docs), [], materialized="view", config=dict(CONTRACT))]
def _grouped_union(build: _Build) -> list[Model]:
    """kaireon_decisions_grouped: the grouped responses of every flow with responseFormat grouped."""
    grouped = [m for fm in build.flow_models for m in fm if m.name.endswith("__decisions_grouped")]
    if not grouped:
        return []
    return [Model("kaireon_decisions_grouped", _union([m.name for m in grouped], GROUPED_COLUMNS, typed=True),
                  "Grouped responses (S7), all flows with responseFormat grouped: one row per run, flow, customer "
                  "and placement (or channel), its decisions as a JSON array in slot (or rank) order.",
                  _typed({c: {"description": v.get("description", "")} for c, v in grouped[0].columns.items()}),
                  [], materialized="view", config=dict(CONTRACT))]


def _decision_log(build: _Build) -> list[Model]:
    cols = _typed({c: {"description": COLUMN_DOCS.get(c, "")} for c in LOG_COLUMNS})  # types documented, not enforced
    for c in ("run_id", "as_of", "decision_flow_key", "customer_id", "channel", "offer_id", "delivered"):
        cols[c]["data_tests"] = ["not_null"]
    cols["decision_id"]["data_tests"] = ["unique"]  # NULL in rows logged before decision_id existed
    return [Model(DECISION_LOG, decision_log("kaireon_decisions", "kaireon_withheld_decisions"),
                  "Every run's decisions (delivered) and withheld decisions (not delivered), appended once per "
                  f"({', '.join(RUN_KEY)}): re-running a run adds nothing. Rebuild with dbt's --full-refresh.",
                  cols, [_unique("run_id", "decision_flow_key", "customer_id", "offer_id", "channel")],
                  materialized="incremental",
                  config={"incremental_strategy": "append", "on_schema_change": "append_new_columns"})]


def _discount_readout(build: _Build) -> list[Model]:
    """kaireon_discount_readout: conversion by tier and group of every flow with discount tiers."""
    plans = [plan for plan in build.plans if plan.discount is not None]
    if not plans:
        return []
    return [Model(discount.READOUT_MODEL, discount.readout_sql(plans),
                  "Discount learner (S9): per flow, tier and group, the decided impressions that carried the tier, "
                  "conversions, the rate with its Wilson 95% interval, the posterior mean and the flow's mean "
                  "discount per converted decision.",
                  {c: {"description": v} for c, v in discount.READOUT_COLUMNS.items()}, [], materialized="view")]


def _experiments(build: _Build) -> list[Model]:
    return [m for flow_models in build.experiment_models for m in flow_models]


def _experiments_union(build: _Build) -> list[Model]:
    summaries = [m for fm in build.experiment_models for m in fm if m.name.endswith("__experiment_summary")]
    if not summaries:
        return []
    return [Model("kaireon_experiments", _union([m.name for m in summaries], tuple(experiments.SUMMARY_COLUMNS)),
                  "Experiment readouts of every flow with a holdout (docs/experiments.md): intervals and p-values; "
                  "`kaireon experiments` reads it.",
                  {c: {"description": v.get("description", "")} for c, v in summaries[0].columns.items()},
                  [], materialized="view")]


# The build order: compile_project walks these steps in turn and lists their models in this order.
# dbt orders the run by ref(), so the order here is not the run order; it matters because steps
# read what earlier steps left behind:
# - every formula is checked before the flows, so a broken one is reported once even where no flow reads it;
# - `model_settings` refuses `config` keys an algorithm model's engine does not read;
# - `algorithm_models` builds what the engines of the planned flows' models read (S8), once per model;
# - `feature_logs` reads the planned flows (which of them load a gradient_boosted model's features);
# - every flow is planned (plan/flow.py) before any flow's SQL is built, in runOrder (S7): a flow's
#   caps and budgets read the earlier flows' decisions, and its duplicate-slug check reads the slugs
#   of the flows before it; the SQL builders (kaireon_sql/sql/) then read only the plans;
# - `lifecycle` reads the planned flows' customer key sources (kaireon_lifecycle has a row per customer they decide for);
# - `collected_errors` raises every ConfigError of the steps above it together (history metrics,
#   each uplift model, each flow), so one compile reports every problem; the steps after it assume
#   every flow compiled (the unions read the first flow's column docs);
# - the unions name the flows' tables (the grouped union those of flows with responseFormat grouped);
#   the decision log reads the unions; the experiment models
#   read the decision log; the experiments union reads the experiment summaries.
# The list of models keeps this order, so written files and golden SQL stay the same.
BUILD_ORDER: tuple[tuple[str, Callable[[_Build], list[Model]]], ...] = (
    ("run_params", _run_params),
    ("offers", _offers),
    ("history_staging", _history_staging),
    ("history_models", _history_models),
    ("uplift_scores", _uplift_scores),
    ("formula_check", _formula_check),
    ("model_settings", _model_settings),
    ("plans", _plans),
    ("lifecycle", _lifecycle),
    ("algorithm_models", _algorithm_models),
    ("flows", _flows),
    ("feature_logs", _feature_logs),
    ("collected_errors", _collected_errors),
    ("unions", _unions),
    ("traces_union", _traces_union),
    ("grouped_union", _grouped_union),
    ("decision_log", _decision_log),
    ("experiment_models", _experiments),
    ("experiments_union", _experiments_union),
    ("discount_readout", _discount_readout),
)


def compile_project(project: Project) -> list[Model]:
    """Every model of the project, in BUILD_ORDER, or ConfigErrors naming each problem. Writes nothing."""
    with fewer_gc_passes():
        return _compile_project(project)


def _compile_project(project: Project) -> list[Model]:
    if not project.flows:
        raise ConfigError(str(project.root), "no decisionFlows defined in any config file; expected at least one "
                                             "Decision Flow in a list under a top-level 'decisionFlows' key")
    build = _Build(project)
    models: list[Model] = []
    for _name, step in BUILD_ORDER:
        models += step(build)
    return models
