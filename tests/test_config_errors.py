"""Invalid config is refused at validate time with the file, the object, the field and what was expected (S2).

Each case starts from a small valid project, breaks one thing, and runs what `kaireon validate`
runs (load_project + compile_project). The error text must name the file, the object as
`kind[index] 'label'`, the field path, and say what was expected.
"""
from __future__ import annotations

import copy
import hashlib
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


def base() -> dict:
    return {
        "schemas": [schema()],
        "interactionHistory": {"relation": "history"},
        "categories": [{
            "id": "cat", "name": "Cat",
            "customFields": [
                {"name": "tier", "type": "text"},
                {"name": "pct", "type": "number"},
                {"name": "vip", "type": "boolean"},
                {"name": "boost", "type": "computed", "formula": "customer.revenue * 2", "outputType": "number"},
            ],
        }],
        "offers": [
            {"id": "a", "name": "A", "categoryId": "cat", "priority": 50,
             "customFields": {"tier": "gold", "pct": 10, "vip": True}},
            {"id": "b", "name": "B", "priority": 60},
        ],
        "segments": [{"id": "vips", "name": "VIPs", "relation": "segment_membership"}],
        "qualificationRules": [
            {"name": "r1", "ruleType": "attribute_condition", "scope": "offer", "scopeId": "b",
             "config": {"attribute": "customer.purchases", "operator": "gte", "value": 3}},
        ],
        "contactPolicies": [
            {"name": "p1", "ruleType": "customer_total_cap", "config": {"maxTotal": 3}},
            {"name": "tw", "ruleType": "time_window", "config": {"startHour": 8, "endHour": 21, "timezone": "UTC"}},
        ],
        "decisionFlows": [flow(standard_nodes())],
    }


def _errors(folder: Path) -> list[str]:
    """Every error `kaireon validate` reports for a config folder ([] when it is valid)."""
    try:
        compile_project(load_project(folder, display_root=folder))
    except ConfigErrors as exc:
        return [str(e) for e in exc.errors]
    except ConfigError as exc:
        return [str(exc)]
    return []


