"""Overrides, champion-challenger and arbitration profiles (S8), each against a Python computation."""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import pytest

from harness import Table, flow, rows, scenario, standard_nodes
from kaireon_sql.errors import ConfigError, ConfigErrors

AS_OF = "2026-11-20 15:00:00"
NOW = datetime.fromisoformat(AS_OF)
SCORES = {"customer_id": "VARCHAR", "offer_id": "VARCHAR", "propensity": "DOUBLE", "uplift": "DOUBLE"}


def cust(cid):
    return (cid, 100, 5, 80.0, "apparel", "UTC", True, True)


def hash_uniform(*parts: str) -> float:
    """S7: int(md5(a || ':' || b ...)[:8], 16) / 2^32."""
    return int(hashlib.md5(":".join(parts).encode("utf-8")).hexdigest()[:8], 16) / 4294967296


def model(mid: str, relation: str | None = None, **extra) -> dict:
    return {"id": mid, "name": mid, "modelType": "scorecard", "scoresRelation": relation or f"s_{mid}", **extra}


def constant_scores(customers, offers, p) -> Table:
    return Table(SCORES, [(c, o, p, None) for c in customers for o in offers])


CATEGORIES = [{"id": "cat1", "name": "Cat 1"}, {"id": "cat2", "name": "Cat 2"}]
OFFERS = [{"id": "a", "name": "A", "priority": 10, "categoryId": "cat1", "margin": 25},
          {"id": "b", "name": "B", "priority": 10, "categoryId": "cat1", "margin": 150},
          {"id": "c", "name": "C", "priority": 10, "categoryId": "cat2"}]
MODEL_P = {"champ": 0.1, "m_offer": 0.2, "m_cat": 0.3, "m_chan": 0.4, "chal": 0.9}


def _tables(customers):
    return {f"s_{m}": constant_scores(customers, [o["id"] for o in OFFERS], p) for m, p in MODEL_P.items()}


def test_override_precedence_offer_category_channel_then_challenger(tmp_path):
    # listed channel first: the order of the list does not matter, the scope does (offer, category, channel)
    score = {"method": "model", "modelId": "champ",
             "overrides": [{"scope": "channel", "scopeId": "sms", "modelId": "m_chan"},
                           {"scope": "category", "scopeId": "cat1", "modelId": "m_cat"},
                           {"scope": "offer", "scopeId": "a", "modelId": "m_offer"}],
             "championChallenger": {"challengerModelId": "chal", "trafficPercent": 50, "salt": "s"}}
    customers = [f"c{i}" for i in range(40)]
    config = {"categories": CATEGORIES, "offers": OFFERS, "algorithmModels": [model(m) for m in MODEL_P],
              "decisionFlows": [flow(standard_nodes(top_n=10, score=score), channel="email")]}
    con = scenario(tmp_path, config, [cust(c) for c in customers], as_of=AS_OF, tables=_tables(customers))
    got = {(r["customer_id"], r["offer_id"]): (r["model_id"], r["score"])
           for r in rows(con, "select customer_id, offer_id, model_id, score from kaireon_decisions")}

    def expected(c, o):
        if o == "a":
            return "m_offer"
        if o == "b":
            return "m_cat"
        # channel 'sms' does not match the email flow; the rows no override covers are split
        return "chal" if hash_uniform("s", c) < 0.5 else "champ"

    want = {(c, o["id"]): (expected(c, o["id"]), MODEL_P[expected(c, o["id"])]) for c in customers for o in OFFERS}
    assert {k: m for k, (m, _) in got.items()} == {k: m for k, (m, _) in want.items()}
    assert {k: s for k, (_, s) in got.items()} == pytest.approx({k: s for k, (_, s) in want.items()})
    assert {m for m, _ in got.values()} == {"m_offer", "m_cat", "chal", "champ"}
    log = rows(con, "select distinct model_id from kaireon_decision_log order by 1")
    assert [r["model_id"] for r in log] == ["chal", "champ", "m_cat", "m_offer"]


