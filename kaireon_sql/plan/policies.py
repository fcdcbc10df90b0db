"""Contact policies: static blocks (what history already decides) and quotas kept within the run.

Every policy type of the seeds compiles here. A policy contributes
- a Check: TRUE when the candidate is blocked by what has already happened (the count has
  reached the maximum, the cooldown is running, the hour is outside the window, ...), and/or
- a Quota: how many contacts are left, so that this run's decisions cannot push past the cap:
  the best-ranked candidates keep what is left, the others are rejections of the policy.
Contacts are counted as `impression` rows of interaction history with occurred_at <= as_of (S5).
Policies run in priority order (desc), then name; a candidate's first blocking policy is its reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.flows import ContactPolicyConfig
from ..config.policies import (
    AllowOverride, BudgetExhausted, ContactPolicy, Cooldown, CrossChannelCap, CustomerTotalCap, FrequencyCap,
    MutualExclusion, OutcomeBased, SegmentExclusion, TimeWindow,
)
from ..dialect import cast_text, hour_of, iso_day_of_week, local_time, minus_seconds, truncate
from ..errors import ConfigError
from .build_order import has_earlier_flows
from .checks import Check, Quota, concat, text
from .context import FlowContext, col, lit
from .creatives import matches_creatives
from .features import Features, history, impression
from .scope import applies
from .walk import WalkLimit

PERIODS = {"daily": ("DAY", "today"), "weekly": ("WEEK", "this ISO week"), "monthly": ("MONTH", "this month")}
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
STAGE = "contact_policy"


def policy_order(policies: list[ContactPolicy]) -> list[ContactPolicy]:
    """S5: priority descending, then name."""
    return sorted(policies, key=lambda p: (-p.priority, p.name))


def _days(value: float) -> str:
    return f"{value:g} day" + ("" if value == 1 else "s")


@dataclass(frozen=True)
class PolicyContext:
    """One policy being compiled: the flow, its features, its scope and bypass predicates."""

    ctx: FlowContext
    features: Features
    policy: ContactPolicy
    scope: exp.Expression  # candidates the policy applies to
    bypass: exp.Expression  # candidates that skip it (allow_override / mandatory, if bypassable)

    @property
    def name(self) -> str:
        return self.policy.name

    def guarded(self, condition: exp.Expression) -> exp.Expression:
        """In scope, not bypassed, and `condition`."""
        return exp.and_(self.scope, exp.not_(self.bypass), condition)

    def history_scope(self) -> exp.Expression | None:
        """Which history rows count for this policy's scope (None: all of the customer's rows)."""
        p, project = self.policy, self.ctx.project
        if p.scope == "offer":
            return exp.EQ(this=history("offer_id"), expression=lit(project.lookup("offers", p.scope_id, p.location).ref))
        if p.scope == "channel":
            target = project.find("channels", p.scope_id)
            return exp.EQ(this=history("channel"), expression=lit(target.ref if target else p.scope_id))
        if p.scope == "category":
            cat = project.lookup("categories", p.scope_id, p.location)
            ids = [lit(o.ref) for o in project.offers if o.category_id and project.find("categories", o.category_id) is cat]
            return exp.In(this=history("offer_id"), expressions=ids) if ids else exp.false()
        if p.scope == "creative":
            creative = project.lookup("creatives", p.scope_id, p.location)
            if matches_creatives(self.ctx):  # impressions of that creative (candidates carry theirs)
                return exp.EQ(this=history("creative_id"), expression=lit(creative.ref))
            # Without a match_creatives node: rows of the creative, and (as candidates carry no creative,
            # scope.applies) untagged rows of its offer on its channel: the contacts this flow makes.
            untagged = [exp.Is(this=history("creative_id"), expression=exp.null()),
                        exp.EQ(this=history("offer_id"), expression=lit(project.lookup("offers", creative.offer_id, p.location).ref))]
            if creative.channel_id is not None:
                channel = project.find("channels", creative.channel_id)
                untagged.append(exp.EQ(this=history("channel"), expression=lit(channel.ref if channel else creative.channel_id)))
            return exp.or_(exp.EQ(this=history("creative_id"), expression=lit(creative.ref)), exp.and_(*untagged))
        return None

    def contacts(self, since: exp.Expression | None, grain: str = "customer", extra: exp.Expression | None = None,
                 inclusive: bool = False) -> exp.Expression:
        """Impressions in scope since `since` (rolling: occurred_at > since; calendar: >= since)."""
        parts = [impression()]
        if since is not None:
            parts.append((exp.GTE if inclusive else exp.GT)(this=history("occurred_at"), expression=since))
        parts += [c for c in (self.history_scope(), extra) if c is not None]
        condition = exp.and_(*parts)
        used = self.features.count(condition, grain)
        earlier = self.earlier(condition, grain)
        return used if earlier is None else exp.paren(exp.Add(this=used, expression=earlier), copy=False)

    def earlier(self, condition: exp.Expression, grain: str) -> exp.Expression | None:
        """Contacts the build's earlier flows decided (delivered or withheld) matching `condition`
        over history rows, or None when this flow is the build's first (S7)."""
        if not has_earlier_flows(self.ctx):
            return None
        return self.features.prior_count(condition.copy(), grain)

    def check(self, blocks: exp.Expression, reason: exp.Expression | str) -> Check:
        return Check(STAGE, self.name, self.guarded(blocks), text(reason) if isinstance(reason, str) else reason)

    def quota(self, remaining: exp.Expression, reason: exp.Expression | str, partition=None, order=None,
              applies_to: exp.Expression | None = None, paired_check: bool = False) -> Quota:
        counted = self.guarded(applies_to if applies_to is not None else exp.true())
        return Quota(STAGE, self.name, tuple(partition or [col("customer_id")]), counted, remaining,
                     text(reason) if isinstance(reason, str) else reason,
                     tuple(order) if order is not None else None, paired_check)


