"""online_learner (S8): 10 runs through `dbt build`, each with new history; the coefficients state equals
the Python reference of the same update rule (kaireon_sql/online_reference.py) to 1e-9, on DuckDB,
PostgreSQL and Spark. Re-running an as_of appends nothing; --full-refresh restarts from the prior."""
from __future__ import annotations

import csv
import os
import random
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from backends import required
from conftest import REPO, kaireon
from harness import flow, standard_nodes

from kaireon_sql import runner
from kaireon_sql.dialect import engine, relation
from kaireon_sql.errors import ConfigErrors
from kaireon_sql.online_reference import OnlineState, TrainingRow, propensity, step
from kaireon_sql.project_files import DbtProject
from sqlglot import exp

pytestmark = pytest.mark.dbt
START = datetime(2026, 11, 1, 12, 0, 0)
DAY = timedelta(days=1)
WINDOW = 2 * DAY  # interactionHistory.attributionWindowDays
OFFERS = ("o1", "o2", "o3")
LR, L2, PRIOR = 0.8, 0.05, -1.0
STATE = "kaireon_model__ol__state"
COEFFICIENTS = "kaireon_model__ol__coefficients"


def _customers(n: int = 24) -> list[dict]:
    rng = random.Random(7)
    return [{"customer_id": f"c{i:02d}", "days": rng.randint(0, 60),
             "revenue": None if i % 5 == 0 else round(rng.uniform(0, 3), 3)} for i in range(n)]


def _history(customers: list[dict], runs: int) -> list[dict]:
    """Per day, each customer sees one offer (the same pair at most every 3 days, so no impression
    steals another's positive); a click follows with a probability rising with days and revenue,
    0-1.9 days later (often after the run's as_of: it arrives with a later run's history)."""
    rng = random.Random(11)
    rows = []
    for d in range(runs):
        for i, c in enumerate(customers):
            if rng.random() < 0.3:
                continue
            offer = OFFERS[(i + d) % 3]
            at = START + (d - 1) * DAY + timedelta(seconds=rng.randint(1, 86399))
            rows.append({"customer_id": c["customer_id"], "offer_id": offer, "outcome": "impression", "occurred_at": at})
            p = 0.15 + 0.01 * c["days"] + 0.1 * (c["revenue"] or 0) + 0.1 * OFFERS.index(offer)
            if rng.random() < p:
                rows.append({"customer_id": c["customer_id"], "offer_id": offer, "outcome": "click",
                             "occurred_at": at + timedelta(seconds=rng.randint(0, int(1.9 * 86400)))})
    return rows


def _config() -> dict:
    return {
        "schemas": [{"id": "customer", "name": "customer", "relation": "ol_customers", "fields": [
            {"name": "customer_id", "dataType": "varchar", "isUnique": True},
            {"name": "days", "dataType": "integer"}, {"name": "revenue", "dataType": "decimal"}]}],
        "interactionHistory": {"relation": "ol_history", "attributionWindowDays": WINDOW / DAY},
        "channels": [{"id": "email", "name": "email", "requiresConsent": False}],
        "offers": [{"id": o, "name": o.upper(), "priority": 10 * k} for k, o in enumerate(OFFERS)],
        "algorithmModels": [{"id": "ol", "name": "ol", "modelType": "online_learner", "config": {
            "features": ["customer.days", "customer.revenue"], "learningRate": LR, "regularization": L2,
            "priorIntercept": PRIOR}}],
        "decisionFlows": [flow(standard_nodes(score={"method": "model", "modelId": "ol"}))],
    }


def _seed_types(names: dict[str, str]) -> dict:
    text = "{{ 'string' if target.type in ('spark', 'databricks') else 'varchar' }}"
    double = "{{ 'double' if target.type in ('spark', 'databricks') else 'double precision' }}"
    return {c: {"text": text, "double": double}.get(t, t) for c, t in names.items()}


def _project(tmp: Path) -> DbtProject:
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(REPO / name, tmp / name)
    shutil.copytree(REPO / "macros", tmp / "macros")
    (tmp / "models").mkdir()
    (tmp / "warehouse").mkdir()  # the profile's DuckDB file (kaireon run makes the folder; dbt does not)
    (tmp / "seeds").mkdir()
    (tmp / "decisioning").mkdir()
    (tmp / "decisioning" / "config.yml").write_text(yaml.safe_dump(_config(), sort_keys=False))
    seeds = [{"name": "ol_customers", "config": {"column_types": _seed_types(
                 {"customer_id": "text", "days": "integer", "revenue": "double"})}},
             {"name": "ol_history", "config": {"column_types": _seed_types(
                 {"customer_id": "text", "offer_id": "text", "channel": "text", "outcome": "text",
                  "occurred_at": "timestamp", "value": "double", "creative_id": "text", "decision_flow_key": "text"})}}]
    (tmp / "seeds" / "_seeds.yml").write_text(yaml.safe_dump({"version": 2, "seeds": seeds}, sort_keys=False))
    return DbtProject(tmp, None, None)


