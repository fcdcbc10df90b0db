"""Every scoring engine in the demo flow (S8, issue 12): the demo's config (decisioning/) and data (seeds/demo) with the
winback score node switched to `method: model` and per-offer `overrides`, so one flow (and a twin, winback_b) scores
with each engine: scorecard, bayesian (groupBy customer.primaryCategory), thompson_bandit, epsilon_greedy,
online_learner, gradient_boosted (a model file fitted on demo rows) and neural_cf (factors fitted on demo impressions);
the offer no override covers goes to a champion-challenger split. The harness (tests/harness.py, no dbt) runs the
compiled models over 60 eligible demo customers with their history; with KAIREON_CROSS_ENGINE every S4 table on
PostgreSQL and Spark equals DuckDB's, and on DuckDB every model scores decided rows, with scores that differ by
engine. The whole demo through dbt on every engine is tests/test_demo_dbt_engines.py."""
from __future__ import annotations

import json
import shutil
from datetime import datetime

import pytest
import yaml
from cross_engine import S4_TABLES, csv_table, diff, run_everywhere
from harness import Table, cross_engine_names
from test_cross_engine import DEMO_TABLES, SEEDS

from conftest import REPO, winback_config
from kaireon_sql.train import gbm, ncf

AS_OF = "2026-11-20 15:00:00"
CATEGORIES = ("apparel", "electronics", "home")
PER_CATEGORY = 20
POSITIVE = ("click", "convert")
GBM_FEATURES = [("customer.daysSinceLastPurchase", "number"), ("customer.lifetimePurchases", "number"),
                ("customer.lifetimeRevenue", "number")]
GBM_SETTINGS = {"maxIter": 3, "minSamplesLeaf": 5, "maxLeafNodes": 4}  # small trees: the SQL is inlined per stage
NCF_SETTINGS = {"factors": 3, "epochs": 40}

MODELS = [
    {"id": "eng_card", "name": "Scorecard", "modelType": "scorecard", "config": {
        "baseScore": 0.05, "weights": [
            {"field": "customer.lifetimePurchases", "weight": 0.03}, {"field": "offer.margin", "weight": 0.002},
            {"field": "customer.daysSinceLastPurchase", "bins": [{"max": 180, "points": 0.2},
                                                                 {"min": 180, "max": 300, "points": 0.1}]}]}},
    {"id": "eng_bay", "name": "Bayesian", "modelType": "bayesian",
     "config": {"smoothingWeight": 5, "windowDays": 400, "groupBy": ["customer.primaryCategory"]}},
    {"id": "eng_ts", "name": "Thompson", "modelType": "thompson_bandit", "config": {"windowDays": 400}},
    {"id": "eng_eps", "name": "Epsilon", "modelType": "epsilon_greedy",
     "config": {"epsilon": 0.5, "salt": "demo", "windowDays": 400}},
    {"id": "eng_ol", "name": "Online", "modelType": "online_learner", "config": {
        "features": ["customer.daysSinceLastPurchase", "customer.lifetimeRevenue"], "learningRate": 0.0001,
        "priorIntercept": -1.0}},
    {"id": "eng_gbm", "name": "GBM", "modelType": "gradient_boosted",
     "config": {"features": [n for n, _ in GBM_FEATURES], **GBM_SETTINGS}},
    {"id": "eng_ncf", "name": "NCF", "modelType": "neural_cf", "config": dict(NCF_SETTINGS)},
]
# flow key -> (apparel override, electronics override, home: champion, challenger)
ROUTES = {"winback": ("eng_card", "eng_bay", "eng_eps", "eng_ol"),
          "winback_b": ("eng_ts", "eng_gbm", "eng_ncf", "eng_card")}


def _eligible(r: dict) -> bool:
    """The winback qualification rules (decisioning/winback.yml) for the customer's own category."""
    return (r["primaryCategory"] in CATEGORIES and r["daysSinceLastPurchase"] is not None
            and 90 <= r["daysSinceLastPurchase"] <= 365 and (r["lifetimePurchases"] or 0) >= 3
            and (r["lifetimeRevenue"] or 0) >= 50)


def _tables() -> dict[str, Table]:
    """The demo seeds restricted to the first PER_CATEGORY eligible customers of each category, with their rows."""
    full = {name: csv_table(SEEDS / f"{name}.csv", types) for name, types in DEMO_TABLES.items()}
    names = list(DEMO_TABLES["demo_customers"])
    picked: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for row in full["demo_customers"].rows:
        r = dict(zip(names, row))
        if _eligible(r) and len(picked[r["primaryCategory"]]) < PER_CATEGORY:
            picked[r["primaryCategory"]].append(r["customer_id"])
    keep = {c for ids in picked.values() for c in ids}
    out = {}
    for name, table in full.items():
        at = list(table.columns).index("customer_id")
        out[name] = Table(table.columns, [r for r in table.rows if r[at] in keep])
    return out


