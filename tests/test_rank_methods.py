"""Rank methods (S7): diversity, round_robin, explore_exploit, and `explored` in decisions.

One config, one build per engine (run_models compares every S4 table with DuckDB's on the engines of
KAIREON_CROSS_ENGINE): seven flows over the same offers and customers, one per scenario. The expected
decisions come from `reference` below, written from S7's text (the walk in the method's order, the
first N kept), with hash_uniform computed by hashlib's md5; never from a run.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

from harness import compile_sql, customers_table, flow, history_table, rows, run_models, schema, write_config
from test_config_errors import _errors, _write

AS_OF = "2026-11-20 15:00:00"
AS_OF_TEXT = "2026-11-20T15:00:00Z"
TOP, DIVERSITY, ROUND_ROBIN, EXPLORE = "topN", "diversity", "round_robin", "explore_exploit"


# ---- the reference: S7's text in Python ------------------------------------------------------------------

def hash_uniform(*parts) -> float:
    """S7: int(md5(a || ':' || b || ...)[:8], 16) / 4294967296."""
    return int(hashlib.md5(":".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:8], 16) / 4294967296


@dataclass(frozen=True)
class Cand:
    offer_id: str
    score: float
    priority: float
    group: object = None  # the groupBy value (None: the candidates without one, one group)
    channel: str = "email"


def rank_key(c: Cand):
    """S5: score desc, priority desc, offer id asc (then channel)."""
    return (-c.score, -c.priority, c.offer_id, c.channel)


def _round_robin_order(cands: list[Cand]) -> list[Cand]:
    groups: dict[object, list[Cand]] = {}
    for c in sorted(cands, key=rank_key):
        groups.setdefault(c.group, []).append(c)  # groups in the order of their best candidate
    members = list(groups.values())
    return [g[tier] for tier in range(max(map(len, members), default=0)) for g in members if tier < len(g)]


def reference(method: str, cands: list[Cand], n: int, k: int = 1, rate: float = 0.0, salt: str = "",
              run_id: str = "", customer: str = "") -> tuple[list[Cand], bool]:
    """(the kept candidates in rank position order, explored) of one customer."""
    explored = method == EXPLORE and hash_uniform(salt, run_id, customer) < rate
    if method == ROUND_ROBIN:
        order = _round_robin_order(cands)
    elif explored:
        order = sorted(cands, key=lambda c: (hash_uniform(salt, run_id, customer, c.offer_id), rank_key(c)))
    else:
        order = sorted(cands, key=rank_key)
    kept: list[Cand] = []
    for c in order:
        if len(kept) < n and (method != DIVERSITY or sum(1 for x in kept if x.group == c.group) < k):
            kept.append(c)
    return kept, explored


# ---- the scenario -----------------------------------------------------------------------------------------

# offer id -> (categoryId, subCategoryId, businessValue, margin, priority, channel, brand)
OFFERS = {
    "o1": ("A", "sA1", 9, 0, 1, "email", "x"),
    "o2": ("A", "sA2", 9, 0, 1, "email", "y"),  # ties o1 on score and priority: offer id decides
    "o3": ("A", "sA1", 7, 1, 5, "sms", "x"),
    "o4": ("B", "sB", 9, 0, 0, "email", "y"),
    "o5": ("B", "sB", 5, 2, 0, "sms", "z"),
    "o6": ("C", None, 4, 3, 0, "email", "z"),  # category C: a group of one
    "o7": (None, None, 6, 0, 0, "email", None),  # no category, sub-category or brand
}
CUSTOMERS = [(f"c{i}", i % 3, 1, 10.0, "x", "UTC", True, True) for i in range(12)]  # days 0, 1, 2
COOLED = ("c4", "o1")  # c4 saw o1 an hour ago: rr_cat's per-offer cooldown rejects that candidate
GROUP_FIELD = {"category": 0, "subCategory": 1, "brand": 6, "channel": 5}


@dataclass(frozen=True)
class Flow:
    key: str
    method: str
    n: int
    extra: dict
    cooldown: bool = False

    @property
    def rank(self) -> dict:
        return {"method": self.method, "maxCandidates": self.n, **self.extra}


FLOWS = [
    Flow("div_cat", DIVERSITY, 3, {}),  # groupBy category (default), maxPerGroup 1 (default)
    Flow("div_brand", DIVERSITY, 4, {"groupBy": "brand", "maxPerGroup": 2}),  # an offer (custom) field
    Flow("div_channel", DIVERSITY, 3, {"groupBy": "channel", "maxPerGroup": 2}),
    Flow("rr_cat", ROUND_ROBIN, 6, {}, cooldown=True),
    Flow("ex_half", EXPLORE, 3, {"explorationRate": 0.5}),
    Flow("ex_zero", EXPLORE, 3, {"explorationRate": 0}),
    Flow("ex_one", EXPLORE, 7, {"explorationRate": 1, "salt": "s-1"}),
]


def _nodes(f: Flow) -> list[dict]:
    nodes = [{"id": "inv", "type": "inventory", "config": {"scope": "all"}},
             {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]}},
             {"id": "score", "type": "score", "config": {"method": "expression",
                                                          "expression": "offer.businessValue + customer.days * offer.margin"}},
             {"id": "rank", "type": "rank", "config": f.rank}]
    if f.cooldown:
        nodes.insert(2, {"id": "cp", "type": "contact_policy", "config": {"policyIds": ["cool"]}})
    return nodes


def config() -> dict:
    categories = [{"id": c, "name": c, "customFields": [{"name": "brand", "type": "text"}]} for c in "ABC"]
    offers = []
    for oid, (cat, sub, bv, margin, priority, channel, brand) in OFFERS.items():
        offer = {"id": oid, "name": oid.upper(), "businessValue": bv, "margin": margin, "priority": priority,
                 "channels": [channel]}
        offer.update({k: v for k, v in (("categoryId", cat), ("subCategoryId", sub)) if v is not None})
        if brand is not None:
            offer["customFields"] = {"brand": brand}
        offers.append(offer)
    return {
        "schemas": [schema()], "interactionHistory": {"relation": "history"},
        "channels": [{"id": c, "name": c, "requiresConsent": False} for c in ("email", "sms")],
        "categories": categories,
        "subCategories": [{"id": s, "name": s, "categoryId": s[1]} for s in ("sA1", "sA2", "sB")],
        "offers": offers,
        "contactPolicies": [{"id": "cool", "name": "Cool", "ruleType": "cooldown",
                             "config": {"cooldownHours": 48, "perOffer": True}}],
        # the cooldown's flow first (runOrder): no earlier flow's decisions for it to count
        "decisionFlows": [flow(_nodes(f), key=f.key, channel=["email", "sms"], **({"runOrder": -1} if f.cooldown else {}))
                          for f in FLOWS],
    }


def candidates(f: Flow, customer: tuple) -> list[Cand]:
    group_by = f.extra.get("groupBy", "category")
    out = []
    for oid, spec in OFFERS.items():
        if f.cooldown and (customer[0], oid) == COOLED:
            continue
        cat, _, bv, margin, priority, channel, _ = spec
        out.append(Cand(oid, float(bv + customer[1] * margin), float(priority), spec[GROUP_FIELD[group_by]], channel))
    return out


def expected(f: Flow) -> list[tuple]:
    """(customer_id, rank, offer_id, score, explored) of every decision of flow f."""
    out = []
    for customer in CUSTOMERS:
        kept, explored = reference(f.method, candidates(f, customer), f.n, f.extra.get("maxPerGroup", 1),
                                   float(f.extra.get("explorationRate", 0)), f.extra.get("salt", f.key),
                                   f"{f.key}@{AS_OF_TEXT}", customer[0])
        out += [(customer[0], i, c.offer_id, c.score, explored) for i, c in enumerate(kept, start=1)]
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    models = compile_sql(write_config(tmp_path_factory.mktemp("rank_methods") / "decisioning", config()))
    history = [(COOLED[0], COOLED[1], "email", "impression", "2026-11-20 14:00:00", None, None, None)]
    return run_models(models, {"customers": customers_table(CUSTOMERS), "history": history_table(history)}, as_of=AS_OF)


def decisions(con, key: str) -> list[tuple]:
    return [(r["customer_id"], r["rank"], r["offer_id"], r["score"], r["explored"]) for r in rows(
        con, "select customer_id, rank, offer_id, score, explored from kaireon_decisions "
             "where decision_flow_key = ? order by customer_id, rank", [key])]


@pytest.mark.parametrize("f", FLOWS, ids=[f.key for f in FLOWS])
def test_decisions_are_the_reference(built, f):
    """Every method's kept candidates and final positions (`rank`), `score` the score node's, `explored`."""
    assert decisions(built, f.key) == sorted(expected(f), key=lambda r: (r[0], r[1]))


def test_the_scenario_reaches_each_edge_case():
    """Preconditions of the scenario, on the reference: the cases the issue lists occur."""
    half = next(f for f in FLOWS if f.key == "ex_half")
    explorers = {c[0] for c in CUSTOMERS if hash_uniform(half.key, f"{half.key}@{AS_OF_TEXT}", c[0]) < 0.5}
    assert 0 < len(explorers) < len(CUSTOMERS)
    differs = [c for c in CUSTOMERS if c[0] in explorers
               and reference(EXPLORE, candidates(half, c), 3, rate=0.5, salt=half.key, run_id=f"{half.key}@{AS_OF_TEXT}",
                             customer=c[0])[0] != sorted(candidates(half, c), key=rank_key)[:3]]
    assert differs, "an exploring customer whose random order differs from the score order"
    div = next(f for f in FLOWS if f.key == "div_cat")
    c0 = candidates(div, CUSTOMERS[0])  # ties: o1, o2, o4 all score 9; o1 and o2 also tie on priority
    assert [c.offer_id for c in sorted(c0, key=rank_key)][:3] == ["o1", "o2", "o4"]
    assert [c.offer_id for c in reference(DIVERSITY, c0, 3)[0]] == ["o1", "o4", "o7"]


def test_round_robin_by_hand(built):
    """c0 (days 0: o1 9, o2 9, o4 9, o3 7, o7 6, o5 5, o6 4): groups A (o1, o2, o3), B (o4, o5), NULL (o7),
    C (o6) in the order of their best; the best of each, then the second of each, ...; N = 6."""
    assert [r[2] for r in decisions(built, "rr_cat") if r[0] == "c0"] == ["o1", "o4", "o7", "o6", "o2", "o5"]
    # c4 (days 1) lost o1 to the cooldown: group A's best is o2 now (o2 9, o4 9, o3 8, o5 7, o6 7, o7 6)
    assert [r[2] for r in decisions(built, "rr_cat") if r[0] == "c4"] == ["o2", "o4", "o6", "o7", "o3", "o5"]


def test_diversity_by_hand(built):
    """c2 (days 2; rank order o6 10, then the 9s by priority o3 5, o1 1, o2 1, o4 0, o5 0, then o7 6), one per
    category, N = 3: o6 (C), o3 (A), o1 and o2 (A) ranked out, o4 (B)."""
    assert [r[2] for r in decisions(built, "div_cat") if r[0] == "c2"] == ["o6", "o3", "o4"]
    # two per channel, N = 3: o6 (email), o3 (sms), o1 (email)
    assert [r[2] for r in decisions(built, "div_channel") if r[0] == "c2"] == ["o6", "o3", "o1"]


def test_explored_flag(built):
    assert {r["explored"] for r in rows(built, "select explored from kaireon_decisions where decision_flow_key = 'ex_one'")} == {True}
    assert {r["explored"] for r in rows(built, "select explored from kaireon_decisions where decision_flow_key in "
                                                "('ex_zero', 'div_cat', 'rr_cat')")} == {False}


def test_ranked_out_is_not_a_rejection(built):
    """The only rejection rows are the cooldown's: candidates a method does not keep are ranked out."""
    got = rows(built, "select decision_flow_key, customer_id, offer_id, stage from kaireon_rejections")
    assert got == [{"decision_flow_key": "rr_cat", "customer_id": COOLED[0], "offer_id": COOLED[1],
                    "stage": "contact_policy"}]


