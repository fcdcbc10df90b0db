"""Send time (S9, issue 14 item 4): hour profiles in the customer's zone smoothed toward the channel's
population profile, and send_at / send_hour_local of decisions with `flowConfig.sendTime: optimize`, where
time_window policies schedule instead of block.

Expected values come from an independent Python computation over the same rows (zoneinfo, exact fractions,
minute-by-minute search of local hour starts), never from the output. One scenario runs on DuckDB, PostgreSQL
and Spark (one build each, rows compared with the reference); the fall-back scenario on DuckDB and PostgreSQL.
"""
from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from backends import ENGINE_NAMES, open_backend, run_models_on
from cross_engine import S4_TABLES, diff, table_rows
from harness import compile_sql, customers_table, flow, history_table, schema, standard_nodes, write_config
from kaireon_sql.dialect import engine
from kaireon_sql.timezones import ZONES
from test_config_errors import F, FLOW, _errors, _write, mutate
from test_flow_policies import cust

PROFILES, TIMES = "kaireon_f__send_time_profiles", "kaireon_f__send_times"
M = 2.5  # priorStrength
POSITIVE = ("click", "convert")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri")
# (name, start, end, zone: a zone or customer.tz, days, offers it applies to)
WINDOWS = [("Quiet hours", 8, 21, "customer.tz", None, {"o1"}),
           ("NY office days", 6, 23, "America/New_York", WEEKDAYS, {"o1"})]


def _config(tmp_path, send_time: bool = True, grouped: bool = False) -> dict:
    policies = [{"name": name, "ruleType": "time_window", "scope": "offer", "scopeId": offer,
                 "config": {"startHour": s, "endHour": e, "timezone": z, **({"daysOfWeek": list(d)} if d else {})}}
                for name, s, e, z, d, offers in WINDOWS for offer in sorted(offers)]
    fc = {"sendTime": "optimize", "timezone": "customer.tz",
          "sendTimePreference": {"priorStrength": M, "positiveOutcomes": list(POSITIVE)}} if send_time else {}
    return write_config(tmp_path / "decisioning", {
        "schemas": [schema()], "interactionHistory": {"relation": "history"},
        "offers": [{"id": "o1", "name": "O1", "priority": 60}, {"id": "o2", "name": "O2", "priority": 50}],
        "contactPolicies": policies,
        "decisionFlows": [flow(standard_nodes(top_n=2, score={"method": "priority"}) + (
            [{"id": "out", "type": "response", "config": {"responseFormat": "grouped"}}] if grouped else []), **fc)]})


def _h(cid, outcome, at, channel="email"):
    return (cid, "o1", channel, outcome, dt.datetime.fromisoformat(at), None, None, None)


def _local_utc(zone: str, local: str) -> str:
    """The UTC time (ISO text) of a local wall-clock time in `zone`."""
    t = dt.datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone))
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ")


# Scenario A: as_of Saturday 2026-03-07 15:00 UTC, the day before New York springs forward (Mar 8, 02:00 -> 03:00)
AS_OF_A = "2026-03-07 15:00:00"
CUSTOMERS_A = {
    "ny_dst": "America/New_York",  # clicks at 02:xx local: 02:00 does not exist on Mar 8
    "kolkata": "Asia/Kolkata",  # UTC+05:30: local hour starts are :30 UTC
    "tie": "UTC",  # one click at 09 and one at 14 (the population's 09 and 14 tie too): the earliest, 09
    "nohist": "Europe/Berlin",  # no history: the population's profile, whose 15 and 23 tie (3 each): 15
    "quiet": "UTC",  # prefers 23, inside quiet hours for o1
    "late": "UTC",  # a click after as_of and impressions do not count; one convert at 20
    "mars": "Mars/Olympus",  # unknown zone: o1 (customer-zoned window) rejected, o2 scheduled in UTC
}
HISTORY_A = [
    _h("ny_dst", "click", _local_utc("America/New_York", "2026-02-10 02:15")),
    _h("ny_dst", "convert", _local_utc("America/New_York", "2026-02-11 02:40")),
    _h("ny_dst", "click", _local_utc("America/New_York", "2026-02-12 17:05"), channel="sms"),  # another channel
    *[_h("kolkata", "click", _local_utc("Asia/Kolkata", f"2026-02-1{d} 15:10")) for d in range(3)],
    _h("kolkata", "impression", _local_utc("Asia/Kolkata", "2026-02-15 03:00")),
    _h("tie", "click", "2026-02-01 09:30:00"), _h("tie", "click", "2026-02-02 14:30:00"),
    _h("tie", "dismiss", "2026-02-03 18:30:00"),
    *[_h("quiet", "click", f"2026-02-0{d} 23:05:00") for d in range(1, 4)],
    _h("late", "click", "2026-03-07 16:00:00"), _h("late", "impression", "2026-03-01 05:00:00"),
    _h("late", "convert", "2026-03-01 20:59:59"),
    _h("mars", "click", "2026-02-01 10:00:00"),
]