def _history(tables) -> list[dict]:
    cols = list(DEMO_TABLES["demo_interaction_history"])
    return [dict(zip(cols, r)) for r in tables["demo_interaction_history"].rows]


def _labelled_impressions(tables) -> list[tuple[str, str, int]]:
    """(customer, offer, 1 if the customer ever converted or clicked on the offer) per impression before as_of."""
    rows = [h for h in _history(tables) if h["occurred_at"] <= datetime.fromisoformat(AS_OF)]
    positive = {(h["customer_id"], h["offer_id"]) for h in rows if h["outcome"] in POSITIVE}
    return [(h["customer_id"], h["offer_id"], int((h["customer_id"], h["offer_id"]) in positive))
            for h in rows if h["outcome"] == "impression"]


def _model_files(folder, tables) -> None:
    """models/eng_gbm.json: trees fitted on the demo impressions' customer fields; models/eng_ncf.json: factors."""
    cells = _labelled_impressions(tables)
    cols = list(DEMO_TABLES["demo_customers"])
    customer = {r[0]: dict(zip(cols, r)) for r in tables["demo_customers"].rows}
    raw = [[float(customer[c][n.split(".")[1]]) for n, _ in GBM_FEATURES] for c, _, _ in cells]
    labels = [y for _, _, y in cells]
    assert 0 < sum(labels) < len(labels)
    features = [gbm.encoder(n, k, [r[j] for r in raw]) for j, (n, k) in enumerate(GBM_FEATURES)]
    clf = gbm.fit(features, raw, labels, GBM_SETTINGS, seed=3)
    files = {"eng_gbm": gbm.model_file(clf, features, "eng_gbm", {"seed": 3}),
             "eng_ncf": ncf.model_file(ncf.fit(cells, NCF_SETTINGS, seed=2), "eng_ncf", {"seed": 2})}
    for name, data in files.items():
        (folder / "models" / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")


def _score(apparel: str, electronics: str, champion: str, challenger: str, key: str) -> dict:
    return {"method": "model", "modelId": champion,
            "overrides": [{"scope": "offer", "scopeId": "winback_apparel", "modelId": apparel},
                          {"scope": "offer", "scopeId": "winback_electronics", "modelId": electronics}],
            "championChallenger": {"challengerModelId": challenger, "trafficPercent": 50, "salt": f"{key}-cc"}}


def _demo_config(folder, tables) -> None:
    """decisioning/ of the repo, winback scoring by model, and winback_b: its twin without the holdout."""
    winback_config(folder)  # the winback flow (the second demo flow scores by formula, no model)
    (folder / "uplift.yml").unlink()  # the uplift model fed the formula score this flow no longer uses
    path = folder / "winback.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    base = doc["decisionFlows"][0]
    flows = []
    for key, route in ROUTES.items():
        f = yaml.safe_load(yaml.safe_dump(base))
        f["key"], f["name"] = key, key
        score = next(n for n in f["draftConfig"]["nodes"] if n["type"] == "score")
        score["config"] = _score(*route, key)
        if key != "winback":  # the holdout and its readout once (fewer models: Spark's time is per model)
            f["draftConfig"]["flowConfig"].pop("experiment")
        flows.append(f)
    doc["decisionFlows"] = flows
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (folder / "engines.yml").write_text(yaml.safe_dump({"algorithmModels": MODELS}, sort_keys=False), encoding="utf-8")
    _model_files(folder, tables)


@pytest.mark.slow  # ~10 s on DuckDB alone, ~120 s with PostgreSQL and Spark (shared 2-core machine, load 10)
def test_every_engine_scores_the_demo_flow_on_every_engine(tmp_path):
    tables = _tables()
    assert len(tables["demo_customers"].rows) == 3 * PER_CATEGORY
    folder = tmp_path / "decisioning"
    _demo_config(folder, tables)
    others = [e for e in cross_engine_names() if e != "duckdb"]
    results = run_everywhere(folder, tables, ["duckdb", *others], as_of=AS_OF)
    reference = results.pop("duckdb")
    for name, got in results.items():
        for table in S4_TABLES:
            problem = diff(reference[table], got[table])
            assert problem is None, f"{name} differs from duckdb in {table}: {problem}"

    decided = reference["kaireon_decisions"]
    by_model: dict[str, list[float]] = {}
    for r in decided:
        by_model.setdefault(r["model_id"], []).append(float(r["score"]))
    assert sorted(by_model) == sorted(m["id"] for m in MODELS), {k: len(v) for k, v in by_model.items()}
    # no engine silently scores a constant shared with another: each model's scores are its own
    sets = {m: {round(s, 9) for s in v} for m, v in by_model.items()}
    for a in sets:
        for b in sets:
            assert a == b or sets[a] != sets[b], (a, b, sets[a])
    varying = [m for m, s in sets.items() if len(s) > 1]
    assert len(varying) >= 5, sets
    assert all(0.0 <= s <= 1.0 for v in by_model.values() for s in v)