def _write(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r[c].strftime("%Y-%m-%d %H:%M:%S") if isinstance(r.get(c), datetime)
                        else r[c] for c in columns])


def _training_rows(customers, history, prev_as_of, as_of) -> list[TrainingRow]:
    """The rule's batch: impressions whose window closed in (prev_as_of, as_of], y = a click in the window."""
    feats = {c["customer_id"]: (float(c["days"]), float(c["revenue"] or 0.0)) for c in customers}
    out = []
    for imp in history:
        s = imp["occurred_at"]
        if imp["outcome"] != "impression" or not s + WINDOW <= as_of or (prev_as_of and not s + WINDOW > prev_as_of):
            continue
        y = any(h["outcome"] == "click" and h["customer_id"] == imp["customer_id"] and h["offer_id"] == imp["offer_id"]
                and s <= h["occurred_at"] <= s + WINDOW for h in history)
        out.append(TrainingRow(imp["offer_id"], 1.0 if y else 0.0, feats[imp["customer_id"]]))
    return out


def _state(project: DbtProject, eng) -> list[dict]:
    select = exp.select("*").from_(relation(STATE))
    return runner.query(project, select, eng)


def _build(project: DbtProject, as_of: datetime, *extra: str) -> None:
    variables = runner.run_vars(as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), None, None)
    args = ["--quiet", "build", "--select", f"+{COEFFICIENTS}", "--vars", variables, *extra] + runner._base_args(project)
    result = runner.invoke(args, cwd=project.root)
    assert result.success, f"dbt build failed at {as_of}: {result.exception or result.result}"


def _as_state(rows: list[dict], update_n: int) -> OnlineState:
    mine = [r for r in rows if int(r["update_n"]) == update_n]
    return OnlineState({r["term"]: float(r["coefficient"]) for r in mine if r["kind"] == "intercept"},
                       [float(next(r["coefficient"] for r in mine if r["kind"] == "weight" and r["term"] == f))
                        for f in ("days", "revenue")], update_n)


def _assert_close(got: OnlineState, want: OnlineState, tol: float = 1e-9) -> None:
    assert set(got.intercepts) == set(want.intercepts)
    for o in want.intercepts:
        assert abs(got.intercepts[o] - want.intercepts[o]) <= tol, (o, got.intercepts[o], want.intercepts[o])
    for g, w in zip(got.weights, want.weights):
        assert abs(g - w) <= tol, (got.weights, want.weights)


def _ten_runs(tmp_path: Path, target: str, runs: int = 10) -> tuple[DbtProject, list[OnlineState], list]:
    project = _project(tmp_path)
    project = DbtProject(project.root, None, target)
    kaireon("compile", "--target", target, cwd=project.root)
    customers, history = _customers(), _history(_customers(), runs)
    _write(project.root / "seeds" / "ol_customers.csv", ["customer_id", "days", "revenue"], customers)
    want, state, prev = [], None, None
    for k in range(runs):
        as_of = START + k * DAY
        arrived = [h for h in history if h["occurred_at"] <= as_of + timedelta(hours=6)]  # a few rows past as_of too
        _write(project.root / "seeds" / "ol_history.csv",
               ["customer_id", "offer_id", "channel", "outcome", "occurred_at", "value", "creative_id", "decision_flow_key"],
               [{**h, "channel": "email"} for h in arrived])
        _build(project, as_of)
        state = step(state, _training_rows(customers, history, prev, as_of), 2, LR, L2, PRIOR)
        want.append(state)
        prev = as_of
    return project, want, history


def _engine_or_skip(name: str) -> None:
    try:
        if name == "postgres":
            import psycopg2
            from backends import pg_params
            psycopg2.connect(**pg_params()).close()
        elif name == "spark":
            __import__("pyspark")
            __import__("dbt.adapters.spark")
    except Exception as exc:
        if name in required():
            raise
        pytest.skip(f"{name} not available: {type(exc).__name__}")


