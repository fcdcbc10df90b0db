"""The discount learner (S9, docs/discount_learner.md) on DuckDB, PostgreSQL and Spark, rows compared with an
independent Python computation of the posteriors and the chosen tiers from the same rows and uniforms.

Two runs. Run 1 (DuckDB, checked against Python) decides with tiers and no outcomes yet: every tier draws
from its prior. Its decisions become the decision log of run 2 (interactionHistory.decisionLog) with an
impression each and a conversion for some; run 2 (every engine, one build each) learns a posterior per
tier and group from them. Run 2's config adds tier 30 to the flow's tiers (never tried: the prior only); offer
o2 has tiers of its own (they override the flow's); o3 has revenueValue 0, so every tier is worth 0 (a tie:
the lowest tier wins); customers with no category form the NULL group.
"""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from backends import ENGINE_NAMES, open_backend, run_models_on
from cross_engine import table_rows
from harness import (Table, compile_sql, customers_table, flow, history_table, run_models, rows, schema,
                     standard_nodes, write_config)

from kaireon_sql.config import load_project
from kaireon_sql.compiler import compile_project
from kaireon_sql.dialect import beta_draw_reference, engine
from kaireon_sql.errors import ConfigErrors

AS_OF_1, AS_OF_2 = "2026-11-10 09:00:00", "2026-11-20 09:00:00"
RUN_1 = datetime.fromisoformat(AS_OF_1)
SALT = "disc'salt {{ x }}"
PRIOR = (2.0, 3.0)
FLOW_TIERS_1, FLOW_TIERS_2 = [0, 10, 20], [0, 10, 20, 30]
OFFERS = {"o1": {"revenueValue": 100}, "o2": {"revenueValue": 50, "discountTiers": [0, 5, 12.5]},
          "o3": {"revenueValue": 0}}
CATEGORIES = ["a", "b", None]
CUSTOMERS = [(f"c{i:02d}", 10, 1, 1.0, CATEGORIES[i % 3], "UTC", True, True) for i in range(36)]
GROUP = {c[0]: c[4] for c in CUSTOMERS}
LOG_COLUMNS = {"customer_id": "VARCHAR", "offer_id": "VARCHAR", "channel": "VARCHAR", "as_of": "TIMESTAMP",
               "run_id": "VARCHAR", "model_id": "VARCHAR", "discount_pct": "DOUBLE", "decision_flow_key": "VARCHAR"}


def _config(flow_tiers: list[float], **discount) -> dict:
    settings = {"groupBy": "category", "prior": {"alpha": PRIOR[0], "beta": PRIOR[1]}, "salt": SALT, **discount}
    return {"schemas": [schema()],
            "interactionHistory": {"relation": "history", "positiveOutcomes": ["convert"],
                                   "decisionLog": {"relation": "past_decisions"}},
            "offers": [{"id": o, "name": o.upper(), **v} for o, v in OFFERS.items()],
            "decisionFlows": [flow(standard_nodes(top_n=3), key="f", discountTiers=flow_tiers, discount=settings)]}


def tier_key(t: float) -> str:
    return f"{t:g}" if float(t).is_integer() else repr(float(t))


def posterior(log: list[dict], converted: set[tuple]) -> dict[tuple, tuple[int, int]]:
    """(tier, group) -> (n, k): one impression per logged decision, k those converted."""
    out: dict[tuple, list[int]] = {}
    for d in log:
        key = (d["discount_pct"], GROUP[d["customer_id"]])
        n_k = out.setdefault(key, [0, 0])
        n_k[0] += 1
        n_k[1] += (d["customer_id"], d["offer_id"]) in converted
    return {k: (v[0], v[1]) for k, v in out.items()}


def choose(customer: str, offer: str, run_id: str, flow_tiers, counts) -> dict:
    """S9's choice written directly: argmax of draw x value x (1 - t/100), ties to the lowest tier."""
    tiers = OFFERS[offer].get("discountTiers", flow_tiers)
    value = float(OFFERS[offer].get("revenueValue", 1.0))
    best = None
    for t in sorted(float(x) for x in tiers):
        n, k = counts.get((t, GROUP[customer]), (0, 0))
        alpha, beta = PRIOR[0] + k, PRIOR[1] + n - k
        draw = beta_draw_reference(alpha, beta, [SALT, run_id, customer, tier_key(t)])
        ev = draw * value * (1 - t / 100)
        if best is None or ev > best["expected_value"]:
            best = {"discount_pct": t, "alpha": alpha, "beta": beta, "draw": draw, "expected_value": ev}
    return best


