"""Several flows in one build (S7): decided one after another by flowConfig.runOrder, then key; a
flow's caps and offer budgets count the history, the earlier flows' decisions (delivered and
withheld) and its own.

The expected decisions come from `reference`, an independent Python model of the documented
semantics (checks on what is used, then each quota in policy order keeps the best-ranked of what
is left, then the top N; holdout by md5 as in S5), never copied from the output.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass

import pytest

from harness import compile_sql, customers_table, flow, history_table, rows, run_models, schema, write_config
from walk_reference import Cap as WalkCap, walk_customer

AS_OF = "2026-11-20 15:00:00"  # a Friday; ISO week from Mon 2026-11-16, month from 2026-11-01
T0 = dt.datetime.fromisoformat(AS_OF)


def ago(days=0.0, hours=0.0) -> dt.datetime:
    return T0 - dt.timedelta(days=days, hours=hours)


def nodes(offer_ids: list[str], top_n: int) -> list[dict]:
    return [
        {"id": "inv", "type": "inventory", "config": {"scope": "manual", "offerIds": offer_ids}},
        {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]}},
        {"id": "cp", "type": "contact_policy", "config": {}},
        {"id": "score", "type": "score", "config": {"method": "priority"}},
        {"id": "rank", "type": "rank", "config": {"method": "topN", "maxCandidates": top_n}},
    ]


# ---- the independent model ----------------------------------------------------------------------

@dataclass
class Cap:
    """One within-run cap: who it counts (`key` of a contact), which contacts (`counts`), its maximum."""

    name: str
    priority: int
    maximum: int
    key: callable  # (customer, offer, channel) -> partition key
    counts: callable  # (offer, channel, at) -> bool, for history rows and decisions (at = as_of)
    budget: bool = False  # global per offer, best score first (ties: customer, channel)


@dataclass
class FlowSpec:
    key: str
    offers: list[str]
    channels: list[str]
    top_n: int = 3
    run_order: int | None = None
    holdout: float = 0.0

    def config(self) -> dict:
        extra = {} if self.run_order is None else {"runOrder": self.run_order}
        if self.holdout:
            extra["experiment"] = {"enabled": True, "holdoutPercent": self.holdout}
        return flow(nodes(self.offers, self.top_n), key=self.key, channel=self.channels, **extra)


def holdout(key: str, customer: str, percent: float) -> bool:
    """S5: int(md5(salt || ':' || customer_id)[:8], 16) % 10000 < percent * 100, salt = flow key."""
    return int(hashlib.md5(f"{key}:{customer}".encode()).hexdigest()[:8], 16) % 10000 < percent * 100


def _walked(spec: FlowSpec, customers, rank_key, caps: list[WalkCap], blocked) -> dict[str, list[tuple]]:
    """S7's walk (tests/walk_reference.py) per customer: {customer: kept candidates}."""
    out = {}
    for customer in customers:
        cands = sorted(((customer, o, ch) for o in spec.offers for ch in spec.channels if not blocked((customer, o, ch))),
                       key=rank_key)
        dicts = [{"customer_id": c, "offer_id": o, "channel": ch} for c, o, ch in cands]
        fates = walk_customer(dicts, spec.top_n, caps, one_channel=len(spec.channels) > 1)
        out[customer] = [x for x, fate in zip(cands, fates) if fate.kept]
    return out


def _budgeted(spec, customers, rank_key, caps, budget: Cap, left: int, budget_order) -> set:
    """The walk, then the budget (best score first) with one back-fill pass (docs/walk.md)."""
    spends = budget.counts
    first = _walked(spec, customers, rank_key, caps, lambda x: left <= 0 and spends(x[1], x[2], T0))
    spending = sorted((x for kept in first.values() for x in kept if spends(x[1], x[2], T0)), key=budget_order)
    held, cut = set(spending[:max(left, 0)]), set(spending[max(left, 0):])
    empty = left - len(held) <= 0
    losers = {x[0] for x in cut}
    second = _walked(spec, sorted(losers), rank_key, caps,
                     lambda x: x in cut or (empty and spends(x[1], x[2], T0) and x not in held))
    walked = {c: (second[c] if c in losers else first[c]) for c in customers}
    kept = {x for v in walked.values() for x in v}
    new = sorted((x for x in kept if spends(x[1], x[2], T0) and x not in held), key=budget_order)
    leftover = left - len(kept & held)
    return kept - set(new[max(leftover, 0):])


