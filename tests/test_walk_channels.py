"""S7 "Several channels", edge cases on DuckDB, PostgreSQL and Spark (rows compared, one build per engine):
one channel per offer per customer by default, candidates of one offer in their channel's list order; a
customer who consents to one of three channels; a cap of 1 with several channels; an offer whose first
channel's cap is used goes out on the next; perChannel; allowSameOfferOnSeveralChannels. Expected values are
worked by hand in the comments.

Offers o1 (priority 49) > o2 (48) > o3 (47), score = priority.
"""
from __future__ import annotations

import pytest

from harness import Table, compile_sql, flow, rows, run_models, schema, standard_nodes, write_config

AS_OF = "2026-11-20 15:00:00"  # a Friday
COLUMNS = {"customer_id": "VARCHAR", "days": "INTEGER", "purchases": "INTEGER", "revenue": "DOUBLE",
           "category": "VARCHAR", "tz": "VARCHAR", "consentEmail": "BOOLEAN", "consentSMS": "BOOLEAN",
           "consentPush": "BOOLEAN"}
HISTORY = {"customer_id": "VARCHAR", "offer_id": "VARCHAR", "channel": "VARCHAR", "outcome": "VARCHAR",
           "occurred_at": "TIMESTAMP", "value": "DOUBLE", "creative_id": "VARCHAR", "decision_flow_key": "VARCHAR"}
WEEKLY = "Customer total cap 'weekly': "
EMAIL = "Frequency cap 'email daily' (contacts in the last 24 hours): "
TRIMMED = "; better-ranked offers of this run take the rest"


def _nodes(top_n: int, policies: bool = True, per_channel: bool = False) -> list[dict]:
    nodes = standard_nodes(top_n=top_n, score={"method": "priority"})
    for node in nodes:
        if node["id"] == "rank":
            node["config"]["perChannel"] = per_channel
    return [n for n in nodes if policies or n["id"] != "cp"]


def _config() -> dict:
    fields = schema()["fields"] + [{"name": "consentPush", "dataType": "boolean"}]
    three = ["email", "sms", "push"]
    return {
        "schemas": [{**schema(), "fields": fields}], "interactionHistory": {"relation": "history"},
        "channels": [{"id": "email", "name": "Email", "consentField": "consentEmail"},
                     {"id": "sms", "name": "SMS", "consentField": "consentSMS"},
                     {"id": "push", "name": "Push", "consentField": "consentPush"}],
        "offers": [{"id": f"o{i}", "name": f"O{i}", "priority": 50 - i} for i in (1, 2, 3)],
        "contactPolicies": [
            {"name": "weekly", "ruleType": "customer_total_cap", "priority": 3, "config": {"maxTotal": 3, "periodType": "weekly"}},
            {"name": "email daily", "ruleType": "frequency_cap", "priority": 2, "scope": "channel", "scopeId": "email",
             "config": {"maxPerDay": 1}}],
        "decisionFlows": [
            flow(_nodes(2), key="one", channel=three),  # default: one channel per offer
            flow(_nodes(1, policies=False, per_channel=True), key="pc", channel=three, runOrder=1),
            flow(_nodes(2, policies=False), key="all", channel=["sms", "email"], runOrder=2,
                 allowSameOfferOnSeveralChannels=True),
        ],
    }


def _customer(cid: str, email=True, sms=True, push=True) -> tuple:
    return (cid, 100, 5, 80.0, "apparel", "UTC", email, sms, push)


def _impression(cid: str, at: str, channel: str) -> tuple:
    return (cid, "x", channel, "impression", at, None, None, None)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    models = compile_sql(write_config(tmp_path_factory.mktemp("walk_channels") / "decisioning", _config()))
    customers = [_customer("push_only", email=False, sms=False), _customer("cap1"), _customer("email_used"),
                 _customer("in_run")]
    history = [_impression("cap1", "2026-11-18 10:00:00", "sms"), _impression("cap1", "2026-11-17 10:00:00", "sms"),
               _impression("email_used", "2026-11-20 14:00:00", "email")]
    tables = {"customers": Table(COLUMNS, customers), "history": Table(HISTORY, history)}
    return run_models(models, tables, as_of=AS_OF)  # and on PostgreSQL and Spark (KAIREON_CROSS_ENGINE)


