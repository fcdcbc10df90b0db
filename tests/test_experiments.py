"""Experiment analysis models (docs/experiments.md) on synthetic data whose answer is known.

The SQL statistics are compared with independent computations: scipy's Wilson interval
(binomtest), Welch's t statistic and degrees of freedom (ttest_ind), the chi-square of a 2x2
table (whose square root is the two-proportion z) and scipy's goodness-of-fit chi-square.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
import math
from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from harness import Table, compile_sql, flow, rows, run_models, schema, standard_nodes, write_config
from kaireon_sql.experiments import readout

AS_OF = "2026-11-20 15:00:00"
PAST = {"r1": datetime(2026, 9, 1, 12), "r2": datetime(2026, 10, 1, 12)}
PAST_COLUMNS = {"run_id": "VARCHAR", "as_of": "TIMESTAMP", "decision_flow_key": "VARCHAR", "customer_id": "VARCHAR",
                "bucket": "INTEGER", "experiment_group": "VARCHAR", "offer_id": "VARCHAR", "would_receive": "BOOLEAN"}
HISTORY_COLUMNS = {"customer_id": "VARCHAR", "offer_id": "VARCHAR", "channel": "VARCHAR", "outcome": "VARCHAR",
                   "occurred_at": "TIMESTAMP", "value": "DOUBLE", "creative_id": "VARCHAR", "decision_flow_key": "VARCHAR"}
OFFERS = [{"id": "o1", "name": "O1", "priority": 10}]


def cust(cid, days=100):
    return (cid, days, 5, 80.0, "apparel", "UTC", True, True)


def config(experiment: dict | None, key="wb") -> dict:
    return {"offers": OFFERS, "decisionFlows": [flow(standard_nodes(top_n=1), key=key, experiment=experiment)]}


def experiment(**kw) -> dict:
    return {"enabled": True, "holdoutPercent": 20, "assignmentsRelation": "past", "outcomeWindowDays": 14, **kw}


def synthetic(n_t: dict, n_h: dict, seed=7, p_t=0.15, p_h=0.06):
    """Past assignments of runs r1, r2 and history with converts; returns tables and the truth per unit."""
    rng = np.random.default_rng(seed)
    past, history, truth = [], [], []
    customers = []
    for run, at in PAST.items():
        for g, n, p in (("treatment", n_t[run], p_t), ("holdout", n_h[run], p_h)):
            for i in range(n):
                cid = f"{run}_{g}_{i}"
                customers.append(cust(cid))
                past.append((run, at, "wb", cid, 0, g, "o1", True))
                converted = rng.random() < p
                revenue = 0.0
                if converted:
                    k = int(rng.integers(1, 3))  # one or two converts in the window
                    for _ in range(k):
                        v = round(float(rng.lognormal(4, 0.6)), 2)
                        revenue += v
                        history.append((cid, "o1", "email", "convert", at + timedelta(hours=float(rng.uniform(1, 330))),
                                        v, None, "wb"))
                # noise that must not count: before as_of, after the window, a click with a value
                history.append((cid, "o1", "email", "convert", at - timedelta(hours=1), 500.0, None, "wb"))
                history.append((cid, "o1", "email", "convert", at + timedelta(days=14, seconds=1), 500.0, None, "wb"))
                history.append((cid, "o1", "email", "click", at + timedelta(hours=2), 77.0, None, "wb"))
                truth.append((run, g, int(converted), revenue))
    # assigned but would not have received an offer, and another flow's run: not units
    customers += [cust("x_norecv"), cust("x_other")]
    past.append(("r1", PAST["r1"], "wb", "x_norecv", 0, "treatment", None, False))
    past.append(("r1", PAST["r1"], "other_flow", "x_other", 0, "holdout", "o1", True))
    tables = {"customers": Table(
        {"customer_id": "VARCHAR", "days": "INTEGER", "purchases": "INTEGER", "revenue": "DOUBLE", "category": "VARCHAR",
         "tz": "VARCHAR", "consentEmail": "BOOLEAN", "consentSMS": "BOOLEAN"}, customers),
        "history": Table(HISTORY_COLUMNS, history), "past": Table(PAST_COLUMNS, past)}
    return tables, truth


def build(tmp_path, tables, cfg, as_of=AS_OF):
    base = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, **cfg}
    models = compile_sql(write_config(tmp_path / "decisioning", base))
    return run_models(models, tables, as_of=as_of), models


def expected(truth, runs, share=0.2):
    sel = [t for t in truth if t[0] in runs]
    arm = {g: [t for t in sel if t[1] == g] for g in ("treatment", "holdout")}
    n = {g: len(a) for g, a in arm.items()}
    x = {g: sum(t[2] for t in a) for g, a in arm.items()}
    rev = {g: np.array([t[3] for t in a]) for g, a in arm.items()}
    out = {f"{g}_n": n[g] for g in arm} | {f"{g}_conversions": x[g] for g in arm}
    for g in arm:
        ci = stats.binomtest(x[g], n[g]).proportion_ci(confidence_level=0.95, method="wilson")
        out |= {f"{g}_conversion_rate": x[g] / n[g], f"{g}_wilson_low": ci.low, f"{g}_wilson_high": ci.high,
                f"{g}_revenue_sum": rev[g].sum(), f"{g}_revenue_sum_squares": (rev[g] ** 2).sum(),
                f"{g}_revenue_per_customer": rev[g].mean(), f"{g}_revenue_variance": rev[g].var(ddof=1)}
    p_t, p_h = x["treatment"] / n["treatment"], x["holdout"] / n["holdout"]
    table = [[x["treatment"], n["treatment"] - x["treatment"]], [x["holdout"], n["holdout"] - x["holdout"]]]
    chi2_2x2 = stats.chi2_contingency(table, correction=False)[0]
    se = math.sqrt(p_t * (1 - p_t) / n["treatment"] + p_h * (1 - p_h) / n["holdout"])
    welch = stats.ttest_ind(rev["treatment"], rev["holdout"], equal_var=False)
    diff = rev["treatment"].mean() - rev["holdout"].mean()
    se_diff = diff / welch.statistic
    z95 = stats.norm.ppf(0.975)
    total = n["treatment"] + n["holdout"]
    srm = stats.chisquare([n["treatment"], n["holdout"]], f_exp=[total * (1 - share), total * share]).statistic
    out |= {
        "lift_abs": p_t - p_h, "lift_rel": (p_t - p_h) / p_h, "lift_low": p_t - p_h - z95 * se,
        "lift_high": p_t - p_h + z95 * se, "z": math.copysign(math.sqrt(chi2_2x2), p_t - p_h),
        "revenue_diff": diff, "revenue_diff_se": se_diff, "welch_z": welch.statistic, "welch_df": welch.df,
        "revenue_diff_low": diff - z95 * se_diff, "revenue_diff_high": diff + z95 * se_diff,
        "incremental_revenue": diff * n["treatment"], "incremental_revenue_low": (diff - z95 * se_diff) * n["treatment"],
        "incremental_revenue_high": (diff + z95 * se_diff) * n["treatment"], "srm_chi2": srm,
    }
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tables, truth = synthetic({"r1": 400, "r2": 300}, {"r1": 120, "r2": 70})
    con, models = build(tmp_path_factory.mktemp("exp"), tables, config(experiment()))
    return con, models, truth


def test_statistics_equal_independent_scipy(built):
    con, _, truth = built
    got = {(r["analysis"], r["run_id"]): r for r in rows(con, "select * from kaireon_experiments")}
    assert set(got) == {("run", "r1"), ("run", "r2"), ("pooled", "(all runs)")}
    for key, runs in ((("run", "r1"), {"r1"}), (("run", "r2"), {"r2"}), (("pooled", "(all runs)"), {"r1", "r2"})):
        want, row = expected(truth, runs), got[key]
        for name, value in want.items():
            assert row[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (key, name)
        assert row["runs"] == len(runs) and row["underpowered"] is False
        assert row["expected_holdout_share"] == 0.2 and row["window_days"] == 14
    assert got[("run", "r1")]["z"] > 2  # the known effect is found


def test_units_window_and_sources(built):
    con, _, truth = built
    units = rows(con, "select * from kaireon_wb__experiment_units")
    past = [u for u in units if u["source"] == "assignments_relation"]
    assert len(past) == len(truth) and all(u["window_complete"] for u in past)
    assert not any(u["customer_id"].startswith("x_") for u in past)
    assert sorted((u["run_id"], u["experiment_group"], u["converted"], round(u["revenue"], 6)) for u in past) == sorted(
        (t[0], t[1], t[2], round(t[3], 6)) for t in truth)
    # the current run is logged (decision_log) but its window has not closed: not in the summary
    current = [u for u in units if u["source"] == "decision_log"]
    assert current and not any(u["window_complete"] for u in current)


def test_training_rows(built):
    con, _, truth = built
    got = rows(con, "select * from kaireon_wb__uplift_training")
    assert len(got) == len(truth)
    assert {"customer_id", "run_id", "as_of", "treatment", "outcome", "revenue", "days", "purchases", "category",
            "feature_revenue"} <= set(got[0])  # schema field 'revenue' clashes with the outcome column
    assert sum(r["treatment"] for r in got) == sum(t[1] == "treatment" for t in truth)
    assert sum(r["outcome"] for r in got) == sum(t[2] for t in truth)


def test_readout_matches_the_table(built):
    con, _, truth = built
    data = rows(con, "select * from kaireon_experiments")
    out, charted, status = readout.report(data, ["wb"])
    assert status == 0 and len(charted) == 1 and charted[0]["analysis"] == "pooled"
    want = expected(truth, {"r1", "r2"})
    assert out[0] == (f"wb drives ${want['incremental_revenue']:,.0f} incremental revenue, 95% CI "
                      f"[${want['incremental_revenue_low']:,.0f}, ${want['incremental_revenue_high']:,.0f}]")
    assert charted[0].p_conversion == pytest.approx(stats.chi2_contingency(
        [[want["treatment_conversions"], want["treatment_n"] - want["treatment_conversions"]],
         [want["holdout_conversions"], want["holdout_n"] - want["holdout_conversions"]]], correction=False)[1], rel=1e-9)
    assert "per run:" in "\n".join(out) and "nan" not in "\n".join(out).lower()
    svg = readout.svg_chart(charted)
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg" and "wb" in svg and "nan" not in svg.lower()


def test_decision_log_units_get_outcomes(tmp_path):
    """Units of a logged run: delivered rows are treatment, withheld rows holdout, outcomes after its as_of."""
    tables, _ = synthetic({"r1": 0, "r2": 0}, {"r1": 0, "r2": 0})
    tables["customers"].rows += [cust("t1"), cust("h1")]
    at = datetime(2026, 11, 1, 12)
    tables["history"].rows += [("t1", "o1", "email", "convert", at + timedelta(days=2), 40.0, None, "wb"),
                               ("h1", "o1", "email", "convert", at + timedelta(days=20), 40.0, None, "wb")]
    con, models = build(tmp_path, tables, config(experiment()))
    con.execute("delete from kaireon_decision_log")
    for cid, group, delivered in (("t1", "treatment", True), ("h1", "holdout", False)):
        for rank in (1, 2):  # several decisions of one customer are one unit
            con.execute("insert into kaireon_decision_log (run_id, as_of, decision_flow_key, customer_id, channel, rank, "
                        "offer_id, experiment_group, delivered) values ('old', ?, 'wb', ?, 'email', ?, ?, ?, ?)",
                        [at, cid, rank, f"o{rank}", group, delivered])
    for name in ("kaireon_wb__experiment_units", "kaireon_wb__experiment_summary", "kaireon_experiments"):
        con.execute(f'drop table "{name}"')
        body = "\n".join(line for line in models[name].splitlines() if not line.startswith("--"))
        con.execute(f'create table "{name}" as ' + body.replace("{{ ref('", '"').replace("') }}", '"'))
    units = {u["customer_id"]: u for u in rows(con, "select * from kaireon_wb__experiment_units where run_id = 'old'")}
    assert set(units) == {"t1", "h1"}
    assert (units["t1"]["experiment_group"], units["t1"]["converted"], units["t1"]["revenue"]) == ("treatment", 1, 40.0)
    assert (units["h1"]["experiment_group"], units["h1"]["converted"]) == ("holdout", 0)  # day 20: after the window
    [row] = rows(con, "select * from kaireon_experiments where analysis = 'run'")
    assert (row["treatment_n"], row["holdout_n"], row["underpowered"]) == (1, 1, True)


def _no_nan(rows_: list[dict]) -> None:
    for r in rows_:
        for k, v in r.items():
            assert not (isinstance(v, float) and not math.isfinite(v)), (k, v)


def test_empty_holdout_gives_nulls_and_a_warning(tmp_path):
    tables, _ = synthetic({"r1": 200, "r2": 0}, {"r1": 0, "r2": 0})
    con, _ = build(tmp_path, tables, config(experiment()))
    data = rows(con, "select * from kaireon_experiments")
    _no_nan(data)
    run = next(r for r in data if r["analysis"] == "run")
    assert run["holdout_n"] == 0 and run["underpowered"] is True
    for name in ("holdout_conversion_rate", "holdout_wilson_low", "lift_abs", "lift_rel", "z", "revenue_diff",
                 "welch_z", "incremental_revenue", "holdout_revenue_variance"):
        assert run[name] is None, name
    assert run["srm_chi2"] == pytest.approx(50.0)  # (0 - 40)^2/40 + (200 - 160)^2/160 = 40 + 10
    out, _, status = readout.report(data, ["wb"])
    text = "\n".join(out)
    assert status == readout.UNDERPOWERED and "holdout arm has 0 customer(s)" in text and "underpowered" in text
    assert "nan" not in text.lower() and "drives n/a incremental revenue" in text
    assert "sample-ratio mismatch" in text


def test_small_holdout_warns_underpowered(tmp_path):
    tables, _ = synthetic({"r1": 100, "r2": 0}, {"r1": 12, "r2": 0})
    con, _ = build(tmp_path, tables, config(experiment(minGroupSize=30)))
    data = rows(con, "select * from kaireon_experiments")
    _no_nan(data)
    out, charted, status = readout.report(data, ["wb"])
    assert status == readout.UNDERPOWERED
    assert any("holdout arm has 12 customers, fewer than 30" in line for line in out)
    assert "nan" not in readout.svg_chart(charted).lower()


def test_nothing_to_analyse(tmp_path):
    tables, _ = synthetic({"r1": 0, "r2": 0}, {"r1": 0, "r2": 0})
    con, _ = build(tmp_path, tables, config(experiment()))
    data = rows(con, "select * from kaireon_experiments")
    assert data == []  # only the current run, whose window has not closed
    with pytest.raises(readout.NothingToAnalyse, match="no run's outcome window has closed"):
        readout.report(data, ["wb"])


def test_flow_without_experiment(tmp_path):
    from kaireon_sql.config import load_project

    folder = write_config(tmp_path / "decisioning", {"schemas": [schema()], "interactionHistory": {"relation": "history"},
                                                     **config(None)})
    models = compile_sql(folder)
    assert not any("experiment" in m or "uplift_training" in m for m in models)
    with pytest.raises(readout.NothingToAnalyse, match="no flow has an experiment"):
        readout.analysed_flows(load_project(folder), None)
    with pytest.raises(readout.NothingToAnalyse, match="flow 'wb' has no experiment"):
        readout.analysed_flows(load_project(folder), "wb")


def test_revenue_outcome_and_window_config(tmp_path):
    tables, truth = synthetic({"r1": 50, "r2": 0}, {"r1": 40, "r2": 0})
    con, _ = build(tmp_path, tables, config(experiment(revenueOutcome="click", outcomeWindowDays=0.5)))
    units = rows(con, "select * from kaireon_wb__experiment_units where source = 'assignments_relation'")
    # every unit has a click with value 77 two hours after as_of, inside a 12-hour window
    assert {u["revenue"] for u in units} == {77.0}
    [row] = rows(con, "select * from kaireon_experiments where analysis = 'run'")
    assert row["revenue_outcome"] == "click" and row["window_days"] == 0.5 and row["revenue_diff"] == 0
    assert row["welch_z"] is None and row["revenue_diff_se"] == 0  # zero variance: z undefined, never NaN


def test_analysis_settings_leave_the_config_hash_alone(tmp_path):
    tables, _ = synthetic({"r1": 0, "r2": 0}, {"r1": 0, "r2": 0})
    plain = compile_sql(write_config(tmp_path / "a", {"schemas": [schema()], **config({"enabled": True, "holdoutPercent": 20})}))
    tuned = compile_sql(write_config(tmp_path / "b", {"schemas": [schema()], **config(experiment(outcome="click"))}))
    assert plain["kaireon_wb__decisions"] == tuned["kaireon_wb__decisions"]


def test_bad_analysis_config_is_refused(tmp_path):
    from kaireon_sql.config import load_project
    from kaireon_sql.errors import KaireonError

    for bad, field in (({"outcomeWindowDays": 0}, "outcomeWindowDays"), ({"assignmentsRelation": "a b"}, "assignmentsRelation"),
                       ({"minGroupSize": 0}, "minGroupSize"), ({"outcomeWindow": 3}, "outcomeWindow")):
        folder = write_config(tmp_path / field, {"schemas": [schema()], **config(experiment(**bad))})
        with pytest.raises(KaireonError, match=field):
            load_project(folder)


@pytest.mark.parametrize("name", ["postgres", "spark"])
def test_same_statistics_on_other_engines(tmp_path, name):
    """The experiment models give DuckDB's rows on PostgreSQL and Spark (to 1e-9)."""
    from backends import open_backend, run_models_on
    from cross_engine import diff, table_rows
    from kaireon_sql.dialect import engine

    tables, _ = synthetic({"r1": 60, "r2": 40}, {"r1": 15, "r2": 0})
    folder = write_config(tmp_path / "decisioning", {"schemas": [schema()], "interactionHistory": {"relation": "history"},
                                                     **config(experiment())})
    out = {}
    for eng in ("duckdb", name):
        backend = open_backend(eng)
        try:
            run_models_on(backend, compile_sql(folder, engine(eng)), tables)
            out[eng] = {t: table_rows(backend, t) for t in
                        ("kaireon_wb__experiment_units", "kaireon_experiments", "kaireon_wb__uplift_training")}
        finally:
            backend.close()
    for table, reference in out["duckdb"].items():
        assert reference, table
        problem = diff(reference, out[name][table])
        assert problem is None, f"{name} differs from duckdb in {table}: {problem}"


