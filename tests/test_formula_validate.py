"""A broken formula anywhere in the config is refused at `kaireon validate` (issue 11), used or not.

Formulas used to be type-checked only when a flow's compilation reached them: a segment no rule
names, the computed fields of a category when the flow has no compute node, or a compute override
of a category without offers were never checked. Each case is refused by `compile_project` and by
the CLI, with the file, the object, the field and what was expected; several are reported at once.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from harness import flow, schema, standard_nodes
from kaireon_sql.cli import main
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine
from kaireon_sql.errors import ConfigError, ConfigErrors

DUCKDB = engine("duckdb")
F = "config.yml"
FLOW = "decisionFlows[0] 'f'"


def base() -> dict:
    """A valid project: a flow without a compute node, a category with a computed field, one unused segment."""
    nodes = [n for n in standard_nodes() if n["type"] != "compute"]
    return {
        "schemas": [schema()],
        "interactionHistory": {"relation": "history"},
        "behavioralMetrics": [{"id": "clicks30", "name": "clicks30", "aggregation": "count",
                               "sourceField": "positive", "windowDays": 30}],
        "categories": [{"id": "cat", "name": "Cat", "customFields": [
            {"name": "tier", "type": "text"},
            {"name": "boost", "type": "computed", "formula": "customer.revenue * 2", "outputType": "number"},
        ]}],
        "offers": [{"id": "a", "name": "A", "categoryId": "cat", "priority": 50, "customFields": {"tier": "gold"}},
                   {"id": "b", "name": "B", "priority": 60}],
        "segments": [{"id": "big", "name": "Big", "formula": "customer.revenue > 100 && metrics.clicks30 > 0"}],
        "decisionFlows": [flow(nodes)],
    }


def _errors(folder: Path) -> list[str]:
    try:
        compile_project(load_project(folder, display_root=folder))
    except ConfigErrors as exc:
        return [str(e) for e in exc.errors]
    except ConfigError as exc:
        return [str(exc)]
    return []


def _write(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / F).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return folder


def _dbt_project(root: Path, config: dict) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text("name: demo\nversion: '1.0'\nconfig-version: 2\nprofile: demo\n")
    (root / "profiles.yml").write_text("demo:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: x.duckdb\n")
    _write(root / "decisioning", config)
    return root


def segment(formula: str):
    def fn(c):
        c["segments"][0]["formula"] = formula
    return fn


def category_field(formula: str, **extra):
    def fn(c):
        c["categories"][0]["customFields"][1].update(formula=formula, **extra)
    return fn


def node(c: dict, node_id: str) -> dict:
    return next(n for n in c["decisionFlows"][0]["draftConfig"]["nodes"] if n["id"] == node_id)


def score_expression(formula: str):
    def fn(c):
        node(c, "score")["config"] = {"method": "expression", "expression": formula}
    return fn


def two_broken_flow_formulas(c):
    """Two broken formulas in one flow: the flow's compilation stopped at the first."""
    score_expression("customer.revenue * ")(c)
    c["decisionFlows"][0]["draftConfig"]["nodes"].append(
        {"id": "props", "type": "set_properties", "config": {"properties": [
            {"name": "x", "formula": "concat(customer.category, 1"}]}})


def override_of_category_without_offers(c):
    """A compute override of a category no offer has: the flow never compiled it."""
    c["categories"].append({"id": "empty", "name": "Empty", "customFields": [
        {"name": "score2", "type": "computed", "formula": "1", "outputType": "number"}]})
    c["decisionFlows"][0]["draftConfig"]["nodes"].append(
        {"id": "compute", "type": "compute", "config": {"overrides": [{"field": "score2", "formula": "'x'"}]}})


def extra_with_output_type(c):
    """A compute extra whose formula's type is not its declared outputType (was compiled, type ignored)."""
    c["decisionFlows"][0]["draftConfig"]["nodes"].append(
        {"id": "compute", "type": "compute", "config": {"extras": [
            {"name": "label", "formula": "concat(customer.category, '!')", "outputType": "number"}]}})


SEG = "segments[0] 'Big'"
CAT = "categories[0] 'Cat'"
NODES = "field 'draftConfig.nodes"