# Scenario B: as_of Saturday 2026-10-31 15:00 UTC, the day before New York falls back (Nov 1, 02:00 -> 01:00)
AS_OF_B = "2026-10-31 15:00:00"
CUSTOMERS_B = {"ny_fall": "America/New_York", "berlin": "Europe/Berlin", "kathmandu": "Asia/Kathmandu"}  # +05:45
HISTORY_B = [_h("ny_fall", "click", _local_utc("America/New_York", f"2026-10-1{d} 01:20")) for d in range(3)] + [
    _h("berlin", "click", _local_utc("Europe/Berlin", "2026-10-01 06:10")),
    *[_h("kathmandu", "click", _local_utc("Asia/Kathmandu", f"2026-10-0{d} 10:05")) for d in (1, 2)]]


# ---- the independent reference ----------------------------------------------------------------------------

def _zone(name: str | None) -> ZoneInfo | None:
    return ZoneInfo(name) if name in ZONES else None


def _local(t: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return t.replace(tzinfo=dt.timezone.utc).astimezone(zone)


def _profiles(customers: dict[str, str], history: list[tuple], as_of: dt.datetime, channels=("email",), m: float = M,
              positive: tuple[str, ...] = POSITIVE) -> dict:
    """(customer, channel) -> (preferred hour, positive outcomes, those at the preferred hour), or None."""
    counts: dict[tuple[str, str], dict[int, int]] = {}
    for cid, _offer, channel, outcome, at, *_ in history:
        zone = _zone(customers.get(cid))
        if zone is None or outcome not in positive or at > as_of or channel not in channels:
            continue
        hours = counts.setdefault((cid, channel), {})
        hour = _local(at, zone).hour
        hours[hour] = hours.get(hour, 0) + 1
    out = {}
    for channel in channels:
        pop = {h: sum(v.get(h, 0) for (c, ch), v in counts.items() if ch == channel) for h in range(24)}
        pop_total = sum(pop.values())
        for cid, zone in customers.items():
            own = counts.get((cid, channel), {})
            total = sum(own.values())
            if _zone(zone) is None or pop_total == 0:
                out[(cid, channel)] = None
                continue
            score = {h: (own.get(h, 0) + Fraction(m) * Fraction(pop[h], pop_total)) / (total + Fraction(m)) for h in range(24)}
            best = max(score.values())
            out[(cid, channel)] = (min(h for h in range(24) if score[h] == best), total, own.get(min(
                h for h in range(24) if score[h] == best), 0))
    return out


def _allows(window, t: dt.datetime, customer_zone: ZoneInfo | None) -> bool:
    _name, start, end, zone, days, _offers = window
    local = _local(t, customer_zone if zone == "customer.tz" else ZoneInfo(zone))
    ok = start <= local.hour < end if start < end else (local.hour >= start or local.hour < end)
    return ok and (days is None or local.strftime("%a") in days)


def _send_at(as_of: dt.datetime, zone: ZoneInfo | None, preferred: int | None, offer: str, all_windows=tuple(WINDOWS)):
    """The first local hour start (minute by minute) at or after as_of within 7 days at the preferred hour that
    every window applying to the offer allows, else the first allowed hour start (UTC starts when no zone)."""
    windows = [w for w in all_windows if offer in w[5]]
    starts = []
    t = as_of.replace(second=0, microsecond=0) + (dt.timedelta(minutes=1) if as_of.second else dt.timedelta())
    while t < as_of + dt.timedelta(days=7):
        local = _local(t, zone or dt.timezone.utc)
        if local.minute == 0 and all(_allows(w, t, zone) for w in windows):
            starts.append((t, local.hour))
        t += dt.timedelta(minutes=1)
    chosen = next((s for s, h in starts if h == preferred), starts[0][0] if starts else None)
    return chosen, (None if zone is None or chosen is None else _local(chosen, zone).hour)


def _expected(customers: dict[str, str], history: list[tuple], as_of_text: str) -> tuple[dict, dict]:
    """(profiles: customer -> (preferred_hour, positive_outcomes, preferred_count) or None,
    decisions: (customer, offer) -> (send_at, send_hour_local)) for the email channel."""
    as_of = dt.datetime.fromisoformat(as_of_text)
    profiles = {c: p for (c, _), p in _profiles(customers, history, as_of).items()}
    decisions = {}
    for cid, zone_name in customers.items():
        zone = _zone(zone_name)
        for offer in ("o1", "o2"):
            if zone is None and any(offer in w[5] and w[3] == "customer.tz" for w in WINDOWS):
                continue  # rejected: "Time window: time zone unknown"
            preferred = profiles[cid][0] if profiles[cid] else None
            decisions[(cid, offer)] = _send_at(as_of, zone, preferred, offer)
    return profiles, decisions


# ---- running it ---------------------------------------------------------------------------------------------

def _tables(customers: dict[str, str], history: list[tuple]):
    return {"customers": customers_table([cust(c, tz=z) for c, z in customers.items()]),
            "history": history_table(history)}


def _run(name: str, config_dir, customers, history, as_of) -> dict[str, list[dict]]:
    backend = open_backend(name)
    try:
        run_models_on(backend, compile_sql(config_dir, engine(name)), _tables(customers, history), as_of=as_of)
        return {t: table_rows(backend, t) for t in (*S4_TABLES, PROFILES, TIMES)}
    finally:
        backend.close()


def _check(tables: dict[str, list[dict]], customers, history, as_of_text) -> None:
    profiles, decisions = _expected(customers, history, as_of_text)
    got_profiles = {r["customer_id"]: r for r in tables[PROFILES]}
    assert set(got_profiles) == set(customers)
    for cid, expected in profiles.items():
        row = got_profiles[cid]
        got = None if row["preferred_hour"] is None else (row["preferred_hour"], row["positive_outcomes"],
                                                          row["preferred_count"])
        assert got == expected, (cid, row)
    got = {(r["customer_id"], r["offer_id"]): (r["send_at"], r["send_hour_local"]) for r in tables["kaireon_decisions"]}
    assert got == decisions
    as_of = dt.datetime.fromisoformat(as_of_text)
    for (cid, _offer), (send_at, hour) in got.items():  # invariants
        assert send_at >= as_of
        zone = _zone(customers[cid])
        assert hour == (None if zone is None else _local(send_at, zone).hour)
    rejected = {(r["customer_id"], r["offer_id"]): r["reason"] for r in tables["kaireon_rejections"]}
    assert rejected == {(c, "o1"): "Time window: time zone unknown" for c, z in customers.items() if _zone(z) is None}


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    return _config(tmp_path_factory.mktemp("send_time"))


@pytest.fixture(scope="module")
def scenario_a(config_dir):
    return {name: _run(name, config_dir, CUSTOMERS_A, HISTORY_A, AS_OF_A) for name in ("duckdb",)}


def test_scenario_a_matches_the_reference_on_duckdb(scenario_a):
    _check(scenario_a["duckdb"], CUSTOMERS_A, HISTORY_A, AS_OF_A)


def test_the_named_cases(scenario_a):
    """What the reference says, spelled out for the cases issue 14 names."""
    got = {(r["customer_id"], r["offer_id"]): (r["send_at"], r["send_hour_local"]) for r in scenario_a["duckdb"]["kaireon_decisions"]}
    prof = {r["customer_id"]: r for r in scenario_a["duckdb"][PROFILES]}
    at = dt.datetime.fromisoformat
    # DST: 02:00 does not exist in New York on Mar 8, so the next 02:00 (EDT) is Mar 9 06:00 UTC
    assert prof["ny_dst"]["preferred_hour"] == 2 and got[("ny_dst", "o2")] == (at("2026-03-09 06:00"), 2)
    # 30-minute offset: 15:00 in Kolkata is 09:30 UTC
    assert prof["kolkata"]["preferred_hour"] == 15 and got[("kolkata", "o2")] == (at("2026-03-08 09:30"), 15)
    assert got[("kolkata", "o1")][0].minute == 30
    # ties: the earliest hour; no history: the population's hour (15 and 23 tie with 3 each: 15)
    assert prof["tie"]["preferred_hour"] == 9 and got[("tie", "o2")] == (at("2026-03-08 09:00"), 9)
    assert (prof["nohist"]["preferred_hour"], prof["nohist"]["profile"], prof["nohist"]["positive_outcomes"]) == (15, "population", 0)
    assert got[("nohist", "o2")] == (at("2026-03-08 14:00"), 15)
    # preferred hour inside quiet hours (and on a weekend for the NY office window): the first allowed hour
    # start, Monday 06:00 New York (10:00 UTC), which is inside 08-21 UTC too
    assert prof["quiet"]["preferred_hour"] == 23 and got[("quiet", "o1")] == (at("2026-03-09 10:00"), 10)
    assert got[("quiet", "o2")] == (at("2026-03-07 23:00"), 23)  # o2: no window applies
    # only positive outcomes at or before as_of count
    assert (prof["late"]["preferred_hour"], prof["late"]["positive_outcomes"]) == (20, 1)
    # unknown zone: o2 at the first UTC hour start (as_of itself), no local hour
    assert got[("mars", "o2")] == (at(AS_OF_A), None) and ("mars", "o1") not in got
    assert prof["mars"]["profile"] == "time zone unknown"


def test_fall_back_takes_the_first_occurrence(config_dir):
    """New York falls back on Nov 1: 01:00 local happens at 05:00 and 06:00 UTC; the first one is taken.
    Kathmandu (UTC+05:45): local hours start at :15 UTC.
    Run on DuckDB and PostgreSQL (rows compared with the reference on each)."""
    for name in ("duckdb", "postgres"):
        tables = _run(name, config_dir, CUSTOMERS_B, HISTORY_B, AS_OF_B)
        _check(tables, CUSTOMERS_B, HISTORY_B, AS_OF_B)
        got = {(r["customer_id"], r["offer_id"]): r["send_at"] for r in tables["kaireon_decisions"]}
        assert got[("ny_fall", "o2")] == dt.datetime(2026, 11, 1, 5, 0)
        assert got[("kathmandu", "o2")] == dt.datetime(2026, 11, 1, 4, 15)  # 10:00 at UTC+05:45


@pytest.mark.parametrize("name", [e for e in ENGINE_NAMES if e != "duckdb"])
def test_scenario_a_on_other_engines(config_dir, scenario_a, name):
    """The same rows as DuckDB (which the tests above check against the reference), and the reference itself."""
    tables = _run(name, config_dir, CUSTOMERS_A, HISTORY_A, AS_OF_A)
    _check(tables, CUSTOMERS_A, HISTORY_A, AS_OF_A)
    for table in (*S4_TABLES, PROFILES, TIMES):
        assert diff(scenario_a["duckdb"][table], tables[table]) is None, (table, name)


def test_grouped_responses_carry_the_send_time(tmp_path):
    """responseFormat grouped: a row's send_at is its decisions' when they share one (NULL when an offer-scoped
    window moved one of them), and each JSON element has the decision's send_hour_local (DuckDB)."""
    backend = open_backend("duckdb")
    try:
        run_models_on(backend, compile_sql(_config(tmp_path, grouped=True), engine("duckdb")),
                      _tables(CUSTOMERS_A, HISTORY_A), as_of=AS_OF_A)
        decisions = table_rows(backend, "kaireon_decisions")
        grouped = table_rows(backend, "kaireon_decisions_grouped")
    finally:
        backend.close()
    by_row: dict[tuple, list[dict]] = {}
    for d in decisions:
        by_row.setdefault((d["customer_id"], d["channel"]), []).append(d)
    assert len(grouped) == len(by_row)
    shared = 0
    for g in grouped:
        mine = sorted(by_row[(g["customer_id"], g["channel"])], key=lambda d: d["rank"])
        times = {d["send_at"] for d in mine}
        assert g["send_at"] == (times.pop() if len(times) == 1 else None), g
        shared += g["send_at"] is not None
        elements = json.loads(g["decisions"])
        assert [e["send_hour_local"] for e in elements] == [d["send_hour_local"] for d in mine]
        assert all(e["discount_pct"] is None and e["channel_preference"] is None for e in elements)
    assert 0 < shared < len(grouped)  # "quiet": o1 moved to Monday morning, o2 at 23:00


def test_without_send_time_the_window_blocks_and_columns_are_null(tmp_path):
    from harness import rows, run_models  # noqa: PLC0415

    models = compile_sql(_config(tmp_path, send_time=False))
    assert PROFILES not in models and TIMES not in models
    con = run_models(models, _tables({"quiet": "UTC"}, []), as_of="2026-03-07 23:00:00")
    got = rows(con, "select offer_id, send_at, send_hour_local from kaireon_decisions order by 1")
    assert got == [{"offer_id": "o2", "send_at": None, "send_hour_local": None}]  # o1 blocked at 23:00


# ---- validate-time refusals ---------------------------------------------------------------------------------

def _flow_config(**fields):
    def fn(c):
        c["decisionFlows"][0]["draftConfig"]["flowConfig"].update(fields)
    return fn


@pytest.mark.parametrize("fields, fragments", [
    ({"sendTime": "later"}, ["field 'draftConfig.flowConfig.sendTime'", "'optimize' or 'none'"]),
    ({"sendTimePreference": {"priorStrength": 5}}, ["sendTimePreference", "only read with sendTime: optimize"]),
    ({"timezone": "UTC"}, ["'timezone' is only read with sendTime: optimize"]),
    ({"sendTime": "optimize", "timezone": "UTC", "sendTimePreference": {"priorStrength": 0}},
     ["priorStrength", "expected a number > 0, got 0"]),
    ({"sendTime": "optimize", "timezone": "UTC", "sendTimePreference": {"positiveOutcomes": []}}, ["positiveOutcomes"]),
    ({"sendTime": "optimize", "timezone": "Mars/Olympus"}, ["timezone", "expected an IANA time zone name"]),
    ({"sendTime": "optimize", "timezone": "america/new_york"}, ["did you mean 'America/New_York'?"]),
    ({"sendTime": "optimize", "timezone": "customer.nope"}, ["flowConfig.timezone", "unknown customer attribute 'customer.nope'"]),
    ({"sendTime": "optimize"}, ["flowConfig.timezone", "'customer.timezone' (the default), which this flow does not load"]),
], ids=["value", "preference-alone", "timezone-alone", "prior-zero", "no-outcomes", "unknown-zone", "case", "unknown-field",
        "default-field"])
def test_bad_send_time_config_is_refused(tmp_path, fields, fragments):
    errors = _errors(_write(tmp_path / "decisioning", mutate(_flow_config(**fields))))
    assert any(all(f in e for f in [F, FLOW, *fragments]) for e in errors), errors


def test_a_valid_send_time_config_compiles(tmp_path):
    assert _errors(_write(tmp_path / "decisioning", mutate(_flow_config(sendTime="optimize", timezone="customer.tz")))) == []


def test_called_flow_candidates_get_a_send_time(tmp_path):
    """A flow with sendTime: optimize that calls a flow on another channel: the called candidates are sent
    too, so they get a profile on their channel and a send_at (they had NULL once). On every engine."""
    import test_call_flow as calls
    from harness import rows, run_models
    cfg = calls.config()
    flows = {f["key"]: f["draftConfig"]["flowConfig"] for f in cfg["decisionFlows"]}
    flows["sub"]["channel"] = "sms"
    flows["main"].update({"sendTime": "optimize", "timezone": "America/New_York"})
    cfg["channels"] = [{"id": "email", "name": "e", "consentField": "consentEmail"},
                       {"id": "sms", "name": "s", "consentField": "consentSMS"}]
    con = run_models(compile_sql(write_config(tmp_path / "decisioning", cfg)), calls.tables())
    got = rows(con, "select channel, send_at, send_hour_local from kaireon_main__decisions")
    assert {r["channel"] for r in got} == {"email", "sms"}
    assert all(r["send_at"] is not None and r["send_hour_local"] is not None for r in got), got
    profiled = {r["channel"] for r in rows(con, "select distinct channel from kaireon_main__send_time_profiles")}
    assert profiled == {"email", "sms"}