def reference(flows: list[FlowSpec], priorities: dict[str, int], customers: list[str],
              history: list[tuple[str, str, str, dt.datetime]], caps: list[Cap]) -> dict[str, set]:
    """{flow key: {(customer, offer, channel, delivered)}} of the flows that decide something."""
    contacts = list(history)  # (customer, offer, channel, at): grows with each flow's decisions
    out = {}
    ordered = sorted(flows, key=lambda f: (f.run_order or 0, f.key))
    caps = sorted(caps, key=lambda c: (-c.priority, c.name))
    budget = next((c for c in caps if c.budget), Cap("no budget", 0, 10**9, lambda x: x[1], lambda o, ch, at: False, True))
    for spec in ordered:
        def used(cap, cand):
            return sum(1 for c, o, ch, at in contacts if cap.key((c, o, ch)) == cap.key(cand) and cap.counts(o, ch, at))

        def rank_key(cand):  # score = priority / 100, then priority, offer id, channel position
            return (-priorities[cand[1]], cand[1], spec.channels.index(cand[2]))

        walk_caps = [WalkCap(cap.name, lambda d, cap=cap: cap.counts(d["offer_id"], d["channel"], T0),
                             lambda d, cap=cap: cap.key((d["customer_id"], d["offer_id"], d["channel"])),
                             lambda d, cap=cap: cap.maximum - used(cap, (d["customer_id"], d["offer_id"], d["channel"])))
                     for cap in caps if not cap.budget]
        left = budget.maximum - sum(1 for _, o, ch, at in contacts if budget.counts(o, ch, at))
        kept = _budgeted(spec, customers, rank_key, walk_caps, budget, left, lambda x: (-priorities[x[1]], x[0], x[2]))
        decided = {(c, o, ch, not (holdout(spec.key, c, spec.holdout) if spec.holdout else False)) for c, o, ch in kept}
        if decided:
            out[spec.key] = decided
        contacts += [(c, o, ch, T0) for c, o, ch, _ in decided]
    return out


# ---- running the compiled models ---------------------------------------------------------------

def cust(cid):
    return (cid, 100, 5, 80.0, "apparel", "UTC", True, True)


def ev(cid, offer, channel, at, outcome="impression"):
    return (cid, offer, channel, outcome, at.strftime("%Y-%m-%d %H:%M:%S"), None, None, None)


def build_and_run(tmp_path, flows: list[FlowSpec], offers: list[dict], policies: list[dict], customers, history):
    config = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, "offers": offers,
              "contactPolicies": policies, "decisionFlows": [f.config() for f in flows]}
    models = compile_sql(write_config(tmp_path / "decisioning", config))
    tables = {"customers": customers_table([cust(c) for c in customers]),
              "history": history_table([ev(*h) for h in history])}
    return models, run_models(models, tables, as_of=AS_OF)


def outcome(con) -> dict[str, set]:
    got: dict[str, set] = {}
    for table, delivered in (("kaireon_decisions", True), ("kaireon_withheld_decisions", False)):
        for r in rows(con, f"select decision_flow_key, customer_id, offer_id, channel from {table}"):
            got.setdefault(r["decision_flow_key"], set()).add((r["customer_id"], r["offer_id"], r["channel"], delivered))
    return got


def per_customer(decided: dict[str, set]) -> Counter:
    return Counter(c for rows_ in decided.values() for c, *_ in rows_)


CUSTOMERS = [f"c{i:02d}" for i in range(40)]


