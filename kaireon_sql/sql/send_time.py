"""Send time (S9, plan/send_time.py): the profile of each customer and channel, and the send times of the
decided candidates.

`<flow>__send_time_profiles`: per customer of the flow and channel, the positive outcomes (at or before as_of)
counted by local hour h in the customer's zone, and the preferred hour: the argmax of
(count_h + m pop_h) / (total + m), pop_h the channel's population share of positive outcomes at local hour h,
ties the earliest hour. Hours are compared on count_h * pop_total + m * pop_count_h (the score times the
positive pop_total * (total + m)), one rounding of doubles, the same on every engine. A channel without
positive outcomes has no profile (uniform): preferred_hour NULL; a customer whose zone is NULL or unknown too.

`<flow>__send_times`: per decided candidate, send_at: the first local hour start at or after as_of (within 7
days) at the preferred hour that every time window applying to the candidate allows, else the first allowed
hour start. Candidate instants are the quarter hours from the UTC day start of as_of, converted per distinct
zone, whose local minute is 0: DST-correct (a local hour that a spring-forward day skips has no instant; the
hour a fall-back day repeats is taken at its first occurrence) and right for offsets of 30 or 45 minutes
(tests/test_send_time.py: Kolkata, Kathmandu).
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import (cast_double, checked_zone, hour_of, iso_day_of_week, local_time, minute_of, plus_minutes,
                       relation, truncate)
from ..plan.checks import qualify_columns
from ..plan.context import HISTORY_MODEL, RUN_PARAMS, col, lit
from ..plan.flow import FlowPlan
from ..plan.send_time import SEARCH_DAYS, SendTimePlan, SendWindow, SendZone
from .pairs import offer_channels

UNKNOWN_ZONE = ""  # the key of a NULL or unknown zone in the send-time lookups
UTC = "UTC"  # the hour starts of a customer whose zone is unknown


def _ints(alias: str, column: str, values: range) -> exp.Select:
    """SELECT <column> FROM inline VALUES of the integers."""
    table = exp.Values(expressions=[exp.Tuple(expressions=[lit(v)]) for v in values],
                       alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True),
                                            columns=[exp.to_identifier(column, quoted=True)]))
    return exp.select(exp.alias_(exp.cast(col(column, alias), "INT"), column, quoted=True)).from_(table)


def _on(left: str, right: str, *names: str) -> exp.Expression:
    return exp.and_(*[exp.EQ(this=col(n, left), expression=col(n, right)) for n in names])


def _zone_lookup(plan: FlowPlan, column: str) -> exp.Select:
    """The distinct values of a customers-model zone column, each with its checked zone (NULL: unknown)."""
    raw = (exp.select(exp.alias_(col(column, "c"), "zone", quoted=True)).distinct()
           .from_(relation(plan.ctx.model("customers")).as_("c")))
    return exp.select(col("zone", "r"), exp.alias_(checked_zone(col("zone", "r")), "known_zone", quoted=True)).from_(
        exp.paren(raw).as_("r"))


def _customer_zones(plan: FlowPlan, st: SendTimePlan) -> exp.Select:
    """customer_id and send_zone (the checked zone; NULL when NULL or unknown) of every customer of the flow."""
    query = exp.select(col("customer_id", "c")).from_(relation(plan.ctx.model("customers")).as_("c"))
    if st.zone.column is None:
        return query.select(exp.alias_(lit(st.zone.name), "send_zone", quoted=True))
    return (query.select(exp.alias_(col("known_zone", "z"), "send_zone", quoted=True))
            .join(exp.paren(_zone_lookup(plan, st.zone.column)).as_("z"), join_type="left",
                  on=exp.EQ(this=col("zone", "z"), expression=col(st.zone.column, "c"))))


def _positive_hours(st: SendTimePlan) -> exp.Select:
    """One row per positive outcome at or before as_of, of a customer with a known zone, on a flow channel:
    customer_id, channel and the local hour it happened at."""
    local = local_time(col("occurred_at", "h"), col("send_zone", "cz"))
    return (
        exp.select(col("customer_id", "h"), col("channel", "h"), exp.alias_(hour_of(local), "local_hour", quoted=True))
        .from_(relation(HISTORY_MODEL).as_("h"))
        .join(exp.to_table("customer_zones").as_("cz"), on=_on("cz", "h", "customer_id"))
        .join(exp.to_table("channels").as_("ch"), on=_on("ch", "h", "channel"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .where(exp.and_(exp.LTE(this=col("occurred_at", "h"), expression=col("as_of", "p")),
                        exp.In(this=col("outcome", "h"), expressions=[lit(o) for o in st.outcomes]),
                        exp.not_(exp.Is(this=col("send_zone", "cz"), expression=exp.null()))))
    )


def _count(table: str, keys: list[str], value: exp.Expression, name: str) -> exp.Select:
    return exp.select(*[col(k) for k in keys], exp.alias_(value, name, quoted=True)).from_(table).group_by(
        *[col(k) for k in keys])


def _argmax(source: str, partition: list[str], key: str, carried: list[str]) -> exp.Select:
    """Per partition of the CTE `source`: the earliest local_hour of the largest `key`, with `key` and the
    `carried` columns (constant in a partition). Two aggregations and a join: no ROW_NUMBER over a window per
    customer, which costs several times more."""
    keys = [col(p) for p in partition]
    best = exp.select(*keys, exp.alias_(exp.Max(this=col(key)), "best", quoted=True)).from_(source).group_by(
        *[k.copy() for k in keys])
    on = exp.and_(_on("b", "s", *partition), exp.EQ(this=col(key, "s"), expression=col("best", "b")))
    return (exp.select(*[col(p, "s") for p in partition],
                       exp.alias_(exp.Min(this=col("local_hour", "s")), "local_hour", quoted=True),
                       *[exp.alias_(exp.Max(this=col(c, "s")), c, quoted=True) for c in [key, *carried]])
            .from_(exp.to_table(source).as_("s")).join(exp.paren(best).as_("b"), on=on)
            .group_by(*[col(p, "s") for p in partition]))


def _customer_scores(st: SendTimePlan) -> exp.Select:
    """Per customer with positive outcomes, channel and local hour: n, total and the comparison key."""
    n = exp.func("COALESCE", col("n", "cn"), lit(0))
    pop_n = exp.func("COALESCE", col("pop_n", "pp"), lit(0))
    key = exp.Add(this=cast_double(exp.Mul(this=n, expression=col("pop_total", "pt"))),
                  expression=exp.Mul(this=cast_double(lit(st.prior_strength)), expression=cast_double(pop_n.copy())))
    return (
        exp.select(col("customer_id", "t"), col("channel", "t"), col("local_hour", "hh"), col("total", "t"),
                   col("pop_total", "pt"), exp.alias_(key, "score_key", quoted=True))
        .from_(exp.to_table("totals").as_("t"))
        .join(exp.to_table("hours").as_("hh"), join_type="cross")
        .join(exp.to_table("pop_totals").as_("pt"), on=_on("pt", "t", "channel"))
        .join(exp.to_table("counts").as_("cn"), join_type="left",
              on=exp.and_(_on("cn", "t", "customer_id", "channel"), _on("cn", "hh", "local_hour")))
        .join(exp.to_table("population").as_("pp"), join_type="left",
              on=exp.and_(_on("pp", "t", "channel"), _on("pp", "hh", "local_hour")))
    )


def _population_scores() -> exp.Select:
    """Per channel with positive outcomes and local hour: its population count (0 without one)."""
    pop_n = exp.func("COALESCE", col("pop_n", "pp"), lit(0))
    return (exp.select(col("channel", "pt"), col("local_hour", "hh"), col("pop_total", "pt"),
                       exp.alias_(pop_n, "pop_n", quoted=True))
            .from_(exp.to_table("pop_totals").as_("pt"))
            .join(exp.to_table("hours").as_("hh"), join_type="cross")
            .join(exp.to_table("population").as_("pp"), join_type="left",
                  on=exp.and_(_on("pp", "pt", "channel"), _on("pp", "hh", "local_hour"))))


def _profile_columns(st: SendTimePlan) -> list[exp.Expression]:
    """The profile model's columns over customer zones `cz`, the customer's best hour `b`, the channel's `pb`."""
    unknown = exp.Is(this=col("send_zone", "cz"), expression=exp.null())
    has_own = exp.not_(exp.Is(this=col("local_hour", "b"), expression=exp.null()))
    has_pop = exp.not_(exp.Is(this=col("local_hour", "pb"), expression=exp.null()))
    m = cast_double(lit(st.prior_strength))
    own_score = exp.Div(this=col("score_key", "b"), expression=exp.paren(exp.Mul(
        this=cast_double(col("pop_total", "b")), expression=exp.paren(exp.Add(this=cast_double(col("total", "b")), expression=m)))))
    pop_score = exp.Div(this=cast_double(col("pop_n", "pb")), expression=cast_double(col("pop_total", "pb")))
    hour = exp.case().when(unknown, exp.cast(exp.null(), "INT")).when(has_own, col("local_hour", "b")).else_(
        col("local_hour", "pb"))
    return [
        col("customer_id", "cz"), col("channel", "ch"), exp.alias_(col("send_zone", "cz"), "time_zone", quoted=True),
        exp.alias_(exp.cast(exp.func("COALESCE", col("total", "b"), lit(0)), "BIGINT"), "positive_outcomes", quoted=True),
        exp.alias_(hour, "preferred_hour", quoted=True),
        exp.alias_(exp.case().when(unknown.copy(), exp.null()).when(
            has_own.copy(), exp.cast(exp.func("COALESCE", col("n", "cn"), lit(0)), "BIGINT"))
                   .when(has_pop.copy(), exp.cast(lit(0), "BIGINT")), "preferred_count", quoted=True),
        exp.alias_(exp.case().when(unknown.copy(), exp.null()).when(has_own.copy(), own_score).else_(pop_score),
                   "preferred_score", quoted=True),
        exp.alias_(exp.case().when(unknown.copy(), lit("time zone unknown")).when(has_own.copy(), lit("customer"))
                   .when(has_pop.copy(), lit("population")).else_(lit("none")), "profile", quoted=True),
    ]