def _trimmed(used: exp.Expression, maximum: int, text: exp.Expression) -> exp.Expression:
    """A cap's walk rejection: `text` alone when the contacts were used before this flow decided (a called
    flow's candidate, which skips this flow's checks), else that the better-ranked offers of this run took
    the rest."""
    taken = concat(text.copy(), "; better-ranked offers of this run take the rest")
    return exp.case().when(exp.GTE(this=used.copy(), expression=lit(maximum)), text).else_(taken)


def _cap(pc: PolicyContext, used: exp.Expression, maximum: int, label: str, partition=None,
         applies_to: exp.Expression | None = None) -> tuple[Check, Quota]:
    """Block at the maximum; keep the run within what is left."""
    prefix = f"{label}: "
    used_text = cast_text(used)
    block_when = exp.GTE(this=used, expression=lit(maximum))
    if applies_to is not None:
        block_when = exp.and_(applies_to, block_when)
    return (
        pc.check(block_when, concat(prefix, used_text, f" of {maximum} used")),
        pc.quota(exp.Sub(this=lit(maximum), expression=used),
                 _trimmed(used, maximum, concat(prefix, used_text, f" of {maximum} used")),
                 partition=partition, applies_to=applies_to, paired_check=True),
    )


# ---- one function per policy type ------------------------------------------------------------

def schedules(ctx: FlowContext) -> bool:
    """sendTime: optimize (S9): time_window policies move send_at into their window instead of blocking."""
    return ctx.definition.flow_config.send_time == "optimize"


def _time_window(pc: PolicyContext, cfg: TimeWindow):
    ctx = pc.ctx
    if schedules(ctx):  # plan/send_time.py schedules into the window; an unknown customer zone still rejects (S5)
        return _scheduled_window(pc, cfg), []
    if cfg.timezone.startswith("customer."):
        zone_column = ctx.customer_field(cfg.timezone, pc.policy.location.at("config.timezone")).column
        hour, dow = pc.features.local_clock(zone_column)
    else:
        local = local_time(col("as_of"), lit(cfg.timezone))
        hour, dow = hour_of(local), iso_day_of_week(local.copy())
    start, end = lit(cfg.start_hour), lit(cfg.end_hour)
    # BETWEEN on whole hours reads the local hour once (a time zone conversion per row is not free)
    if cfg.start_hour < cfg.end_hour:  # start <= h < end
        hour_ok = exp.Between(this=hour, low=start, high=lit(cfg.end_hour - 1))
    else:  # wraps past midnight: h >= start or h < end, i.e. not end <= h < start
        hour_ok = exp.not_(exp.Between(this=hour, low=end, high=lit(cfg.start_hour - 1)))
    hour_ok = exp.func("COALESCE", hour_ok, exp.false())
    reason_hour = concat("Time window: current hour ", cast_text(hour),
                         f" outside allowed range {cfg.start_hour}-{cfg.end_hour}")
    if cfg.timezone.startswith("customer."):  # a NULL hour: the zone is NULL or unknown (features.zone_lookups); S5
        reason_hour = (exp.case().when(exp.Is(this=hour.copy(), expression=exp.null()),
                                       lit("Time window: time zone unknown")).else_(reason_hour))
    if not cfg.days_of_week:
        return [pc.check(exp.not_(hour_ok), reason_hour)], []
    day_ok = exp.func("COALESCE", exp.In(this=dow, expressions=[lit(DAY_NAMES.index(d) + 1) for d in cfg.days_of_week]),
                      exp.false())
    day_name = exp.case()
    for i, name in enumerate(DAY_NAMES):
        day_name = day_name.when(exp.EQ(this=dow, expression=lit(i + 1)), lit(name))
    reason = (exp.case().when(exp.not_(hour_ok), reason_hour)
              .else_(concat("Time window: ", day_name, " is not an allowed day (" + ", ".join(cfg.days_of_week) + ")")))
    return [pc.check(exp.not_(exp.and_(hour_ok, day_ok)), reason)], []


