"""Scoring and ranking (S5): the weighted formula by hand, expressions, tie-breaking, top N, ranks."""
from __future__ import annotations

import pytest

from harness import Table, flow, rows, scenario, standard_nodes

AS_OF = "2026-11-20 15:00:00"


def cust(cid, days=100, purchases=5, revenue=80.0, category="apparel", tz="UTC", email=True, sms=True):
    return (cid, days, purchases, revenue, category, tz, email, sms)


def clip(x, lo, hi):
    return max(lo, min(hi, x))


def s5_score(w, P=0.5, R=1.0, business_value=None, priority=0.0, U=0.0):
    """S5 formula, by hand: I = businessValue/100, E = priority/100 clipped to [0, 1], U to [-1, 1]."""
    I = clip((business_value or 0) / 100, 0, 1)
    E = clip(priority / 100, 0, 1)
    U = clip(U, -1, 1)
    wP, wR, wI, wE, wU = (w.get(k, 0.0) for k in ("propensityWeight", "relevanceWeight", "impactWeight",
                                                     "emphasisWeight", "upliftWeight"))
    return (wP * P + wR * R + wI * I + wE * E + wU * U) / (wP + wR + wI + wE + wU)


OFFERS = [
    {"id": "big", "name": "Big", "priority": 150, "businessValue": 250},  # both clip to 1
    {"id": "neg", "name": "Neg", "priority": -20, "businessValue": -40},  # both clip to 0
    {"id": "mid", "name": "Mid", "priority": 75, "businessValue": 60},
    {"id": "edge", "name": "Edge", "priority": 100, "businessValue": 0},
    {"id": "nobv", "name": "NoBV", "priority": 30},  # no businessValue: I = 0
]
WINBACK = {"propensityWeight": 0.4, "relevanceWeight": 0.2, "impactWeight": 0.3, "emphasisWeight": 0.1,
           "upliftWeight": 0.6}


@pytest.mark.parametrize("weights", [
    WINBACK,
    {"impactWeight": 1},
    {"emphasisWeight": 2, "propensityWeight": 1},
    {"relevanceWeight": 0.5, "impactWeight": 0.25, "emphasisWeight": 0.25},
])
def test_formula_score_matches_s5_by_hand(tmp_path, weights):
    config = {"offers": OFFERS,
              "decisionFlows": [flow(standard_nodes(top_n=10, score={"method": "formula", "formula": weights}))]}
    con = scenario(tmp_path, config, [cust("c1")], as_of=AS_OF)
    got = {r["offer_id"]: r["score"] for r in rows(con, "select offer_id, score from kaireon_decisions")}
    expected = {o["id"]: s5_score(weights, business_value=o.get("businessValue"), priority=o["priority"])
                for o in OFFERS}
    assert got == pytest.approx(expected, abs=1e-9)
    if weights is WINBACK:
        # written out: big = (0.4*.5 + .2*1 + .3*1 + .1*1 + .6*0) / 1.6
        assert got["big"] == pytest.approx(0.8 / 1.6)
        assert got["neg"] == pytest.approx(0.4 / 1.6)
    # ranks follow the score (then priority, then id)
    ranked = [r["offer_id"] for r in rows(con, "select offer_id from kaireon_decisions order by rank")]
    o = {x["id"]: x for x in OFFERS}
    assert ranked == sorted(expected, key=lambda k: (-round(expected[k], 12), -o[k]["priority"], k))


def test_formula_score_with_model_propensity_and_uplift(tmp_path):
    weights = {"propensityWeight": 1, "upliftWeight": 1, "impactWeight": 1}
    config = {
        "algorithmModels": [{"id": "m", "name": "M", "modelType": "bayesian", "scoresRelation": "scores"}],
        "offers": [{"id": "a", "name": "A", "priority": 10, "businessValue": 20},
                   {"id": "b", "name": "B", "priority": 10, "businessValue": 20},
                   {"id": "c", "name": "C", "priority": 10, "businessValue": 20}],
        "decisionFlows": [flow(standard_nodes(top_n=5, score={"method": "formula", "modelId": "m", "formula": weights}))],
    }
    scores = Table({"customer_id": "VARCHAR", "offer_id": "VARCHAR", "propensity": "DOUBLE", "uplift": "DOUBLE"},
                   [("c1", "a", 0.9, 1.5), ("c1", "b", 0.2, -2.0), ("c2", "a", 0.3, None)])
    con = scenario(tmp_path, config, [cust("c1"), cust("c2")], as_of=AS_OF, tables={"scores": scores})
    got = {(r["customer_id"], r["offer_id"]): r["score"] for r in
           rows(con, "select customer_id, offer_id, score from kaireon_decisions")}
    expected = {
        ("c1", "a"): s5_score(weights, P=0.9, U=1.5, business_value=20, priority=10),  # U clipped to 1
        ("c1", "b"): s5_score(weights, P=0.2, U=-2.0, business_value=20, priority=10),  # U clipped to -1
        ("c1", "c"): s5_score(weights, business_value=20, priority=10),  # no row: P 0.5, U 0
        ("c2", "a"): s5_score(weights, P=0.3, business_value=20, priority=10),  # NULL uplift: 0
        ("c2", "b"): s5_score(weights, business_value=20, priority=10),
        ("c2", "c"): s5_score(weights, business_value=20, priority=10),
    }
    assert expected[("c1", "a")] == pytest.approx((0.9 + 1 + 0.2) / 3)
    assert expected[("c1", "b")] == pytest.approx((0.2 - 1 + 0.2) / 3)
    assert got == pytest.approx(expected, abs=1e-9)