def test_channel_override_and_no_model_gives_null_model_id(tmp_path):
    score = {"method": "model", "modelId": "champ", "overrides": [{"scope": "channel", "scopeId": "email", "modelId": "m_chan"}]}
    config = {"categories": CATEGORIES, "offers": OFFERS, "algorithmModels": [model(m) for m in MODEL_P],
              "decisionFlows": [flow(standard_nodes(top_n=10, score=score), key="f"),
                                flow(standard_nodes(top_n=10), key="g")]}
    con = scenario(tmp_path, config, [cust("c1")], as_of=AS_OF, tables=_tables(["c1"]))
    got = rows(con, "select decision_flow_key, model_id, score from kaireon_decisions order by 1, 2")
    assert {(r["decision_flow_key"], r["model_id"]) for r in got} == {("f", "m_chan"), ("g", None)}
    assert all(r["score"] == pytest.approx(0.4) for r in got if r["decision_flow_key"] == "f")


def test_champion_challenger_split_on_10k_customers(tmp_path):
    n, share, salt = 10_000, 0.3, "cc-salt"
    customers = [f"u{i}" for i in range(n)]
    offers = [{"id": "a", "name": "A", "priority": 10}]
    score = {"method": "model", "modelId": "champ",
             "championChallenger": {"challengerModelId": "chal", "trafficPercent": share * 100, "salt": salt}}
    config = {"offers": offers, "algorithmModels": [model("champ", "s_all"), model("chal", "s_all")],
              "decisionFlows": [flow(standard_nodes(top_n=1, score=score))]}
    tables = {"s_all": constant_scores(customers[:1], ["a"], 0.5)}
    con = scenario(tmp_path, config, [cust(c) for c in customers], as_of=AS_OF, tables=tables)
    got = {r["customer_id"]: r["model_id"] for r in rows(con, "select customer_id, model_id from kaireon_decisions")}
    want = {c: "chal" if hash_uniform(salt, c) < share else "champ" for c in customers}
    assert got == want
    observed = sum(1 for m in got.values() if m == "chal") / n
    assert abs(observed - share) < 4 * math.sqrt(share * (1 - share) / n)


# ---- arbitration ---------------------------------------------------------------------------------

def _imp(c, o, days_ago):
    return (c, o, "email", "impression", NOW - timedelta(days=days_ago), None, None, "f")


HISTORY = [
    _imp("c1", "a", 1), _imp("c1", "a", 3), _imp("c1", "b", 6.5), _imp("c1", "b", 10), _imp("c1", "c", 45),
    _imp("c2", "b", 0.25), _imp("c2", "b", 20), _imp("c2", "a", 29), _imp("c2", "c", 3.1234567),  # fractions of a second
    _imp("c3", "x", 2),  # an offer outside the inventory: counts for fatigue, not for fairness's maximum
]
PROPENSITY = {("c1", "a"): 0.7, ("c1", "b"): 1.4, ("c2", "a"): -0.2, ("c2", "c"): 0.35}  # missing: the prior 0.5
MARGIN = {"a": 25, "b": 150, "c": None}


def _dimensions(c, o, fatigue_days=7.0, fatigue_cap=5.0, recency_days=30.0):
    clip = lambda x: max(0.0, min(1.0, x))  # noqa: E731
    conversion = clip(PROPENSITY.get((c, o), 0.5))
    margin = clip((MARGIN[o] or 0) / 100)
    seen = sum(1 for h in HISTORY if h[0] == c and h[4] > NOW - timedelta(days=fatigue_days))
    fatigue = clip(1 - seen / fatigue_cap)
    last = max((h[4] for h in HISTORY if h[0] == c and h[1] == o), default=None)
    recency = 1.0 if last is None else clip((NOW - last).total_seconds() / 86400 / recency_days)
    shown = {k: sum(1 for h in HISTORY if h[1] == k and h[4] > NOW - timedelta(days=30)) for k in MARGIN}
    top = max(shown.values())
    fairness = 1.0 if top == 0 else clip(1 - shown[o] / top)
    return {"conversion": conversion, "margin": margin, "fatigue": fatigue, "recency": recency, "fairness": fairness}


PROFILES = {
    "conv": {"conversion": 1},
    "margin": {"conversion": 0, "margin": 1},
    "fatigue": {"conversion": 0, "fatigue": 1},
    "recency": {"conversion": 0, "recency": 1},
    "fairness": {"conversion": 0, "fairness": 1},
    "mixed": {"conversion": 0.4, "margin": 0.3, "fatigue": 0.1, "recency": 0.15, "fairness": 0.05},
    "zero": {"conversion": 0},
    "tight": {"conversion": 0, "fatigue": 2, "recency": 1},
}
TIGHT = {"fatigueDays": 2, "fatigueCap": 1, "recencyDays": 5}