def _scheduled_window(pc: PolicyContext, cfg: TimeWindow) -> list[Check]:
    """With sendTime: optimize a window blocks no hour; a customer whose zone is NULL or unknown is still
    rejected (no local hour to schedule in, S5)."""
    if not cfg.timezone.startswith("customer."):
        return []
    zone_column = pc.ctx.customer_field(cfg.timezone, pc.policy.location.at("config.timezone")).column
    hour, _ = pc.features.local_clock(zone_column)
    return [pc.check(exp.Is(this=hour, expression=exp.null()), "Time window: time zone unknown")]


def _frequency_cap(pc: PolicyContext, cfg: FrequencyCap):
    limits = [(cfg.max_per_day, 1.0, "24 hours"), (cfg.max_per_week, 7.0, "7 days"), (cfg.max_per_month, 30.0, "30 days")]
    if cfg.max_contacts is not None:
        limits.append((cfg.max_contacts, cfg.window_days, f"{cfg.window_days:g} days"))
    grain = "customer_offer" if cfg.per_offer else "customer"
    partition = [col("customer_id")] + ([col("offer_id")] if cfg.per_offer else [])
    checks, quotas = [], []
    for maximum, days, window in limits:
        if maximum is None:
            continue
        used = pc.contacts(minus_seconds(col("as_of", "p"), days * 86400), grain)
        what = "contacts of this offer" if cfg.per_offer else "contacts"
        check, quota = _cap(pc, used, maximum, f"Frequency cap '{pc.name}' ({what} in the last {window})", partition)
        checks.append(check)
        quotas.append(quota)
    return checks, quotas


def _customer_total_cap(pc: PolicyContext, cfg: CustomerTotalCap):
    unit, period_text = PERIODS[cfg.period_type]
    used = pc.contacts(truncate(col("as_of", "p"), unit), inclusive=True)
    used_text = cast_text(used)
    label = f"Customer total cap '{pc.name}': "
    check = pc.check(exp.GTE(this=used, expression=lit(cfg.max_total)),
                     concat(label, used_text, f" of {cfg.max_total} contacts used {period_text}"))
    quota = pc.quota(exp.Sub(this=lit(cfg.max_total), expression=used),
                     _trimmed(used, cfg.max_total, concat(label, used_text, f" of {cfg.max_total} contacts used {period_text}")),
                     paired_check=True)
    return [check], [quota]


def _cooldown(pc: PolicyContext, cfg: Cooldown):
    # only contacts inside the cooldown can block: the aggregate reads hours of history, not all of it
    window = exp.GT(this=history("occurred_at"), expression=minus_seconds(col("as_of", "p"), cfg.cooldown_hours * 3600))
    last = pc.features.last(exp.and_(impression(), window, *[c for c in [pc.history_scope()] if c is not None]),
                            "customer_offer" if cfg.per_offer else "customer")
    running = exp.func("COALESCE", exp.GT(this=last, expression=minus_seconds(col("as_of"), cfg.cooldown_hours * 3600)),
                       exp.false())
    what = "this offer was last shown" if cfg.per_offer else "last contact"
    return [pc.check(running, f"Cooldown '{pc.name}': {what} less than {cfg.cooldown_hours:g} hours ago")], []


