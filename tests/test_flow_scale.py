"""S6 shapes: offer channels, customer.X eq offer.Y join keys, customer-level checks run once.

The decisions, rejections and funnel must be those of the plain definition (every customer x
offer x allowed channel, first failing check in order), computed here in Python from the inputs;
the compiled SQL must not cross customers with offers when a join key exists.
"""
from __future__ import annotations

import hashlib
import re

from harness import compile_sql, flow, rows, scenario, schema, write_config

CHANNELS = [{"id": "email", "name": "Email", "consentField": "consentEmail"},
            {"id": "sms", "name": "SMS", "consentField": "consentSMS"},
            {"id": "push", "name": "Push"}]
# offer -> (category, channels it declares or None for every channel of the flow)
OFFERS = {"a": ("apparel", ["email"]), "b": ("home", ["sms", "push"]), "c": ("apparel", None), "d": ("home", ["push"])}
FLOW_CHANNELS = ["email", "sms"]
CUSTOMERS = [  # customer_id, days, purchases, revenue, category, tz, consentEmail, consentSMS
    ("x", 100, 5, 80.0, "apparel", "UTC", True, False),
    ("y", 100, 5, 80.0, "home", "UTC", True, True),
    ("z", 100, 5, 80.0, None, "UTC", True, True),  # no category: matches no offer
    ("w", 100, 1, 80.0, "apparel", "UTC", False, True),  # fails the purchases rule
    ("v", 100, 5, 80.0, "apparel", "America/New_York", True, True),  # 10:00 local at as_of: open
    ("u", 100, 5, 80.0, "home", "Asia/Tokyo", True, True),  # 00:00 local: outside 8-21
]
LOCAL_HOUR = {"UTC": 15, "America/New_York": 10, "Asia/Tokyo": 0}


def config(rejections: dict | None = None):
    nodes = [
        {"id": "inv", "type": "inventory", "config": {"scope": "all"}},
        {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]}},
        {"id": "match", "type": "filter", "label": "same category", "config": {"mode": "all", "conditions": [
            {"field": "customer.category", "operator": "eq", "valueFormula": "offer.categoryId"}]}},
        {"id": "qual", "type": "qualify", "config": {"mode": "all"}},
        {"id": "cp", "type": "contact_policy", "config": {}},
        {"id": "score", "type": "score", "config": {"method": "priority"}},
        {"id": "rank", "type": "rank", "config": {"method": "topN", "maxCandidates": 5}},
    ]
    return {
        "channels": CHANNELS,
        "categories": [{"id": "apparel", "name": "Apparel"}, {"id": "home", "name": "Home"}],
        "offers": [{"id": o, "name": o.upper(), "categoryId": cat, "priority": 10 * (i + 1),
                    **({"channels": chans} if chans else {})}
                   for i, (o, (cat, chans)) in enumerate(OFFERS.items())],
        "qualificationRules": [{"name": "3+ purchases", "ruleType": "attribute_condition",
                                "config": {"attribute": "customer.purchases", "operator": "gte", "value": 3}}],
        "contactPolicies": [{"name": "quiet", "ruleType": "time_window",
                             "config": {"startHour": 8, "endHour": 21, "timezone": "customer.tz"}}],
        "decisionFlows": [flow(nodes, channel=FLOW_CHANNELS, rejections=rejections or {"volume": "all"}, allowSameOfferOnSeveralChannels=True)],
    }


def expected():
    """(decided pairs, {pair: rule_name} of rejections, number of pairs) by the plain definition."""
    decided, rejected, pairs = set(), {}, 0
    for cid, _days, purchases, _rev, category, tz, email, sms in CUSTOMERS:
        for offer, (cat, chans) in OFFERS.items():
            for ch in FLOW_CHANNELS:
                if chans is not None and ch not in chans:
                    continue  # not a candidate at all
                pairs += 1
                failing = [name for name, fails in (
                    ("Consent (email)", ch == "email" and not email),
                    ("Consent (sms)", ch == "sms" and not sms),
                    ("same category", category is None or category != cat),
                    ("3+ purchases", purchases < 3),
                    ("quiet", not 8 <= LOCAL_HOUR[tz] < 21),
                ) if fails]
                if failing:
                    rejected[(cid, offer, ch)] = failing[0]
                else:
                    decided.add((cid, offer, ch))
    return decided, rejected, pairs


def test_offer_channels_and_category_join_give_the_plain_definition(tmp_path):
    con = scenario(tmp_path, config(), CUSTOMERS)
    decided, rejected, pairs = expected()
    got = {(r["customer_id"], r["offer_id"], r["channel"]) for r in
           rows(con, "select customer_id, offer_id, channel from kaireon_decisions")}
    assert got == decided
    got_r = {(r["customer_id"], r["offer_id"], r["channel"]): r["rule_name"] for r in
             rows(con, "select customer_id, offer_id, channel, rule_name from kaireon_rejections")}
    assert got_r == rejected
    f = rows(con, "select * from kaireon_funnel")[0]
    narrowing = {"Consent (email)", "Consent (sms)", "same category", "3+ purchases"}
    assert f["total_candidates"] == pairs == len(decided) + len(rejected)
    assert f["after_qualification"] == pairs - sum(1 for r in rejected.values() if r in narrowing)
    assert f["after_contact_policy"] == f["decided"] == len(decided)
    # offers never appear on a channel they do not declare, even as rejections
    assert not [k for k in got | set(got_r) if OFFERS[k[1]][1] is not None and k[2] not in OFFERS[k[1]][1]]
    # the candidates model holds only pairs of the customer's category (joined, not filtered)
    cats = {c[0]: c[4] for c in CUSTOMERS}
    cand = rows(con, "select customer_id, offer_id from kaireon_f__candidates")
    assert cand and all(cats[r["customer_id"]] == OFFERS[r["offer_id"]][0] for r in cand)
    # customers a customer-level check drops (w: purchases; u: quiet hours) are not expanded
    assert not {r["customer_id"] for r in cand} & {"w", "u"}


def test_sampled_rejections_keep_whole_customers(tmp_path):
    con = scenario(tmp_path, config({"volume": "sampled", "sampleRate": 0.5}), CUSTOMERS)
    _, rejected, _ = expected()
    got = rows(con, "select customer_id, offer_id, channel, rule_name from kaireon_rejections")
    sampled = {r["customer_id"] for r in got}
    # md5('rejections:' || id)[:8] % 10000 < 5000: y (2782) and w (4747) of the six
    assert sampled == {c for c in "xyzwvu" if int(hashlib.md5(f"rejections:{c}".encode()).hexdigest()[:8], 16) % 10000 < 5000}
    assert sampled == {"y", "w"}
    # every rejection of a sampled customer is there, with the unsampled rule
    assert {(r["customer_id"], r["offer_id"], r["channel"]): r["rule_name"] for r in got} == \
        {k: v for k, v in rejected.items() if k[0] in sampled}


def test_join_key_is_compiled_as_a_join(tmp_path):
    folder = write_config(tmp_path / "decisioning",
                          {"schemas": [schema()], "interactionHistory": {"relation": "history"}, **config()})
    sql = " ".join(compile_sql(folder)["kaireon_f__candidates"].split())
    assert re.search(r'JOIN \(.*\) AS "o" ON "c"\."cust__category" = "o"\."category_id"', sql)
    assert 'AS "o" CROSS JOIN' not in sql.replace('CROSS JOIN "kaireon_run_params"', "")
    customers = " ".join(compile_sql(folder)["kaireon_f__customers"].split())
    assert '"narrowing_code"' in customers and '"policy_code"' in customers
