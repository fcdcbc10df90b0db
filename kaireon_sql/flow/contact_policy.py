"""Contact policies: static blocks (quiet hours, caps already reached) and quotas kept within the run."""
from __future__ import annotations

from sqlglot import exp

from ..config.flows import ContactPolicyConfig
from ..config.policies import ContactPolicy, CustomerTotalCap, TimeWindow
from ..dialect import cast_text, hour_of, iso_day_of_week, local_time
from ..errors import UnsupportedFeature
from .checks import Check, Quota, concat, text
from .context import FlowContext, col, lit
from .features import Features
from .scope import applies

COMPILED_POLICIES = ("time_window", "customer_total_cap")
PERIODS = {"daily": ("DAY", "today"), "weekly": ("WEEK", "this ISO week"), "monthly": ("MONTH", "this month")}
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def policy_order(policies: list[ContactPolicy]) -> list[ContactPolicy]:
    """S5: priority descending, then name."""
    return sorted(policies, key=lambda p: (-p.priority, p.name))


def _time_window(ctx: FlowContext, policy: ContactPolicy, cfg: TimeWindow, scope: exp.Expression) -> Check:
    if cfg.timezone.startswith("customer."):
        zone = col(ctx.customer_field(cfg.timezone, policy.location.at("config.timezone")).column)
    else:
        zone = lit(cfg.timezone)
    local = local_time(col("as_of"), zone, ctx.engine)
    hour = hour_of(local)
    start, end = lit(cfg.start_hour), lit(cfg.end_hour)
    if cfg.start_hour < cfg.end_hour:
        hour_ok = exp.and_(exp.GTE(this=hour, expression=start), exp.LT(this=hour, expression=end))
    else:  # wraps past midnight
        hour_ok = exp.or_(exp.GTE(this=hour, expression=start), exp.LT(this=hour, expression=end))
    hour_ok = exp.func("COALESCE", hour_ok, exp.false())
    hour_text = cast_text(hour, ctx.engine)
    if cfg.timezone.startswith("customer."):  # a NULL zone gives no hour: blocked, with a reason saying so
        hour_text = exp.func("COALESCE", hour_text, lit("unknown"))
    reason_hour = concat("Time window: current hour ", hour_text,
                         f" outside allowed range {cfg.start_hour}-{cfg.end_hour}")
    allowed = hour_ok
    reason = reason_hour
    if cfg.days_of_week:
        dow = iso_day_of_week(local, ctx.engine)
        day_ok = exp.In(this=dow, expressions=[lit(DAY_NAMES.index(d) + 1) for d in cfg.days_of_week])
        day_name = exp.case()
        for i, name in enumerate(DAY_NAMES):
            day_name = day_name.when(exp.EQ(this=dow, expression=lit(i + 1)), lit(name))
        allowed = exp.and_(hour_ok, exp.func("COALESCE", day_ok, exp.false()))
        reason = (
            exp.case().when(exp.not_(hour_ok), reason_hour)
            .else_(concat("Time window: ", day_name, " is not an allowed day (" + ", ".join(cfg.days_of_week) + ")"))
        )
    return Check("contact_policy", policy.name, exp.and_(scope, exp.not_(allowed)), reason)


def _history_filter(ctx: FlowContext, policy: ContactPolicy) -> exp.Expression | None:
    """Which history rows count for a scoped cap (None: all of the customer's impressions)."""
    if policy.scope == "offer":
        offer = ctx.project.lookup("offers", policy.scope_id, policy.location.at("scopeId"))
        return exp.EQ(this=col("offer_id", "h"), expression=lit(offer.ref))
    if policy.scope == "channel":
        target = ctx.project.find("channels", policy.scope_id)
        return exp.EQ(this=col("channel", "h"), expression=lit(target.ref if target else policy.scope_id))
    if policy.scope == "category":
        cat = ctx.project.lookup("categories", policy.scope_id, policy.location.at("scopeId"))
        ids = [lit(o.ref) for o in ctx.project.offers if o.category_id and ctx.project.find("categories", o.category_id) is cat]
        return exp.In(this=col("offer_id", "h"), expressions=ids) if ids else exp.false()
    return None


def _total_cap(ctx: FlowContext, features: Features, policy: ContactPolicy, cfg: CustomerTotalCap,
               scope: exp.Expression) -> tuple[Check, Quota]:
    unit, period_text = PERIODS[cfg.period_type]
    used = exp.func("COALESCE", features.calendar_count(unit, _history_filter(ctx, policy), policy.ref), lit(0))
    maximum = lit(cfg.max_total)
    used_text = cast_text(used, ctx.engine)
    block = Check(
        "contact_policy", policy.name,
        exp.and_(scope, exp.GTE(this=used, expression=maximum)),
        concat(f"Customer total cap '{policy.name}': ", used_text, f" of {cfg.max_total} contacts used {period_text}"),
    )
    quota = Quota(
        "contact_policy", policy.name, [], scope, exp.Sub(this=maximum, expression=used),
        concat(f"Customer total cap '{policy.name}': ", used_text, f" of {cfg.max_total} contacts used {period_text}; "
               "better-ranked offers of this run take the rest"),
    )
    return block, quota


def contact_policies(ctx: FlowContext, features: Features, node) -> tuple[list[Check], list[Quota]]:
    cfg: ContactPolicyConfig = node.config
    where = ctx.node_location(node.id, "config.policyIds")
    if cfg.policy_ids is None:
        selected = [p for p in ctx.project.policies if p.status == "active"]
    else:
        selected = [ctx.project.lookup("contactPolicies", ref, where) for ref in cfg.policy_ids]
    checks: list[Check] = []
    quotas: list[Quota] = []
    for policy in policy_order(selected):
        if policy.rule_type not in COMPILED_POLICIES:
            raise UnsupportedFeature(
                policy.location.at("ruleType"),
                f"contact policy type {policy.rule_type!r} validates but is not compiled by this version; "
                f"compiled: {', '.join(COMPILED_POLICIES)}",
            )
        scope = applies(ctx, features, policy)
        if isinstance(policy.config, TimeWindow):
            checks.append(_time_window(ctx, policy, policy.config, scope))
        elif isinstance(policy.config, CustomerTotalCap):
            block, quota = _total_cap(ctx, features, policy, policy.config, scope)
            checks.append(block)
            quotas.append(quota)
    return checks, quotas