def _outcome_based(pc: PolicyContext, cfg: OutcomeBased):
    outcomes = cfg.outcomes
    cond = exp.and_(
        exp.In(this=history("outcome"), expressions=[lit(o) for o in outcomes]),
        exp.GT(this=history("occurred_at"), expression=minus_seconds(col("as_of", "p"), cfg.lookback_days * 86400)),
        *[c for c in [pc.history_scope()] if c is not None],
    )
    seen = pc.features.count(cond, "customer_offer" if cfg.per_offer else "customer")
    where = " on this offer" if cfg.per_offer else ""
    reason = f"Outcome-based '{pc.name}': customer had {' / '.join(outcomes)}{where} in the last {_days(cfg.lookback_days)}"
    return [pc.check(exp.GT(this=seen, expression=lit(0)), reason)], []


def _segment_exclusion(pc: PolicyContext, cfg: SegmentExclusion):
    checks = []
    for i, ref in enumerate(cfg.exclude_segments):
        seg = pc.ctx.project.lookup("segments", ref, pc.policy.location.at(f"config.excludeSegments[{i}]"))
        member = exp.func("COALESCE", pc.features.segment(seg), exp.false())
        checks.append(pc.check(member, f"Segment exclusion '{pc.name}': customer is in segment '{seg.name}'"))
    return checks, []


def _mutual_exclusion(pc: PolicyContext, cfg: MutualExclusion):
    project = pc.ctx.project
    group = [project.lookup("offers", r, pc.policy.location.at(f"config.offerIds[{i}]")).ref
             for i, r in enumerate(cfg.offer_ids)]
    in_group = exp.In(this=col("offer_id"), expressions=[lit(g) for g in group])
    recent = exp.GT(this=history("occurred_at"), expression=minus_seconds(col("as_of", "p"), cfg.lookback_days * 86400))
    shown = exp.and_(recent, exp.In(this=history("offer_id"), expressions=[lit(g) for g in group]))
    group_contacts = pc.contacts(None, "customer", shown)
    own_contacts = pc.contacts(None, "customer_offer", shown)
    others = exp.GT(this=exp.Sub(this=group_contacts, expression=own_contacts), expression=lit(0))
    decided = " or decided by an earlier flow of this build" if has_earlier_flows(pc.ctx) else ""
    check = pc.check(exp.and_(in_group, others),
                     f"Mutual exclusion '{pc.name}': another offer of the group was shown in the last "
                     f"{_days(cfg.lookback_days)}{decided}")
    earlier = pc.earlier(exp.and_(impression(), exp.In(this=history("offer_id"), expressions=[lit(g) for g in group]),
                                  *[c for c in [pc.history_scope()] if c is not None]), "customer")
    left = lit(1) if earlier is None else exp.Sub(this=lit(1), expression=earlier)
    where = "in this run" if earlier is None else "in this run or by an earlier flow of this build"
    quota = pc.quota(left, f"Mutual exclusion '{pc.name}': a better-ranked offer of the group is decided {where}",
                     applies_to=in_group)
    return [check], [quota]


def _cross_channel_cap(pc: PolicyContext, cfg: CrossChannelCap):
    project = pc.ctx.project
    names = [project.lookup("channels", c, pc.policy.location.at(f"config.channels[{i}]")).ref
             if project.all("channels") else c for i, c in enumerate(cfg.channels)]  # ids, as candidates carry them
    channels = [lit(c) for c in names]
    on_channels = exp.In(this=col("channel"), expressions=channels)
    used = pc.contacts(minus_seconds(col("as_of", "p"), cfg.window_days * 86400), "customer",
                       exp.In(this=history("channel"), expressions=channels))
    label = f"Cross-channel cap '{pc.name}' ({', '.join(names)} in the last {_days(cfg.window_days)})"
    check, quota = _cap(pc, used, cfg.max_contacts, label, applies_to=on_channels)
    return [check], [quota]


IMPLICIT_BUDGET = "Offer budget"  # rule_name of budget rejections when no budget_exhausted policy runs