# ---- caps: exact only with the walk ------------------------------------------------------------------------

def test_diversity_with_a_cap(tmp_path):
    """Diversity (one per category, N 2) under a customer_total_cap of 2: the walk keeps o1 (A), ranks o2 (A)
    out without using the cap, keeps o4 (B). Trimming the cap before the rank method would spend the cap on o2."""
    cfg = config()
    cfg["contactPolicies"] = [{"id": "cap", "name": "Cap", "ruleType": "customer_total_cap",
                               "config": {"maxTotal": 2, "periodType": "monthly"}}]
    f = Flow("div_cap", DIVERSITY, 2, {})
    nodes = _nodes(f)
    nodes.insert(2, {"id": "cp", "type": "contact_policy", "config": {}})
    cfg["decisionFlows"] = [flow(nodes, key=f.key, channel=["email", "sms"])]
    models = compile_sql(write_config(tmp_path / "decisioning", cfg))
    con = run_models(models, {"customers": customers_table(CUSTOMERS[:1]), "history": history_table([])}, as_of=AS_OF)
    assert [r[2] for r in decisions(con, "div_cap")] == ["o1", "o4"]
    assert rows(con, "select * from kaireon_rejections") == []


# ---- validate-time errors ---------------------------------------------------------------------------------

def _refused(tmp_path, rank: dict, offers: list | None = None) -> str:
    cfg = config()
    f = Flow("bad", rank["method"], 2, {k: v for k, v in rank.items() if k != "method"})
    cfg["decisionFlows"] = [flow(_nodes(f), key="bad", channel=["email", "sms"])]
    errors = _errors(_write(tmp_path, {"config.yml": cfg}))
    assert errors, f"expected {rank} to be refused"
    return "\n".join(errors)


