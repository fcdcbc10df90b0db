"""build_plan(project, flow) -> FlowPlan: everything the SQL builders of one flow read, decided once.

Building the plan resolves every reference, parses and type-checks every formula the flow uses
(rules, filters, policies, score, personalization) and registers every feature a later stage reads
(segments, history aggregates, metrics, time zones), then freezes the registry: the SQL builders
(kaireon_sql/sql/) only read it. Stages are planned in a fixed order, which numbers the features
(agg__N, seg__x_N, tzN) and the checks (reject codes): narrowing checks and contact policies in node
order, then personalization, rank and score.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from ..config.fields import REFUSED_CLASSES
from ..config.flows import (
    CallFlowConfig, ComputeConfig, ContactPolicyConfig, EnrichConfig, FilterConfig, GroupConfig, InventoryConfig,
    MatchCreativesConfig, NodeConfig, QualifyConfig, RankConfig, ResponseConfig, ScoreConfig, SetPropertiesConfig,
)
from ..config.project import Project
from ..errors import UnsupportedFeature
from .offers import BUDGET_COLUMNS, SCHEDULE_COLUMNS, static_fields
from .checks import Check, Quota, qualify_columns, reads_only
from .build_order import earlier_decision_models
from .calls import CallPlan, plan_calls
from .context import OFFER_COLUMNS, OFFER_FIELD_PREFIX, FlowContext, lit
from .creatives import COLUMNS as CREATIVE_COLUMNS, CreativePlan, creative_check, plan_creatives
from .discount import DiscountPlan, personalization_pairs, plan_discount
from .enrich import EnrichPlan, plan_enrich
from .features import FeatureSet, Features
from .inventory import InventoryPlan, plan_inventory
from .narrowing import consent_checks, filter_checks, qualification
from .outputs import HoldoutPlan, RejectionsPlan, plan_holdout, plan_rejections, withholds
from .personalize import PersonalizePlan, plan_personalize
from .placements import PlacementsPlan, plan_placements, plans_grouped
from .policies import contact_policies, names_budgets, offer_budgets, walk_limits
from .rank import RankPlan, plan_rank
from .score import ScorePlan, plan_score
from .traces import TracePlan, plan_traces
from .walk import WalkPlan, plan_walk

NARROWING = ("consent", "qualification", "filter", "match_creatives")
QUOTA_CODE_BASE = 1000  # reject codes of quotas: 1000 + the quota's position (checks are 1, 2, ...)


@dataclass
class _Checks:
    """Checks and quotas as the node planners add them, in execution order."""

    checks: list[Check]
    quotas: list[Quota]
    relevance: exp.Expression | None = None
    budgets_named: bool = False


def _qualify(ctx: FlowContext, features: Features, node, out: _Checks) -> None:
    checks, out.relevance = qualification(ctx, features)
    out.checks += checks


def _filter(ctx: FlowContext, features: Features, node, out: _Checks) -> None:
    out.checks += filter_checks(ctx, node)


def _contact_policy(ctx: FlowContext, features: Features, node, out: _Checks) -> None:
    checks, quotas = contact_policies(ctx, features, node)
    out.checks += checks
    out.quotas += quotas
    out.budgets_named = out.budgets_named or names_budgets(ctx, node)


def _match_creatives(ctx: FlowContext, features: Features, node, out: _Checks) -> None:
    out.checks.append(creative_check(ctx, node))


def _flow_level(ctx: FlowContext, features: Features, node, out: _Checks) -> None:
    """Planned once for the whole flow by build_plan (plan_inventory, ctx.fields, plan_score, plan_rank,
    plan_personalize, plan_placements, responseFormat): no checks of its own."""


# Flow node config class -> its planner, in the order refusals list the compiled node types.
NODE_PLANNERS: dict[type[NodeConfig], Callable[[FlowContext, Features, object, _Checks], None]] = {
    InventoryConfig: _flow_level, EnrichConfig: _flow_level, QualifyConfig: _qualify,
    ContactPolicyConfig: _contact_policy, FilterConfig: _filter, ScoreConfig: _flow_level, RankConfig: _flow_level,
    ComputeConfig: _flow_level, SetPropertiesConfig: _flow_level, ResponseConfig: _flow_level,
    CallFlowConfig: _flow_level,  # plan/calls.py plan_calls
    GroupConfig: _flow_level,
    MatchCreativesConfig: _match_creatives,
}
# Node types that validate but are not compiled by this version: refused when the config loads
# (config/fields.py REFUSED_CLASSES, with the reason); refuse_uncompiled_nodes below is the backstop.
REFUSED_NODES: tuple[type[NodeConfig], ...] = tuple(c for c in REFUSED_CLASSES if issubclass(c, NodeConfig))


def node_type(config_class: type[NodeConfig]) -> str:
    return config_class.model_fields["kaireon_type"].default


def refuse_uncompiled_nodes(ctx: FlowContext) -> None:
    supported = ", ".join(node_type(c) for c in NODE_PLANNERS)
    for node in ctx.definition.nodes:
        if type(node.config) not in NODE_PLANNERS:
            raise UnsupportedFeature(
                ctx.node_location(node.id, "type"),
                f"node type {node.type!r} validates but is not compiled by this version of kaireon-sql; "
                f"supported: {supported}",
            )


def _plan_checks(ctx: FlowContext, features: Features) -> _Checks:
    """Checks in execution order: consent first, then each node's checks in node order."""
    out = _Checks(consent_checks(ctx), [])
    for node in ctx.ordered_nodes:
        NODE_PLANNERS[type(node.config)](ctx, features, node, out)
    if not out.budgets_named:  # S10: a declared budget is always enforced, policy or not
        checks, quotas = offer_budgets(ctx, features)
        out.checks += checks
        out.quotas += quotas
    return out


