"""Time zones (S5): a NULL or unknown zone in customer data rejects that customer's candidates with
"time zone unknown" on every engine, never the run; config zones are checked at validate time
against the list the SQL converts with (kaireon_sql/timezones.py).
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlglot import exp

from backends import ENGINE_NAMES, open_backend, run_models_on
from cross_engine import S4_TABLES, diff, table_rows
from harness import compile_sql, customers_table, history_table, rows, run_models, write_config
from kaireon_sql.dialect import checked_zone, engine, hour_of, local_time, render
from kaireon_sql.timezones import ZONES
from test_config_errors import F, _errors, _write, mutate, policy
from test_flow_policies import AS_OF, allowed, cust, local_hour, offers, priority_flow
from harness import schema

BAD_ZONES = {"mars": "Mars/Olympus", "long": "Europe/" + "x" * 4000, "lower": "america/new_york", "empty": "",
             "offset": "+05:00", "abbrev": "PST", "posix": "EST5EDT,M3.2.0,M11.1.0", "quote": "it's/zone",
             "null": None}
GOOD_ZONES = {"ny": "America/New_York", "tokyo": "Asia/Tokyo", "kolkata": "Asia/Kolkata", "utc": "UTC"}


def _config(tmp_path, days_of_week=None) -> dict:
    cfg = {"startHour": 8, "endHour": 21, "timezone": "customer.tz"}
    if days_of_week:
        cfg["daysOfWeek"] = days_of_week
    return write_config(tmp_path / "decisioning", {
        "schemas": [schema()], "interactionHistory": {"relation": "history"}, "offers": offers(),
        "contactPolicies": [{"name": "Local hours", "ruleType": "time_window", "config": cfg}],
        "decisionFlows": [priority_flow()]})


def _tables():
    customers = [cust(c, tz=z) for c, z in {**BAD_ZONES, **GOOD_ZONES}.items()]
    return {"customers": customers_table(customers), "history": history_table([])}


def _expected_decided() -> list[tuple[str, str]]:
    return sorted((c, "o1") for c, z in GOOD_ZONES.items() if allowed(local_hour(AS_OF, z)[0], 8, 21))


@pytest.mark.parametrize("days", [None, ["Mon", "Tue", "Wed", "Thu", "Fri"]], ids=["hours", "days"])
def test_unknown_zone_rejects_that_customer_only(tmp_path, days):
    con = run_models(compile_sql(_config(tmp_path, days)), _tables(), as_of=AS_OF)
    decided = sorted((r["customer_id"], r["offer_id"]) for r in rows(con, "select * from kaireon_decisions"))
    assert decided == _expected_decided() and decided  # the good zones are decided as before
    got = {r["customer_id"]: (r["rule_name"], r["reason"]) for r in rows(con, "select * from kaireon_rejections")}
    for customer in BAD_ZONES:
        assert got[customer] == ("Local hours", "Time window: time zone unknown"), customer
    assert set(got) == set(BAD_ZONES) | {c for c in GOOD_ZONES if (c, "o1") not in decided}


@pytest.mark.parametrize("name", [e for e in ENGINE_NAMES if e != "duckdb"])
def test_unknown_zone_is_per_row_on_every_engine(tmp_path, name):
    """The same S4 rows as DuckDB (which the test above checks), on PostgreSQL and Spark."""
    config_dir = _config(tmp_path, ["Mon", "Tue", "Wed", "Thu", "Fri"])
    results = {}
    for eng in ("duckdb", name):
        backend = open_backend(eng)
        try:
            run_models_on(backend, compile_sql(config_dir, engine(eng)), _tables(), as_of=AS_OF)
            results[eng] = {t: table_rows(backend, t) for t in S4_TABLES}
        finally:
            backend.close()
    for table in S4_TABLES:
        assert diff(results["duckdb"][table], results[name][table]) is None, (table, name)
    reasons = {r["customer_id"]: r["reason"] for r in results[name]["kaireon_rejections"]}
    assert all(reasons[c] == "Time window: time zone unknown" for c in BAD_ZONES)


# ---- every listed zone converts on every engine ------------------------------------------------------

INSTANTS = [dt.datetime(2026, 1, 15, 12, 0), dt.datetime(2026, 7, 15, 12, 0)]


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def db(request):
    backend = open_backend(request.param)
    zones = sorted(ZONES) + [z for z in BAD_ZONES.values()]
    backend.create_table("zones", {"id": "INTEGER", "zone": "VARCHAR", "ts": "TIMESTAMP"},
                         [(i * len(INSTANTS) + j, z, t) for i, z in enumerate(zones) for j, t in enumerate(INSTANTS)])
    yield backend
    backend.close()


def _python_hour(zone: str, ts: dt.datetime) -> int | None:
    try:
        return ts.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone)).hour
    except Exception:  # a name this machine's tzdata lacks: not comparable here
        return None


def test_every_listed_zone_converts_and_unknown_ones_give_null(db):
    zone, ts = exp.column("zone"), exp.column("ts")
    local = local_time(ts, checked_zone(zone))
    select = exp.select(exp.column("zone"), exp.column("ts"), exp.alias_(hour_of(local), "hour", quoted=True))
    got = db.query(render(select.from_("zones").order_by("id"), db.engine, pretty=False))
    hours = {(r["zone"], r["ts"].replace(tzinfo=None)): r["hour"] for r in got}
    missing = sorted({z for (z, _), h in hours.items() if h is None and z in ZONES})
    assert not missing, f"{db.name} does not know: {missing}"
    assert all(h is None for (z, _), h in hours.items() if z not in ZONES)
    differ = sorted({z for (z, t), h in hours.items() if z in ZONES and _python_hour(z, t) not in (None, h)})
    assert not differ, f"{db.name} and Python's zoneinfo disagree on: {differ}"


def test_zone_list_names_are_iana_names():
    assert "UTC" in ZONES and "America/New_York" in ZONES and len(ZONES) > 500
    assert not {"localtime", "Factory", "EST", "CET", "america/new_york"} & ZONES


# ---- config zones ---------------------------------------------------------------------------------

@pytest.mark.parametrize("zone, fragment", [
    ("Europe/" + "x" * 4000, "got 'Europe/xxxxxxxxx"),
    ("america/new_york", "did you mean 'America/New_York'?"),
    ("EST5EDT,M3.2.0,M11.1.0", "expected an IANA time zone name"),
    ("../../etc/passwd", "expected an IANA time zone name"),
    ("Factory", "expected an IANA time zone name"),
])
def test_config_zone_is_refused_with_a_message(tmp_path, zone, fragment):
    errors = _errors(_write(tmp_path / "decisioning",
                            mutate(policy({"startHour": 2, "endHour": 5, "timezone": zone}))))
    matching = [e for e in errors if all(f in e for f in [F, "contactPolicies[2] 'bad'", "field 'config.timezone'", fragment])]
    assert matching, errors
    assert all(len(e) < 400 for e in errors)


def test_customer_zones_get_a_data_check_that_runs_before_the_decisions(tmp_path):
    """Issue 16 item 3: the customers model of a flow reading customer.<zone> has a known_time_zone test
    (severity warn, so S5's per-row rejection stands); tests/test_cli_wheel.py runs it in a dbt build and
    checks that it names the customers and values. A flow with a fixed zone gets no such test."""
    import yaml

    from kaireon_sql.compiler import compile_project
    from kaireon_sql.config import load_project
    from kaireon_sql.writer import model_files

    def customers_tests(config_dir) -> list:
        files = model_files(compile_project(load_project(config_dir)), engine("duckdb"), "")
        models = {m["name"]: m for m in yaml.safe_load(files["_kaireon_models.yml"])["models"]}
        (name,) = [n for n in models if n.endswith("__customers")]
        return models[name]["data_tests"]

    checks = [t for t in customers_tests(_config(tmp_path)) if "kaireon_sql.known_time_zone" in t]
    assert [c["kaireon_sql.known_time_zone"]["arguments"] for c in checks] == [
        {"zone_column": checks[0]["kaireon_sql.known_time_zone"]["arguments"]["zone_column"], "hour_column": "tz0_hour"}]
    fixed = write_config(tmp_path / "fixed", {
        "schemas": [schema()], "interactionHistory": {"relation": "history"}, "offers": offers(),
        "contactPolicies": [{"name": "NY hours", "ruleType": "time_window",
                             "config": {"startHour": 8, "endHour": 21, "timezone": "America/New_York"}}],
        "decisionFlows": [priority_flow()]})
    assert not [t for t in customers_tests(fixed) if "kaireon_sql.known_time_zone" in t]
