"""The BI contract (issue 16 item 6): S4 unions with column data types and enforced dbt contracts, the
decision_id key, p-values in kaireon_experiments (against scipy, on every engine), every kaireon_funnel
column documented, and every macro of macros/ described in macros/_kaireon_macros.yml.

The dbt builds with contracts enforced are tests/test_demo_dbt.py (DuckDB, the whole demo) and
tests/test_demo_dbt_engines.py (PostgreSQL, Spark): dbt refuses to create a contracted view whose
columns or types differ from the declared ones, so those builds passing is the check on each adapter.
"""
import hashlib
import math
import re

import pytest
import yaml
from scipy.stats import chi2, norm
from sqlglot import exp

from backends import ENGINE_NAMES, open_backend
from conftest import REPO
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine, render, type_sql
from kaireon_sql.plan.outputs import OUTPUT_TYPES
from kaireon_sql.sql.experiments import P_VALUES, SUMMARY_COLUMNS, TAIL_CUT, _with_p_values
from kaireon_sql.writer import PROPERTIES_FILE, model_files

CONTRACTED = ("kaireon_decisions", "kaireon_withheld_decisions", "kaireon_assignments", "kaireon_rejections",
              "kaireon_funnel", "kaireon_traces", "kaireon_decisions_grouped")


@pytest.fixture(scope="module")
def models():
    return compile_project(load_project(REPO / "decisioning"))


def _properties(models, name: str) -> dict:
    files = model_files(models, engine(name), "decisioning/")
    return {m["name"]: m for m in yaml.safe_load(files[PROPERTIES_FILE])["models"]}, files


@pytest.mark.parametrize("name", ["duckdb", "postgres", "spark", "snowflake", "bigquery"])
def test_unions_declare_types_and_enforce_contracts(models, name):
    props, files = _properties(models, name)
    eng = engine(name)
    for model in CONTRACTED:
        m = props[model]
        assert m["config"]["contract"] == {"enforced": True}, model
        sql = files[f"{model}.sql"].split("\n", 1)[1]
        first = re.sub(r"\{\{ ref\('([A-Za-z0-9_]+)'\) \}\}", r"\1", sql)
        selects = list(exp.maybe_parse(first, dialect=eng.sqlglot).find_all(exp.Select))
        for column in m["columns"]:
            assert column["data_type"] == type_sql(OUTPUT_TYPES[column["name"]], eng), (model, column)
            assert column.get("description"), (model, column["name"])
        for select in selects:  # every branch of the UNION casts each column to its declared type, in order
            assert [e.alias for e in select.expressions] == [c["name"] for c in m["columns"]], model
            for e, column in zip(select.expressions, m["columns"]):
                assert isinstance(e.this, exp.Cast), (model, column["name"])
                assert e.this.to.sql(dialect=eng.sqlglot) == column["data_type"], (model, column["name"])


def test_types_are_the_engines_own(models):
    assert [type_sql(t, engine("postgres")) for t in ("text_type", "double_type", "TIMESTAMP")] == [
        "VARCHAR", "DOUBLE PRECISION", "TIMESTAMP"]
    assert [type_sql(t, engine("spark")) for t in ("text_type", "BIGINT", "BOOLEAN")] == ["STRING", "BIGINT", "BOOLEAN"]
    assert type_sql("TIMESTAMP", engine("bigquery")) == "DATETIME"  # naive, as the models' timestamps there


def test_decision_id_is_unique_tested_where_decisions_are(models):
    props, _ = _properties(models, "duckdb")
    for name, m in props.items():
        columns = {c["name"]: c for c in m["columns"]}
        if name.endswith(("__decisions", "__withheld_decisions")) or name in (
                "kaireon_decisions", "kaireon_withheld_decisions", "kaireon_decision_log"):
            assert "unique" in columns["decision_id"]["data_tests"], name
    assert "contract" not in props["kaireon_decision_log"]["config"]  # documented types, not enforced (see docs)


def test_funnel_documents_every_column(models):
    props, _ = _properties(models, "duckdb")
    for name in ["kaireon_funnel"] + [n for n in props if n.endswith("__funnel")]:
        cols = props[name]["columns"]
        assert [c["name"] for c in cols] == ["run_id", "as_of", "decision_flow_key", "decision_flow_version", "customers",
                                            "holdout_customers", "total_candidates", "after_qualification",
                                            "after_contact_policy", "decided", "withheld"]
        assert all(len(c.get("description", "")) > 10 for c in cols), [c["name"] for c in cols if not c.get("description")]


# ---- macros documented ---------------------------------------------------------------------------

_MACRO = re.compile(r"\{%-?\s*(macro|test)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)")


