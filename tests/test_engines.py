"""The in-warehouse engines (S8): bayesian (with groupBy), epsilon_greedy, thompson_bandit and scorecard
score a flow end to end, each candidate's score equal to an independent Python computation from the same
rows (the attribution recomputed by tests/test_attribution.reference). With KAIREON_CROSS_ENGINE set, the
same scenario runs on PostgreSQL and Spark and every S4 table equals DuckDB's (harness.run_models)."""
from __future__ import annotations

import hashlib
import math
import random
from datetime import datetime, timedelta

import pytest
from cross_engine import assert_same_on_engines
from harness import (compile_sql, cross_engine_names, customers_table, flow, history_table, rows, run_models, schema,
                     standard_nodes, write_config)
from test_attribution import reference as attribution_reference

from kaireon_sql.config import load_project
from kaireon_sql.dialect.sampling import beta_draw_reference
from kaireon_sql.errors import ConfigErrors

AS_OF = datetime(2026, 11, 20, 15, 0, 0)
OFFERS = {"o1": "c1", "o2": "c1", "o3": "c2", "o4": None, "o5": "c1"}  # o5 is never shown
CATEGORIES = ("a", "b", None)


def _data(seed: int = 7) -> tuple[list[tuple], list[tuple]]:
    rnd = random.Random(seed)
    customers = [(f"k{i:02d}", rnd.randint(0, 400), rnd.randint(0, 20), round(rnd.uniform(0, 500), 2),
                  CATEGORIES[i % 3], "UTC", True, True) for i in range(30)]
    customers[0] = ("k00", None, 3, None, "a", "UTC", True, True)  # NULL fields contribute 0 to the scorecard
    rate = {"o1": 0.5, "o2": 0.2, "o3": 0.35, "o4": 0.1}
    history = []
    for cid, *_ in customers:
        for offer, p in rate.items():
            for _ in range(rnd.randint(0, 3)):
                at = AS_OF - timedelta(days=rnd.uniform(-1, 40))  # some after as_of, some before the window
                history.append((cid, offer, "email", "impression", at, None, None, None))
                if rnd.random() < p:
                    outcome = rnd.choice(("click", "convert"))
                    history.append((cid, offer, rnd.choice(("email", None)), outcome,
                                    at + timedelta(hours=rnd.uniform(0, 100)), 10.0, None, None))
    return customers, history


def hash_uniform(*parts: str) -> float:
    return int(hashlib.md5(":".join(parts).encode()).hexdigest()[:8], 16) / 4294967296


def _window(history, window_days: float) -> list[dict]:
    start = AS_OF - timedelta(days=window_days)
    return [r for r in attribution_reference(history, []) if start < r["impression_at"] <= AS_OF]


def bayesian_reference(history, customers, m=10.0, window_days=30.0, group=False) -> dict[tuple[str, str], float]:
    """S8's shrinkage from the attributed rows: (customer, offer) -> propensity."""
    rows_in = _window(history, window_days)
    cat_of = {c[0]: c[4] for c in customers}  # the customer's `category` field

    def counts(keep) -> tuple[int, int]:
        sel = [r for r in rows_in if keep(r)]
        return len(sel), sum(r["positive"] for r in sel)

    n_all, k_all = counts(lambda r: True)
    g = (k_all + 1) / (n_all + 2)
    out = {}
    for offer, cat in OFFERS.items():
        n_c, k_c = counts(lambda r: cat is not None and OFFERS.get(r["offer_id"]) == cat)
        p_c = (k_c + m * g) / (n_c + m)
        n_o, k_o = counts(lambda r: r["offer_id"] == offer)
        p_o = (k_o + m * p_c) / (n_o + m)
        for cid, *_ in customers:
            value = p_o
            if group and cat_of[cid] is not None:
                n_g, k_g = counts(lambda r: r["offer_id"] == offer and cat_of[r["customer_id"]] == cat_of[cid])
                if n_g:
                    value = (k_g + m * p_o) / (n_g + m)
            out[(cid, offer)] = value
    return out


def scorecard_reference(customers) -> dict[tuple[str, str], float]:
    out = {}
    for cid, days, purchases, revenue, *_ in customers:
        bins = 0.0 if days is None else (0.3 if days < 30 else 0.1 if days < 180 else 0.0)
        s = 0.1 + 0.02 * (purchases or 0) + 0.001 * (revenue or 0) + 1.0 * bins
        for offer in OFFERS:
            out[(cid, offer)] = min(1.0, max(0.0, s))
    return out


