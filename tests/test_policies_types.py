"""Contact policies (S5), every type at its edges: caps exactly at the maximum and one below,
rolling-window and cooldown boundaries to the second, calendar vs rolling weeks, per-offer
counting, every scope, within-run quotas (rank-aware; budgets global, best score first),
allow_override / bypassable / mandatory, and which policy is the recorded reason.

time_window and customer_total_cap edges are in test_flow_policies.py. Expected values are
worked out by hand (the comments say how), never copied from the output.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from harness import Table, compile_sql, customers_table, flow, history_table, rows, run_models, schema, standard_nodes, write_config

AS_OF = "2026-11-20 15:00:00"  # a Friday; its ISO week starts Mon 2026-11-16, its month 2026-11-01
T0 = dt.datetime.fromisoformat(AS_OF)
SEGMENT_COLUMNS = {"customer_id": "VARCHAR", "segment": "VARCHAR"}


def ago(days=0.0, hours=0.0, seconds=0.0, base=T0) -> str:
    return (base - dt.timedelta(days=days, hours=hours, seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def cust(cid, revenue=80.0, tz="UTC"):
    return (cid, 100, 5, revenue, "apparel", tz, True, True)


def ev(cid, at, offer="x", outcome="impression", channel="email", creative=None):
    return (cid, offer, channel, outcome, at, None, creative, None)


def offers(n=3, priority=50, **extra):
    """o1 (priority 49) > o2 (48) > o3 (47): with score method 'priority' the rank follows the number."""
    return [{"id": f"o{i}", "name": f"O{i}", "priority": priority - i, **extra.get(f"o{i}", {})} for i in range(1, n + 1)]


def build(tmp_path_factory, name, policies, offer_list=None, channel="email", top_n=10, score=None, flow_config=None,
          **more):
    if flow_config is None and isinstance(channel, list):
        # these tests are about the caps: an offer may go out on every channel (S7's default of one channel
        # per offer is tested in test_walk_channels.py and by `stacked` below)
        flow_config = {"allowSameOfferOnSeveralChannels": True}
    config = {"schemas": [schema()], "interactionHistory": {"relation": "history"},
              "offers": offer_list if offer_list is not None else offers(),
              "contactPolicies": policies,
              "decisionFlows": [flow(standard_nodes(top_n=top_n, score=score or {"method": "priority"}), channel=channel,
                                    **(flow_config or {}))]}
    config.update(more)
    return compile_sql(write_config(tmp_path_factory.mktemp(name) / "decisioning", config))


def run(models, customers, history=(), as_of=AS_OF, segments=None):
    tables = {"customers": customers_table(list(customers)), "history": history_table(list(history))}
    if segments is not None:
        tables["segment_membership"] = Table(SEGMENT_COLUMNS, list(segments))
    return run_models(models, tables, as_of=as_of)


def decided(con, with_channel=False):
    cols = "customer_id, offer_id" + (", channel" if with_channel else "")
    return sorted(tuple(r.values()) for r in rows(con, f"select {cols} from kaireon_decisions"))


def rejected(con):
    """(customer, offer, channel) -> (rule_name, reason) for contact-policy rejections."""
    out = {}
    for r in rows(con, "select customer_id, offer_id, channel, stage, rule_name, reason from kaireon_rejections"):
        assert r["stage"] == "contact_policy", r
        out[(r["customer_id"], r["offer_id"], r["channel"])] = (r["rule_name"], r["reason"])
    return out


def trimmed(prefix):
    return prefix + "; better-ranked offers of this run take the rest"


# ---- frequency_cap: rolling windows ----------------------------------------------------------------

@pytest.fixture(scope="module")
def per_day(tmp_path_factory):
    return build(tmp_path_factory, "per_day", [{"name": "daily", "ruleType": "frequency_cap", "config": {"maxPerDay": 2}}])


def test_frequency_cap_at_cap_blocks_everything(per_day):
    con = run(per_day, [cust("c1")], [ev("c1", ago(hours=1)), ev("c1", ago(hours=23), channel="sms")])
    assert decided(con) == []
    reason = "Frequency cap 'daily' (contacts in the last 24 hours): 2 of 2 used"
    assert rejected(con) == {("c1", o, "email"): ("daily", reason) for o in ("o1", "o2", "o3")}


def test_frequency_cap_one_below_keeps_the_best_ranked(per_day):
    # 1 of 2 used: one contact left -> o1 (best priority) kept, o2 and o3 trimmed by the cap
    con = run(per_day, [cust("c1")], [ev("c1", ago(hours=2))])
    assert decided(con) == [("c1", "o1")]
    reason = trimmed("Frequency cap 'daily' (contacts in the last 24 hours): 1 of 2 used")
    assert rejected(con) == {("c1", "o2", "email"): ("daily", reason), ("c1", "o3", "email"): ("daily", reason)}


def test_frequency_cap_fresh_customer_gets_exactly_the_cap(per_day):
    con = run(per_day, [cust("c1")])
    assert decided(con) == [("c1", "o1"), ("c1", "o2")]
    assert list(rejected(con)) == [("c1", "o3", "email")]


def test_frequency_cap_counts_only_impressions_up_to_as_of(per_day):
    history = [ev("c1", ago(hours=1), outcome="click"), ev("c1", ago(hours=1), outcome="convert"),
               ev("c1", ago(seconds=-1)), ev("c1", ago(hours=-5)),  # after as_of: ignored
               ev("c1", AS_OF)]  # exactly at as_of: counts
    con = run(per_day, [cust("c1")], history)
    assert decided(con) == [("c1", "o1")]


@pytest.mark.parametrize("limit,days,label", [
    ("maxPerDay", 1, "24 hours"), ("maxPerWeek", 7, "7 days"), ("maxPerMonth", 30, "30 days"),
])
@pytest.mark.parametrize("offset,inside", [(0, False), (1, True), (-1, False)])
def test_frequency_cap_rolling_boundary(tmp_path_factory, limit, days, label, offset, inside):
    """A contact at exactly as_of - window is outside; one second later it is inside (S5)."""
    models = build(tmp_path_factory, f"roll_{limit}", [{"name": "fc", "ruleType": "frequency_cap", "config": {limit: 1}}],
                   offers(1))
    at = ago(days=days, seconds=-offset)  # offset seconds after the window start
    con = run(models, [cust("c1")], [ev("c1", at)])
    assert (dt.datetime.fromisoformat(at) > T0 - dt.timedelta(days=days)) == inside
    if inside:
        assert decided(con) == []
        assert rejected(con) == {("c1", "o1", "email"): ("fc", f"Frequency cap 'fc' (contacts in the last {label}): 1 of 1 used")}
    else:
        assert decided(con) == [("c1", "o1")]


@pytest.mark.parametrize("seconds_after_start,inside", [(0, False), (1, True)])
def test_frequency_cap_max_contacts_window_days(tmp_path_factory, seconds_after_start, inside):
    models = build(tmp_path_factory, "mc", [{"name": "fc3", "ruleType": "frequency_cap",
                                             "config": {"maxContacts": 2, "windowDays": 3}}])
    history = [ev("c1", ago(days=1)), ev("c1", ago(days=3, seconds=-seconds_after_start))]
    con = run(models, [cust("c1")], history)
    used = 2 if inside else 1
    assert len(decided(con)) == 2 - used
    assert {v for v in rejected(con).values()} == {(
        "fc3", f"Frequency cap 'fc3' (contacts in the last 3 days): {used} of 2 used" + ("" if used == 2 else
                                                                                          "; better-ranked offers of this run take the rest"))}


def test_frequency_cap_several_limits_each_hold(tmp_path_factory):
    # maxPerDay 2 and maxPerWeek 3: 2 this week but none today -> the week leaves 1, the day 2 -> 1 decided
    models = build(tmp_path_factory, "multi", [{"name": "fc", "ruleType": "frequency_cap",
                                                "config": {"maxPerDay": 2, "maxPerWeek": 3}}])
    con = run(models, [cust("c1"), cust("c2")], [ev("c1", ago(days=2)), ev("c1", ago(days=6))])
    assert decided(con) == [("c1", "o1"), ("c2", "o1"), ("c2", "o2")]
    got = rejected(con)
    assert got[("c1", "o2", "email")] == ("fc", trimmed("Frequency cap 'fc' (contacts in the last 7 days): 2 of 3 used"))
    assert got[("c2", "o3", "email")] == ("fc", trimmed("Frequency cap 'fc' (contacts in the last 24 hours): 0 of 2 used"))


def test_rolling_week_vs_calendar_week(tmp_path_factory):
    """Same history, different outcome: Fri + Sat contacts, run on the next Monday morning."""
    monday = "2026-11-23 10:00:00"
    history = [ev("c1", "2026-11-20 12:00:00"), ev("c1", "2026-11-21 12:00:00")]
    rolling = build(tmp_path_factory, "rolling", [{"name": "week", "ruleType": "frequency_cap", "config": {"maxPerWeek": 2}}])
    calendar = build(tmp_path_factory, "calendar", [{"name": "week", "ruleType": "customer_total_cap",
                                                     "config": {"maxTotal": 2, "periodType": "weekly"}}])
    # rolling: both contacts are within 7 days -> 2 of 2 -> blocked
    con = run(rolling, [cust("c1")], history, as_of=monday)
    assert decided(con) == []
    assert set(rejected(con).values()) == {("week", "Frequency cap 'week' (contacts in the last 7 days): 2 of 2 used")}
    # calendar: the ISO week started Monday 00:00 UTC -> 0 of 2 used -> the two best offers
    con = run(calendar, [cust("c1")], history, as_of=monday)
    assert decided(con) == [("c1", "o1"), ("c1", "o2")]
    assert set(rejected(con).values()) == {
        ("week", trimmed("Customer total cap 'week': 0 of 2 contacts used this ISO week"))}


# ---- frequency_cap perOffer ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def per_offer(tmp_path_factory):
    return build(tmp_path_factory, "per_offer", [{"name": "once a week", "ruleType": "frequency_cap",
                                                  "config": {"maxContacts": 1, "windowDays": 7, "perOffer": True}}],
                 channel=["email", "sms"], flow_config={"allowSameOfferOnSeveralChannels": True})


def test_frequency_cap_per_offer_blocks_only_the_shown_offer(per_offer):
    # o1 shown 6 days ago (on sms: every channel counts); o2 shown exactly 7 days ago (outside); o3 never
    con = run(per_offer, [cust("c1")], [ev("c1", ago(days=6), offer="o1", channel="sms"), ev("c1", ago(days=7), offer="o2")])
    # o1 blocked on both channels; o2 and o3 have one contact each left: the better channel (email) wins
    assert decided(con, True) == [("c1", "o2", "email"), ("c1", "o3", "email")]
    label = "Frequency cap 'once a week' (contacts of this offer in the last 7 days): "
    assert rejected(con) == {
        ("c1", "o1", "email"): ("once a week", label + "1 of 1 used"),
        ("c1", "o1", "sms"): ("once a week", label + "1 of 1 used"),
        ("c1", "o2", "sms"): ("once a week", trimmed(label + "0 of 1 used")),
        ("c1", "o3", "sms"): ("once a week", trimmed(label + "0 of 1 used")),
    }


def test_frequency_cap_per_offer_other_customers_unaffected(per_offer):
    con = run(per_offer, [cust("c1"), cust("c2")], [ev("c1", ago(hours=1), offer="o1")])
    assert [d for d in decided(con, True) if d[0] == "c2"] == [("c2", o, "email") for o in ("o1", "o2", "o3")]


# ---- scopes ------------------------------------------------------------------------------------------

def test_scope_offer(tmp_path_factory):
    models = build(tmp_path_factory, "s_offer", [{"name": "o1 daily", "ruleType": "frequency_cap", "scope": "offer",
                                                  "scopeId": "O1", "config": {"maxPerDay": 1}}])  # by name
    # c1: o1 shown -> o1 blocked, others free; c2: o2 shown -> not o1's count -> everything allowed
    con = run(models, [cust("c1"), cust("c2")], [ev("c1", ago(hours=1), offer="o1"), ev("c2", ago(hours=1), offer="o2")])
    assert decided(con) == [("c1", "o2"), ("c1", "o3"), ("c2", "o1"), ("c2", "o2"), ("c2", "o3")]
    assert rejected(con) == {("c1", "o1", "email"): ("o1 daily", "Frequency cap 'o1 daily' (contacts in the last 24 hours): 1 of 1 used")}


def test_scope_channel(tmp_path_factory):
    models = build(tmp_path_factory, "s_channel", [{"name": "sms daily", "ruleType": "frequency_cap", "scope": "channel",
                                                    "scopeId": "sms", "config": {"maxPerDay": 1}}],
                   offers(2), channel=["email", "sms"])
    # c1: an sms contact -> sms blocked, email free; c2: email contacts only -> sms has 1 left (o1 sms best)
    history = [ev("c1", ago(hours=3), channel="sms"), ev("c2", ago(hours=3)), ev("c2", ago(hours=4))]
    con = run(models, [cust("c1"), cust("c2")], history)
    assert decided(con, True) == [("c1", "o1", "email"), ("c1", "o2", "email"),
                                  ("c2", "o1", "email"), ("c2", "o1", "sms"), ("c2", "o2", "email")]
    label = "Frequency cap 'sms daily' (contacts in the last 24 hours): "
    assert rejected(con) == {("c1", "o1", "sms"): ("sms daily", label + "1 of 1 used"),
                             ("c1", "o2", "sms"): ("sms daily", label + "1 of 1 used"),
                             ("c2", "o2", "sms"): ("sms daily", trimmed(label + "0 of 1 used"))}


def test_scope_category(tmp_path_factory):
    cats = [{"id": "cards", "name": "Cards"}, {"id": "loans", "name": "Loans"}]
    offer_list = [{"id": "a1", "name": "A1", "priority": 90, "categoryId": "cards"},
                  {"id": "a2", "name": "A2", "priority": 80, "categoryId": "cards"},
                  {"id": "b1", "name": "B1", "priority": 70, "categoryId": "loans"}]
    models = build(tmp_path_factory, "s_cat", [{"name": "cards weekly", "ruleType": "frequency_cap", "scope": "category",
                                                "scopeId": "Cards", "config": {"maxPerWeek": 1}}],
                   offer_list, categories=cats)
    # c1: a2 shown -> cards used up (a1 and a2), loans free; c2: b1 shown -> cards untouched, 1 left -> a1 only
    history = [ev("c1", ago(days=2), offer="a2"), ev("c2", ago(days=2), offer="b1")]
    con = run(models, [cust("c1"), cust("c2")], history)
    assert decided(con) == [("c1", "b1"), ("c2", "a1"), ("c2", "b1")]
    label = "Frequency cap 'cards weekly' (contacts in the last 7 days): "
    assert rejected(con) == {("c1", "a1", "email"): ("cards weekly", label + "1 of 1 used"),
                             ("c1", "a2", "email"): ("cards weekly", label + "1 of 1 used"),
                             ("c2", "a2", "email"): ("cards weekly", trimmed(label + "0 of 1 used"))}


@pytest.fixture(scope="module")
def creative_scope(tmp_path_factory):
    creatives = [{"id": "cr1", "name": "Hero mail", "offerId": "o1", "channelId": "email"},
                 {"id": "cr2", "name": "Plain mail", "offerId": "o1", "channelId": "email"}]
    channels = [{"id": "email", "name": "Email"}, {"id": "sms", "name": "SMS"}]
    return build(tmp_path_factory, "s_creative", [{"name": "hero once", "ruleType": "frequency_cap", "scope": "creative",
                                                   "scopeId": "cr1", "config": {"maxPerWeek": 1}}],
                 offers(2), channel=["email", "sms"], creatives=creatives, channels=channels)


@pytest.mark.parametrize("history,blocked", [
    ([ev("c1", ago(days=1), offer="o1", creative="cr1")], True),  # the creative itself
    ([ev("c1", ago(days=1), offer="o1", creative="cr2")], False),  # a sibling creative of the offer
    ([ev("c1", ago(days=1), offer="o1")], True),  # untagged contact of the creative's offer + channel
    ([ev("c1", ago(days=1), offer="o1", channel="sms")], False),  # the offer on another channel
    ([ev("c1", ago(days=1), offer="o2")], False),
    ([], False),
])
def test_scope_creative_is_its_offer_and_channel(creative_scope, history, blocked):
    """Until creatives are matched to candidates, a creative scopes to its offer on its channel:
    candidates o1/email only; history rows of the creative, or of o1/email with no creative."""
    con = run(creative_scope, [cust("c1")], history)
    everything = [("c1", o, ch) for o in ("o1", "o2") for ch in ("email", "sms")]
    if blocked:
        assert decided(con, True) == [x for x in everything if x != ("c1", "o1", "email")]
        assert rejected(con) == {("c1", "o1", "email"): (
            "hero once", "Frequency cap 'hero once' (contacts in the last 7 days): 1 of 1 used")}
    else:
        assert decided(con, True) == everything and rejected(con) == {}


def test_scope_segment(tmp_path_factory):
    segments = [{"id": "vip", "name": "VIP", "formula": "customer.revenue >= 200"}]
    models = build(tmp_path_factory, "s_seg", [{"name": "vip daily", "ruleType": "frequency_cap", "scope": "segment",
                                                "scopeId": "VIP", "config": {"maxPerDay": 1}}], segments=segments)
    history = [ev("vip", ago(hours=1)), ev("reg", ago(hours=1))]
    con = run(models, [cust("vip", revenue=200), cust("reg", revenue=199.99), cust("vip_new", revenue=500)], history)
    # vip at cap; reg outside the segment; vip_new has 1 left -> o1
    assert decided(con) == [("reg", "o1"), ("reg", "o2"), ("reg", "o3"), ("vip_new", "o1")]
    assert {k[0] for k in rejected(con)} == {"vip", "vip_new"}


# ---- cooldown ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cooldown(tmp_path_factory):
    return build(tmp_path_factory, "cooldown", [{"name": "cool", "ruleType": "cooldown", "config": {"cooldownHours": 20}}])


@pytest.mark.parametrize("last,blocked", [
    (ago(hours=20), False),  # exactly cooldownHours ago: allowed
    (ago(hours=20, seconds=-1), True),  # one second less: still cooling down
    (ago(hours=20, seconds=1), False),
    (AS_OF, True),
    (ago(hours=-1), False),  # after as_of: ignored
])
def test_cooldown_boundary(cooldown, last, blocked):
    con = run(cooldown, [cust("c1")], [ev("c1", ago(days=3)), ev("c1", last, channel="sms")])
    if blocked:
        assert decided(con) == []
        assert set(rejected(con).values()) == {("cool", "Cooldown 'cool': last contact less than 20 hours ago")}
    else:
        # no within-run cooldown: every offer of the run is decided together (S5)
        assert decided(con) == [("c1", "o1"), ("c1", "o2"), ("c1", "o3")]


def test_cooldown_ignores_non_impressions(cooldown):
    con = run(cooldown, [cust("c1")], [ev("c1", ago(hours=1), outcome="click"), ev("c1", ago(hours=1), outcome="dismiss")])
    assert len(decided(con)) == 3


def test_cooldown_per_offer_and_scoped(tmp_path_factory):
    models = build(tmp_path_factory, "cool_po", [
        {"name": "offer rest", "ruleType": "cooldown", "config": {"cooldownHours": 48, "perOffer": True}},
        {"name": "sms rest", "ruleType": "cooldown", "scope": "channel", "scopeId": "sms", "config": {"cooldownHours": 1.5}}],
        offers(2), channel=["email", "sms"])
    # o1 shown 47h59m59s ago (email) -> o1 blocked on both channels; an sms contact 1h29m ago blocks sms only
    history = [ev("c1", ago(hours=48, seconds=-1), offer="o1"), ev("c1", ago(hours=1, seconds=29 * 60), offer="o9", channel="sms")]
    con = run(models, [cust("c1")], history)
    assert decided(con, True) == [("c1", "o2", "email")]
    assert rejected(con) == {
        ("c1", "o1", "email"): ("offer rest", "Cooldown 'offer rest': this offer was last shown less than 48 hours ago"),
        ("c1", "o1", "sms"): ("offer rest", "Cooldown 'offer rest': this offer was last shown less than 48 hours ago"),
        ("c1", "o2", "sms"): ("sms rest", "Cooldown 'sms rest': last contact less than 1.5 hours ago"),
    }
    # 1h30m ago exactly: the sms cooldown is over
    con = run(models, [cust("c1")], [ev("c1", ago(hours=1.5), channel="sms")])
    assert len(decided(con)) == 4


# ---- outcome_based ---------------------------------------------------------------------------------------

def test_outcome_based_adverse_preset_blocks_every_offer(tmp_path_factory):
    models = build(tmp_path_factory, "adverse", [{"name": "adverse", "ruleType": "outcome_based",
                                                  "config": {"preset": "adverse_outcomes", "lookbackDays": 60}}])
    history = [ev("comp", ago(days=59), offer="o2", outcome="complaint"),
               ev("unsub", ago(days=1), outcome="unsubscribe", channel="sms"),
               ev("old", ago(days=60), outcome="spam_report"),  # exactly at the lookback: outside
               ev("late", ago(hours=-1), outcome="hard_bounce"),  # after as_of: ignored
               ev("clicker", ago(days=1), outcome="click")]
    con = run(models, [cust(c) for c in ("comp", "unsub", "old", "late", "clicker")], history)
    assert sorted({c for c, _ in decided(con)}) == ["clicker", "late", "old"]
    reason = "Outcome-based 'adverse': customer had complaint / unsubscribe / hard_bounce / spam_report in the last 60 days"
    assert rejected(con) == {(c, o, "email"): ("adverse", reason) for c in ("comp", "unsub") for o in ("o1", "o2", "o3")}


@pytest.mark.parametrize("days_ago,blocked", [(30, False), (30 - 1 / 86400, True), (1, True)])
def test_outcome_based_per_offer_converted(tmp_path_factory, days_ago, blocked):
    models = build(tmp_path_factory, "conv", [{"name": "already converted", "ruleType": "outcome_based",
                                               "config": {"outcomeType": "convert", "perOffer": True}}])  # 30 days default
    con = run(models, [cust("c1")], [ev("c1", ago(days=days_ago), offer="o2", outcome="convert")])
    if blocked:
        assert decided(con) == [("c1", "o1"), ("c1", "o3")]
        assert rejected(con) == {("c1", "o2", "email"): (
            "already converted", "Outcome-based 'already converted': customer had convert on this offer in the last 30 days")}
    else:
        assert len(decided(con)) == 3


def test_outcome_based_several_types_and_scope(tmp_path_factory):
    models = build(tmp_path_factory, "dismissed", [{"name": "dismissed", "ruleType": "outcome_based", "scope": "offer",
                                                    "scopeId": "o1", "config": {"outcomeTypes": ["dismiss", "complaint"],
                                                                                "lookbackDays": 7}}])
    # c1 dismissed o1 -> o1 blocked; c2 dismissed o3 -> the policy only counts o1's rows -> nothing blocked
    con = run(models, [cust("c1"), cust("c2")], [ev("c1", ago(days=6), offer="o1", outcome="dismiss"),
                                                 ev("c2", ago(days=6), offer="o3", outcome="dismiss")])
    assert [d for d in decided(con) if d[0] == "c1"] == [("c1", "o2"), ("c1", "o3")]
    assert len([d for d in decided(con) if d[0] == "c2"]) == 3
    assert rejected(con) == {("c1", "o1", "email"): (
        "dismissed", "Outcome-based 'dismissed': customer had dismiss / complaint in the last 7 days")}


# ---- segment_exclusion -------------------------------------------------------------------------------------

def test_segment_exclusion(tmp_path_factory):
    segments = [{"id": "dnc", "name": "Do not contact"}, {"id": "big", "name": "Big", "formula": "customer.revenue > 1000"}]
    models = build(tmp_path_factory, "segex", [{"name": "suppress", "ruleType": "segment_exclusion",
                                                "config": {"excludeSegments": ["dnc", "Big"]}}], offers(1), segments=segments)
    membership = [("c_dnc", "Do not contact"), ("c_other", "Newsletter"), ("c_dnc", "Do not contact")]
    con = run(models, [cust("c_dnc"), cust("c_other"), cust("c_big", revenue=5000), cust("c_plain")], segments=membership)
    assert decided(con) == [("c_other", "o1"), ("c_plain", "o1")]
    assert rejected(con) == {
        ("c_dnc", "o1", "email"): ("suppress", "Segment exclusion 'suppress': customer is in segment 'Do not contact'"),
        ("c_big", "o1", "email"): ("suppress", "Segment exclusion 'suppress': customer is in segment 'Big'"),
    }


# ---- mutual_exclusion ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mutex(tmp_path_factory):
    # group {a, b}; c is outside the group. priorities: b (60) > a (50) > c (40)
    offer_list = [{"id": "a", "name": "A", "priority": 50}, {"id": "b", "name": "B", "priority": 60},
                  {"id": "c", "name": "C", "priority": 40}]
    return build(tmp_path_factory, "mutex", [{"name": "a or b", "ruleType": "mutual_exclusion",
                                              "config": {"offerIds": ["A", "b"], "lookbackDays": 30}}], offer_list)


def test_mutual_exclusion_within_run_keeps_the_best_ranked(mutex):
    con = run(mutex, [cust("c1")])
    assert decided(con) == [("c1", "b"), ("c1", "c")]
    assert rejected(con) == {("c1", "a", "email"): (
        "a or b", "Mutual exclusion 'a or b': a better-ranked offer of the group is decided in this run")}


@pytest.mark.parametrize("shown,at,expected", [
    ("a", ago(days=5), [("c1", "a"), ("c1", "c")]),  # a shown -> b blocked; a itself may be shown again
    ("b", ago(days=5), [("c1", "b"), ("c1", "c")]),  # b shown -> a blocked
    ("a", ago(days=30), [("c1", "b"), ("c1", "c")]),  # exactly at the lookback: forgotten -> b wins the run
    ("a", ago(days=30, seconds=-1), [("c1", "a"), ("c1", "c")]),
    ("c", ago(days=1), [("c1", "b"), ("c1", "c")]),  # c is not in the group
])
def test_mutual_exclusion_history_blocks_the_other_offers(mutex, shown, at, expected):
    con = run(mutex, [cust("c1")], [ev("c1", at, offer=shown)])
    assert decided(con) == expected
    got = rejected(con)
    blocked = {"a": "b", "b": "a"}.get(shown) if expected[0][1] == shown else None
    if blocked:
        assert got == {("c1", blocked, "email"): (
            "a or b", "Mutual exclusion 'a or b': another offer of the group was shown in the last 30 days")}
    else:
        assert got == {("c1", "a", "email"): (
            "a or b", "Mutual exclusion 'a or b': a better-ranked offer of the group is decided in this run")}


# ---- cross_channel_cap --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cross(tmp_path_factory):
    return build(tmp_path_factory, "cross", [{"name": "xc", "ruleType": "cross_channel_cap",
                                              "config": {"channels": ["email", "sms"], "maxContacts": 2, "windowDays": 7}}],
                 offers(2), channel=["email", "sms", "push"],
                 channels=[{"id": "email", "name": "email"}, {"id": "sms", "name": "sms"},
                           {"id": "push", "name": "push", "requiresConsent": False}])  # push: no consent (S10)


def test_cross_channel_cap_quota_leaves_other_channels_alone(cross):
    # 1 email contact this week + push contacts (not counted) -> 1 left for email/sms: o1 email
    history = [ev("c1", ago(days=3)), ev("c1", ago(days=1), channel="push"), ev("c1", ago(days=1), channel="push"),
               ev("c1", ago(days=7), channel="sms")]  # exactly 7 days: outside
    con = run(cross, [cust("c1")], history)
    assert decided(con, True) == [("c1", "o1", "email"), ("c1", "o1", "push"), ("c1", "o2", "push")]
    reason = trimmed("Cross-channel cap 'xc' (email, sms in the last 7 days): 1 of 2 used")
    assert rejected(con) == {("c1", "o1", "sms"): ("xc", reason), ("c1", "o2", "email"): ("xc", reason),
                             ("c1", "o2", "sms"): ("xc", reason)}


def test_cross_channel_cap_at_cap(cross):
    con = run(cross, [cust("c1")], [ev("c1", ago(days=6, seconds=86399)), ev("c1", ago(hours=1), channel="sms")])
    assert decided(con, True) == [("c1", "o1", "push"), ("c1", "o2", "push")]
    reason = "Cross-channel cap 'xc' (email, sms in the last 7 days): 2 of 2 used"
    assert set(rejected(con).values()) == {("xc", reason)} and len(rejected(con)) == 4


def test_cross_channel_cap_channels_named_by_name(tmp_path_factory):
    """Channels configured with ids: the policy may name them by name (S2) and still applies."""
    channels = [{"id": "ch_e", "name": "Email"}, {"id": "ch_s", "name": "SMS"}, {"id": "ch_p", "name": "Push", "requiresConsent": False}]
    models = build(tmp_path_factory, "cross_ids", [{"name": "xc", "ruleType": "cross_channel_cap",
                                                    "config": {"channels": ["Email", "ch_s"], "maxContacts": 1,
                                                               "windowDays": 1}}],
                   offers(1), channel=["Email", "SMS", "Push"], channels=channels)
    con = run(models, [cust("c1"), cust("c2")], [ev("c1", ago(hours=2), channel="ch_s")])
    # c1 at cap on ch_e/ch_s -> push only; c2: 1 left -> ch_e (channel id order), ch_s trimmed
    assert decided(con, True) == [("c1", "o1", "ch_p"), ("c2", "o1", "ch_e"), ("c2", "o1", "ch_p")]
    got = rejected(con)
    assert got[("c1", "o1", "ch_e")] == ("xc", "Cross-channel cap 'xc' (ch_e, ch_s in the last 1 day): 1 of 1 used")
    assert set(got) == {("c1", "o1", "ch_e"), ("c1", "o1", "ch_s"), ("c2", "o1", "ch_s")}


# ---- budget_exhausted --------------------------------------------------------------------------------------

def budget_model(remaining_customers, left):
    """Independent model: the `left` best scores get the offer (ties: customer id)."""
    ranked = sorted(remaining_customers, key=lambda c: (-c[1], c[0]))
    return sorted(c for c, _ in ranked[:max(left, 0)])


@pytest.fixture(scope="module")
def budget(tmp_path_factory):
    offer_list = [{"id": "promo", "name": "Promo", "priority": 50,
                   "budget": {"maxImpressions": 4, "period": "monthly"}},
                  {"id": "free", "name": "Free", "priority": 10},
                  {"id": "conv", "name": "Conv", "priority": 30, "budget": {"maxConversions": 2}}]
    return build(tmp_path_factory, "budget", [{"name": "budget", "ruleType": "budget_exhausted"}], offer_list,
                 score={"method": "expression", "expression": "customer.revenue / 1000 + offer.priority / 100"})


REVENUES = {"c1": 120.0, "c2": 340.0, "c3": 90.0, "c4": 500.0, "c5": 340.0, "c6": 10.0}


@pytest.mark.parametrize("spent_this_month", [0, 1, 2, 3, 4, 5])
def test_budget_goes_to_the_best_scoring_customers(budget, spent_this_month):
    # impressions of promo this month by other people (any customer counts: the budget is the offer's);
    # last month's do not count for a monthly budget, nor clicks.
    history = [ev(f"z{i}", ago(days=i), offer="promo") for i in range(spent_this_month)]
    history += [ev("z", "2026-10-31 23:59:59", offer="promo"), ev("z", ago(days=1), offer="promo", outcome="click")]
    con = run(budget, [cust(c, revenue=r) for c, r in REVENUES.items()], history)
    left = 4 - spent_this_month
    winners = budget_model(list(REVENUES.items()), left)
    got = decided(con)
    assert sorted(c for c, o in got if o == "promo") == winners
    assert sorted(c for c, o in got if o == "free") == sorted(REVENUES)
    assert sorted(c for c, o in got if o == "conv") == sorted(REVENUES)
    rej = rejected(con)
    assert set(rej) == {(c, "promo", "email") for c in REVENUES if c not in winners}
    if left <= 0:
        assert set(rej.values()) == {("budget", "Budget exhausted 'budget': impression budget of 4 used up")}
    else:
        assert set(rej.values()) == {
            ("budget", "Budget exhausted 'budget': the offer's remaining impressions went to better-scoring customers")}


def test_budget_by_hand(budget):
    # 2 left; scores promo = rev/1000 + 0.5: c4 (1.0) > c2 = c5 (0.84, tie: c2 first) -> {c4, c2}
    con = run(budget, [cust(c, revenue=r) for c, r in REVENUES.items()], [ev("z", ago(days=1), offer="promo")] * 2)
    assert sorted(c for c, o in decided(con) if o == "promo") == ["c2", "c4"]


@pytest.mark.parametrize("converts,blocked", [(1, False), (2, True)])
def test_budget_max_conversions(budget, converts, blocked):
    history = [ev(f"z{i}", ago(days=100 + i), offer="conv", outcome="convert") for i in range(converts)]  # period total
    history += [ev("z", ago(days=1), offer="conv")] * 9  # impressions do not matter without maxImpressions
    con = run(budget, [cust("c1"), cust("c2")], history)
    has = sorted(c for c, o in decided(con) if o == "conv")
    assert has == ([] if blocked else ["c1", "c2"])
    if blocked:
        assert set(rejected(con).values()) == {("budget", "Budget exhausted 'budget': conversion budget of 2 used up")}


@pytest.mark.parametrize("period,history_times,spent", [
    ("daily", ["2026-11-20 00:00:00", "2026-11-19 23:59:59"], 1),
    ("weekly", ["2026-11-16 00:00:00", "2026-11-15 23:59:59", "2026-11-20 15:00:00"], 2),
    ("total", ["2025-01-01 00:00:00", "2026-11-20 15:00:01"], 1),
])
def test_budget_periods(tmp_path_factory, period, history_times, spent):
    offer_list = [{"id": "p", "name": "P", "budget": {"maxImpressions": 3, "period": period}}]
    models = build(tmp_path_factory, f"b_{period}", [{"name": "b", "ruleType": "budget_exhausted"}], offer_list,
                   score={"method": "expression", "expression": "customer.revenue"})
    con = run(models, [cust(f"c{i}", revenue=i) for i in range(1, 6)], [ev("z", t, offer="p") for t in history_times])
    left = 3 - spent
    assert decided(con) == [(f"c{i}", "p") for i in range(6 - left, 6)]  # the best `left` revenues: c5, c4, ...


def test_budget_counts_each_channel_contact(tmp_path_factory):
    offer_list = [{"id": "p", "name": "P", "budget": {"maxImpressions": 3, "period": "total"}}]
    models = build(tmp_path_factory, "b_ch", [{"name": "b", "ruleType": "budget_exhausted"}], offer_list,
                   channel=["email", "sms"], score={"method": "expression", "expression": "customer.revenue"})
    con = run(models, [cust("c1", revenue=1), cust("c2", revenue=2)])
    # c2 email, c2 sms, c1 email (score desc, then customer, then channel)
    assert decided(con, True) == [("c1", "p", "email"), ("c2", "p", "email"), ("c2", "p", "sms")]


# ---- allow_override, bypassable, mandatory ---------------------------------------------------------------

@pytest.fixture(scope="module")
def override(tmp_path_factory):
    offer_list = offers(3, o3={"mandatory": True})
    return build(tmp_path_factory, "override", [
        {"name": "daily cap", "ruleType": "customer_total_cap", "bypassable": True,
         "config": {"maxTotal": 2, "periodType": "daily"}},
        {"name": "quiet", "ruleType": "time_window", "config": {"startHour": 8, "endHour": 21}},  # not bypassable
        {"name": "vip pass", "ruleType": "allow_override", "scope": "segment", "scopeId": "vip"},
    ], offer_list, segments=[{"id": "vip", "name": "vip", "formula": "customer.revenue >= 1000"}])


def test_override_skips_bypassable_policies(override):
    history = [ev(c, ago(hours=h)) for c in ("vip", "reg") for h in (1, 2)]  # both at the daily cap
    con = run(override, [cust("vip", revenue=1000), cust("reg")], history)
    # vip: everything bypasses the cap; reg: o3 is mandatory and bypasses it, o1 and o2 are blocked
    assert decided(con) == [("reg", "o3"), ("vip", "o1"), ("vip", "o2"), ("vip", "o3")]
    reason = "Customer total cap 'daily cap': 2 of 2 contacts used today"
    assert rejected(con) == {("reg", "o1", "email"): ("daily cap", reason), ("reg", "o2", "email"): ("daily cap", reason)}


def test_bypassed_candidates_do_not_use_the_quota(override):
    # reg: 1 of 2 used, 1 left; o3 (mandatory) bypasses and does not take it -> o1 keeps the slot
    con = run(override, [cust("reg")], [ev("reg", ago(hours=1))])
    assert decided(con) == [("reg", "o1"), ("reg", "o3")]
    assert rejected(con) == {("reg", "o2", "email"): (
        "daily cap", trimmed("Customer total cap 'daily cap': 1 of 2 contacts used today"))}


def test_override_does_not_skip_non_bypassable(override):
    con = run(override, [cust("vip", revenue=5000)], as_of="2026-11-20 22:00:00")
    assert decided(con) == []
    assert set(rejected(con).values()) == {("quiet", "Time window: current hour 22 outside allowed range 8-21")}


def test_without_bypassable_override_changes_nothing(tmp_path_factory):
    models = build(tmp_path_factory, "no_bypass", [
        {"name": "daily cap", "ruleType": "customer_total_cap", "config": {"maxTotal": 1, "periodType": "daily"}},
        {"name": "all pass", "ruleType": "allow_override"}], offers(2, o2={"mandatory": True}))
    con = run(models, [cust("c1")], [ev("c1", ago(hours=1))])
    assert decided(con) == []
    assert len(rejected(con)) == 2


def test_override_scoped_to_an_offer(tmp_path_factory):
    models = build(tmp_path_factory, "ov_offer", [
        {"name": "cool", "ruleType": "cooldown", "bypassable": True, "config": {"cooldownHours": 24}},
        {"name": "o2 pass", "ruleType": "allow_override", "scope": "offer", "scopeId": "o2"}])
    con = run(models, [cust("c1")], [ev("c1", ago(hours=1))])
    assert decided(con) == [("c1", "o2")]
    assert set(rejected(con)) == {("c1", "o1", "email"), ("c1", "o3", "email")}


# ---- several policies: the first by priority is the recorded reason --------------------------------------

@pytest.mark.parametrize("priorities,expected", [
    ({"fc": 5, "cool": 1, "seg": 3, "adv": 0}, "fc"),
    ({"fc": 0, "cool": 1, "seg": 3, "adv": 0}, "seg"),
    ({"fc": 0, "cool": 9, "seg": 3, "adv": 0}, "cool"),
    ({"fc": 0, "cool": 0, "seg": 0, "adv": 0}, "adv"),  # equal priorities: by name
    ({"fc": -1, "cool": -1, "seg": -1, "adv": -2}, "cool"),
])
def test_first_blocking_policy_by_priority_is_the_reason(tmp_path_factory, priorities, expected):
    policies = [
        {"name": "fc", "ruleType": "frequency_cap", "priority": priorities["fc"], "config": {"maxPerDay": 1}},
        {"name": "cool", "ruleType": "cooldown", "priority": priorities["cool"], "config": {"cooldownHours": 4}},
        {"name": "seg", "ruleType": "segment_exclusion", "priority": priorities["seg"],
         "config": {"excludeSegments": ["all"]}},
        {"name": "adv", "ruleType": "outcome_based", "priority": priorities["adv"], "config": {"preset": "adverse_outcomes"}},
    ]
    models = build(tmp_path_factory, "order", policies, offers(2),
                   segments=[{"id": "all", "name": "all", "formula": "customer.revenue > 0"}])
    con = run(models, [cust("c1")], [ev("c1", ago(hours=1)), ev("c1", ago(hours=1), outcome="complaint")])
    assert decided(con) == []
    got = rejected(con)
    assert {name for name, _ in got.values()} == {expected} and len(got) == 2
    assert all(f"'{expected}'" in reason for _, reason in got.values())  # the reason names the policy


# ---- several within-run caps together ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def stacked(tmp_path_factory):
    return build(tmp_path_factory, "stacked", [
        {"name": "weekly", "ruleType": "customer_total_cap", "priority": 3, "config": {"maxTotal": 3, "periodType": "weekly"}},
        {"name": "email daily", "ruleType": "frequency_cap", "priority": 2, "scope": "channel", "scopeId": "email",
         "config": {"maxPerDay": 1}},
        {"name": "offer weekly", "ruleType": "frequency_cap", "priority": 1,
         "config": {"maxContacts": 1, "windowDays": 7, "perOffer": True}}],
        offers(2), channel=["email", "sms"], top_n=2, flow_config={})


def greedy(candidates, caps):
    """Independent model of the ideal allocation: walk candidates best first, keep one when every cap has room."""
    kept, used = [], Counter()
    for cand in candidates:
        hits = [(name, key(cand), limit) for name, key, applies, limit in caps if applies(cand)]
        if all(used[(name, key)] < limit for name, key, limit in hits):
            kept.append(cand)
            used.update((name, key) for name, key, _ in hits)
    return kept


def test_stacked_caps_never_exceed_what_is_left(stacked):
    con = run(stacked, [cust("c1")], [ev("c1", ago(days=2), offer="o9", channel="sms")])  # 1 of 3 used this week
    got = decided(con, True)
    assert len(got) <= 2  # weekly: 2 left
    assert sum(1 for _, _, ch in got if ch == "email") <= 1
    assert all(n <= 1 for n in Counter(o for _, o, _ in got).values())
    assert got[0] == ("c1", "o1", "email")  # the best candidate always gets through


def test_stacked_caps_fill_what_is_left(stacked):
    con = run(stacked, [cust("c1")], [ev("c1", ago(days=2), offer="o9", channel="sms")])
    order = [("c1", o, ch) for o in ("o1", "o2") for ch in ("email", "sms")]  # rank: o1 before o2, email before sms
    caps = [("weekly", lambda c: c[0], lambda c: True, 2), ("email daily", lambda c: c[0], lambda c: c[2] == "email", 1),
            ("offer weekly", lambda c: (c[0], c[1]), lambda c: True, 1)]
    ideal = greedy(order, caps)
    assert ideal == [("c1", "o1", "email"), ("c1", "o2", "sms")]
    assert decided(con, True) == sorted(ideal)