def _write(folder: Path, files: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def mutate(fn) -> dict[str, object]:
    config = base()
    fn(config)
    return {"config.yml": config}


def node(config: dict, node_id: str) -> dict:
    return next(n for n in config["decisionFlows"][0]["draftConfig"]["nodes"] if n["id"] == node_id)


def computed(formula: str, **extra):
    def fn(c):
        c["categories"][0]["customFields"][3].update(formula=formula, **extra)
    return fn


def rule_config(**changes):
    def fn(c):
        c["qualificationRules"][0]["config"].update(changes)
    return fn


def policy(config: dict):
    def fn(c):
        c["contactPolicies"].append({"name": "bad", "ruleType": "time_window", "config": config})
    return fn


def experiment(percent):
    def fn(c):
        c["decisionFlows"][0]["draftConfig"]["flowConfig"]["experiment"] = {"enabled": True, "holdoutPercent": percent}
    return fn


def enrich_fields(fields):
    def fn(c):
        node(c, "enr")["config"]["sources"][0]["fields"] = fields
    return fn


def second_source(lookup_key: str):
    """A second enrich source (schema 'extra'), joined to the customers on its `lookup_key` field."""
    def fn(c):
        c["schemas"].append({"id": "extra", "name": "extra", "relation": "extras",
                             "fields": [{"name": "member_id", "dataType": "varchar"},
                                        {"name": "loyalty", "dataType": "decimal"}]})
        node(c, "enr")["config"]["sources"].append({"schemaId": "extra", "lookupKey": lookup_key, "fields": ["loyalty"]})
    return fn


F = "config.yml"
OFFER_A = "offers[0] 'A'"
CAT = "categories[0] 'Cat'"
R1 = "qualificationRules[0] 'r1'"
FLOW = "decisionFlows[0] 'f'"
FORMULA = "field 'customFields[3].formula'"
NODES = "field 'draftConfig.nodes"

# id -> (files, fragments that must all appear in one reported error)
CASES: dict[str, tuple[dict[str, object], list[str]]] = {
    "yaml syntax error": (
        {F: "offers:\n  - name: [a\n"},
        [F, "invalid YAML at line 3, column 1", "expected ',' or ']'", "started at line 2, column 11"]),
    "duplicate yaml key": (
        {F: "offers:\n  - name: a\n    name: b\n"},
        [F, "line 3, column 5", "duplicate key 'name'", "only once"]),
    "json syntax error": (
        {"config.json": '{"offers": [}'},
        ["config.json", "invalid JSON at line 1, column 13"]),
    "unknown top-level key": (
        {F: {"offerz": []}},
        [F, "unknown top-level key 'offerz'", "did you mean 'offers'", "expected one of schemas, categories"]),
    "top-level value not a list": (
        {F: {"offers": {"name": "x"}}},
        [F, "offers", "expected a list of objects, got a mapping"]),
    "unknown field in an offer": (
        mutate(lambda c: c["offers"][0].update(prioritty=3)),
        [F, OFFER_A, "field 'prioritty'", "unknown field", "did you mean 'priority'", "expected one of: id, name"]),
    "unknown field in a rule config": (
        mutate(rule_config(attr="x")),
        [F, R1, "field 'config.attr'", "unknown field", "expected one of:", "attribute", "operator"]),
    "unknown field in a node config": (
        mutate(lambda c: node(c, "rank")["config"].update(maxCandidate=2)),
        [F, FLOW, NODES + "[5].config.maxCandidate'", "did you mean 'maxCandidates'"]),
    "wrong type: priority high": (
        mutate(lambda c: c["offers"][0].update(priority="high")),
        [F, OFFER_A, "field 'priority'", "expected a number, got a string 'high'"]),
    "missing required field": (
        mutate(lambda c: c["offers"][0].pop("name")),
        [F, "offers[0] 'a'", "field 'name'", "required field is missing"]),
    "formula syntax error": (
        mutate(computed("customer.revenue * ")),
        [F, CAT, FORMULA, "'customer.revenue * '", "expected a number, string, name or '('", "column 20"]),
    "formula unknown identifier": (
        mutate(computed("customer.nope * 2")),
        [F, CAT, FORMULA, "unknown identifier 'customer.nope'", "column 1", "expected customer.<field>"]),
    "formula unknown function": (
        mutate(computed("foo(customer.revenue)")),
        [F, CAT, FORMULA, "unknown function 'foo'", "known: abs"]),
    "formula wrong arity": (
        mutate(computed("abs(customer.revenue, 2)")),
        [F, CAT, FORMULA, "abs() takes exactly 1 argument, got 2"]),
    "formula type mismatch text + number": (
        mutate(computed("customer.category + 2")),
        [F, CAT, FORMULA, "operator '+' expects two numbers or two texts, got text and number", "column 19"]),
    "offer channel not declared": (
        mutate(lambda c: (c.update(channels=[{"id": "email", "name": "Email"}]),
                          c["offers"][0].update(channels=["email", "fax"]))),
        [F, OFFER_A, "field 'channels[1]'", "unknown channel 'fax'", "expected one of: 'email'"]),
    "offer channels empty": (
        mutate(lambda c: c["offers"][0].update(channels=[])),
        [F, OFFER_A, "field 'channels'", "at least 1 item"]),
    "dangling offer categoryId": (
        mutate(lambda c: c["offers"][0].update(categoryId="nope")),
        [F, OFFER_A, "field 'categoryId'", "unknown category 'nope'", "expected one of: 'cat'"]),
    "dangling rule scopeId": (
        mutate(lambda c: c["qualificationRules"][0].update(scopeId="nope")),
        [F, R1, "field 'scopeId'", "unknown offer 'nope'", "expected one of: 'a', 'b'"]),
    "dangling enrich schemaId": (
        mutate(lambda c: node(c, "enr")["config"]["sources"][0].update(schemaId="nope")),
        [F, FLOW, NODES + "[1].config.sources[0].schemaId'", "unknown schema 'nope'", "expected one of: 'customer'"]),
    "unknown lookupKey of a second enrich source": (  # was joined on a column 'nope' the relation may not have
        mutate(second_source("nope")),
        [F, FLOW, NODES + "[1].config.sources[1].lookupKey'", "schema 'extra' has no field 'nope'",
         "expected one of: member_id, loyalty"]),
    "dangling qualify ruleIds": (
        mutate(lambda c: node(c, "qual")["config"].update(ruleIds=["r1", "nope"])),
        [F, FLOW, NODES + "[2].config.ruleIds[1]'", "unknown qualification rule 'nope'", "expected one of: 'r1'"]),
    "dangling inventory offerIds": (
        mutate(lambda c: node(c, "inv")["config"].update(scope="manual", offerIds=["nope"])),
        [F, FLOW, NODES + "[0].config.offerIds[0]'", "unknown offer 'nope'", "expected one of: 'a', 'b'"]),
    "dangling policy scopeId": (
        mutate(lambda c: c["contactPolicies"][0].update(scope="offer", scopeId="nope")),
        [F, "contactPolicies[0] 'p1'", "field 'scopeId'", "unknown offer 'nope'", "expected one of: 'a', 'b'"]),
    "duplicate id in one file": (
        mutate(lambda c: c["offers"][1].update(id="a")),
        [F, "offers[1] 'B'", "field 'id'", "duplicate offer id or name 'a'", "first defined at config.yml: offers[0] 'A'"]),
    "duplicate names across files": (
        {"a.yml": {"offers": [{"name": "Same"}]}, "b.yml": {"offers": [{"id": "other", "name": "Same"}]},
         "c.yml": {k: v for k, v in base().items() if k != "offers"}},
        ["b.yml", "offers[0] 'Same'", "field 'name'", "duplicate offer id or name 'Same'",
         "first defined at a.yml: offers[0] 'Same'"]),
    "unknown node type": (
        mutate(lambda c: node(c, "rank").update(type="rnak")),
        [F, FLOW, NODES + "[5].type'", "expected one of 'inventory'", "got 'rnak'", "did you mean 'rank'"]),
    "unknown rule type": (
        mutate(lambda c: c["qualificationRules"][0].update(ruleType="attribute")),
        [F, R1, "field 'ruleType'", "expected one of 'attribute_condition'", "got 'attribute'"]),
    "unknown operator": (
        mutate(rule_config(operator="greater_than")),
        [F, R1, "field 'config.operator'", "expected one of 'eq', 'neq'", "got 'greater_than'"]),
    "rule on an undeclared attribute": (
        mutate(rule_config(attribute="customer.zzz")),
        [F, R1, "field 'config.attribute'", "'customer.zzz' is not declared in any schema", "expected one of:",
         "customer.purchases"]),
    "rule on an attribute the flow does not load": (
        mutate(enrich_fields(["days"])),
        [F, R1, "field 'config.attribute'", "'customer.purchases'", "this flow's enrich node does not load it",
         "the flow loads: customer.days"]),
    "holdoutPercent -1": (
        mutate(experiment(-1)),
        [F, FLOW, "field 'draftConfig.flowConfig.experiment.holdoutPercent'", "expected a number >= 0, got -1"]),
    "holdoutPercent 101": (
        mutate(experiment(101)),
        [F, FLOW, "field 'draftConfig.flowConfig.experiment.holdoutPercent'", "expected a number <= 100, got 101"]),
    "startHour 24": (
        mutate(policy({"startHour": 24, "endHour": 5})),
        [F, "contactPolicies[2] 'bad'", "field 'config.startHour'", "expected a number <= 23, got 24"]),
    "endHour -1": (
        mutate(policy({"startHour": 2, "endHour": -1})),
        [F, "contactPolicies[2] 'bad'", "field 'config.endHour'", "expected a number >= 0, got -1"]),
    "startHour equals endHour": (
        mutate(policy({"startHour": 5, "endHour": 5})),
        [F, "contactPolicies[2] 'bad'", "field 'config.endHour'", "startHour equals endHour"]),
    "unknown time zone": (
        mutate(policy({"startHour": 2, "endHour": 5, "timezone": "Mars/Olympus"})),
        [F, "contactPolicies[2] 'bad'", "field 'config.timezone'", "expected an IANA time zone", "got 'Mars/Olympus'"]),
    "maxTotal 0": (
        mutate(lambda c: c["contactPolicies"][0]["config"].update(maxTotal=0)),
        [F, "contactPolicies[0] 'p1'", "field 'config.maxTotal'", "expected a number > 0, got 0"]),
    "maxTotal negative": (
        mutate(lambda c: c["contactPolicies"][0]["config"].update(maxTotal=-2)),
        [F, "contactPolicies[0] 'p1'", "field 'config.maxTotal'", "expected a number > 0, got -2"]),
    "scope offer without scopeId": (
        mutate(lambda c: c["qualificationRules"][0].pop("scopeId")),
        [F, R1, "field 'scopeId'", "scope 'offer' needs a 'scopeId'"]),
    "policy scope offer without scopeId": (
        mutate(lambda c: c["contactPolicies"][0].update(scope="offer")),
        [F, "contactPolicies[0] 'p1'", "field 'scopeId'", "scope 'offer' needs a 'scopeId'"]),
    "in with a non-list value": (
        mutate(rule_config(operator="in", value=3)),
        [F, R1, "field 'config.value'", "operator 'in' needs 'value' to be a non-empty list"]),
    "exists with a value": (
        mutate(rule_config(operator="exists", value=3)),
        [F, R1, "field 'config.value'", "operator 'exists' takes no 'value'"]),
    "invalid regex": (
        mutate(rule_config(attribute="customer.category", operator="regex", value="([a-z")),
        [F, R1, "field 'config.value'", "invalid regular expression '([a-z'"]),
    "rule value of the wrong type": (
        mutate(rule_config(value="three")),
        [F, R1, "field 'config.value'", "expected a number for a numeric attribute, got 'three'"]),
    "filter value of the wrong type": (
        mutate(lambda c: c["decisionFlows"][0]["draftConfig"]["nodes"].insert(3, {
            "id": "flt", "type": "filter",
            "config": {"conditions": [{"field": "customer.days", "operator": "lt", "value": "soon"}]}})),
        [F, FLOW, NODES + "[3].config.conditions[0].value'", "expected a number for a numeric attribute, got 'soon'"]),
    "computed field outputType mismatch": (
        mutate(computed("customer.revenue * 2", outputType="text")),
        [F, CAT, "field 'customFields[3].outputType'", "formula gives a number but outputType is 'text'"]),
    "computed fields in a cycle": (
        mutate(lambda c: c["categories"][0]["customFields"].extend([
            {"name": "x", "type": "computed", "formula": "y + 1"},
            {"name": "y", "type": "computed", "formula": "x + 1"}])),
        [F, CAT, "field 'customFields'", "cycle: x -> y -> x"]),
    "custom field name not an identifier": (
        mutate(lambda c: c["categories"][0]["customFields"].append({"name": "bad name", "type": "text"})),
        [F, CAT, "field 'customFields[4].name'", "expected a name of letters, digits and _", "got 'bad name'"]),
    "duplicate node id": (
        mutate(lambda c: node(c, "rank").update(id="score")),
        [F, FLOW, "field 'draftConfig.nodes[5].id'", "node id 'score' is used twice"]),
    "no decisionFlows": (
        mutate(lambda c: c.pop("decisionFlows")),
        ["no decisionFlows defined", "expected at least one Decision Flow", "'decisionFlows'"]),
    # custom field values of offers (keys declared by the category, values of the declared type)
    "offer custom field not declared": (
        mutate(lambda c: c["offers"][0]["customFields"].update(colour="red")),
        [F, OFFER_A, "field 'customFields.colour'", "not declared by category 'Cat'",
         "expected one of its static custom fields: 'tier', 'pct', 'vip'"]),
    "offer custom field without a category": (
        mutate(lambda c: c["offers"][1].update(customFields={"tier": "gold"})),
        [F, "offers[1] 'B'", "field 'customFields.tier'", "the offer has no categoryId or subCategoryId"]),
    "offer sets a computed custom field": (
        mutate(lambda c: c["offers"][0]["customFields"].update(boost=3)),
        [F, OFFER_A, "field 'customFields.boost'", "computed from its formula; an offer cannot set it"]),
    "offer custom number given text": (
        mutate(lambda c: c["offers"][0]["customFields"].update(pct="ten")),
        [F, OFFER_A, "field 'customFields.pct'", "expected a number for number custom field 'pct', got 'ten'"]),
    "offer custom number given boolean": (
        mutate(lambda c: c["offers"][0]["customFields"].update(pct=True)),
        [F, OFFER_A, "field 'customFields.pct'", "expected a number", "got True"]),
    "offer custom text given number": (
        mutate(lambda c: c["offers"][0]["customFields"].update(tier=3)),
        [F, OFFER_A, "field 'customFields.tier'", "expected a string for text custom field 'tier', got 3"]),
    "offer custom boolean given text": (
        mutate(lambda c: c["offers"][0]["customFields"].update(vip="yes")),
        [F, OFFER_A, "field 'customFields.vip'", "expected true or false for boolean custom field 'vip', got 'yes'"]),
    "required custom field not set": (
        mutate(lambda c: (c["categories"][0]["customFields"].append({"name": "code", "type": "text", "required": True}))),
        [F, OFFER_A, "field 'customFields'", "required custom field 'code' of category 'Cat' is not set",
         "expected a text value"]),
    "custom field default of the wrong type": (
        mutate(lambda c: c["categories"][0]["customFields"][1].update(defaultValue="ten")),
        [F, CAT, "field 'customFields[1].defaultValue'", "expected a number for a number custom field, got 'ten'"]),
    "custom field with two types across categories": (
        mutate(lambda c: c["categories"].append({"id": "cat2", "name": "Cat2",
                                                 "customFields": [{"name": "pct", "type": "text"}]})),
        [F, "categories[1] 'Cat2'", "field 'customFields[0].type'", "custom field 'pct' is a text here but a number in",
         "categories[0] 'Cat'", "expected the same type"]),
}


def test_base_config_is_valid(tmp_path):
    assert _errors(_write(tmp_path / "decisioning", {"config.yml": base()})) == []


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_config_is_refused_with_a_precise_message(tmp_path, case):
    files, fragments = CASES[case]
    errors = _errors(_write(tmp_path / "decisioning", copy.deepcopy(files)))
    assert errors, f"{case}: config was accepted"
    matching = [e for e in errors if all(f in e for f in fragments)]
    assert matching, f"{case}: no error has all of {fragments}; got:\n" + "\n".join(errors)
    for error in errors:  # no pydantic internals leak into messages
        assert "Input should be" not in error and "kaireonType" not in error and "errors.pydantic.dev" not in error
        assert "<unicode string>" not in error


def test_a_second_enrich_source_with_a_known_lookup_key_is_valid(tmp_path):
    assert _errors(_write(tmp_path / "decisioning", mutate(second_source("member_id")))) == []


def test_valid_offer_custom_fields_reach_the_offer_catalogue(tmp_path):
    from harness import compile_sql

    config = base()
    config["offers"][0]["customFields"] = {"tier": "gold", "pct": 12.5, "vip": False}
    sql = compile_sql(_write(tmp_path / "decisioning", {"config.yml": config}))["kaireon_offers"]
    assert "'gold'" in sql and "12.5" in sql


def test_several_errors_are_reported_at_once(tmp_path):
    bad_offers = {"offers": [{"id": "a", "name": "A", "priority": "high"}, {"id": "b", "name": "B", "colour": "red"}]}
    rest = base()
    rest.pop("offers")
    rest["contactPolicies"][0]["config"]["maxTotal"] = 0
    files = {
        "broken.yml": "offers: [\n",
        "offers.yml": bad_offers,
        "rest.yml": rest,
    }
    errors = _errors(_write(tmp_path / "decisioning", files))
    assert len(errors) == 4, errors
    assert any(e.startswith("broken.yml: invalid YAML") for e in errors)
    assert any("offers.yml: offers[0] 'A': field 'priority'" in e for e in errors)
    assert any("offers.yml: offers[1] 'B': field 'colour'" in e for e in errors)
    assert any("rest.yml: contactPolicies[0] 'p1': field 'config.maxTotal'" in e for e in errors)


def test_several_reference_errors_are_reported_at_once(tmp_path):
    def fn(c):
        c["offers"][0]["categoryId"] = "nope"
        c["qualificationRules"][0]["scopeId"] = "nope"
        node(c, "enr")["config"]["sources"][0]["schemaId"] = "nope"
    errors = _errors(_write(tmp_path / "decisioning", mutate(fn)))
    assert len(errors) == 3, errors


# ---- the CLI: validate exits 1 with the message on stderr; compile never half-writes -----------

def _dbt_project(root: Path, config: dict[str, object]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text("name: demo\nversion: '1.0'\nconfig-version: 2\nprofile: demo\n")
    (root / "profiles.yml").write_text("demo:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: x.duckdb\n")
    _write(root / "decisioning", config)
    return root


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


BAD = mutate(lambda c: c["offers"][0].update(priority="high"))


def test_validate_exits_1_with_the_message_on_stderr_and_writes_nothing(tmp_path, capsys):
    root = _dbt_project(tmp_path / "proj", copy.deepcopy(BAD))
    before = _tree(root)
    code = main(["validate", "--project-dir", str(root)])
    out = capsys.readouterr()
    assert code == 1
    assert "decisioning/config.yml: offers[0] 'A': field 'priority': expected a number, got a string 'high'" in out.err
    assert out.out == ""
    assert _tree(root) == before


def test_validate_accepts_good_config(tmp_path, capsys):
    root = _dbt_project(tmp_path / "proj", {"config.yml": base()})
    before = _tree(root)
    assert main(["validate", "--project-dir", str(root)]) == 0
    assert "config OK" in capsys.readouterr().out
    assert _tree(root) == before


@pytest.mark.parametrize("bad", [
    BAD,
    mutate(computed("foo(1)")),  # a compile-time (flow-level) error
    mutate(lambda c: c.pop("decisionFlows")),
], ids=["load error", "compile error", "no flows"])
def test_compile_on_bad_config_leaves_existing_models_untouched(tmp_path, capsys, bad):
    root = _dbt_project(tmp_path / "proj", {"config.yml": base()})
    assert main(["compile", "--project-dir", str(root), "--profiles-dir", str(root)]) == 0
    models = root / "models" / "kaireon"
    assert any(models.glob("*.sql"))
    (models / "extra_user_file.txt").write_text("mine")
    before = _tree(root / "models")
    _write(root / "decisioning", copy.deepcopy(bad))
    capsys.readouterr()
    assert main(["compile", "--project-dir", str(root), "--profiles-dir", str(root)]) == 1
    assert "error" in capsys.readouterr().err
    assert _tree(root / "models") == before
    assert not [p for p in models.iterdir() if p.name.startswith(".")]  # no temp files left


def test_compile_on_bad_config_creates_nothing(tmp_path, capsys):
    root = _dbt_project(tmp_path / "proj", copy.deepcopy(BAD))
    before = _tree(root)
    assert main(["compile", "--project-dir", str(root), "--profiles-dir", str(root)]) == 1
    assert "field 'priority'" in capsys.readouterr().err
    assert _tree(root) == before
    assert not (root / "models").exists()


def test_unknown_outcome_types_are_refused_and_custom_ones_declared(tmp_path):
    """Issue 3 bad input: an unknown outcome type in a policy or rule is refused at validate time."""
    from harness import flow, schema, standard_nodes, write_config
    from kaireon_sql.config import load_project
    from kaireon_sql.errors import ConfigErrors

    config = {
        "schemas": [schema()],
        "offers": [{"id": "a", "name": "A"}],
        "contactPolicies": [{"name": "no complainers", "ruleType": "outcome_based",
                             "config": {"outcomeTypes": ["complaint", "complaints"], "lookbackDays": 30}}],
        "qualificationRules": [{"name": "recently opened", "ruleType": "recency_check",
                                "config": {"condition": "has", "withinDays": 7, "outcomeType": "opened_app"}}],
        "decisionFlows": [flow(standard_nodes())],
    }
    folder = write_config(tmp_path / "bad", config)
    try:
        load_project(folder)
        raise AssertionError("expected ConfigErrors")
    except ConfigErrors as exc:
        text = str(exc)
    assert "contactPolicies[0] 'no complainers': field 'config.outcomeTypes[1]': unknown outcome type 'complaints'" in text
    assert "qualificationRules[0] 'recently opened': field 'config.outcomeType': unknown outcome type 'opened_app'" in text
    config["contactPolicies"][0]["config"]["outcomeTypes"] = ["complaint"]
    config["interactionHistory"] = {"relation": "history", "customOutcomes": ["opened_app"]}
    load_project(write_config(tmp_path / "good", config))