MODELS = [
    {"id": "bay", "name": "bay", "modelType": "bayesian", "config": {"smoothingWeight": 4, "groupBy": ["customer.category"]}},
    {"id": "eps", "name": "eps", "modelType": "epsilon_greedy", "config": {"epsilon": 0.4, "salt": "s1"}},
    {"id": "card", "name": "card", "modelType": "scorecard", "config": {
        "baseScore": 0.1, "weights": [
            {"field": "customer.purchases", "weight": 0.02}, {"field": "customer.revenue", "weight": 0.001},
            {"field": "customer.days", "bins": [{"max": 30, "points": 0.3}, {"min": 30, "max": 180, "points": 0.1}]}]}},
    {"id": "ts", "name": "ts", "modelType": "thompson_bandit", "config": {"windowDays": 20}},
]


def _config(models: list[dict] = MODELS) -> dict:
    flows = [flow(standard_nodes(top_n=5, score={"method": "model", "modelId": m["id"]}), key=f"f_{m['id']}")
             for m in models]
    return {"schemas": [schema()], "interactionHistory": {"relation": "history"},
            "categories": [{"id": "c1", "name": "C1"}, {"id": "c2", "name": "C2"}],
            "offers": [{"id": o, "name": o, **({"categoryId": c} if c else {})} for o, c in OFFERS.items()],
            "algorithmModels": models, "decisionFlows": flows}