def profiles_model(plan: FlowPlan) -> exp.Select:
    """SELECT customer_id, channel, time_zone, positive_outcomes, preferred_hour, preferred_count,
    preferred_score, profile: one row per customer of the flow and channel it decides on."""
    st = plan.send_time
    channels = exp.select(col("channel", "o")).distinct().from_(exp.paren(offer_channels(plan), copy=False).as_("o"))
    if plan.calls is not None:  # the called flow's candidates keep their channels (S7): they are sent too
        called = exp.select(col("channel", "c")).distinct().from_(relation(plan.calls.model).as_("c"))
        channels = exp.union(channels, called, distinct=True)
    ctes = [
        ("customer_zones", _customer_zones(plan, st)), ("channels", channels), ("hours", _ints("v", "local_hour", range(24))),
        ("counts", _count("positive", ["customer_id", "channel", "local_hour"], exp.Count(this=exp.Star()), "n")),
        ("population", _count("counts", ["channel", "local_hour"], exp.Sum(this=col("n")), "pop_n")),
        ("pop_totals", _count("counts", ["channel"], exp.Sum(this=col("n")), "pop_total")),
        ("totals", _count("counts", ["customer_id", "channel"], exp.Sum(this=col("n")), "total")),
        ("customer_scores", _customer_scores(st)),
        ("best", _argmax("customer_scores", ["customer_id", "channel"], "score_key", ["total", "pop_total"])),
        ("population_scores", _population_scores()),
        ("population_best", _argmax("population_scores", ["channel"], "pop_n", ["pop_total"])),
    ]
    query = (exp.select(*_profile_columns(st)).from_(exp.to_table("customer_zones").as_("cz"))
             .join(exp.to_table("channels").as_("ch"), join_type="cross")
             .join(exp.to_table("best").as_("b"), join_type="left", on=_on("b", "cz", "customer_id")
                   .and_(_on("b", "ch", "channel")))
             .join(exp.to_table("counts").as_("cn"), join_type="left",
                   on=exp.and_(_on("cn", "b", "customer_id", "channel", "local_hour")))
             .join(exp.to_table("population_best").as_("pb"), join_type="left", on=_on("pb", "ch", "channel")))
    ctes.insert(3, ("positive", _positive_hours(st)))
    for name, cte in ctes:
        query = query.with_(name, as_=cte)
    return query