@dataclass(frozen=True)
class CheckLevels:
    """Check codes and checks by what they read: the customer alone (decided once per customer, in the
    customers model) or the candidate; and by stage: narrowing (consent, qualification, filter) or policy."""

    customer_narrowing: tuple[tuple[int, Check], ...]
    customer_policy: tuple[tuple[int, Check], ...]
    pair_narrowing: tuple[tuple[int, Check], ...]
    pair_policy: tuple[tuple[int, Check], ...]


def _check_levels(checks: tuple[Check, ...], customer_columns: frozenset[str]) -> CheckLevels:
    buckets: dict[tuple[bool, bool], list[tuple[int, Check]]] = {
        (True, True): [], (True, False): [], (False, True): [], (False, False): []}
    for code, check in enumerate(checks, start=1):
        buckets[(reads_only(check.blocks, customer_columns), check.stage in NARROWING)].append((code, check))
    return CheckLevels(*[tuple(buckets[k]) for k in ((True, True), (True, False), (False, True), (False, False))])


def _customer_columns(ctx: FlowContext, features: FeatureSet) -> frozenset[str]:
    """Columns of the customers model a check may read and still be decided once per customer."""
    return frozenset({"customer_id", "bucket", "as_of"} | {f.column for f in ctx.fields.values()}
                     | set(features.segments) | set(features.aggregate_columns("customer"))
                     | set(features.zone_columns()))


def _offer_columns(ctx: FlowContext) -> frozenset[str]:
    """Columns of the offers model."""
    return frozenset({c for c, _ in OFFER_COLUMNS.values()} | set(BUDGET_COLUMNS) | set(SCHEDULE_COLUMNS)
                     | {OFFER_FIELD_PREFIX + n for n in static_fields(ctx.project)})


def _join_keys(checks: tuple[Check, ...], customer: frozenset[str], offer: frozenset[str]) -> tuple[exp.Expression, ...]:
    """customer.X = offer.Y equalities every surviving candidate meets, as join conditions (S6)."""
    return tuple(exp.EQ(this=qualify_columns(left, "c"), expression=qualify_columns(right, "o"))
                 for check in checks for left, right in check.join_keys
                 if reads_only(left, customer, ("",)) and reads_only(right, offer, ("",)))


CANDIDATE_KEEP = ("customer_id", "offer_id", "channel", "experiment_group", "bucket", "offer_name", "category_name",
                  "priority", "propensity", "uplift", "relevance", "score", "model_id", "check_code")


def _candidate_columns(personalize: PersonalizePlan, rank: RankPlan,
                       creatives: CreativePlan | None = None) -> tuple[str, ...]:
    """Columns of the candidates model before `rank`: what the output models read (the rank method's
    columns among them: decisions read `explored` from them)."""
    keep = list(CANDIDATE_KEEP) + (list(CREATIVE_COLUMNS) if creatives is not None else [])
    keep += [name for name, _ in rank.columns]
    keep.append("reject_code")
    return tuple(dict.fromkeys(keep + list(personalize.columns)))