def test_expression_score_reads_customer_and_offer(tmp_path):
    expr = "customer.revenue / 100 + offer.priority / 1000 - (customer.days > 90 ? offer.businessValue / 1000 : 0)"
    config = {"offers": [{"id": "a", "name": "A", "priority": 40, "businessValue": 100},
                         {"id": "b", "name": "B", "priority": 70, "businessValue": 10}],
              "decisionFlows": [flow(standard_nodes(top_n=5, score={"method": "expression", "expression": expr}))]}
    customers = [cust("c1", revenue=80.0, days=100), cust("c2", revenue=5.0, days=10), cust("c3", revenue=None)]
    con = scenario(tmp_path, config, customers, as_of=AS_OF)
    got = {(r["customer_id"], r["offer_id"]): (r["score"], r["rank"]) for r in
           rows(con, "select customer_id, offer_id, score, rank from kaireon_decisions")}

    def py(revenue, days, prio, bv):
        if revenue is None:
            return None
        return revenue / 100 + prio / 1000 - (bv / 1000 if days > 90 else 0)

    assert got[("c1", "a")][0] == pytest.approx(py(80.0, 100, 40, 100))  # 0.84
    assert got[("c1", "b")][0] == pytest.approx(py(80.0, 100, 70, 10))  # 0.86
    assert got[("c2", "a")][0] == pytest.approx(py(5.0, 10, 40, 100))
    assert got[("c1", "b")][1] == 1 and got[("c1", "a")][1] == 2
    # NULL score (missing revenue) sorts after scored offers; then priority decides
    assert got[("c3", "a")][0] is None and got[("c3", "b")] == (None, 1) and got[("c3", "a")][1] == 2


@pytest.fixture(scope="module")
def ties(tmp_path_factory):
    # all scores equal (impact only, same businessValue): priority desc, then offer id asc
    offers = [
        {"id": "b2", "name": "B2", "priority": 50, "businessValue": 30},
        {"id": "a9", "name": "A9", "priority": 50, "businessValue": 30},
        {"id": "a10", "name": "A10", "priority": 50, "businessValue": 30},
        {"id": "z", "name": "Z", "priority": 90, "businessValue": 30},
        {"id": "m", "name": "M", "priority": 10, "businessValue": 30},
        {"id": "best", "name": "Best", "priority": 0, "businessValue": 31},
    ]
    config = {"offers": offers,
              "qualificationRules": [{"name": "no a9 for c2", "ruleType": "attribute_condition", "scope": "offer",
                                      "scopeId": "a9", "config": {"attribute": "customer.days", "operator": "gte",
                                                                  "value": 50}}],
              "decisionFlows": [flow(standard_nodes(top_n=4, score={"method": "formula",
                                                                    "formula": {"impactWeight": 1}}))]}
    return scenario(tmp_path_factory.mktemp("ties"), config, [cust("c1", days=100), cust("c2", days=10)], as_of=AS_OF), offers


def test_ranking_ties_and_top_n(ties):
    con, offers = ties
    expected_full = [o["id"] for o in sorted(offers, key=lambda o: (-o["businessValue"], -o["priority"], o["id"]))]
    assert expected_full == ["best", "z", "a10", "a9", "b2", "m"]  # by hand: 'a10' < 'a9' as text
    got = rows(con, "select customer_id, offer_id, rank from kaireon_decisions order by 1, 3")
    c1 = [r["offer_id"] for r in got if r["customer_id"] == "c1"]
    c2 = [r["offer_id"] for r in got if r["customer_id"] == "c2"]
    assert c1 == expected_full[:4]
    assert c2 == [o for o in expected_full if o != "a9"][:4]  # a rejected offer does not leave a gap
    for cid in ("c1", "c2"):
        assert [r["rank"] for r in got if r["customer_id"] == cid] == [1, 2, 3, 4]  # contiguous
    # candidates below the top N are not rejections; only the qualification failure is
    assert rows(con, "select customer_id, offer_id from kaireon_rejections") == [{"customer_id": "c2", "offer_id": "a9"}]


def test_rank_contiguous_under_holdout_and_channels(tmp_path):
    """Ranks are per customer and contiguous across channels, and survive gaps from rejections."""
    config = {"offers": [{"id": f"o{i}", "name": f"O{i}", "priority": 10 * i} for i in range(1, 5)],
              "qualificationRules": [{"name": "o3 needs days", "ruleType": "attribute_condition", "scope": "offer",
                                      "scopeId": "o3", "config": {"attribute": "customer.days", "operator": "gt",
                                                                  "value": 1000}}],
              "decisionFlows": [flow(standard_nodes(top_n=5, score={"method": "priority"}), channel=["email", "sms"], allowSameOfferOnSeveralChannels=True)]}  # every channel (S7 default: one)
    con = scenario(tmp_path, config, [cust("c1"), cust("c2", sms=False)], as_of=AS_OF)
    got = rows(con, "select customer_id, offer_id, channel, rank from kaireon_decisions order by 1, 4")
    c1 = [(r["offer_id"], r["channel"]) for r in got if r["customer_id"] == "c1"]
    assert c1 == [("o4", "email"), ("o4", "sms"), ("o2", "email"), ("o2", "sms"), ("o1", "email")]
    c2 = [(r["offer_id"], r["channel"]) for r in got if r["customer_id"] == "c2"]
    assert c2 == [("o4", "email"), ("o2", "email"), ("o1", "email")]
    for cid in ("c1", "c2"):
        ranks = [r["rank"] for r in got if r["customer_id"] == cid]
        assert ranks == list(range(1, len(ranks) + 1))