def test_two_flows_one_total_cap_never_two_contacts(tmp_path):
    """The issue's case: two flows, one global customer_total_cap maxTotal 1, 40 customers."""
    offers = [{"id": "a1", "name": "A1", "priority": 60}, {"id": "b1", "name": "B1", "priority": 40}]
    flows = [FlowSpec("alpha", ["a1"], ["email"]), FlowSpec("beta", ["b1"], ["email"])]
    policies = [{"name": "one a month", "ruleType": "customer_total_cap", "config": {"maxTotal": 1, "periodType": "monthly"}}]
    history = [(c, "x", "email", ago(days=3)) for c in CUSTOMERS[:5]]  # 5 customers already used their contact
    _, con = build_and_run(tmp_path, flows, offers, policies, CUSTOMERS, history)
    got = outcome(con)
    assert max(per_customer(got).values()) == 1
    cap = Cap("one a month", 0, 1, lambda x: x[0], lambda o, ch, at: at >= dt.datetime(2026, 11, 1))
    expected = reference(flows, {"a1": 60, "b1": 40}, CUSTOMERS, history, [cap])
    assert got == expected
    assert len(expected["alpha"]) == 35 and expected.get("beta", set()) == set()
    # beta's candidates are rejections of the cap, naming what the earlier flow used
    reasons = {r["reason"] for r in rows(con, "select reason from kaireon_rejections where decision_flow_key = 'beta'")}
    assert reasons == {"Customer total cap 'one a month': 1 of 1 contacts used this month"}


def test_run_order_reverses_the_default_order(tmp_path):
    """runOrder beats the key: beta (runOrder -1) decides first and takes the one contact."""
    offers = [{"id": "a1", "name": "A1", "priority": 60}, {"id": "b1", "name": "B1", "priority": 40}]
    flows = [FlowSpec("alpha", ["a1"], ["email"]), FlowSpec("beta", ["b1"], ["email"], run_order=-1)]
    policies = [{"name": "one a month", "ruleType": "customer_total_cap", "config": {"maxTotal": 1, "periodType": "monthly"}}]
    models, con = build_and_run(tmp_path, flows, offers, policies, CUSTOMERS[:10], [])
    got = outcome(con)
    cap = Cap("one a month", 0, 1, lambda x: x[0], lambda o, ch, at: at >= dt.datetime(2026, 11, 1))
    assert got == reference(flows, {"a1": 60, "b1": 40}, CUSTOMERS[:10], [], [cap])
    assert {o for _, o, _, _ in got["beta"]} == {"b1"} and "alpha" not in got
    names = list(models)
    assert names.index("kaireon_beta__decisions") < names.index("kaireon_alpha__candidates")


@pytest.fixture(scope="module")
def three_flows(tmp_path_factory):
    """Three flows sharing offers: a total cap, a per-offer frequency cap, an email-only daily cap,
    a budget shared by the offer `promo` (in all three flows) and a holdout in the middle flow."""
    offers = [{"id": "promo", "name": "Promo", "priority": 90, "budget": {"maxImpressions": 22, "period": "weekly"}},
              {"id": "rate", "name": "Rate", "priority": 70},
              {"id": "card", "name": "Card", "priority": 50},
              {"id": "loan", "name": "Loan", "priority": 30}]
    flows = [FlowSpec("f1", ["promo", "rate"], ["email"], top_n=2),
             FlowSpec("f2", ["promo", "card", "rate"], ["email", "sms"], top_n=2, holdout=30),
             FlowSpec("f3", ["promo", "loan", "card"], ["sms", "email"], top_n=3, run_order=5)]
    policies = [
        {"name": "three a week", "ruleType": "customer_total_cap", "priority": 3,
         "config": {"maxTotal": 3, "periodType": "weekly"}},
        {"name": "offer once a week", "ruleType": "frequency_cap", "priority": 2,
         "config": {"maxContacts": 1, "windowDays": 7, "perOffer": True}},
        {"name": "email daily", "ruleType": "frequency_cap", "priority": 1, "scope": "channel", "scopeId": "email",
         "config": {"maxPerDay": 1}},
    ]
    customers = CUSTOMERS[:24]
    history = []
    for i, c in enumerate(customers):
        if i % 4 == 0:
            history.append((c, "rate", "email", ago(days=2)))  # rate used this week (and once of the total)
        if i % 6 == 1:
            history.append((c, "x", "email", ago(hours=3)))  # an email today: the email cap is used
        if i % 5 == 2:
            history += [(c, "x", "sms", ago(days=1)), (c, "y", "sms", ago(days=1))]  # two of three this week
    history.append(("zz", "promo", "email", ago(days=1)))  # one promo impression of the week's 22
    tmp = tmp_path_factory.mktemp("three")
    _, con = build_and_run(tmp, flows, offers, policies, customers, history)
    week = dt.datetime(2026, 11, 16)
    caps = [
        Cap("three a week", 3, 3, lambda x: x[0], lambda o, ch, at: at >= week),
        Cap("offer once a week", 2, 1, lambda x: (x[0], x[1]), lambda o, ch, at: at > T0 - dt.timedelta(days=7)),
        Cap("email daily", 1, 1, lambda x: x[0], lambda o, ch, at: ch == "email" and at > T0 - dt.timedelta(days=1)),
        # no budget_exhausted policy: the budget is enforced after every policy (lowest priority)
        Cap("Offer budget", -10**9, 22, lambda x: x[1], lambda o, ch, at: o == "promo" and at >= week, budget=True),
    ]
    priorities = {o["id"]: o["priority"] for o in offers}
    expected = reference(flows, priorities, customers, history, caps)
    return con, expected