@dataclass(frozen=True)
class FlowPlan:
    """One flow, planned: what each SQL stage reads (see the module docstring)."""

    ctx: FlowContext  # config lookups: the flow, its nodes, fields, channels, experiment, model names
    features: FeatureSet  # immutable: segments, history aggregates, metrics, time zones
    enrich: EnrichPlan  # the customers model's sources, key and loaded fields
    inventory: InventoryPlan
    checks: tuple[Check, ...]  # reject codes 1..len(checks), in execution order
    quotas: tuple[Quota, ...]  # numbered: reject codes QUOTA_CODE_BASE + 1.., in execution order, and columns
    relevance: exp.Expression  # the fit rules' multiplier R
    levels: CheckLevels
    join_keys: tuple[exp.Expression, ...]  # customers `c` x offer channels `o` join conditions
    score: ScorePlan
    rank: RankPlan
    walk: WalkPlan  # the top N, the caps and the rank method's limits walked together; budgets after (S7)
    personalize: PersonalizePlan
    customer_columns: frozenset[str]  # customers-model columns checks may read
    offer_columns: frozenset[str]  # offers-model columns
    candidate_columns: tuple[str, ...]  # candidates-model columns (then `rank`)
    rejections: RejectionsPlan  # what the rejections model records
    holdout: HoldoutPlan  # the experiment group's salt and threshold
    withholds: bool  # the holdout's decisions are withheld (kaireon_withheld_decisions), not delivered
    prior_decisions: tuple[str, ...]  # the earlier flows' decisions and withheld decisions models (S7)
    calls: CallPlan | None = None  # the call_flow node: the called flow's candidates join (plan/calls.py)
    traces: TracePlan | None = None  # includeTrace: the traced customers and the traces model (plan/traces.py)
    placements: PlacementsPlan | None = None  # the group node's placements (None: no group node)
    grouped: bool = False  # responseFormat grouped: the <flow>__decisions_grouped model
    creatives: CreativePlan | None = None  # the match_creatives node's choice (None without one)
    discount: DiscountPlan | None = None  # the discount learner (S9; None without discountTiers)

    def codes(self):
        """(code, stage, name, reason) for every way a candidate can be dropped."""
        for i, c in enumerate(self.checks, start=1):
            yield i, c.stage, c.name, c.reason
        for q in self.quotas:
            yield q.code, q.stage, q.name, q.reason


def _numbered(quotas: list[Quota]) -> tuple[Quota, ...]:
    return tuple(q.numbered(i, QUOTA_CODE_BASE + i) for i, q in enumerate(quotas, start=1))


def _walk(ctx: FlowContext, rank: RankPlan, quotas: tuple[Quota, ...], inventory: InventoryPlan) -> WalkPlan:
    """S7: one channel per offer unless allowSameOfferOnSeveralChannels (a limit only where an offer has several)."""
    several = not inventory.one_channel_per_offer()
    one_channel = several and not ctx.definition.flow_config.allow_same_offer_on_several_channels
    # a called flow's candidates (call_flow) skip this flow's checks: its caps must then walk them, even the
    # per-offer ones whose paired check alone would do for its own candidates
    called = ctx.single(CallFlowConfig) is not None
    caps, budgets = walk_limits(quotas, (one_channel or not several) and not called)
    offers = len(ctx.project.offers)
    pairs = len(inventory.offer_channels) if inventory.offer_channels is not None else offers * len(inventory.channels or "x")
    if called:  # a called flow adds offers of its own inventory
        pairs = offers * len(inventory.channels or "x")
    return plan_walk(rank, caps, tuple(budgets), one_channel, len(inventory.channels or ()),
                     min(pairs, offers) if one_channel else pairs)


def plan_flow(ctx: FlowContext) -> FlowPlan:
    """The plan of a flow whose context is built (and whose node types were checked)."""
    registry = Features(ctx)
    ctx.features = registry
    planned = _plan_checks(ctx, registry)
    discount = plan_discount(ctx)  # its group may be a feature (customer.lifecycleStage)
    personalize = plan_personalize(ctx, personalization_pairs(discount))  # may ask for features (metrics.x)
    rank = plan_rank(ctx)
    score = plan_score(ctx)
    inventory = plan_inventory(ctx)
    features = registry.freeze()
    ctx.features = features  # a formula resolved after planning asks the snapshot, which refuses
    checks, quotas = tuple(planned.checks), _numbered(planned.quotas)
    customer, offer = _customer_columns(ctx, features), _offer_columns(ctx)
    creatives = plan_creatives(ctx)
    return FlowPlan(
        ctx=ctx, features=features, enrich=plan_enrich(ctx), inventory=inventory, checks=checks, quotas=quotas,
        relevance=planned.relevance if planned.relevance is not None else lit(1.0),
        levels=_check_levels(checks, customer), join_keys=_join_keys(checks, customer, offer), score=score,
        rank=rank, walk=_walk(ctx, rank, quotas, inventory), personalize=personalize, customer_columns=customer,
        offer_columns=offer, candidate_columns=_candidate_columns(personalize, rank, creatives),
        rejections=plan_rejections(ctx),
        holdout=plan_holdout(ctx), withholds=withholds(ctx), prior_decisions=earlier_decision_models(ctx),
        calls=plan_calls(ctx), traces=plan_traces(ctx),
        placements=plan_placements(ctx), grouped=plans_grouped(ctx),
        creatives=creatives, discount=discount,
    )


def build_plan(project: Project, flow) -> FlowPlan:
    """The plan of `flow`: refuses node types this version does not compile, then plans every stage."""
    ctx = FlowContext(project, flow)
    refuse_uncompiled_nodes(ctx)
    return plan_flow(ctx)