def decisions(con, key: str) -> dict:
    out = {}
    for r in rows(con, "select customer_id, offer_id, channel, rank from kaireon_decisions where decision_flow_key = ? "
                       "order by customer_id, channel, rank", [key]):
        out.setdefault(r["customer_id"], []).append((r["offer_id"], r["channel"], r["rank"]))
    return out


def rejections(con, key: str) -> dict:
    out = {}
    for r in rows(con, "select customer_id, offer_id, channel, stage, rule_name, reason from kaireon_rejections "
                       "where decision_flow_key = ?", [key]):
        out.setdefault(r["customer_id"], {})[(r["offer_id"], r["channel"])] = (r["stage"], r["rule_name"], r["reason"])
    return out


def test_consent_to_one_of_three_channels(con):
    # push_only: candidates on push only (o1p, o2p kept with N = 2; o3p ranked out); one consent rejection per
    # offer on email and on sms
    assert decisions(con, "one")["push_only"] == [("o1", "push", 1), ("o2", "push", 2)]
    got = rejections(con, "one")["push_only"]
    assert set(got) == {(o, ch) for o in ("o1", "o2", "o3") for ch in ("email", "sms")}
    assert {(s, n) for s, n, _ in got.values()} == {("consent", "Consent (email)"), ("consent", "Consent (sms)")}
    # the flow on sms and email: no candidate at all
    assert "push_only" not in decisions(con, "all") and len(rejections(con, "all")["push_only"]) == 6


def test_cap_of_one_with_three_channels(con):
    # cap1: 2 of 3 contacts used this week: o1 on email (its first channel) takes the last one; o1 on sms and
    # push are ranked out (the offer is kept); o2 and o3 would be kept on every channel but for the cap
    assert decisions(con, "one")["cap1"] == [("o1", "email", 1)]
    got = rejections(con, "one")["cap1"]
    assert set(got) == {(o, ch) for o in ("o2", "o3") for ch in ("email", "sms", "push")}
    assert {v for v in got.values()} == {("contact_policy", "weekly", WEEKLY + "2 of 3 contacts used this ISO week" + TRIMMED)}


def test_offer_goes_out_on_its_next_channel(con):
    # email_used: email blocked by 'email daily' (1 of 1 used): o1 and o2 go out on sms (N = 2); push ranked out
    assert decisions(con, "one")["email_used"] == [("o1", "sms", 1), ("o2", "sms", 2)]
    got = rejections(con, "one")["email_used"]
    assert got == {(o, "email"): ("contact_policy", "email daily", EMAIL + "1 of 1 used") for o in ("o1", "o2", "o3")}
    # in_run: o1 takes email's one contact; o2's email candidate is its rejection, o2 goes out on sms
    assert decisions(con, "one")["in_run"] == [("o1", "email", 1), ("o2", "sms", 2)]
    assert rejections(con, "one")["in_run"] == {("o2", "email"): ("contact_policy", "email daily",
                                                                  EMAIL + "0 of 1 used" + TRIMMED)}


def test_per_channel_counts_per_customer_and_channel(con):
    # N = 1 per channel, one channel per offer: o1 on email; o1's sms and push ranked out; o2 on sms; o3 on push
    got = decisions(con, "pc")
    assert got["in_run"] == [("o1", "email", 1), ("o3", "push", 1), ("o2", "sms", 1)]
    assert got["push_only"] == [("o1", "push", 1)]
    assert "in_run" not in rejections(con, "pc")  # ranked out, not rejected


def test_same_offer_on_several_channels_in_list_order(con):
    # allowSameOfferOnSeveralChannels, channels [sms, email]: o1 on sms first (list order, not alphabetical)
    assert decisions(con, "all")["in_run"] == [("o1", "email", 2), ("o1", "sms", 1)]


def test_per_channel_rank_is_unique_per_channel_in_dbt_tests():
    from types import SimpleNamespace

    from kaireon_sql.compiler import _decision_tests

    def tests(per_channel: bool) -> list[dict]:  # a flow plan as _decision_tests reads it (no group node)
        return _decision_tests(SimpleNamespace(rank=SimpleNamespace(per_channel=per_channel), placements=None))
    partition = tests(True)[-1]["kaireon_sql.rank_contiguous"]["arguments"]["partition_by"]
    assert partition == ["run_id", "decision_flow_key", "customer_id", "channel"]
    assert tests(False)[0]["kaireon_sql.unique_combination"]["arguments"]["columns"][-2:] == ["customer_id", "rank"]