def test_three_flows_match_the_independent_model(three_flows):
    con, expected = three_flows
    got = outcome(con)
    assert got == expected
    # f1 and f2 decide; with the exact walk (S7) they use every contact f3's candidates could have taken
    assert {k for k, v in expected.items() if v} == {"f1", "f2"}
    assert any(not d for v in expected.values() for *_, d in v)  # f2 withholds some (holdout)


def test_three_flows_budget_shared(three_flows):
    con, expected = three_flows
    promo = [x for v in outcome(con).values() for x in v if x[1] == "promo"]
    assert len(promo) == 22 - 1  # the week's budget less the one impression in history
    by_flow = Counter(k for k, v in expected.items() for x in v if x[1] == "promo")
    assert by_flow["f1"] > 0 and by_flow["f2"] > 0 and by_flow["f3"] == 0  # f2 takes what f1 left; f3 none


def test_three_flows_caps_hold_across_flows(three_flows):
    con, expected = three_flows
    got = outcome(con)
    every = [x for v in got.values() for x in v]
    assert max(Counter((c, o) for c, o, _, _ in every).values()) == 1  # offer once a week, across flows
    assert max(Counter(c for c, _, ch, _ in every if ch == "email").values()) == 1  # email daily
    assert max(per_customer(got).values()) <= 3


def test_withheld_decisions_of_an_earlier_flow_count(tmp_path):
    """Holdout customers of alpha got a withheld decision: it takes their one contact in beta too."""
    offers = [{"id": "a1", "name": "A1", "priority": 60}, {"id": "b1", "name": "B1", "priority": 40}]
    flows = [FlowSpec("alpha", ["a1"], ["email"], holdout=50), FlowSpec("beta", ["b1"], ["email"])]
    policies = [{"name": "one a day", "ruleType": "frequency_cap", "config": {"maxPerDay": 1}}]
    _, con = build_and_run(tmp_path, flows, offers, policies, CUSTOMERS, [])
    got = outcome(con)
    held = {c for c in CUSTOMERS if holdout("alpha", c, 50)}
    assert 0 < len(held) < len(CUSTOMERS)
    assert {c for c, _, _, delivered in got["alpha"] if not delivered} == held
    assert "beta" not in got  # every customer has alpha's decision, delivered or withheld
    cap = Cap("one a day", 0, 1, lambda x: x[0], lambda o, ch, at: at > T0 - dt.timedelta(days=1))
    assert got == reference(flows, {"a1": 60, "b1": 40}, CUSTOMERS, [], [cap])