# id -> (change to the valid project, fragments one reported error must all hold)
CASES = {
    "unused segment, syntax error": (
        segment("customer.revenue >"),
        [F, SEG, "field 'formula'", "formula 'customer.revenue >'", "expected a number, string, name or '('"]),
    "unused segment, type error": (
        segment("customer.category + 1 > 0"),
        [F, SEG, "field 'formula'", "operator '+' expects two numbers or two texts, got text and number"]),
    "unused segment, unknown attribute": (
        segment("customer.nope > 1"),
        [F, SEG, "field 'formula'", "unknown identifier 'customer.nope'", "expected customer.<field>"]),
    "unused segment, unknown metric": (
        segment("metrics.nope > 1"),
        [F, SEG, "field 'formula'", "'metrics.nope' names no behavioral metric", "expected one of: 'clicks30'"]),
    "computed field of a flow with no compute node, syntax error": (
        category_field("customer.revenue * (2"),
        [F, CAT, "field 'customFields[1].formula'", "formula 'customer.revenue * (2'"]),
    "computed field of a flow with no compute node, unknown attribute": (
        category_field("customer.nope * 2"),
        [F, CAT, "field 'customFields[1].formula'", "unknown identifier 'customer.nope'"]),
    "computed field of a flow with no compute node, outputType": (
        category_field("customer.revenue * 2", outputType="text"),
        [F, CAT, "field 'customFields[1].outputType'", "formula gives a number but outputType is 'text'"]),
    "computed field of a flow with no compute node, bare name": (
        category_field("tier * 2"),
        [F, CAT, "field 'customFields[1].formula'", "operator '*' expects two numbers, got text and number"]),
    "score expression of an otherwise fine flow": (
        score_expression("customer.category"),
        [F, FLOW, NODES + "[4].config.expression'", "a score expression must give a number, not text"]),
    "override of a category without offers": (
        override_of_category_without_offers,
        [F, FLOW, NODES + "[6].config.overrides[0].formula'", "override gives a text but 'score2' is a number"]),
    "compute extra, outputType": (
        extra_with_output_type,
        [F, FLOW, NODES + "[6].config.extras[0].outputType'", "formula gives a text but outputType is 'number'"]),
}


def test_base_is_valid(tmp_path):
    assert _errors(_write(tmp_path / "decisioning", base())) == []


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_broken_formula_is_refused_by_compile_project(tmp_path, case):
    change, fragments = CASES[case]
    config = copy.deepcopy(base())
    change(config)
    errors = _errors(_write(tmp_path / "decisioning", config))
    assert [e for e in errors if all(f in e for f in fragments)], f"no error has all of {fragments}; got {errors}"
    assert len(errors) == len(set(errors)), errors  # each once, though the flow may reach it too


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_broken_formula_is_refused_by_kaireon_validate(tmp_path, capsys, case):
    change, fragments = CASES[case]
    config = copy.deepcopy(base())
    change(config)
    root = _dbt_project(tmp_path / "proj", config)
    assert main(["validate", "--project-dir", str(root)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    located = [f"decisioning/{F}" if f == F else f for f in fragments]
    assert any(all(f in line for f in located) for line in out.err.splitlines()), out.err


def test_every_broken_formula_of_a_flow_is_reported(tmp_path):
    config = base()
    two_broken_flow_formulas(config)
    errors = _errors(_write(tmp_path / "decisioning", config))
    assert any(NODES + "[4].config.expression'" in e and "'customer.revenue * '" in e for e in errors), errors
    assert any(NODES + "[6].config.properties[0].formula'" in e and "concat(customer.category, 1" in e
               for e in errors), errors
    assert len(errors) == 2, errors


def test_every_broken_formula_of_the_project_is_reported(tmp_path):
    config = base()
    segment("customer.nope > 1")(config)
    category_field("foo(1)")(config)
    score_expression("customer.category")(config)
    errors = _errors(_write(tmp_path / "decisioning", config))
    assert len(errors) == 3, errors
    assert [SEG in errors[0], CAT in errors[1], FLOW in errors[2]] == [True, True, True], errors


def test_an_override_that_would_be_ignored_is_refused(tmp_path):
    config = base()
    config["decisionFlows"][0]["draftConfig"]["nodes"].append(
        {"id": "compute", "type": "compute", "config": {"overrides": [{"field": "bost", "formula": "1"}]}})
    errors = _errors(_write(tmp_path / "decisioning", config))
    assert any(NODES + "[6].config.overrides[0].field'" in e and "override of 'bost'" in e
               and "expected one of: 'boost'" in e for e in errors), errors


def test_a_formula_fine_for_the_flow_that_loads_its_schema_is_accepted(tmp_path):
    """Two schemas give one name different types: a segment is fine when some flow can read it."""
    config = base()
    other = schema("prospects")
    other.update(id="prospect", name="prospect")
    other["fields"][4] = {"name": "category", "dataType": "integer"}
    config["schemas"] = [other, schema()]
    config["segments"][0]["formula"] = "customer.category + 'x' == 'ax'"
    assert _errors(_write(tmp_path / "decisioning", config)) == []