def _converts(customer: str, offer: str, tier: float) -> bool:
    """Deterministic outcomes: more likely with a larger tier (md5 of the pair against 0.2 + tier / 50)."""
    u = int(hashlib.md5(f"{customer}|{offer}".encode()).hexdigest()[:8], 16) / 2 ** 32
    return u < 0.2 + tier / 50


def _expected_choices(decisions: list[dict], run_id: str, flow_tiers, counts) -> dict[tuple, dict]:
    return {(d["customer_id"], d["offer_id"]): choose(d["customer_id"], d["offer_id"], run_id, flow_tiers, counts)
            for d in decisions}


def _check_choices(got: list[dict], want: dict[tuple, dict]) -> None:
    assert sorted((r["customer_id"], r["offer_id"]) for r in got) == sorted(want)
    for r in got:
        w = want[(r["customer_id"], r["offer_id"])]
        assert r["discount_pct"] == w["discount_pct"], (r, w)
        for c in ("alpha", "beta", "draw", "expected_value"):
            assert math.isclose(r[c], w[c], rel_tol=1e-12, abs_tol=1e-12), (c, r, w)


def _inputs(log: list[dict], history: list[tuple]) -> dict[str, Table]:
    return {"customers": customers_table(CUSTOMERS), "history": history_table(history),
            "past_decisions": Table(LOG_COLUMNS, [tuple(d[c] for c in LOG_COLUMNS) for d in log])}


@pytest.fixture(scope="module")
def run_one(tmp_path_factory):
    """Run 1 on DuckDB: its decisions, the log and history run 2 reads, and what converted."""
    folder = write_config(tmp_path_factory.mktemp("run1") / "decisioning", _config(FLOW_TIERS_1))
    con = run_models(compile_sql(folder), _inputs([], []), as_of=AS_OF_1, run_id="run1")
    decisions = rows(con, "select * from kaireon_decisions order by customer_id, offer_id")
    choices = rows(con, "select * from kaireon_f__discounts")
    log = [{**{c: d[c] for c in LOG_COLUMNS}, "as_of": RUN_1} for d in decisions]
    history, converted = [], set()
    for d in decisions:
        at = RUN_1 + timedelta(hours=1)
        history.append((d["customer_id"], d["offer_id"], "email", "impression", at, None, None, "f"))
        if _converts(d["customer_id"], d["offer_id"], d["discount_pct"]):
            converted.add((d["customer_id"], d["offer_id"]))
            history.append((d["customer_id"], d["offer_id"], "email", "convert", at + timedelta(hours=3), 9.0, None, None))
    return {"decisions": decisions, "choices": choices, "log": log, "history": history, "converted": converted}


def test_run_one_draws_from_the_prior(run_one):
    """No outcomes yet: every tier is Beta(prior); decisions and personalization carry the chosen tier."""
    decisions = run_one["decisions"]
    assert len(decisions) == len(CUSTOMERS) * len(OFFERS)
    want = _expected_choices(decisions, "run1", FLOW_TIERS_1, {})
    _check_choices(run_one["choices"], want)
    for d in decisions:
        assert d["discount_pct"] == want[(d["customer_id"], d["offer_id"])]["discount_pct"]
        assert d["personalization"] == '{"discount_pct":%s}' % tier_key(d["discount_pct"]), d
    assert {d["discount_pct"] for d in decisions if d["offer_id"] == "o3"} == {0.0}  # ties: the lowest tier
    assert {d["discount_pct"] for d in decisions if d["offer_id"] == "o2"} <= {0.0, 5.0, 12.5}  # the offer's tiers
    assert len({d["discount_pct"] for d in decisions if d["offer_id"] == "o1"}) > 1  # the draws explore


def _run_two(name: str, folder: Path, run_one) -> dict[str, list[dict]]:
    backend = open_backend(name)
    try:
        run_models_on(backend, compile_sql(folder, engine(name)),
                      _inputs(run_one["log"], run_one["history"]), as_of=AS_OF_2, run_id="run2")
        return {t: table_rows(backend, t) for t in ("kaireon_f__discount_posterior", "kaireon_f__discounts",
                                                     "kaireon_decisions", "kaireon_discount_readout")}
    finally:
        backend.close()