def test_mutual_exclusion_across_flows(tmp_path):
    """alpha decides `a` of the group {a, b}: beta may not decide `b` for that customer in the same build."""
    offers = [{"id": "a", "name": "A", "priority": 60}, {"id": "b", "name": "B", "priority": 40},
              {"id": "c", "name": "C", "priority": 20}]
    flows = [FlowSpec("alpha", ["a"], ["email"]), FlowSpec("beta", ["b", "c", "a"], ["email"])]
    policies = [{"name": "a or b", "ruleType": "mutual_exclusion", "config": {"offerIds": ["a", "b"]}}]
    _, con = build_and_run(tmp_path, flows, offers, policies, CUSTOMERS[:4], [])
    got = outcome(con)
    assert got["alpha"] == {(c, "a", "email", True) for c in CUSTOMERS[:4]}
    assert got["beta"] == {(c, "c", "email", True) for c in CUSTOMERS[:4]}
    got = {(r["offer_id"], r["rule_name"], r["reason"]) for r in rows(
        con, "select offer_id, rule_name, reason from kaireon_rejections where decision_flow_key = 'beta'")}
    assert got == {  # b: another offer of the group; a: the group's one contact went to alpha
        ("b", "a or b", "Mutual exclusion 'a or b': another offer of the group was shown in the last 30 days or "
                        "decided by an earlier flow of this build"),
        ("a", "a or b", "Mutual exclusion 'a or b': a better-ranked offer of the group is decided in this run or by "
                        "an earlier flow of this build")}


def test_budget_policy_and_money_shared_across_flows(tmp_path):
    """A named budget_exhausted policy, totalBudget at costPerImpression, the offer in two flows."""
    offers = [{"id": "p", "name": "P", "priority": 80,
               "budget": {"totalBudget": 5.0, "costPerImpression": 0.5, "period": "daily"}},  # 10 a day
              {"id": "q", "name": "Q", "priority": 40}]
    flows = [FlowSpec("alpha", ["p"], ["email"]), FlowSpec("beta", ["p", "q"], ["sms"])]
    policies = [{"name": "Budgets", "ruleType": "budget_exhausted"}]
    history = [("zz", "p", "email", ago(hours=2))] * 3  # 3 of today's 10
    _, con = build_and_run(tmp_path, flows, offers, policies, CUSTOMERS[:12], history)
    got = outcome(con)
    budget = Cap("Budgets", 0, 10, lambda x: x[1], lambda o, ch, at: o == "p" and at >= dt.datetime(2026, 11, 20),
                 budget=True)
    expected = reference(flows, {"p": 80, "q": 40}, CUSTOMERS[:12], history, [budget])
    assert got == expected
    assert sum(1 for v in got.values() for x in v if x[1] == "p") == 7
    assert [x for x in got["beta"] if x[1] == "p"] == []  # alpha spent the rest
    assert {r["reason"] for r in rows(con, "select reason from kaireon_rejections where decision_flow_key = 'beta'")} == {
        "Budget exhausted 'Budgets': total budget of 5 at 0.5 per impression used up"}


def test_earlier_flows_are_read_as_aggregates_not_history(tmp_path):
    """beta reads alpha's decision tables (grouped per customer) and reads history no more than alpha does."""
    offers = [{"id": "a1", "name": "A1", "priority": 60}, {"id": "b1", "name": "B1", "priority": 40}]
    flows = [FlowSpec("alpha", ["a1"], ["email"]), FlowSpec("beta", ["b1"], ["email"])]
    policies = [{"name": "one a month", "ruleType": "customer_total_cap", "config": {"maxTotal": 1}}]
    models, _ = build_and_run(tmp_path, flows, offers, policies, CUSTOMERS[:2], [])
    history = "ref('kaireon_stg_interactions')"
    alpha, beta = models["kaireon_alpha__candidates"], models["kaireon_beta__candidates"]
    assert beta.count(history) == alpha.count(history)
    assert "kaireon_alpha__decisions" not in alpha + models["kaireon_alpha__customers"]
    assert beta.count("ref('kaireon_alpha__decisions')") == beta.count("ref('kaireon_alpha__withheld_decisions')") == 1
