"""Contact policies (S5): time windows (boundaries, wrap, days, DST, per-customer zones) and
customer total caps (calendar periods, what counts, within-run trimming), and policy order.

Expected values are computed by hand or with zoneinfo/datetime, never copied from the output.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from harness import compile_sql, customers_table, flow, history_table, rows, run_models, schema, standard_nodes, write_config

AS_OF = "2026-11-20 15:00:00"  # a Friday


def cust(cid, days=100, purchases=5, revenue=80.0, category="apparel", tz="UTC", email=True, sms=True):
    return (cid, days, purchases, revenue, category, tz, email, sms)


def compiled(tmp_path_factory, name, config):
    base = {"schemas": [schema()], "interactionHistory": {"relation": "history"}}
    base.update(config)
    return compile_sql(write_config(tmp_path_factory.mktemp(name) / "decisioning", base))


def run(models, customers, history=(), as_of=AS_OF, **kw):
    tables = {"customers": customers_table(list(customers)), "history": history_table(list(history))}
    return run_models(models, tables, as_of=as_of, **kw)


def offers(n=1, priority=50):
    return [{"id": f"o{i}", "name": f"O{i}", "priority": priority - i} for i in range(1, n + 1)]


def priority_flow(top_n=5, channel="email", **flow_config):
    return flow(standard_nodes(top_n=top_n, score={"method": "priority"}), channel=channel, **flow_config)


def decided(con):
    return sorted((r["customer_id"], r["offer_id"]) for r in rows(con, "select customer_id, offer_id from kaireon_decisions"))


def rejections(con):
    return rows(con, "select customer_id, offer_id, stage, rule_name, reason from kaireon_rejections order by 1, 2")


def local_hour(as_of: str, zone: str) -> tuple[int, str]:
    t = dt.datetime.fromisoformat(as_of).replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
    return t.hour, t.strftime("%a")


def allowed(hour, start, end):
    return start <= hour < end if start < end else (hour >= start or hour < end)


# ---- time_window ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def day_window(tmp_path_factory):
    config = {"offers": offers(), "contactPolicies": [
        {"name": "Quiet hours", "ruleType": "time_window", "config": {"startHour": 8, "endHour": 21, "timezone": "UTC"}}],
        "decisionFlows": [priority_flow()]}
    return compiled(tmp_path_factory, "tw", config)


@pytest.mark.parametrize("as_of,ok", [
    ("2026-11-20 07:59:59", False), ("2026-11-20 08:00:00", True), ("2026-11-20 12:30:00", True),
    ("2026-11-20 20:59:59", True), ("2026-11-20 21:00:00", False), ("2026-11-20 02:00:00", False),
])
def test_time_window_boundaries(day_window, as_of, ok):
    con = run(day_window, [cust("c1")], as_of=as_of)
    hour = int(as_of[11:13])
    assert allowed(hour, 8, 21) == ok
    if ok:
        assert decided(con) == [("c1", "o1")] and rejections(con) == []
    else:
        assert decided(con) == []
        assert rejections(con) == [{"customer_id": "c1", "offer_id": "o1", "stage": "contact_policy",
                                    "rule_name": "Quiet hours",
                                    "reason": f"Time window: current hour {hour} outside allowed range 8-21"}]


def test_time_window_reason_in_zone_kaireon_text(tmp_path_factory):
    config = {"offers": offers(), "contactPolicies": [
        {"name": "Quiet hours 21:00-08:00", "ruleType": "time_window", "scope": "global",
         "config": {"startHour": 8, "endHour": 21, "timezone": "America/New_York"}}],
        "decisionFlows": [priority_flow()]}
    con = run(compiled(tmp_path_factory, "tw_ny", config), [cust("c1")], as_of="2026-11-20 07:00:00")
    assert local_hour("2026-11-20 07:00:00", "America/New_York")[0] == 2
    assert [r["reason"] for r in rejections(con)] == ["Time window: current hour 2 outside allowed range 8-21"]


@pytest.fixture(scope="module")
def night_window(tmp_path_factory):
    config = {"offers": offers(), "contactPolicies": [
        {"name": "Night", "ruleType": "time_window", "config": {"startHour": 22, "endHour": 6}}],
        "decisionFlows": [priority_flow()]}
    return compiled(tmp_path_factory, "night", config)


@pytest.mark.parametrize("hour", [21, 22, 23, 0, 3, 5, 6, 12])
def test_time_window_wraps_past_midnight(night_window, hour):
    con = run(night_window, [cust("c1")], as_of=f"2026-11-20 {hour:02d}:00:00")
    expected = hour in (22, 23, 0, 1, 2, 3, 4, 5)
    assert allowed(hour, 22, 6) == expected
    assert (decided(con) == [("c1", "o1")]) == expected
    if not expected:
        assert rejections(con)[0]["reason"] == f"Time window: current hour {hour} outside allowed range 22-6"


@pytest.fixture(scope="module")
def weekdays(tmp_path_factory):
    config = {"offers": offers(), "contactPolicies": [
        {"name": "Weekdays", "ruleType": "time_window",
         "config": {"startHour": 8, "endHour": 23, "timezone": "America/New_York",
                    "daysOfWeek": ["Mon", "Tue", "Wed", "Thu", "Fri"]}}],
        "decisionFlows": [priority_flow()]}
    return compiled(tmp_path_factory, "weekdays", config)


@pytest.mark.parametrize("as_of", [
    "2026-11-20 15:00:00",  # Fri 10:00 NY
    "2026-11-21 03:00:00",  # Sat UTC, but Fri 22:00 in New York
    "2026-11-21 15:00:00",  # Sat 10:00 NY
    "2026-11-23 03:00:00",  # Mon UTC, Sun 22:00 NY
    "2026-11-23 14:00:00",  # Mon 09:00 NY
    "2026-11-20 12:00:00",  # Fri 07:00 NY: hour fails
])
def test_time_window_days_of_week_in_local_time(weekdays, as_of):
    hour, day = local_hour(as_of, "America/New_York")
    ok = allowed(hour, 8, 23) and day in ("Mon", "Tue", "Wed", "Thu", "Fri")
    con = run(weekdays, [cust("c1")], as_of=as_of)
    assert (decided(con) == [("c1", "o1")]) == ok
    if not ok:
        reason = rejections(con)[0]["reason"]
        if not allowed(hour, 8, 23):
            assert reason == f"Time window: current hour {hour} outside allowed range 8-23"
        else:
            assert day in reason and "not an allowed day" in reason


def test_time_window_dst(tmp_path_factory):
    config = {"offers": offers(), "contactPolicies": [
        {"name": "Quiet", "ruleType": "time_window",
         "config": {"startHour": 8, "endHour": 21, "timezone": "America/New_York"}}],
        "decisionFlows": [priority_flow()]}
    models = compiled(tmp_path_factory, "dst", config)
    before, after = "2026-10-31 12:00:00", "2026-11-02 12:00:00"  # same UTC hour, DST ends 2026-11-01
    assert local_hour(before, "America/New_York")[0] == 8 and local_hour(after, "America/New_York")[0] == 7
    assert decided(run(models, [cust("c1")], as_of=before)) == [("c1", "o1")]
    con = run(models, [cust("c1")], as_of=after)
    assert decided(con) == []
    assert rejections(con)[0]["reason"] == "Time window: current hour 7 outside allowed range 8-21"


def test_time_window_customer_zone(tmp_path_factory):
    config = {"offers": offers(), "contactPolicies": [
        {"name": "Local hours", "ruleType": "time_window",
         "config": {"startHour": 8, "endHour": 21, "timezone": "customer.tz"}}],
        "decisionFlows": [priority_flow()]}
    zones = {"utc": "UTC", "tokyo": "Asia/Tokyo", "la": "America/Los_Angeles", "ny": "America/New_York",
             "kolkata": "Asia/Kolkata"}
    con = run(compiled(tmp_path_factory, "tz", config), [cust(c, tz=z) for c, z in zones.items()])
    expected_ok = sorted((c, "o1") for c, z in zones.items() if allowed(local_hour(AS_OF, z)[0], 8, 21))
    assert decided(con) == expected_ok
    assert expected_ok == [("kolkata", "o1"), ("ny", "o1"), ("utc", "o1")]  # by hand: 20:30, 10:00, 15:00
    got = {r["customer_id"]: r["reason"] for r in rejections(con)}
    assert got == {
        "la": "Time window: current hour 7 outside allowed range 8-21",
        "tokyo": "Time window: current hour 0 outside allowed range 8-21",
    }


def test_time_window_customer_zone_null_is_blocked_with_a_reason(tmp_path_factory):
    """A NULL zone cannot prove the hour is allowed: blocked (S5 missing data fails), reason not NULL."""
    config = {"offers": offers(), "contactPolicies": [
        {"name": "Local hours", "ruleType": "time_window",
         "config": {"startHour": 8, "endHour": 21, "timezone": "customer.tz"}}],
        "decisionFlows": [priority_flow()]}
    con = run(compiled(tmp_path_factory, "tznull", config), [cust("n1", tz=None)])
    assert decided(con) == []
    rej = rejections(con)
    assert len(rej) == 1 and rej[0]["rule_name"] == "Local hours"
    assert rej[0]["reason"] is not None and rej[0]["reason"].startswith("Time window:")


# ---- customer_total_cap ---------------------------------------------------------------------------

def imp(cid, at, outcome="impression", channel="email", offer="x"):
    return (cid, offer, channel, outcome, at, None, None, None)


@pytest.fixture(scope="module")
def monthly_cap(tmp_path_factory):
    config = {"offers": offers(3), "contactPolicies": [
        {"name": "3-touch monthly", "ruleType": "customer_total_cap", "config": {"maxTotal": 3, "periodType": "monthly"}}],
        "decisionFlows": [priority_flow(channel=["email", "sms"], allowSameOfferOnSeveralChannels=True)]}
    models = compiled(tmp_path_factory, "monthly", config)
    history = [
        # at_cap: 3 impressions this month (one on sms: every channel counts)
        imp("at_cap", "2026-11-01 00:00:00"), imp("at_cap", "2026-11-10 00:00:00"),
        imp("at_cap", "2026-11-20 15:00:00", channel="sms"),
        # one_left: 2 this month; last day of October and after as_of do not count; clicks do not count
        imp("one_left", "2026-11-05 00:00:00"), imp("one_left", "2026-11-19 23:00:00"),
        imp("one_left", "2026-10-31 23:59:59"), imp("one_left", "2026-11-20 15:00:01"),
        imp("one_left", "2026-11-25 00:00:00"), imp("one_left", "2026-11-06 00:00:00", outcome="click"),
        imp("one_left", "2026-11-07 00:00:00", outcome="convert"),
        # two_left: 1 this month
        imp("two_left", "2026-11-02 00:00:00"),
    ]
    customers = [cust("at_cap"), cust("one_left"), cust("two_left"), cust("fresh")]
    return run(models, customers, history)


def _candidates_by_rank():
    # priority scores: o1 (49) > o2 (48) > o3 (47); channel email before sms on equal score
    return [(o, ch) for o in ("o1", "o2", "o3") for ch in ("email", "sms")]


def test_total_cap_blocks_at_cap_and_trims_within_run(monthly_cap):
    got = rows(monthly_cap, "select customer_id, offer_id, channel, rank from kaireon_decisions order by 1, 4")
    by = {}
    for r in got:
        by.setdefault(r["customer_id"], []).append((r["offer_id"], r["channel"]))
    order = _candidates_by_rank()
    left = {"at_cap": 0, "one_left": 1, "two_left": 2, "fresh": 3}
    top_n = 5
    for cid, n in left.items():
        assert by.get(cid, []) == order[:min(n, top_n)], cid
    assert sorted(r["rank"] for r in got if r["customer_id"] == "one_left") == [1]


def test_total_cap_rejections(monthly_cap):
    rej = rows(monthly_cap, "select customer_id, offer_id, channel, stage, rule_name, reason from kaireon_rejections")
    per = {}
    for r in rej:
        assert (r["stage"], r["rule_name"]) == ("contact_policy", "3-touch monthly")
        per.setdefault(r["customer_id"], []).append(r)
    # at_cap: all 6 candidates blocked; one_left: 5 trimmed; two_left: 4; fresh: 3 trimmed
    assert {c: len(v) for c, v in per.items()} == {"at_cap": 6, "one_left": 5, "two_left": 4, "fresh": 3}
    assert {r["reason"] for r in per["at_cap"]} == {"Customer total cap '3-touch monthly': 3 of 3 contacts used this month"}
    assert all(r["reason"].startswith("Customer total cap '3-touch monthly': 2 of 3 contacts used this month")
               for r in per["one_left"])
    assert len({(r["offer_id"], r["channel"]) for r in rej if r["customer_id"] == "one_left"}) == 5


def test_total_cap_trims_to_one_best_ranked(tmp_path_factory):
    """1 contact left and 3 eligible offers -> exactly 1 decision, the best; 2 rejections of the cap."""
    config = {"offers": [{"id": "a", "name": "A", "priority": 10, "businessValue": 90},
                         {"id": "b", "name": "B", "priority": 90, "businessValue": 10},
                         {"id": "c", "name": "C", "priority": 50, "businessValue": 50}],
              "contactPolicies": [{"name": "cap", "ruleType": "customer_total_cap",
                                   "config": {"maxTotal": 2, "periodType": "weekly"}}],
              "decisionFlows": [flow(standard_nodes(top_n=3, score={"method": "formula", "formula": {"impactWeight": 1}}))]}
    history = [imp("c1", "2026-11-16 00:00:00")]  # Monday of the ISO week
    con = run(compiled(tmp_path_factory, "trim", config), [cust("c1")], history)
    assert decided(con) == [("c1", "a")]  # best by businessValue
    rej = rejections(con)
    assert [(r["offer_id"], r["rule_name"], r["stage"]) for r in rej] == [("b", "cap", "contact_policy"),
                                                                          ("c", "cap", "contact_policy")]


@pytest.mark.parametrize("period,history,used", [
    # ISO week of Fri 2026-11-20 starts Mon 2026-11-16 00:00 UTC
    ("weekly", ["2026-11-16 00:00:00", "2026-11-15 23:59:59", "2026-11-20 14:00:00"], 2),
    ("weekly", ["2026-11-15 12:00:00", "2026-11-09 00:00:00"], 0),
    ("daily", ["2026-11-20 00:00:00", "2026-11-19 23:59:59", "2026-11-20 15:00:00", "2026-11-20 15:00:01"], 2),
    ("monthly", ["2026-11-01 00:00:00", "2026-10-31 23:59:59", "2026-10-01 00:00:00"], 1),
])
def test_total_cap_calendar_periods(tmp_path_factory, period, history, used):
    config = {"offers": offers(4), "contactPolicies": [
        {"name": "cap", "ruleType": "customer_total_cap", "config": {"maxTotal": 3, "periodType": period}}],
        "decisionFlows": [priority_flow()]}
    con = run(compiled(tmp_path_factory, period, config), [cust("c1")], [imp("c1", t) for t in history])
    assert len(decided(con)) == 3 - used
    rej = rejections(con)
    assert len(rej) == 4 - (3 - used)
    words = {"daily": "today", "weekly": "this ISO week", "monthly": "this month"}[period]
    assert all(r["reason"].startswith(f"Customer total cap 'cap': {used} of 3 contacts used {words}") for r in rej)


# ---- policy order --------------------------------------------------------------------------------

@pytest.mark.parametrize("priorities,expected", [
    ({"quiet": 0, "cap": 0}, "cap"),  # same priority: by name
    ({"quiet": 5, "cap": 0}, "quiet"),
    ({"quiet": 0, "cap": 1}, "cap"),
    ({"quiet": -1, "cap": -2}, "quiet"),
])
def test_policy_order_decides_recorded_reason(tmp_path_factory, priorities, expected):
    config = {"offers": offers(2), "contactPolicies": [
        {"name": "quiet", "ruleType": "time_window", "priority": priorities["quiet"],
         "config": {"startHour": 8, "endHour": 9}},
        {"name": "cap", "ruleType": "customer_total_cap", "priority": priorities["cap"],
         "config": {"maxTotal": 1, "periodType": "daily"}}],
        "decisionFlows": [priority_flow()]}
    con = run(compiled(tmp_path_factory, "order", config), [cust("c1")], [imp("c1", "2026-11-20 01:00:00")])
    rej = rejections(con)
    assert [(r["offer_id"], r["rule_name"]) for r in rej] == [("o1", expected), ("o2", expected)]


# ---- engine SQL for the ISO calendar (rendered only: the harness runs DuckDB) ----------------------

def test_iso_day_and_week_sql_per_engine(tmp_path):
    from kaireon_sql.dialect import engine

    config = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, "offers": offers(),
              "contactPolicies": [
                  {"name": "Weekdays", "ruleType": "time_window",
                   "config": {"startHour": 8, "endHour": 21, "daysOfWeek": ["Mon", "Fri"]}},
                  {"name": "weekly", "ruleType": "customer_total_cap", "config": {"maxTotal": 2, "periodType": "weekly"}}],
              "decisionFlows": [priority_flow()]}
    folder = write_config(tmp_path / "decisioning", config)
    pg = compile_sql(folder, engine("postgres"))
    pg_sql = pg["kaireon_f__candidates"] + pg["kaireon_f__customers"]
    assert "DAYOFWEEK_ISO" not in pg_sql and "EXTRACT(ISODOW FROM" in pg_sql  # Postgres has no DAYOFWEEK_ISO()
    spark_models = compile_sql(folder, engine("spark"))
    spark = "".join((spark_models["kaireon_f__candidates"] + spark_models["kaireon_f__customers"]).split())
    # Spark's DAYOFWEEK is 1 = Sunday .. 7 = Saturday; ISO needs ((d + 5) % 7) + 1
    assert "(((DAYOFWEEK(FROM_UTC_TIMESTAMP(`as_of`,'UTC'))+5)%7)+1)IN(1,5)" in spark
    assert [((d + 5) % 7) + 1 for d in range(1, 8)] == [7, 1, 2, 3, 4, 5, 6]
    bq = compile_sql(folder, engine("bigquery"))["kaireon_f__customers"]
    assert "ISOWEEK" in bq  # BigQuery's WEEK starts on Sunday