@pytest.fixture(scope="module")
def run_two_folder(tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("run2") / "decisioning", _config(FLOW_TIERS_2))


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_run_two_learns_from_run_one(name, run_one, run_two_folder):
    """Run 2's posterior counts run 1's attributed outcomes; its choices use it (tier 30 from the prior)."""
    got = _run_two(name, run_two_folder, run_one)
    counts = posterior(run_one["log"], run_one["converted"])
    assert any(k for _, k in counts.values()) and len(counts) > 6
    posterior_rows = {(r["discount_pct"], r["group_value"]): r for r in got["kaireon_f__discount_posterior"]}
    assert set(posterior_rows) == set(counts)
    for key, (n, k) in counts.items():
        r = posterior_rows[key]
        assert (r["n"], r["k"]) == (n, k) and (r["alpha"], r["beta"]) == (PRIOR[0] + k, PRIOR[1] + n - k), r
    decisions = [d for d in got["kaireon_decisions"]]
    want = _expected_choices(decisions, "run2", FLOW_TIERS_2, counts)
    _check_choices(got["kaireon_f__discounts"], want)
    assert all(d["discount_pct"] == want[(d["customer_id"], d["offer_id"])]["discount_pct"] for d in decisions)
    assert {d["discount_pct"] for d in decisions if d["offer_id"] == "o3"} == {0.0}
    untried = [w for (c, o), w in want.items() if o == "o1" and w["discount_pct"] == 30.0]
    assert all((w["alpha"], w["beta"]) == PRIOR for w in untried)
    _check_readout(got["kaireon_discount_readout"], counts)


