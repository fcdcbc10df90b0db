"""The Snowflake rendering executed through fakesnow (a Snowflake emulator on DuckDB): the demo and a
scenario with history metrics and contact policies give the same S4 rows as DuckDB, and identifier
case agrees between the models, the run-params macro and the generic tests (Engine.unquoted_case).

Each model file is rendered as dbt would: with Jinja, `ref` giving the quoted relation name, the
kaireon macros of macros/ (run_params, the generic tests) loaded as written, `adapter.quote` quoting
the Snowflake way. The generic tests of the properties file run too (dbt's not_null and
accepted_values as their SQL equivalents), each expected to return no row.

fakesnow pins its own sqlglot, so it cannot share the project's environment: it lives in its own
(KAIREON_FAKESNOW_PYTHON, default .venv-fakesnow/bin/python; see FAKESNOW_SETUP), the SQL is rendered
here and executed by tests/fakesnow_runner.py there. Skipped when that environment is missing, unless
KAIREON_REQUIRE_ENGINES lists fakesnow.

What fakesnow emulates of identifier case (test_fakesnow_identifier_case pins it): a name created
unquoted is stored upper case, a quoted one as written; but names are looked up case-insensitively
(DuckDB's rule), quoted or not. So a macro that forgot to quote still runs there (it would fail on
Snowflake); the case check is the created column names, compared with DuckDB's.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest
import sqlglot
import yaml
from sqlglot import exp

from backends import DuckDBBackend, required, run_models_on
from conftest import REPO, winback_config
from cross_engine import S4_TABLES, csv_table, diff, table_rows
from harness import Table, compile_sql, first_build, incremental_build, customers_table, flow, history_table, schema, standard_nodes, write_config
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine
from kaireon_sql.writer import PROPERTIES_FILE, model_files
from test_cross_engine import DEMO_TABLES

SNOWFLAKE = engine("snowflake")
FAKESNOW_SETUP = ("python3 -m venv .venv-fakesnow && .venv-fakesnow/bin/python -m pip install "
                  "-r tests/fakesnow-requirements.txt")
RUNNER = Path(__file__).parent / "fakesnow_runner.py"
MACROS = REPO / "macros"
SEEDS = REPO / "seeds" / "demo"
AS_OF = "2026-11-20 15:00:00"
# harness column types (DuckDB spelling) -> Snowflake's
TYPES = {"VARCHAR": "VARCHAR", "INTEGER": "INTEGER", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN",
         "TIMESTAMP": "TIMESTAMP_NTZ"}


def snowflake_quote(name: str) -> str:
    """adapter.quote of dbt-snowflake: a double-quoted identifier, case kept."""
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def fakesnow_python() -> str:
    python = os.environ.get("KAIREON_FAKESNOW_PYTHON", str(REPO / ".venv-fakesnow" / "bin" / "python"))
    probe = subprocess.run([python, "-c", "import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, "
                            "['fakesnow', 'snowflake.connector', 'pyarrow'])))"], capture_output=True,
                           text=True) if Path(python).exists() else None
    if probe is None or probe.returncode != 0:
        if "fakesnow" in required():
            raise AssertionError(f"fakesnow is required but {python} cannot import it; {FAKESNOW_SETUP}")
        pytest.skip(f"fakesnow not installed in {python} (its own environment: {FAKESNOW_SETUP})")
    return python


# ---- dbt's rendering, as far as the kaireon models and macros use it -------------------------------

class _Return(Exception):
    def __init__(self, value):
        super().__init__()
        self.value = value


def _return(value):
    raise _Return(value)


def _compiler_error(message):
    raise jinja2.TemplateRuntimeError(message)


def _macro(macro):
    def call(*args, **kwargs):
        try:
            return str(macro(*args, **kwargs))
        except _Return as r:
            return r.value
    return call


def dbt_env(quote=snowflake_quote, variables: dict | None = None) -> tuple[jinja2.Environment, dict]:
    """A Jinja environment and globals with the kaireon macros as `kaireon_sql.<name>` (tests as test_<name>)."""
    files = [MACROS / "quoting.sql", MACROS / "run_params.sql", *sorted((MACROS / "tests").glob("*.sql"))]
    source = "\n".join(p.read_text(encoding="utf-8") for p in files)
    source = re.sub(r"\{%(-?)\s*test\s+(\w+)\(", r"{%\1 macro test_\2(", source)
    source = re.sub(r"\{%(-?)\s*endtest\s*(-?)%\}", r"{%\1 endmacro \2%}", source)
    env = jinja2.Environment(extensions=["jinja2.ext.do"], undefined=jinja2.StrictUndefined)
    package = SimpleNamespace()
    values = variables or {}
    context = {
        "adapter": SimpleNamespace(quote=quote), "kaireon_sql": package, "return": _return,
        "var": lambda name, default=None: values.get(name, default),
        "modules": SimpleNamespace(datetime=__import__("datetime"), re=re),
        "exceptions": SimpleNamespace(raise_compiler_error=_compiler_error),
        "dbt": SimpleNamespace(type_string=lambda: "TEXT"),  # dbt's Column.translate_type("string")
        "ref": quote, "is_incremental": lambda: False,
    }
    module = env.from_string(source, globals=context).module
    for name in dir(module):
        if isinstance(getattr(module, name), jinja2.runtime.Macro):
            setattr(package, name, _macro(getattr(module, name)))
    return env, context


def _column_test(env, context, test, model: str, column: str) -> str:
    """SQL of one column test; column_name as dbt passes it (quoted when the column says quote: true)."""
    name, args = (test, {}) if isinstance(test, str) else next(iter(test.items()))
    args = dict(args.get("arguments", {}))
    if name == "not_null":  # dbt's default__test_not_null
        return f"select {column} from {model} where {column} is null"
    if name == "unique":  # dbt's default__test_unique
        return (f"select unique_field, count(*) as n_records from (select {column} as unique_field from {model} "
                f"where {column} is not null) dbt_subquery group by unique_field having count(*) > 1")
    if name == "accepted_values":  # dbt's default__test_accepted_values
        quote_values = args.get("quote", True)
        values = ", ".join(f"'{v}'" if quote_values else str(v) for v in args["values"])
        return (f"with all_values as (select {column} as value_field, count(*) as n_records from {model} "
                f"group by {column}) select * from all_values where value_field not in ({values})")
    return getattr(context["kaireon_sql"], "test_" + name.split(".")[-1])(model=model, column_name=column, **args)


def generic_tests(env, context, properties: dict) -> list[tuple[str, str]]:
    """(name, sql) of every test in the properties file, rendered through the kaireon macros."""
    out = []
    for m in properties["models"]:
        relation = context["ref"](m["name"])
        for test in m.get("data_tests", []):
            name, args = next(iter(test.items()))
            sql = getattr(context["kaireon_sql"], "test_" + name.split(".")[-1])(model=relation, **args["arguments"])
            out.append((f"{m['name']}: {name}", sql))
        for col in m["columns"]:
            column = context["ref"](col["name"]) if col.get("quote") else col["name"]
            for test in col.get("data_tests", []):
                label = test if isinstance(test, str) else next(iter(test))
                out.append((f"{m['name']}.{col['name']}: {label}", _column_test(env, context, test, relation, column)))
    return out


# What fakesnow cannot execute, replaced by an equivalent it can, each where it is expected only:
# TO_NUMBER(text, 'XXXXXXXX') (the hex read of the experiment bucket, Engine.hex_to_int) is "not
# implemented" there; CAST('0x' || text AS BIGINT) is DuckDB's own hex read (through fakesnow's sqlglot).
_TO_NUMBER = "TO_NUMBER("
_HEX_FORMAT = re.compile(r",\s*'XXXXXXXX'\s*\)$")


def fakesnow_equivalent(sql: str) -> tuple[str, int]:
    """`sql` with each TO_NUMBER(x, 'XXXXXXXX') as CAST('0x' || (x) AS BIGINT), and how many were replaced."""
    out, n, at = [], 0, sql.find(_TO_NUMBER)
    while at >= 0:
        depth, end = 0, at + len(_TO_NUMBER) - 1
        for end in range(end, len(sql)):  # the matching parenthesis
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            if depth == 0:
                break
        call = sql[at:end + 1]
        arg = _HEX_FORMAT.split(call[len(_TO_NUMBER):])[0]
        assert _HEX_FORMAT.search(call), f"unexpected TO_NUMBER call: {call[:200]}"
        out.append(sql[:at] + f"CAST('0x' || ({arg}) AS BIGINT)")
        sql, n = sql[end + 1:], n + 1
        at = sql.find(_TO_NUMBER)
    return "".join(out) + sql, n


def snowflake_job(config_dir: Path, tables: dict[str, Table], as_of: str = AS_OF) -> dict:
    """The runner's input: seeds, every model rendered for Snowflake in build order, the generic tests."""
    files = model_files(compile_project(load_project(config_dir)), SNOWFLAKE, "decisioning/")
    properties = yaml.safe_load(files.pop(PROPERTIES_FILE))
    kinds = {m["name"]: "view" if m["config"]["materialized"] == "view" else "table" for m in properties["models"]}
    env, context = dbt_env(variables={"as_of": as_of})
    models = []
    for file, sql in files.items():
        text, replaced = fakesnow_equivalent(env.from_string(sql, globals=context).render())
        assert replaced == 0 or (replaced == 1 and file.endswith("__customers.sql")), (file, replaced)  # the bucket
        models.append([file[:-4], kinds[file[:-4]], text])
    seeds = {name: {"columns": [[c, TYPES[t]] for c, t in t_.columns.items()],
                    "rows": [[v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in r] for r in t_.rows]}
             for name, t_ in tables.items()}
    return {"tables": seeds, "models": models, "checks": generic_tests(env, context, properties),
            "read": list(S4_TABLES)}


