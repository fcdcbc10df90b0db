"""Golden SQL of the demo flow per engine. Regenerate with KAIREON_UPDATE_GOLDEN=1; never edit by hand."""
import os
from pathlib import Path

import pytest
import sqlglot

from conftest import REPO
from harness import first_build, incremental_build
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine
from kaireon_sql.writer import model_files

GOLDEN = Path(__file__).parent / "golden"
# duckdb, postgres and spark golden SQL is also executed elsewhere; snowflake, bigquery, databricks and trino are
# only transpiled: these files and the parse-back test are their only checks.
ENGINES = ["duckdb", "postgres", "spark", "snowflake", "bigquery", "databricks", "trino"]


def _files(name: str) -> dict[str, str]:
    eng = engine(name)
    return model_files(compile_project(load_project(REPO / "decisioning", display_root=REPO)), eng, "decisioning/")


@pytest.mark.parametrize("name", ENGINES)
def test_golden_sql(name):
    files = _files(name)
    folder = GOLDEN / name
    if os.environ.get("KAIREON_UPDATE_GOLDEN"):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for file, content in files.items():
            (folder / file).write_text(content, encoding="utf-8")
    expected = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}
    assert sorted(files) == sorted(expected)
    for file, content in files.items():
        assert content == expected[file], f"{name}/{file} differs from the golden copy (KAIREON_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("name", ENGINES)
def test_golden_sql_parses_back(name):
    """Every generated model is one SELECT that sqlglot reads back in the engine's dialect."""
    for file, content in _files(name).items():
        if not file.endswith(".sql") or "{{ kaireon_sql." in content:
            continue
        for build in (first_build(content), incremental_build(content)):  # both branches of an incremental guard
            sql = build.replace("{{ ref('", "ref__").replace("') }}", "")
            tree = sqlglot.parse_one(sql, read=engine(name).sqlglot)
            assert isinstance(tree, (sqlglot.exp.Select, sqlglot.exp.Union)), file