def composite(weights, dims, propensity):
    total = sum(weights.values())
    if total == 0:
        return propensity
    return sum(w * dims[d] for d, w in weights.items()) / total


@pytest.fixture(scope="module")
def arbitrated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("arbitration")
    profiles = [{"id": k, "name": k, "weights": w, **(TIGHT if k == "tight" else {})} for k, w in PROFILES.items()]
    profiles[0]["isDefault"] = True
    flows = [flow(standard_nodes(top_n=10, score={"method": "model", "modelId": "m",
                                                  **({} if k == "conv" else {"arbitrationProfileId": k})}), key=f"f_{k}")
             for k in PROFILES]
    flows.append(flow(standard_nodes(top_n=10, score={"method": "formula", "modelId": "m",
                                                      "formula": {"propensityWeight": 1}}), key="formula"))
    config = {"categories": CATEGORIES, "offers": OFFERS, "algorithmModels": [model("m", "scores")],
              "arbitrationProfiles": profiles, "decisionFlows": flows}
    scores = Table(SCORES, [(c, o, p, None) for (c, o), p in PROPENSITY.items()])
    con = scenario(tmp, config, [cust("c1"), cust("c2"), cust("c3")], history=HISTORY, as_of=AS_OF,
                   tables={"scores": scores})
    return {(r["decision_flow_key"], r["customer_id"], r["offer_id"]): r["score"]
            for r in rows(con, "select decision_flow_key, customer_id, offer_id, score from kaireon_decisions")}


@pytest.mark.parametrize("profile", list(PROFILES))
def test_arbitration_composite_matches_python(arbitrated, profile):
    extra = {"fatigue_days": 2, "fatigue_cap": 1, "recency_days": 5} if profile == "tight" else {}
    want = {}
    for c in ("c1", "c2", "c3"):
        for o in MARGIN:
            p = PROPENSITY.get((c, o), 0.5)
            want[(c, o)] = composite(PROFILES[profile], _dimensions(c, o, **extra), p)
    got = {(c, o): s for (f, c, o), s in arbitrated.items() if f == f"f_{profile}"}
    assert got == pytest.approx(want, abs=1e-9)


def test_arbitration_dimensions_cover_edges():
    dims = _dimensions("c3", "c")  # never shown the offer: recency 1; NULL margin: 0
    assert dims["recency"] == 1.0 and dims["margin"] == 0.0
    assert _dimensions("c1", "b")["margin"] == 1.0  # 150 / 100 clipped
    assert _dimensions("c1", "b")["fairness"] == 0.0 and _dimensions("c1", "a")["fairness"] == 0.25  # b: most shown
    assert composite(PROFILES["zero"], _dimensions("c2", "a"), -0.2) == -0.2  # all-zero weights: the conversion


def test_formula_scores_never_arbitrate(arbitrated):
    got = {(c, o): s for (f, c, o), s in arbitrated.items() if f == "formula"}
    assert got == pytest.approx({(c, o): PROPENSITY.get((c, o), 0.5) for c in ("c1", "c2", "c3") for o in MARGIN})


# ---- bad input -----------------------------------------------------------------------------------