# ---- the send times of the decided candidates ------------------------------------------------------

def _zone_key(i: int) -> str:
    return f"zone_{i}"


def _zone_of(st: SendTimePlan, zone: SendZone, alias: str) -> exp.Expression:
    """The zone to convert with over the grid's zone keys: a config zone, or the key's zone (NULL if unknown)."""
    if zone.column is None:
        return lit(zone.name)
    key = col(_zone_key(st.zone_columns().index(zone.column)), alias)
    return exp.case().when(exp.EQ(this=key, expression=lit(UNKNOWN_ZONE)), exp.null()).else_(key.copy())


def _decided(plan: FlowPlan, rank) -> exp.Select:
    """The decided candidates with their preferred hour, zone keys and the windows that apply."""
    st = plan.send_time
    query = (exp.select(col("customer_id", "k"), col("offer_id", "k"), col("channel", "k"),
                        exp.alias_(col("preferred_hour", "pr"), "preferred_hour", quoted=True),
                        exp.alias_(exp.func("COALESCE", col("preferred_hour", "pr"), lit(-1)), "preferred_key", quoted=True),
                        *[col(w.column, "k") for w in st.windows])
             .from_(relation(plan.ctx.model("candidates")).as_("k"))
             .join(relation(st.profiles).as_("pr"), on=_on("pr", "k", "customer_id", "channel"))
             .where(qualify_columns(rank.decided, "k")))
    if st.zone_columns():
        query = query.join(relation(plan.ctx.model("customers")).as_("c"), on=_on("c", "k", "customer_id"))
    for i, column in enumerate(st.zone_columns()):
        alias = f"z{i}"
        query = query.join(exp.paren(_zone_lookup(plan, column)).as_(alias), join_type="left",
                           on=exp.EQ(this=col("zone", alias), expression=col(column, "c")))
        query = query.select(exp.alias_(exp.func("COALESCE", col("known_zone", alias), lit(UNKNOWN_ZONE)),
                                        _zone_key(i), quoted=True))
    return query