def _spent(pc: PolicyContext, outcome: str, periods: list[str]) -> exp.Expression:
    """The offer's `outcome` rows in its budget period (only the periods some budget uses)."""
    is_outcome = exp.EQ(this=history("outcome"), expression=lit(outcome))
    counts = {}
    for name in periods:
        since = None if name == "total" else exp.GTE(
            this=history("occurred_at"), expression=truncate(col("as_of", "p"), PERIODS[name][0]))
        counts[name] = pc.features.count(exp.and_(is_outcome, since) if since is not None else is_outcome, "offer")
    if len(counts) == 1:
        return next(iter(counts.values()))
    by_period = exp.case()
    for name, count in counts.items():
        by_period = by_period.when(exp.EQ(this=col("budget_period"), expression=lit(name)), count)
    return by_period


def _impression_budget(pc: PolicyContext, label: str, periods: list[str]) -> tuple[Check, Quota]:
    limit = col("budget_impression_limit")
    impressions = _spent(pc, "impression", periods)
    # the build's earlier flows (delivered and withheld decisions): in every period of this run
    earlier = pc.earlier(impression(), "offer")
    if earlier is not None:
        impressions = exp.paren(exp.Add(this=impressions, expression=earlier), copy=False)
    out = exp.func("COALESCE", exp.GTE(this=impressions, expression=limit), exp.false())
    order = [exp.Ordered(this=col("score"), desc=True, nulls_first=False),
             exp.Ordered(this=col("customer_id"), desc=False, nulls_first=False),
             exp.Ordered(this=col("channel"), desc=False, nulls_first=False)]
    return (pc.check(out, concat(label, col("budget_limit_text"), " used up")),
            pc.quota(exp.Sub(this=limit, expression=impressions),
                     f"{label}the offer's remaining impressions went to better-scoring customers",
                     partition=[col("offer_id")], order=order,
                     applies_to=exp.not_(exp.Is(this=limit, expression=exp.null()))))


def _budget(pc: PolicyContext, _cfg: BudgetExhausted | None, label: str | None = None):
    """Offer budgets (S10: always enforced): maxImpressions, maxConversions and totalBudget at
    costPerImpression, per calendar period (UTC) or in total, across customers and channels.

    Impressions left = budget_impression_limit (the smaller of maxImpressions and
    floor(totalBudget / costPerImpression), worked out at compile time) minus the offer's
    impressions in the period and the decisions of the build's earlier flows; the run hands them
    to the best scores (global allocation).
    """
    label = label if label is not None else f"Budget exhausted '{pc.name}': "
    budgets = [o.budget for o in pc.ctx.project.offers if o.budget is not None]
    periods = sorted({b.period for b in budgets})
    checks, quotas = [], []
    if any(b.impression_limit is not None for b in budgets):
        check, quota = _impression_budget(pc, label, periods)
        checks.append(check)
        quotas.append(quota)
    if any(b.max_conversions is not None for b in budgets):
        max_conv = col("budget_max_conversions")
        conv_out = exp.func("COALESCE", exp.GTE(this=_spent(pc, "convert", periods), expression=max_conv), exp.false())
        checks.append(pc.check(conv_out, concat(label, "conversion budget of ",
                                                cast_text(exp.cast(max_conv, "BIGINT")), " used up")))
    return checks, quotas


def offer_budgets(ctx: FlowContext, features: Features) -> tuple[list[Check], list[Quota]]:
    """Budgets of a flow whose contact policies include no budget_exhausted policy (S10): enforced
    all the same, after every policy, under the name 'Offer budget'; never bypassed."""
    if not any(o.budget is not None for o in ctx.project.offers):
        return [], []
    policy = ContactPolicy(name=IMPLICIT_BUDGET, ruleType="budget_exhausted")
    pc = PolicyContext(ctx, features, policy, exp.true(), exp.false())
    return _budget(pc, None, f"{IMPLICIT_BUDGET}: ")


def _allow_override(pc: PolicyContext, _cfg: AllowOverride):
    """No check of its own: it widens the bypass of the node's bypassable policies (_bypass)."""
    return [], []


# Contact policy config class -> its compiler: (checks, quotas). Every PolicyConfig class has one
# (tests/test_registries.py).
POLICY_COMPILERS = {
    TimeWindow: _time_window, FrequencyCap: _frequency_cap, CustomerTotalCap: _customer_total_cap,
    Cooldown: _cooldown, OutcomeBased: _outcome_based, SegmentExclusion: _segment_exclusion,
    MutualExclusion: _mutual_exclusion, CrossChannelCap: _cross_channel_cap, BudgetExhausted: _budget,
    AllowOverride: _allow_override,
}