# ---- one scenario on every engine ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["postgres", "spark"])
def test_overrides_challenger_and_arbitration_same_on_other_engines(tmp_path, name):
    """Overrides, champion-challenger and an arbitration profile together give DuckDB's rows (S5)."""
    from backends import open_backend, run_models_on
    from cross_engine import S4_TABLES, diff, table_rows
    from harness import compile_sql, customers_table, history_table, schema, write_config
    from kaireon_sql.dialect import engine

    customers = [f"c{i}" for i in range(1, 13)]
    score = {"method": "model", "modelId": "champ", "arbitrationProfileId": "mixed",
             "overrides": [{"scope": "category", "scopeId": "cat2", "modelId": "m_cat"},
                           {"scope": "offer", "scopeId": "a", "modelId": "m_offer"}],
             "championChallenger": {"challengerModelId": "chal", "trafficPercent": 40}}
    config = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, "categories": CATEGORIES,
              "offers": OFFERS, "algorithmModels": [model(m) for m in MODEL_P],
              "arbitrationProfiles": [{"id": "mixed", "name": "mixed", "weights": PROFILES["mixed"], **TIGHT}],
              "decisionFlows": [flow(standard_nodes(top_n=2, score=score), key="f")]}
    folder = write_config(tmp_path / "decisioning", config)
    tables = {"customers": customers_table([cust(c) for c in customers]), "history": history_table(HISTORY),
              **_tables(customers)}
    tables["s_chal"] = Table(SCORES, [(c, o, 0.05 * i, None) for i, c in enumerate(customers) for o in MARGIN])
    out = {}
    for eng in ("duckdb", name):
        backend = open_backend(eng)
        try:
            run_models_on(backend, compile_sql(folder, engine(eng)), tables, as_of=AS_OF)
            out[eng] = {t: table_rows(backend, t) for t in (*S4_TABLES, "kaireon_decision_log")}
        finally:
            backend.close()
    decisions = out["duckdb"]["kaireon_decisions"]
    assert {r["model_id"] for r in decisions} >= {"m_offer", "m_cat"} and len(decisions) == 2 * len(customers)
    for table, reference in out["duckdb"].items():
        problem = diff(reference, out[name][table])
        assert problem is None, f"{name} differs from duckdb in {table}: {problem}"


def test_arbitrated_candidates_parse_back_on_every_engine(tmp_path):
    """The candidates model of a flow with every dimension (EpochSeconds included) reads back in each dialect."""
    import sqlglot

    from harness import compile_sql, first_build, schema, write_config
    from kaireon_sql.dialect import ENGINES, engine

    score = {"method": "model", "modelId": "champ", "arbitrationProfileId": "mixed",
             "championChallenger": {"challengerModelId": "chal", "trafficPercent": 40}}
    config = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, "offers": OFFERS[:1],
              "categories": CATEGORIES, "algorithmModels": [model("champ"), model("chal")],
              "arbitrationProfiles": [{"id": "mixed", "name": "mixed", "weights": PROFILES["mixed"]}],
              "decisionFlows": [flow(standard_nodes(score=score))]}
    folder = write_config(tmp_path / "decisioning", config)
    for name in ENGINES:
        sql = first_build(compile_sql(folder, engine(name))["kaireon_f__candidates"])
        tree = sqlglot.parse_one(sql.replace("{{ ref('", "ref__").replace("') }}", ""), read=engine(name).sqlglot)
        assert isinstance(tree, sqlglot.exp.Select), name


def _validate_errors(tmp_path, config) -> str:
    from harness import compile_sql, schema, write_config

    base = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, **config}
    with pytest.raises((ConfigError, ConfigErrors)) as info:
        compile_sql(write_config(tmp_path / "decisioning", base))
    return str(info.value)


@pytest.mark.parametrize("score, models, fragment", [
    ({"overrides": [{"scope": "offer", "scopeId": "a", "modelId": "nope"}]}, [], "unknown algorithm model 'nope'"),
    ({"overrides": [{"scope": "offer", "scopeId": "a", "modelId": "off"}]}, [model("off", status="inactive")],
     "algorithm model 'off' has status 'inactive'"),
    ({"championChallenger": {"challengerModelId": "off", "trafficPercent": 10}}, [model("off", status="inactive")],
     "config.championChallenger.challengerModelId"),
    ({"overrides": [{"scope": "category", "scopeId": "nocat", "modelId": "champ"}]}, [], "unknown category 'nocat'"),
    ({"arbitrationProfileId": "nope"}, [], "unknown arbitration profile 'nope'"),
])
def test_bad_score_references_are_refused(tmp_path, score, models, fragment):
    config = {"categories": CATEGORIES, "offers": OFFERS, "algorithmModels": [model("champ"), *models],
              "decisionFlows": [flow(standard_nodes(score={"method": "model", "modelId": "champ", **score}))]}
    assert fragment in _validate_errors(tmp_path, config)


def test_overrides_need_a_champion(tmp_path):
    config = {"offers": OFFERS[:1], "algorithmModels": [model("champ")],
              "decisionFlows": [flow(standard_nodes(score={"method": "formula", "formula": {"propensityWeight": 1},
                                                           "overrides": [{"scope": "offer", "scopeId": "a",
                                                                          "modelId": "champ"}]}))]}
    assert "expected 'modelId'" in _validate_errors(tmp_path, config)