def _signatures() -> dict[str, list[str]]:
    out = {}
    for path in sorted((REPO / "macros").rglob("*.sql")):
        for kind, name, params in _MACRO.findall(path.read_text(encoding="utf-8")):
            args = [p.split("=")[0].strip() for p in params.split(",") if p.strip()]
            out[("test_" if kind == "test" else "") + name] = args
    return out


def test_every_macro_is_documented_with_its_arguments():
    documented = {m["name"]: m for m in yaml.safe_load((REPO / "macros" / "_kaireon_macros.yml").read_text())["macros"]}
    signatures = _signatures()
    assert len(signatures) >= 15
    assert set(documented) == set(signatures)
    for name, args in signatures.items():
        assert len(documented[name]["description"]) > 20, name
        listed = [a["name"] for a in documented[name].get("arguments", [])]
        assert listed == args, (name, listed, args)
        assert all(a.get("description") and a.get("type") for a in documented[name].get("arguments", [])), name
        # the argument types dbt parse accepts without a warning
        assert all(re.fullmatch(r"string|float|any|relation|list\[string\]", a["type"])
                   for a in documented[name].get("arguments", [])), name


def test_the_wheel_ships_the_macros_yml():
    assert "macros" in (REPO / "setup.py").read_text()  # setup.py copies the whole macros/ folder (yml included)


# ---- p-values in SQL, on every engine, against scipy ------------------------------------------------

def _stats() -> list[tuple]:
    """(id, z, welch_z, srm_chi2): zero, small, the split of the approximation (5 sqrt 2), tails, NULL, huge."""
    zs = [0.0, 1e-9, 0.3, -1.0, 1.959963984540054, -2.5, 3.7, 7.0710678, 7.0710679, -9.5, 20.0, 36.9, 37.0, 1e6,
          -1e200, None]
    return [(i, z, None if z is None else -z / 2, None if z is None else z * z) for i, z in enumerate(zs)]


def _expected(value: float | None, chi_square: bool = False) -> float | None:
    if value is None:
        return None
    if chi_square:
        return float(chi2.sf(value, 1)) if value < 1e300 else 0.0
    return float(2 * norm.sf(abs(value)))


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def stats_db(request):
    backend = open_backend(request.param)
    columns = {"id": "INTEGER", "z": "DOUBLE", "welch_z": "DOUBLE", "srm_chi2": "DOUBLE"}
    backend.create_table("stats_in", columns, [r[:3] + (None if r[3] is None or r[3] > 1e300 else r[3],) for r in _stats()])
    yield backend
    backend.close()


def test_p_values_match_scipy(stats_db):
    """sql/experiments.py's p-values over a summary-shaped row (the other columns NULL) equal scipy's: relative
    1e-7 (the approximation's error is below 1e-8), and 0 from |z| = 37 on, where scipy gives at most 1.2e-299."""
    others = [exp.alias_(exp.null(), c, quoted=True) for c in SUMMARY_COLUMNS
              if c not in P_VALUES and c not in ("z", "welch_z", "srm_chi2", "runs")]
    inner = exp.select(exp.alias_(exp.column("id", quoted=True), "runs", quoted=True), exp.column("z", quoted=True),
                       exp.column("welch_z", quoted=True), exp.column("srm_chi2", quoted=True), *others).from_("stats_in")
    select = _with_p_values(inner)  # the row's id carried in `runs`, a column of the summary
    select = exp.select(exp.column("runs", table="w", quoted=True), *[exp.column(p, table="w", quoted=True)
                                                                      for p in P_VALUES]).from_(select.subquery("w"))
    sql = render(select, stats_db.engine, pretty=False)
    got = {r["runs"]: r for r in stats_db.query(sql)}
    checked = 0
    for i, z, welch, srm in _stats():
        srm_in = None if srm is None or srm > 1e300 else srm
        for name, value, chi_square in (("p_conversion", z, False), ("p_revenue", welch, False),
                                        ("p_srm", srm_in, True)):
            want, have = _expected(value, chi_square), got[i][name]
            have = None if have is None else float(have)
            if want is None:
                assert have is None, (name, value)
                continue
            stat = math.sqrt(value) if chi_square else abs(value)
            if stat >= TAIL_CUT:
                assert have == 0.0 and want < 2e-299, (name, value)
            else:
                assert have == pytest.approx(want, rel=1e-7, abs=1e-300), (name, value, have, want)
            checked += 1
    assert checked >= 40


# ---- decision_id as documented ------------------------------------------------------------------------

def decision_id(run_id: str, flow: str, customer: str, offer: str, channel: str) -> str:
    """docs/bi_contract.md: md5 of each part's length in characters, ':' and the part."""
    return hashlib.md5("".join(f"{len(v)}:{v}" for v in (run_id, flow, customer, offer, channel)).encode()).hexdigest()


def test_decision_id_reference_separates_parts():
    assert decision_id("r", "f", "ab", "c", "e") != decision_id("r", "f", "a", "bc", "e")