def _wilson(k: int, n: int, sign: int) -> float:
    z = 1.959963984540054
    p = k / n
    return (p + z * z / (2 * n) + sign * z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def _check_readout(got: list[dict], counts) -> None:
    converted = sum(k for _, k in counts.values())
    mean = sum(t * k for (t, _), (_, k) in counts.items()) / converted
    by_key = {(r["discount_pct"], r["group_value"]): r for r in got}
    assert set(by_key) == set(counts)
    for (t, g), (n, k) in counts.items():
        r = by_key[(t, g)]
        assert r["decision_flow_key"] == "f" and (r["decisions"], r["conversions"]) == (n, k)
        for c, v in (("conversion_rate", k / n), ("ci_low", _wilson(k, n, -1)), ("ci_high", _wilson(k, n, 1)),
                     ("posterior_mean", (PRIOR[0] + k) / (PRIOR[0] + PRIOR[1] + n)), ("mean_discount_converted", mean)):
            assert math.isclose(r[c], v, rel_tol=1e-9), (c, r, v)


def test_no_tiers_no_discount(tmp_path):
    """A flow without tiers: discount_pct NULL, no discount models, the personalization JSON unchanged."""
    cfg = _config(FLOW_TIERS_1)
    fc = cfg["decisionFlows"][0]["draftConfig"]["flowConfig"]
    del fc["discountTiers"], fc["discount"]
    cfg["offers"] = [{"id": "o1", "name": "O1"}]
    models = compile_sql(write_config(tmp_path / "decisioning", cfg))
    assert not any("discount" in m for m in models)
    con = run_models(models, _inputs([], []), as_of=AS_OF_1)
    got = rows(con, "select discount_pct, personalization from kaireon_decisions")
    assert got and all(r["discount_pct"] is None and r["personalization"] == "{}" for r in got)


def _errors(tmp_path, cfg: dict) -> str:
    with pytest.raises(ConfigErrors) as info:
        compile_project(load_project(write_config(tmp_path / "decisioning", cfg)))
    return str(info.value)


@pytest.mark.parametrize("tiers, expect", [
    ([], "non-empty"), ([10, 120], "[0, 100]"), ([-1], "[0, 100]"), ([10, 10], "twice"),
    (["ten"], "number"), (["10"], "number"), ([True], "number"),
])
def test_bad_flow_tiers_are_refused(tmp_path, tiers, expect):
    cfg = _config(FLOW_TIERS_1)
    cfg["decisionFlows"][0]["draftConfig"]["flowConfig"]["discountTiers"] = tiers
    message = _errors(tmp_path, cfg)
    assert "config.yml" in message and "decisionFlows" in message and "discountTiers" in message, message
    assert expect in message, message


def test_bad_offer_tiers_are_refused(tmp_path):
    cfg = _config(FLOW_TIERS_1)
    cfg["offers"][1]["discountTiers"] = [5, 101]
    message = _errors(tmp_path, cfg)
    assert "config.yml" in message and "offers[1]" in message and "discountTiers" in message and "[0, 100]" in message


def test_discount_settings_without_tiers_are_refused(tmp_path):
    cfg = _config(FLOW_TIERS_1)
    del cfg["decisionFlows"][0]["draftConfig"]["flowConfig"]["discountTiers"]
    cfg["offers"][1].pop("discountTiers")
    message = _errors(tmp_path, cfg)
    assert "flowConfig.discount" in message and "without tiers" in message and "'f'" in message, message


def test_unknown_group_field_is_refused(tmp_path):
    message = _errors(tmp_path, _config(FLOW_TIERS_1, groupBy="customer.shoeSize"))
    assert "flowConfig.discount.groupBy" in message and "'shoeSize'" in message and "customer.category" in message


def test_default_group_needs_the_lifecycle_stage(tmp_path):
    """groupBy defaults to lifecycleStage, computed from orders (S9): with no orders relation, a validate-time
    error at groupBy (it escaped as a traceback once), not a silent single pool."""
    cfg = _config(FLOW_TIERS_1)
    del cfg["decisionFlows"][0]["draftConfig"]["flowConfig"]["discount"]
    message = _errors(tmp_path, cfg)
    assert "flowConfig.discount.groupBy" in message and "lifecycleStage" in message and "null for one pool" in message
    assert "orders" in message


def test_default_group_is_the_lifecycle_stage(tmp_path):
    """With orders configured, the default groupBy pools the posteriors by each customer's lifecycle stage."""
    cfg = _config(FLOW_TIERS_1)
    del cfg["decisionFlows"][0]["draftConfig"]["flowConfig"]["discount"]
    cfg["orders"] = {"relation": "orders"}
    order_columns = {"customer_id": "VARCHAR", "order_id": "VARCHAR", "ordered_at": "TIMESTAMP", "amount": "DOUBLE",
                     "category": "VARCHAR"}
    orders = [(c[0], f"o{i}", RUN_1 - timedelta(days=3 + 40 * (i % 3)), 20.0, None) for i, c in enumerate(CUSTOMERS[:24])]
    tables = {**_inputs([], []), "orders": Table(order_columns, orders)}
    con = run_models(compile_sql(write_config(tmp_path / "decisioning", cfg)), tables, as_of=AS_OF_1, run_id="run1")
    stage = {r["customer_id"]: r["lifecycle_stage"] for r in rows(con, "select * from kaireon_lifecycle")}
    got = rows(con, "select distinct customer_id, group_value from kaireon_f__discounts")
    assert got and {r["group_value"] for r in got} >= {"new", "lapsed"}
    assert all(r["group_value"] == stage[r["customer_id"]] for r in got)


def test_one_pool(tmp_path):
    """groupBy null: one posterior per tier over every customer."""
    models = compile_sql(write_config(tmp_path / "decisioning", _config(FLOW_TIERS_1, groupBy=None)))
    con = run_models(models, _inputs([], []), as_of=AS_OF_1, run_id="run1")
    got = rows(con, "select distinct group_value from kaireon_f__discounts")
    assert got == [{"group_value": None}]


def test_readout_lines():
    """`kaireon discounts` prints a block per flow from kaireon_discount_readout's rows."""
    from kaireon_sql.discount_readout import readout_lines

    base = {"decision_flow_key": "f", "mean_discount_converted": 6.0, "posterior_mean": 0.119}
    rows_in = [{**base, "discount_pct": 10.0, "group_value": "a", "decisions": 35, "conversions": 6,
                "conversion_rate": 6 / 35, "ci_low": 0.081, "ci_high": 0.3268},
               {**base, "discount_pct": 0.0, "group_value": None, "decisions": 40, "conversions": 4,
                "conversion_rate": 0.1, "ci_low": 0.0396, "ci_high": 0.2305}]
    assert readout_lines(rows_in) == [
        "flow f: mean discount per converted decision 6%",
        "  0% (all customers): 4/40 converted, 10.0% [95% 4.0% - 23.1%], posterior mean 0.119",
        "  10% (group a): 6/35 converted, 17.1% [95% 8.1% - 32.7%], posterior mean 0.119"]
    assert readout_lines([]) == ["no decision carried a discount tier yet"]


def test_offer_tiers_without_flow_tiers(tmp_path):
    """Only o2 has tiers: its decisions carry one of them, the others discount_pct NULL ("discount_pct": null)."""
    cfg = _config(FLOW_TIERS_1)
    del cfg["decisionFlows"][0]["draftConfig"]["flowConfig"]["discountTiers"]
    con = run_models(compile_sql(write_config(tmp_path / "decisioning", cfg)), _inputs([], []), as_of=AS_OF_1,
                     run_id="run1")
    got = rows(con, "select customer_id, offer_id, discount_pct, personalization from kaireon_decisions")
    assert {r["offer_id"] for r in got} == set(OFFERS)
    for r in got:
        if r["offer_id"] == "o2":
            assert r["discount_pct"] == choose(r["customer_id"], "o2", "run1", [], {})["discount_pct"]
            assert r["personalization"] == '{"discount_pct":%s}' % tier_key(r["discount_pct"])
        else:
            assert r["discount_pct"] is None and r["personalization"] == '{"discount_pct":null}', r