# ten `dbt build`s per engine: minutes on a shared 2-core machine (DuckDB 130 s), so run on demand:
# KAIREON_SLOW=1 (CI runs test_candidates_score_with_the_latest_coefficients: two runs on DuckDB)
@pytest.mark.skipif("KAIREON_SLOW" not in os.environ, reason="ten dbt builds per engine; set KAIREON_SLOW=1")
@pytest.mark.parametrize("target", ["duckdb", "postgres", "spark"])
def test_ten_runs_equal_the_reference(tmp_path, target, monkeypatch):
    _engine_or_skip(target)
    monkeypatch.setenv("KAIREON_PG_SCHEMA", f"ol_{os.getpid()}")
    monkeypatch.setenv("KAIREON_SPARK_SCHEMA", f"ol_{os.getpid()}")
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    project, want, _ = _ten_runs(tmp_path, target)
    rows = _state(project, engine(target))
    assert sorted({int(r["update_n"]) for r in rows}) == list(range(1, 11))
    for k, expected in enumerate(want, start=1):
        _assert_close(_as_state(rows, k), expected)
    assert sum(int(r["rows"]) for r in rows if r["kind"] == "weight" and r["term"] == "days") > 100
    if target != "duckdb":
        return
    # the same as_of again appends nothing; an earlier one neither
    _build(project, START + 9 * DAY)
    _build(project, START + 3 * DAY)
    assert len(_state(project, engine(target))) == len(rows)
    # the coefficients the candidates read: the latest version at or before as_of, per offer
    coefficients = runner.query(project, exp.select("*").from_(relation(COEFFICIENTS)), engine(target))
    assert {r["offer_id"]: r["update_n"] for r in coefficients} == {o: 4 for o in OFFERS}
    four = want[3]
    for r in coefficients:
        assert abs(float(r["intercept"]) - four.intercepts.get(r["offer_id"], PRIOR)) <= 1e-9
        assert abs(float(r["w_0"]) - four.weights[0]) <= 1e-9 and abs(float(r["w_1"]) - four.weights[1]) <= 1e-9
    # --full-refresh: the prior again, one step from every impression closed by as_of
    _build(project, START + 4 * DAY, "--full-refresh")
    rows = _state(project, engine(target))
    assert {int(r["update_n"]) for r in rows} == {1}
    customers, history = _customers(), _history(_customers(), 10)
    _assert_close(_as_state(rows, 1), step(None, _training_rows(customers, history, None, START + 4 * DAY), 2, LR, L2, PRIOR))


def test_candidates_score_with_the_latest_coefficients(tmp_path, monkeypatch):
    """Two runs, then the whole flow: each decision's score is sigmoid(b_o + w . x) of the reference."""
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    project, want, _ = _ten_runs(tmp_path, "duckdb", runs=2)
    rows = _state(project, engine("duckdb"))
    for k, expected in enumerate(want, start=1):
        _assert_close(_as_state(rows, k), expected)
    # every model of the project (dbt in this process: dbt-duckdb keeps the database file open)
    runner.build(project, runner.run_vars((START + DAY).strftime("%Y-%m-%dT%H:%M:%SZ"), None, None), quiet=True)
    assert len(_state(project, engine("duckdb"))) == len(rows)  # the same as_of again: nothing appended
    decisions = runner.query(project, exp.select("customer_id", "offer_id", "score").from_(relation("kaireon_decisions")),
                             engine("duckdb"))
    customers = {c["customer_id"]: c for c in _customers()}
    assert len(decisions) == 3 * len(customers)
    for d in decisions:
        c = customers[d["customer_id"]]
        expected = propensity(want[-1], d["offer_id"], (float(c["days"]), float(c["revenue"] or 0.0)), PRIOR)
        assert abs(float(d["score"]) - expected) <= 1e-9


@pytest.mark.parametrize("config, field, message", [
    ({"features": ["customer.days"], "learningRate": 0}, "config.learningRate'", "expected a number > 0"),
    ({"features": ["days"]}, "config.features[0]'", "expected customer.<field>"),
    ({"features": ["customer.days", "customer.days"]}, "config.features'", "listed twice"),
    ({"features": ["customer.nope"]}, "config.features'", "no schema declares every feature"),
    ({"features": ["customer.customer_id"]}, "config.features[0]'", "is not a number field"),
    ({"features": ["customer.days"], "regularization": -1}, "config.regularization'", "expected a number >= 0"),
    ({"features": ["customer.days"], "momentum": 0.9}, "config.momentum'", "unknown field"),
    ({"features": ["customer.days"], "schemaId": "nope"}, "config.schemaId'", "nope"),
])
def test_bad_config_is_refused_at_validate(tmp_path, config, field, message):
    cfg = _config()
    cfg["algorithmModels"][0]["config"] = config
    (tmp_path / "decisioning").mkdir()
    (tmp_path / "decisioning" / "config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    from kaireon_sql.compiler import compile_project
    from kaireon_sql.config import load_project
    from kaireon_sql.errors import ConfigError

    with pytest.raises((ConfigError, ConfigErrors)) as err:
        compile_project(load_project(tmp_path / "decisioning"))
    assert field in str(err.value) and message in str(err.value)