def _tables(customers, history) -> dict:
    return {"customers": customers_table(customers), "history": history_table(history)}


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Every flow on DuckDB (the other engines: test_engines_give_the_same_rows_on_every_engine)."""
    customers, history = _data()
    models = compile_sql(write_config(tmp_path_factory.mktemp("engines") / "decisioning", _config()))
    con = run_models(dict(models), _tables(customers, history), as_of=str(AS_OF))
    got: dict[str, dict] = {}
    for r in rows(con, "SELECT decision_flow_key, customer_id, offer_id, score FROM kaireon_decisions"):
        got.setdefault(r["decision_flow_key"], {})[(r["customer_id"], r["offer_id"])] = r["score"]
    return customers, history, got, con


def _equal(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    bad = [(k, got[k], want[k]) for k in want if not math.isclose(got[k], want[k], rel_tol=1e-9, abs_tol=1e-12)]
    assert not bad, bad[:5]


def test_bayesian_with_groups_equals_python(scored):
    customers, history, got, _ = scored
    _equal(got["f_bay"], bayesian_reference(history, customers, m=4.0, group=True))


def test_bayesian_posterior_of_an_offer_never_shown_is_its_category_rate(scored):
    _, _, _, con = scored
    post = {r["offer_id"]: r for r in rows(con, "SELECT * FROM kaireon_model__bay__posterior")}
    assert post["o5"]["n"] == 0 and math.isclose(post["o5"]["propensity"], post["o5"]["category_rate"])
    assert math.isclose(post["o4"]["category_rate"], post["o4"]["global_rate"])  # no category: g


def test_epsilon_greedy_equals_python(scored):
    customers, history, got, _ = scored
    bayes = bayesian_reference(history, customers)
    run = f"f_eps@{AS_OF.isoformat()}Z"
    want = {}
    for (cid, offer), p in bayes.items():
        explores = hash_uniform("s1", run, cid) < 0.4
        want[(cid, offer)] = hash_uniform("s1", run, cid, offer) if explores else p
    explorers = {cid for cid, *_ in customers if hash_uniform("s1", run, cid) < 0.4}
    assert 0 < len(explorers) < len(customers)
    _equal(got["f_eps"], want)


def test_thompson_draws_equal_python(scored):
    """Beta(1 + k_o, 1 + n_o - k_o) per customer and offer, n and k over the last 20 days, seeded by
    (salt = the model id, run_id, customer_id, offer_id): the md5 procedure of dialect/sampling.py in Python."""
    customers, history, got, _ = scored
    rows_in = _window(history, 20.0)
    run = f"f_ts@{AS_OF.isoformat()}Z"
    want = {}
    for offer in OFFERS:
        n = sum(1 for r in rows_in if r["offer_id"] == offer)
        k = sum(r["positive"] for r in rows_in if r["offer_id"] == offer)
        for cid, *_ in customers:
            want[(cid, offer)] = beta_draw_reference(1.0 + k, 1.0 + n - k, ["ts", run, cid, offer])
    assert len({round(v, 12) for v in want.values()}) == len(want)  # a draw per customer and offer
    _equal(got["f_ts"], want)


def test_scorecard_equals_python(scored):
    customers, _, got, _ = scored
    _equal(got["f_card"], scorecard_reference(customers))


def test_engines_give_the_same_rows_on_every_engine(tmp_path):
    """One flow per engine (epsilon_greedy with groups: the posteriors, the group rates and the hashes;
    the scorecard; thompson_bandit's draws) on PostgreSQL and Spark: every S4 table equals DuckDB's."""
    engines = cross_engine_names()
    if not engines:
        pytest.skip("KAIREON_CROSS_ENGINE names no other engine")
    eps = {**MODELS[1], "config": {**MODELS[1]["config"], "groupBy": ["customer.category"]}}
    folder = write_config(tmp_path / "decisioning", _config([eps, MODELS[2], MODELS[3]]))
    customers, history = _data()
    assert_same_on_engines(folder, _tables(customers[:12], history), engines, as_of=str(AS_OF))


@pytest.mark.parametrize("model, field, message", [
    ({"modelType": "bayesian", "config": {"smoothingWeight": 0}}, "config.smoothingWeight", "> 0"),
    ({"modelType": "bayesian", "config": {"windowDays": -1}}, "config.windowDays", "> 0"),
    ({"modelType": "bayesian", "config": {"smoothing": 3}}, "config.smoothing", "unknown field"),
    ({"modelType": "bayesian", "config": {"groupBy": ["segment"]}}, "config.groupBy[0]", "customer.<field>"),
    ({"modelType": "epsilon_greedy", "config": {"epsilon": 1.5}}, "config.epsilon", "<= 1"),
    ({"modelType": "epsilon_greedy", "config": {}}, "config.epsilon", "required"),
    ({"modelType": "thompson_bandit", "config": {"priorAlpha": 0}}, "config.priorAlpha", "> 0"),
    ({"modelType": "thompson_bandit", "config": {"priorBeta": -2}}, "config.priorBeta", "> 0"),
    ({"modelType": "scorecard", "config": {"weights": [{"field": "customer.days", "weight": 0}]}}, "config.weights",
     "every weight is 0"),
    ({"modelType": "scorecard", "config": {"weights": []}}, "config.weights", "at least 1"),
    ({"modelType": "scorecard", "config": {"weights": [{"field": "days"}]}}, "config.weights[0].field",
     "customer.<field>"),
    ({"modelType": "scorecard", "config": {"weights": [{"field": "customer.days", "bins": [{"min": 5, "max": 1,
                                                                                           "points": 1}]}]}},
     "config.weights[0].bins[0].max", "max > min"),
    ({"modelType": "bayesian", "scoresRelation": "scores", "config": {"smoothingWeight": 3}}, "config",
     "read from 'scoresRelation'"),
])
def test_bad_engine_config_is_refused_at_validate(tmp_path, model, field, message):
    config = {"algorithmModels": [{"id": "m", "name": "m", **model}]}
    with pytest.raises(ConfigErrors) as info:
        load_project(write_config(tmp_path / "decisioning", config))
    text = str(info.value)
    assert "algorithmModels[0] 'm'" in text and f"field '{field}'" in text and message in text, text


@pytest.mark.parametrize("model, field, message", [
    ({"modelType": "bayesian", "config": {"groupBy": ["customer.nope"]}}, "config.groupBy[0]", "nope"),
    ({"modelType": "scorecard", "config": {"weights": [{"field": "customer.category"}]}}, "config.weights[0].field",
     "must be a number"),
    ({"modelType": "scorecard", "config": {"weights": [{"field": "offer.nope"}]}}, "config.weights[0].field", "nope"),
])
def test_bad_engine_reference_is_refused_at_compile(tmp_path, model, field, message):
    config = {**_config(), "algorithmModels": [{"id": "m", "name": "m", **model}],
              "decisionFlows": [flow(standard_nodes(score={"method": "model", "modelId": "m"}))]}
    with pytest.raises(ConfigErrors) as info:
        compile_sql(write_config(tmp_path / "decisioning", config))
    text = str(info.value)
    assert "algorithmModels[0] 'm'" in text and f"field '{field}'" in text and message in text, text