def _bypass(ctx: FlowContext, features: Features, overrides: list[ContactPolicy]) -> exp.Expression:
    """Candidates allowed to skip bypassable policies: allow_override matches and mandatory offers."""
    matches = [applies(ctx, features, o) for o in overrides]
    return exp.or_(exp.func("COALESCE", col("mandatory"), exp.false()), *matches)


def selected_policies(ctx: FlowContext, node) -> list[ContactPolicy]:
    """The policies a contact_policy node runs, in policy order."""
    cfg: ContactPolicyConfig = node.config
    where = ctx.node_location(node.id, "config.policyIds")
    if cfg.policy_ids is None:
        selected = [p for p in ctx.project.policies if p.status == "active"]
    else:
        selected = [ctx.project.lookup("contactPolicies", ref, where) for ref in cfg.policy_ids]
    return policy_order(selected)


def names_budgets(ctx: FlowContext, node) -> bool:
    """True when the node runs a budget_exhausted policy (which then places and names the budgets)."""
    return any(isinstance(p.config, BudgetExhausted) for p in selected_policies(ctx, node))


def contact_policies(ctx: FlowContext, features: Features, node) -> tuple[list[Check], list[Quota]]:
    ordered = selected_policies(ctx, node)
    skip = _bypass(ctx, features, [p for p in ordered if isinstance(p.config, AllowOverride)])
    checks: list[Check] = []
    quotas: list[Quota] = []
    budgets = [p for p in ordered if isinstance(p.config, BudgetExhausted)]
    if len(budgets) > 1:  # a second one would change nothing: refused rather than ignored
        raise ConfigError(budgets[1].location.at("ruleType"),
                          f"flow {ctx.flow.key!r} runs two budget_exhausted policies ({budgets[0].name!r} and "
                          f"{budgets[1].name!r}); one names and places every offer's budget: keep one, or list one "
                          "in the contact_policy node's policyIds")
    for policy in ordered:
        if isinstance(policy.config, AllowOverride):
            continue  # compiled into `skip` above (_allow_override adds nothing)
        pc = PolicyContext(ctx, features, policy, applies(ctx, features, policy),
                           skip if policy.bypassable else exp.false())
        policy_checks, policy_quotas = POLICY_COMPILERS[type(policy.config)](pc, policy.config)
        checks += policy_checks
        quotas += policy_quotas
    return checks, quotas


def time_windows(ctx: FlowContext, features: Features) -> list[tuple[ContactPolicy, exp.Expression]]:
    """The time_window policies the flow's contact_policy nodes run, in node then policy order, each once, with
    the candidates it applies to (in scope and not bypassed): what sendTime: optimize schedules into."""
    found: dict[int, tuple[ContactPolicy, exp.Expression]] = {}
    for node in ctx.ordered_nodes:
        if not isinstance(node.config, ContactPolicyConfig):
            continue
        ordered = selected_policies(ctx, node)
        skip = _bypass(ctx, features, [p for p in ordered if isinstance(p.config, AllowOverride)])
        for policy in ordered:
            if isinstance(policy.config, TimeWindow) and id(policy) not in found:
                bypass = skip.copy() if policy.bypassable else exp.false()
                found[id(policy)] = (policy, exp.and_(applies(ctx, features, policy), exp.not_(bypass)))
    return list(found.values())


def _one_per_partition(quota: Quota, one_channel: bool) -> bool:
    """True when a kept candidate is alone in the quota's partition (customer and offer, one channel per
    offer): with its paired check blocking at nothing left, such a quota never passes a candidate over."""
    names = {p.name for p in quota.partition if isinstance(p, exp.Column)}
    return one_channel and quota.paired_check and {"customer_id", "offer_id"} <= names


def walk_limits(quotas: tuple[Quota, ...], one_channel: bool) -> tuple[list[WalkLimit], list[Quota]]:
    """The numbered quotas as the walk's limits (S7; the customer's caps, with their reject codes) and the
    offer budgets (partitioned by offer across customers: applied after the walk)."""
    limits, budgets = [], []
    for quota in quotas:
        first = quota.partition[0]
        if not (isinstance(first, exp.Column) and first.name == "customer_id"):
            budgets.append(quota)
        elif not _one_per_partition(quota, one_channel):
            limits.append(WalkLimit(quota.name, quota.partition, quota.remaining, quota.applies, quota.code))
    return limits, budgets