def _key_columns(st: SendTimePlan) -> list[str]:
    return [_zone_key(i) for i in range(len(st.zone_columns()))] + ["preferred_key"] + [w.column for w in st.windows]


def _allows(window: SendWindow, local: exp.Expression) -> exp.Expression:
    """TRUE when the window allows the local time `local` (start <= hour < end, wrapping; the listed days)."""
    hour = hour_of(local)
    if window.start_hour < window.end_hour:
        ok = exp.Between(this=hour, low=lit(window.start_hour), high=lit(window.end_hour - 1))
    else:
        ok = exp.not_(exp.Between(this=hour, low=lit(window.end_hour), high=lit(window.start_hour - 1)))
    if window.days:
        ok = exp.and_(ok, exp.In(this=iso_day_of_week(local.copy()), expressions=[lit(d) for d in window.days]))
    return exp.func("COALESCE", ok, exp.false())


def _instants(st: SendTimePlan) -> exp.Select:
    """Per distinct zone set: the quarter hours from the UTC day start of as_of to 8 days later (`t`), with the
    local time in the send zone (`send_local`) and in each window's zone (`local_<i>`)."""
    minutes = exp.Add(this=exp.Add(this=exp.Mul(this=col("d", "d"), expression=lit(1440)),
                                   expression=exp.Mul(this=col("h", "h"), expression=lit(60))),
                      expression=exp.Mul(this=col("q", "q"), expression=lit(15)))
    t = plus_minutes(truncate(col("as_of", "p"), "DAY"), minutes)
    send_zone = exp.func("COALESCE", _zone_of(st, st.zone, "zs"), lit(UTC))
    locals_ = [exp.alias_(local_time(col("t", "i"), exp.func("COALESCE", _zone_of(st, w.zone, "i"), lit(UTC))),
                          f"local_{j}", quoted=True) for j, w in enumerate(st.windows)]
    keys = [col(_zone_key(i), "zs") for i in range(len(st.zone_columns()))]
    base = (exp.select(*keys, col("as_of", "p"), exp.alias_(t, "t", quoted=True))
            .from_(exp.to_table("zone_sets").as_("zs"))
            .join(exp.paren(_ints("v", "d", range(SEARCH_DAYS + 1))).as_("d"), join_type="cross")
            .join(exp.paren(_ints("v", "h", range(24))).as_("h"), join_type="cross")
            .join(exp.paren(_ints("v", "q", range(4))).as_("q"), join_type="cross")
            .join(relation(RUN_PARAMS).as_("p"), join_type="cross"))
    return (exp.select("*", exp.alias_(local_time(col("t", "i"), _zone_in(send_zone, "i")), "send_local", quoted=True),
                       *locals_).from_(exp.paren(base).as_("i")))