def test_per_model_comparison_matches_python(tmp_path):
    """Per model_id of treatment units (the model of the rank-1 decision): customers, conversion rate, value per
    customer, and each challenger's two-proportion z against the champion (the chi-square of the 2x2 table)."""
    from kaireon_sql.dialect import render
    from kaireon_sql.dialect.engines import ENGINES
    from kaireon_sql.sql.experiments import model_comparison

    tables, _ = synthetic({"r1": 0, "r2": 0}, {"r1": 0, "r2": 0})
    rng = np.random.default_rng(3)
    at = datetime(2026, 11, 1, 12)
    truth, log = [], []
    for i in range(600):
        cid, group = f"m{i}", ("holdout" if i % 5 == 0 else "treatment")
        model = ("chal_a", "chal_b", "champ")[i % 3]
        converted = rng.random() < {"champ": 0.10, "chal_a": 0.18, "chal_b": 0.11}[model]
        value = round(float(rng.uniform(5, 90)), 2) if converted else 0.0
        tables["customers"].rows.append(cust(cid))
        if converted:
            tables["history"].rows.append((cid, "o1", "email", "convert", at + timedelta(days=1), value, None, "wb"))
        log += [(cid, 1, model, group), (cid, 2, "champ" if model != "champ" else "chal_a", group)]  # rank 2: not read
        truth.append((group, model, int(converted), value))
    con, models = build(tmp_path, tables, config(experiment()))
    con.execute("delete from kaireon_decision_log")
    con.executemany("insert into kaireon_decision_log (run_id, as_of, decision_flow_key, customer_id, channel, rank, "
                    "offer_id, experiment_group, model_id, delivered) values ('old', ?, 'wb', ?, 'email', ?, 'o1', ?, ?, ?)",
                    [[at, c, rank, g, m, g == "treatment"] for c, rank, m, g in log])
    con.execute('drop table "kaireon_wb__experiment_units"')
    body = "\n".join(line for line in models["kaireon_wb__experiment_units"].splitlines() if not line.startswith("--"))
    con.execute('create table "kaireon_wb__experiment_units" as ' + body.replace("{{ ref('", '"').replace("') }}", '"'))
    sql = render(model_comparison("kaireon_wb__experiment_units"), ENGINES["duckdb"])
    got = rows(con, "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
               .replace("{{ ref('", '"').replace("') }}", '"'))
    reference, stats_ = readout.model_stats(got, "champ")
    assert reference == "champ"
    by_model = {m.model_id: m for m in stats_}
    treated = [t for t in truth if t[0] == "treatment"]
    champ = [t for t in treated if t[1] == "champ"]
    for model in ("champ", "chal_a", "chal_b"):
        mine = [t for t in treated if t[1] == model]
        m = by_model[model]
        assert (m.customers, m.conversions) == (len(mine), sum(t[2] for t in mine))
        assert m.conversion_rate == pytest.approx(sum(t[2] for t in mine) / len(mine), abs=1e-12)
        assert m.value_per_customer == pytest.approx(sum(t[3] for t in mine) / len(mine), abs=1e-9)
        if model == "champ":
            assert m.z is None
            continue
        table = [[sum(t[2] for t in mine), len(mine) - sum(t[2] for t in mine)],
                 [sum(t[2] for t in champ), len(champ) - sum(t[2] for t in champ)]]
        chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
        rate_gap = table[0][0] / len(mine) - table[1][0] / len(champ)
        assert m.z == pytest.approx(math.copysign(math.sqrt(chi2), rate_gap), rel=1e-9)
        assert m.p == pytest.approx(p, rel=1e-9)
    text = "\n".join(readout.model_lines(reference, stats_))
    assert "tested against 'champ'" in text and "chal_a:" in text and "nan" not in text.lower()
