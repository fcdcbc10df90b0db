"""The shipped winback demo dataset (seeds/demo) is reproducible and tells its story."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "seeds" / "demo"
GENERATOR = ROOT / "scripts" / "generate_demo_data.py"
CSV_FILES = ("demo_customers.csv", "demo_interaction_history.csv", "demo_segment_membership.csv",
             "demo_past_assignments.csv", "demo_orders.csv")

AS_OF = dt.datetime(2026, 11, 20, 15, 0, 0)
NOV_START = dt.datetime(2026, 11, 1)
CAMPAIGN_AT = dt.datetime(2026, 10, 15, 14, 0, 0)

CUSTOMER_COLUMNS = [
    "customer_id", "daysSinceLastPurchase", "lifetimePurchases", "lifetimeRevenue",
    "primaryCategory", "preferredChannel", "consentEmail", "consentSMS",
]
HISTORY_COLUMNS = [
    "customer_id", "offer_id", "channel", "outcome", "occurred_at", "value",
    "creative_id", "decision_flow_key",
]
OFFERS = {"winback_apparel", "winback_electronics", "winback_home", "newsletter_weekly",
          "spring_sale"}
OUTCOMES = {"impression", "click", "convert", "dismiss", "complaint", "unsubscribe"}

# id -> (category, days, purchases, revenue, consentEmail or None, November impressions)
STORY = {
    "cust_lapsed_1": ("apparel", 120, 7, "300.00", "true", 0),
    "cust_active_1": ("apparel", 10, 12, "900.00", None, None),
    "cust_cold_1": ("home", 500, 9, "400.00", None, None),
    "cust_tirekicker_1": ("electronics", 150, 1, "20.00", None, None),
    "cust_noconsent_1": ("electronics", 200, 6, "350.00", "false", None),
    "cust_capped_1": ("home", 100, 8, "500.00", None, 3),
    "cust_twotouch_1": ("apparel", 130, 5, "260.00", None, 2),
    "cust_quote_'1": ("apparel", 95, 4, "120.00", None, None),
}


def bucket(customer_id: str, salt: str = "winback") -> int:
    return int(hashlib.md5(f"{salt}:{customer_id}".encode()).hexdigest()[:8], 16) % 10000


def in_holdout(customer_id: str) -> bool:
    return bucket(customer_id) < 1500


def read(name: str) -> tuple[list[str], list[dict]]:
    with open(DEMO / name, newline="", encoding="utf-8") as f:
        r = csv.DictReader(f)
        return list(r.fieldnames or []), list(r)


def ts(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S")


@pytest.fixture(scope="module")
def customers():
    header, rows = read("demo_customers.csv")
    assert header == CUSTOMER_COLUMNS
    return {r["customer_id"]: r for r in rows}


@pytest.fixture(scope="module")
def history():
    header, rows = read("demo_interaction_history.csv")
    assert header == HISTORY_COLUMNS
    return rows


@pytest.fixture(scope="module")
def november_impressions(history):
    """Impressions a run at AS_OF counts for the monthly cap (occurred_at <= as_of)."""
    return Counter(r["customer_id"] for r in history if r["outcome"] == "impression"
                   and NOV_START <= ts(r["occurred_at"]) <= AS_OF)


def test_checked_in_csvs_match_a_fresh_regeneration(tmp_path):
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path), "-q"], check=True)
    for name in CSV_FILES:
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), (
            f"{name} is stale: run python scripts/generate_demo_data.py")


def test_seed_properties_cover_every_column():
    yml = (DEMO / "_demo_seeds.yml").read_text(encoding="utf-8")
    for name in CSV_FILES:
        assert f"- name: {name[:-4]}" in yml
        with open(DEMO / name, newline="", encoding="utf-8") as f:
            for col in next(csv.reader(f)):
                assert f"- name: {col}\n" in yml, (name, col)
    try:
        import yaml
    except ImportError:  # pragma: no cover
        return
    doc = yaml.safe_load(yml)
    assert doc["version"] == 2
    for seed in doc["seeds"]:
        types = seed["config"]["column_types"]
        assert [c["name"] for c in seed["columns"]] == list(types)
        assert all(c.get("description") for c in seed["columns"])


def test_customers_shape(customers):
    assert 2900 <= len(customers) <= 3100
    rows = list(customers.values())
    for r in rows:
        assert 0 <= int(r["daysSinceLastPurchase"]) <= 900
        assert 1 <= int(r["lifetimePurchases"]) <= 40
        assert r["lifetimeRevenue"].count(".") == 1 and len(r["lifetimeRevenue"].split(".")[1]) == 2
        assert r["preferredChannel"] in {"email", "sms", "push"}
        assert r["consentEmail"] in {"true", "false"} and r["consentSMS"] in {"true", "false"}
    n = len(rows)
    cats = Counter(r["primaryCategory"] for r in rows)
    assert set(cats) == {"apparel", "electronics", "home", "beauty", "sports", "toys"}
    assert cats["apparel"] + cats["electronics"] + cats["home"] > 0.8 * n
    lapsed = sum(90 <= int(r["daysSinceLastPurchase"]) <= 365 for r in rows) / n
    assert 0.35 <= lapsed <= 0.45
    assert any(int(r["lifetimePurchases"]) < 3 for r in rows)
    assert any(float(r["lifetimeRevenue"]) < 50 for r in rows)
    assert 0.85 <= sum(r["consentEmail"] == "true" for r in rows) / n <= 0.95
    assert 0.55 <= sum(r["consentSMS"] == "true" for r in rows) / n <= 0.65


def test_story_customers(customers, november_impressions):
    for cid, (cat, days, purchases, revenue, consent_email, nov) in STORY.items():
        r = customers[cid]
        assert r["primaryCategory"] == cat, cid
        assert int(r["daysSinceLastPurchase"]) == days, cid
        assert int(r["lifetimePurchases"]) == purchases, cid
        assert r["lifetimeRevenue"] == revenue, cid
        if consent_email is not None:
            assert r["consentEmail"] == consent_email, cid
        if nov is not None:
            assert november_impressions[cid] == nov, cid
        assert not in_holdout(cid), cid
    lapsed = customers["cust_lapsed_1"]
    assert (lapsed["preferredChannel"], lapsed["consentSMS"]) == ("email", "false")
    # loyaltyScore of the tutorial's sample response
    assert round(int(lapsed["lifetimePurchases"]) * 3 + float(lapsed["lifetimeRevenue"]) / 50) == 27
    assert bucket("cust_lapsed_1") == 5802


def test_story_histories(history):
    lapsed = [r for r in history if r["customer_id"] == "cust_lapsed_1"]
    assert lapsed and not any(r["occurred_at"].startswith("2026-11") for r in lapsed)
    capped = [ts(r["occurred_at"]) for r in history
              if r["customer_id"] == "cust_capped_1" and r["outcome"] == "impression"
              and r["occurred_at"].startswith("2026-11")]
    assert len(capped) == 3 and max(capped) < AS_OF
    twotouch = [r for r in history if r["customer_id"] == "cust_twotouch_1"
                and r["outcome"] == "impression" and r["occurred_at"].startswith("2026-11")]
    assert len(twotouch) == 2
    assert any(r["customer_id"] == "cust_quote_'1" for r in history)


def test_history_shape(history, customers):
    n = len(history)
    assert 4 * len(customers) <= n <= 6 * len(customers)
    for r in history:
        assert r["customer_id"] in customers
        assert r["offer_id"] in OFFERS
        assert r["channel"] in {"email", "sms", "push"}
        assert r["outcome"] in OUTCOMES
        t = ts(r["occurred_at"])
        assert t >= dt.datetime(2026, 5, 1)
        assert not dt.datetime(2026, 11, 20, 14, 59, 59) < t <= AS_OF  # nothing at the edge
        if r["outcome"] == "convert":
            assert 20 <= float(r["value"]) <= 300
        else:
            assert r["value"] == ""
        assert r["decision_flow_key"] in {"", "winback", "spring_promo"}
    outcomes = Counter(r["outcome"] for r in history)
    assert outcomes.most_common(1)[0][0] == "impression"
    assert 0 < outcomes["complaint"] < 0.01 * n and 0 < outcomes["unsubscribe"] < 0.01 * n
    future = [r for r in history if ts(r["occurred_at"]) > AS_OF]
    assert 5 <= len(future) <= 30
    assert [r["occurred_at"] for r in history] == sorted(r["occurred_at"] for r in history)


def test_responses_follow_an_impression(history):
    seen: dict[tuple, dt.datetime] = {}
    orphans = []
    for r in history:  # rows are sorted by occurred_at
        key = (r["customer_id"], r["offer_id"], r["channel"])
        if r["outcome"] == "impression":
            seen.setdefault(key, ts(r["occurred_at"]))
        elif key not in seen:
            orphans.append(r)
    # the only responses without an impression: organic converts of the holdout of the
    # 2026-10-15 winback run, recorded against the offer it withheld
    for r in orphans:
        assert r["outcome"] == "convert" and r["decision_flow_key"] == "winback", r
        assert in_holdout(r["customer_id"]) and r["creative_id"] == "", r
        assert CAMPAIGN_AT < ts(r["occurred_at"]) <= CAMPAIGN_AT + dt.timedelta(days=14), r


def test_past_winback_campaign(history, customers):
    run = [r for r in history if r["decision_flow_key"] == "winback"
           and CAMPAIGN_AT <= ts(r["occurred_at"]) <= CAMPAIGN_AT + dt.timedelta(days=14)]
    treated = {r["customer_id"] for r in run if r["outcome"] == "impression"}
    assert treated and not any(in_holdout(c) for c in treated)
    for r in run:
        if r["outcome"] == "impression":
            assert r["occurred_at"] == "2026-10-15 14:00:00"
            assert r["offer_id"] == "winback_" + customers[r["customer_id"]]["primaryCategory"]
    conv = {r["customer_id"] for r in run if r["outcome"] == "convert"}
    held = {r["customer_id"] for r in run if r["outcome"] == "convert" and in_holdout(r["customer_id"])}
    assert held, "the holdout needs some organic converts"
    t_rate = len(conv & treated) / len(treated)
    assert 0.07 <= t_rate <= 0.15
    # eligible holdout size: what the run would have treated
    days_back = (AS_OF.date() - CAMPAIGN_AT.date()).days
    holdout_eligible = [
        c for c in customers.values() if in_holdout(c["customer_id"])
        and c["primaryCategory"] in {"apparel", "electronics", "home"}
        and int(c["lifetimePurchases"]) >= 3 and float(c["lifetimeRevenue"]) >= 50
        and (90 <= int(c["daysSinceLastPurchase"]) - days_back <= 365 or c["customer_id"] in held)]
    assert len(held) / len(holdout_eligible) < t_rate


def test_november_contact_counts(customers, november_impressions):
    n = len(customers)
    three = sum(1 for c in customers if november_impressions[c] >= 3) / n
    two = sum(1 for c in customers if november_impressions[c] == 2) / n
    assert 0.05 <= three <= 0.10
    assert 0.07 <= two <= 0.13


def test_segments(customers):
    header, rows = read("demo_segment_membership.csv")
    assert header == ["customer_id", "segment"]
    assert len({(r["customer_id"], r["segment"]) for r in rows}) == len(rows)
    counts = Counter(r["segment"] for r in rows)
    assert set(counts) == {"vip", "do_not_disturb", "new_mover"}
    n = len(customers)
    assert 0.03 <= counts["vip"] / n <= 0.07
    assert 0.01 <= counts["do_not_disturb"] / n <= 0.03
    assert 0.02 <= counts["new_mover"] / n <= 0.04
    assert all(r["customer_id"] in customers for r in rows)
    assert not any(r["customer_id"] in STORY for r in rows if r["segment"] == "do_not_disturb")


def test_orders_agree_with_the_customers(customers):
    """S3 orders: per customer lifetimePurchases orders up to as_of, the last daysSinceLastPurchase days before
    it, amounts summing to lifetimeRevenue; every order id once; a few orders after as_of (a run ignores them)."""
    header, rows = read("demo_orders.csv")
    assert header == ["customer_id", "order_id", "ordered_at", "amount", "category"]
    assert len({r["order_id"] for r in rows}) == len(rows)
    until = [r for r in rows if ts(r["ordered_at"]) <= AS_OF]
    assert 0 < len(rows) - len(until) <= 10
    mine: dict[str, list[dict]] = {}
    for r in until:
        mine.setdefault(r["customer_id"], []).append(r)
    assert set(mine) == set(customers)
    for cid, c in customers.items():
        orders = mine[cid]
        assert len(orders) == int(c["lifetimePurchases"]), cid
        assert (AS_OF.date() - max(ts(r["ordered_at"]) for r in orders).date()).days == int(c["daysSinceLastPurchase"])
        assert round(sum(float(r["amount"]) for r in orders), 2) == float(c["lifetimeRevenue"]), cid
    # some customers came back after a pause longer than lapsedDays (180) before their last order
    gaps = []
    for orders in mine.values():
        days = sorted((ts(r["ordered_at"]).date() for r in orders), reverse=True)
        if len(days) > 1:
            gaps.append((days[0] - days[1]).days)
    assert sum(g > 180 for g in gaps) > 50