def _zone_in(zone: exp.Expression, alias: str) -> exp.Expression:
    """`zone` (built over the zone sets `zs`) read over the relation `alias`."""
    return zone.transform(lambda n: col(n.name, alias) if isinstance(n, exp.Column) else n)


def _grid(st: SendTimePlan) -> exp.Select:
    """The local hour starts within SEARCH_DAYS days at or after as_of, per zone set: t, the local hour in the
    send zone and, per window, whether it allows t."""
    within = exp.and_(exp.GTE(this=col("t", "g"), expression=col("as_of", "g")),
                      exp.LT(this=col("t", "g"), expression=exp.Add(this=col("as_of", "g"), expression=exp.Interval(
                          this=exp.Literal.string(str(SEARCH_DAYS * 86400)), unit=exp.var("SECOND")))),
                      exp.EQ(this=minute_of(col("send_local", "g")), expression=lit(0)))
    allowed = [exp.alias_(_allows(w, col(f"local_{j}", "g")), f"allowed_{j}", quoted=True)
               for j, w in enumerate(st.windows)]
    keys = [col(_zone_key(i), "g") for i in range(len(st.zone_columns()))]
    return (exp.select(*keys, col("t", "g"), exp.alias_(hour_of(col("send_local", "g")), "local_hour", quoted=True),
                       *allowed).from_(exp.paren(_instants(st)).as_("g")).where(within))


def _picked(st: SendTimePlan) -> exp.Select:
    """Per key: the first allowed instant at the preferred local hour, and the first allowed instant."""
    keys = _key_columns(st)
    allowed = exp.and_(exp.true(), *[exp.or_(exp.EQ(this=col(w.column, "k"), expression=lit(0)), col(f"allowed_{j}", "g"))
                                     for j, w in enumerate(st.windows)])
    at_preferred = exp.and_(allowed.copy(), exp.EQ(this=col("local_hour", "g"), expression=col("preferred_key", "k")))
    zones = [_zone_key(i) for i in range(len(st.zone_columns()))]
    query = (exp.select(*[col(k, "k") for k in keys],
                        exp.alias_(exp.Min(this=exp.case().when(at_preferred, col("t", "g"))), "preferred_at", quoted=True),
                        exp.alias_(exp.Min(this=exp.case().when(allowed, col("t", "g"))), "allowed_at", quoted=True))
             .from_(exp.to_table("keys").as_("k")))
    query = (query.join(exp.to_table("grid").as_("g"), on=_on("g", "k", *zones)) if zones
             else query.join(exp.to_table("grid").as_("g"), join_type="cross"))
    return query.group_by(*[col(k, "k") for k in keys])


def send_times_model(plan: FlowPlan, rank) -> exp.Select:
    """SELECT customer_id, offer_id, channel, preferred_hour, send_at, send_hour_local per decided candidate."""
    st = plan.send_time
    keys = _key_columns(st)
    zones = [_zone_key(i) for i in range(len(st.zone_columns()))]
    zone_sets = (exp.select(*[col(z) for z in zones]).distinct().from_("keys") if zones
                 else exp.select(exp.alias_(lit(1), "one", quoted=True)))
    send_at = exp.func("COALESCE", col("preferred_at", "s"), col("allowed_at", "s"))
    send_zone = _zone_in(_zone_of(st, st.zone, "zs"), "d")
    local_hour = exp.case().when(exp.Is(this=send_zone, expression=exp.null()), exp.cast(exp.null(), "INT")).else_(
        hour_of(local_time(send_at.copy(), send_zone.copy())))
    query = (exp.select(col("customer_id", "d"), col("offer_id", "d"), col("channel", "d"), col("preferred_hour", "d"),
                        exp.alias_(send_at, "send_at", quoted=True), exp.alias_(local_hour, "send_hour_local", quoted=True))
             .from_(exp.to_table("decided").as_("d"))
             .join(exp.to_table("picked").as_("s"), on=_on("s", "d", *keys)))
    for name, cte in [("decided", _decided(plan, rank)), ("keys", exp.select(*[col(k) for k in keys]).distinct().from_("decided")),
                      ("zone_sets", zone_sets), ("grid", _grid(st)), ("picked", _picked(st))]:
        query = query.with_(name, as_=cte)
    return query