@pytest.mark.parametrize("rank, field, wanted", [
    ({"method": TOP, "maxPerGroup": 2}, "maxPerGroup", "'diversity'"),
    ({"method": EXPLORE, "explorationRate": 0.1, "groupBy": "category"}, "groupBy", "'diversity', 'round_robin'"),
    ({"method": DIVERSITY, "explorationRate": 0.1}, "explorationRate", "'explore_exploit'"),
    ({"method": ROUND_ROBIN, "salt": "s"}, "salt", "'explore_exploit'"),
    ({"method": ROUND_ROBIN, "maxPerGroup": 1}, "maxPerGroup", "'diversity'"),
])
def test_a_field_of_another_method_is_refused(tmp_path, rank, field, wanted):
    text = _refused(tmp_path, rank)
    assert f"nodes[3].config.{field}'" in text and f"only read by rank method(s) {wanted}" in text, text
    assert "decisionFlows[0]" in text and "config.yml" in text, text


def test_explore_needs_a_rate_in_0_1(tmp_path):
    assert "method 'explore_exploit' needs 'explorationRate'" in _refused(tmp_path / "a", {"method": EXPLORE})
    text = _refused(tmp_path / "b", {"method": EXPLORE, "explorationRate": 1.5})
    assert "config.explorationRate" in text and "1" in text, text
    assert "config.maxPerGroup" in _refused(tmp_path / "c", {"method": DIVERSITY, "maxPerGroup": 0})


def test_unknown_group_by_is_refused(tmp_path):
    text = _refused(tmp_path, {"method": DIVERSITY, "groupBy": "colour"})
    assert "config.groupBy" in text and "groupBy 'colour' is neither category, subCategory, channel nor an offer field" in text
    assert "brand" in text and "businessValue" in text, text  # the fields it could be