def start_fakesnow(python: str, job: dict) -> subprocess.Popen:
    proc = subprocess.Popen([python, str(RUNNER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()
    return proc


def fakesnow_result(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    assert proc.wait(timeout=300) == 0, stderr[-3000:]
    out = json.loads(stdout, object_hook=lambda d: datetime.fromisoformat(d["$ts"]) if "$ts" in d else d)
    assert out["error"] is None, f"fakesnow failed at {out['error']['statement']}: {out['error']['message'][:2000]}"
    return out


class _DuckDB(DuckDBBackend):
    """DuckDBBackend filling tables 500 rows a statement (one INSERT a row takes a minute for the demo)."""

    def create_table(self, name, columns, rows):
        super().create_table(name, columns, [])
        for start in range(0, len(rows), 500):
            chunk = rows[start:start + 500]
            marks = ", ".join("(" + ", ".join("?" for _ in columns) + ")" for _ in chunk)
            self.con.execute(f"INSERT INTO {self.ident(name)} VALUES {marks}", [v for r in chunk for v in r])


def duckdb_build(config_dir: Path, tables: dict[str, Table], as_of: str = AS_OF):
    """The same project on DuckDB (the harness path of test_cross_engine): S4 rows and each model's columns."""
    backend = _DuckDB()
    try:
        models = compile_sql(config_dir)
        run_models_on(backend, models, tables, as_of=as_of)
        columns = {name: [d[0] for d in backend.con.execute(f'SELECT * FROM "{name}" LIMIT 0').description]
                   for name in models}
        return {t: table_rows(backend, t) for t in S4_TABLES}, columns
    finally:
        backend.close()


def _sorted(rows: list[dict]) -> list[dict]:
    """fakesnow's rows normalised and ordered as cross_engine.table_rows orders a backend's."""
    return table_rows(SimpleNamespace(ident=str, query=lambda _sql: rows), "")


def assert_same_as_duckdb(python: str, config_dir: Path, tables: dict[str, Table]) -> dict:
    proc = start_fakesnow(python, snowflake_job(config_dir, tables))
    reference, duck_columns = duckdb_build(config_dir, tables)  # meanwhile
    got = fakesnow_result(proc)
    for name, columns in duck_columns.items():
        # fakesnow stores an unquoted name upper case: the same names as DuckDB means every name was quoted
        assert got["columns"][name] == columns, f"{name}: fakesnow columns {got['columns'][name]} vs duckdb {columns}"
    for table in S4_TABLES:
        problem = diff(reference[table], _sorted(got["rows"][table]))
        assert problem is None, f"fakesnow {table}: {problem}"
    failing = {name: n for name, n in got["checks"].items() if n}
    assert got["checks"] and not failing, f"generic tests returning rows on fakesnow: {failing}"
    return {"rows": reference, "fakesnow": got}


# ---- the demo -------------------------------------------------------------------------------------

def demo_tables() -> dict[str, Table]:
    return {name: csv_table(SEEDS / f"{name}.csv", types) for name, types in DEMO_TABLES.items()}


def test_demo_on_fakesnow_matches_duckdb(fakesnow_python, tmp_path):
    out = assert_same_as_duckdb(fakesnow_python, winback_config(tmp_path / "decisioning"), demo_tables())
    assert len(out["rows"]["kaireon_assignments"]) == 3000 and len(out["rows"]["kaireon_decisions"]) > 100
    assert len(out["fakesnow"]["checks"]) > 50  # every not_null, accepted_values and kaireon test of the demo


# ---- history metrics and contact policies ---------------------------------------------------------

METRICS = [
    {"id": "imp7", "name": "Impressions 7d", "aggregation": "count", "sourceField": "impressions", "windowDays": 7},
    {"id": "cr_offer", "name": "Convert rate per offer", "aggregation": "ratio", "sourceField": "converts",
     "denominatorField": "impressions", "windowDays": 30, "dimensions": ["offer"]},
    {"id": "rev30", "name": "revenue30", "aggregation": "sum", "sourceField": "totalValue", "windowDays": 30},
]
POLICIES = [
    {"name": "daily", "ruleType": "frequency_cap", "config": {"maxPerDay": 2}},
    {"name": "3-touch monthly", "ruleType": "customer_total_cap", "config": {"maxTotal": 3, "periodType": "monthly"}},
    {"name": "cool", "ruleType": "cooldown", "config": {"cooldownHours": 20}},
    {"name": "Quiet hours", "ruleType": "time_window", "config": {"startHour": 8, "endHour": 21, "timezone": "UTC"}},
]


def _history() -> list[tuple]:
    at = datetime.fromisoformat(AS_OF)
    out = []
    for i in range(120):
        cid, offer = f"c{i % 9}", "abc"[i % 3]
        outcome = ["impression", "impression", "click", "convert", "dismiss"][i % 5]
        value = None if i % 4 == 0 else float(i % 17) * 2.5
        out.append((cid, offer, ["email", "sms"][i % 2], outcome, at - timedelta(hours=3 * i + (i % 7)), value, None,
                    "f" if i % 3 else None))
    return out


def test_metrics_and_policies_on_fakesnow_match_duckdb(fakesnow_python, tmp_path):
    nodes = standard_nodes(top_n=3, score={"method": "expression",
                                           "expression": "metrics.imp7 * 10 + coalesce(metrics.cr_offer, 0) * 100 "
                                                         "+ offer.priority / 100"})
    nodes[-1]["config"] = {"extras": [{"name": "revenue", "formula": "coalesce(metrics.rev30, -1)"}]}
    config = {
        "schemas": [schema()], "interactionHistory": {"relation": "history"},
        "offers": [{"id": o, "name": o.upper(), "priority": 50 - i} for i, o in enumerate("abc")],
        "behavioralMetrics": METRICS, "contactPolicies": POLICIES,
        "decisionFlows": [flow(nodes, channel=["email", "sms"])],
    }
    customers = [(f"c{i}", 100 + i, 3 + i, 40.0 + i, "apparel", "UTC", i % 4 != 1, True) for i in range(10)]
    tables = {"customers": customers_table(customers), "history": history_table(_history())}
    out = assert_same_as_duckdb(fakesnow_python, write_config(tmp_path / "decisioning", config), tables)
    rows = out["rows"]
    assert rows["kaireon_decisions"] and rows["kaireon_rejections"]  # some decided, some stopped by a policy
    assert {r["stage"] for r in rows["kaireon_rejections"]} >= {"contact_policy"}


# ---- identifier case: what quoting changes on fakesnow --------------------------------------------

def test_fakesnow_identifier_case(fakesnow_python):
    """The run-params macro without adapter.quote creates AS_OF, ... (Snowflake's upper folding, emulated),
    where every model reads "as_of"; with it, "as_of". fakesnow looks names up case-insensitively, so
    the unquoted version still reads back there: the difference shows in the created names only."""
    def params(quote):
        env, context = dbt_env(quote=quote, variables={"as_of": AS_OF})
        return env.from_string("{{ kaireon_sql.run_params() }}", globals=context).render()

    job = {"tables": {}, "read": [], "models": [["quoted", "table", params(snowflake_quote)],
                                                ["unquoted", "table", params(lambda name: name)]],
           "checks": [["quoted name finds the folded column", 'select "as_of" from "unquoted"'],
                      ["upper name finds the quoted lower column", 'select "AS_OF" from "quoted"']]}
    got = fakesnow_result(start_fakesnow(fakesnow_python, job))
    assert got["columns"]["quoted"] == ["as_of", "as_of_text", "run_id", "channel"]
    assert got["columns"]["unquoted"] == ["AS_OF", "AS_OF_TEXT", "RUN_ID", "CHANNEL"]
    # not Snowflake: there "as_of" does not find AS_OF; if fakesnow learns that, the README must say so
    assert got["checks"] == {"quoted name finds the folded column": 1, "upper name finds the quoted lower column": 1}


@pytest.mark.parametrize("name", ["snowflake", "duckdb", "postgres", "spark", "bigquery", "databricks", "trino"])
def test_properties_quote_columns_only_where_unquoted_names_fold_up(name):
    """Column tests get column_name quoted (`quote: true`) on Snowflake only; the golden properties files
    are the writer's output (test_golden_sql)."""
    properties = yaml.safe_load((Path(__file__).parent / "golden" / name / PROPERTIES_FILE).read_text(encoding="utf-8"))
    columns = [c for m in properties["models"] for c in m["columns"]]
    assert {c.get("quote", False) for c in columns} == {engine(name).unquoted_case == "upper"}



# ---- identifier case, checked statically (what fakesnow's case-insensitive lookup cannot catch) ----

def case_mismatches(sql: str) -> set[str]:
    """Names `sql` writes quoted somewhere and unquoted elsewhere: Snowflake reads the unquoted one upper
    case, which is another name than the quoted lower-case one (an "invalid identifier" there)."""
    tree = sqlglot.parse_one(sql, read="snowflake")
    identifiers = list(tree.find_all(exp.Identifier))
    quoted = {i.this for i in identifiers if i.quoted}
    return {i.this for i in identifiers if not i.quoted and i.this in quoted and i.this != i.this.upper()}


def test_macros_write_every_name_quoted_on_snowflake():
    env, context = dbt_env(variables={"as_of": AS_OF})
    properties = yaml.safe_load((Path(__file__).parent / "golden" / "snowflake" / PROPERTIES_FILE).read_text(encoding="utf-8"))
    kaireon = [(n, sql) for n, sql in generic_tests(env, context, properties) if "kaireon_sql." in n]
    rendered = [("run_params", env.from_string("{{ kaireon_sql.run_params() }}", globals=context).render()), *kaireon]
    assert len(kaireon) > 10
    for name, sql in rendered:
        unquoted = [i.this for i in sqlglot.parse_one(sql, read="snowflake").find_all(exp.Identifier) if not i.quoted]
        assert not unquoted, f"{name}: unquoted {unquoted} in {sql}"


def test_snowflake_models_read_names_in_the_case_they_create():
    for path in sorted((Path(__file__).parent / "golden" / "snowflake").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        if "{{ kaireon_sql." in text:
            continue
        for build in (first_build(text), incremental_build(text)):
            sql = build.replace("{{ ref('", '"').replace("') }}", '"')
            assert not case_mismatches(sql), f"{path.name}: {sorted(case_mismatches(sql))}"
