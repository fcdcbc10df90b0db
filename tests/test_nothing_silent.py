"""Nothing is silent (S10): every config field is compiled, documented metadata, or refused at validate time.

- Every pydantic model reachable from the project config is walked; a field missing from the
  registry (kaireon_sql/config/fields.py) fails the test, so a new field must be classified.
- A refused field set to a value the schema accepts gives a validate-time error naming the field
  and saying it is not supported yet.
- Changing a metadata field leaves the SQL of every compiled model unchanged.
- The README's config reference lists every field of the registry.
Then the behaviours S10 names: an offer's schedule, consent per channel, and the refusals.
"""
from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel

from harness import compile_sql, customers_table, flow, history_table, rows, run_models, scenario, schema
from harness import standard_nodes, write_config
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import fields as registry
from kaireon_sql.config import load_project
from kaireon_sql.config.catalog import InteractionHistory
from kaireon_sql.config.project import KINDS, SINGLES
from kaireon_sql.dialect import engine, render
from kaireon_sql.errors import ConfigError, ConfigErrors

DUCKDB = engine("duckdb")
README = Path(__file__).resolve().parents[1] / "README.md"
AS_OF = "2026-11-20 15:00:00"


def cust(cid: str, consentEmail: bool = True, consentSMS: bool = True) -> tuple:  # noqa: N803 - column names
    return (cid, 100, 5, 80.0, "apparel", "UTC", consentEmail, consentSMS)


# ---- the models reachable from a config file ----------------------------------------------------

def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def reachable_models() -> list[type[BaseModel]]:
    """Every config model class: the top-level kinds and everything their fields hold, recursively."""
    seen: list[type[BaseModel]] = []

    def walk(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.append(cls)
        for info in cls.model_fields.values():
            for model in _models_in(info.annotation):
                walk(model)

    for cls in [*KINDS.values(), InteractionHistory, *(c for _, c in SINGLES.values())]:
        walk(cls)
    return seen


def aliases(cls: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in cls.model_fields.items() if name != "kaireon_type"]


def test_the_walk_reaches_nested_and_tagged_models():
    found = {c.__name__ for c in reachable_models()}
    # node, rule and policy configs (discriminated unions), nested models and the recursive rule tree
    assert {"ScoreConfig", "ResponseConfig", "CallFlowConfig", "PropensityThreshold", "TimeWindow", "AllowOverride",
            "RuleGroup", "RuleLeaf", "ScoreWeights", "Schedule", "Budget", "ArbitrationWeights", "EnrichSource",
            "Property", "InteractionHistory"} <= found


def test_every_field_is_classified():
    missing, stale = [], []
    for cls in reachable_models():
        known = registry.FIELDS.get(cls, {})
        missing += [f"{cls.__name__}.{a}" for a in aliases(cls) if a not in known]
        stale += [f"{cls.__name__}.{a}" for a in known if a not in aliases(cls)]
    assert not missing, f"config fields not classified in kaireon_sql/config/fields.py: {missing}"
    assert not stale, f"registry entries for fields that do not exist: {stale}"
    assert set(registry.FIELDS) == set(reachable_models())
    for cls, entries in registry.FIELDS.items():
        for alias, e in entries.items():
            assert e.kind in (registry.COMPILED, registry.METADATA, registry.REFUSED), (cls, alias)
            assert e.note.strip(), (cls, alias)
    for cls in registry.REFUSED_CLASSES:
        assert all(e.kind == registry.REFUSED for e in registry.FIELDS[cls].values()), cls


def _entries(kind: str) -> list[tuple[type, str]]:
    return [(cls, alias) for cls, entries in registry.FIELDS.items() for alias, e in entries.items() if e.kind == kind]


def _id(param) -> str:
    return f"{param[0].__name__}.{param[1]}" if isinstance(param, tuple) else str(param)


# ---- a config that holds every class with metadata or refused fields, and compiles -------------

def rich_config() -> dict:
    return {
        "schemas": [{**schema(), "description": "customers", "displayName": "Customer"}],
        "interactionHistory": {"relation": "history", "description": "contacts"},
        "orders": {"relation": "orders", "description": "purchases"},
        "lifecycle": {"newDays": 30, "activeDays": 60, "lapsedDays": 180, "description": "stages"},
        "channels": [{"id": "email", "name": "Email", "description": "mail", "channelType": "email",
                      "deliveryMode": "file", "impressionMode": "explicit", "providerConfig": {"host": "smtp"},
                      "consentField": "consentEmail"},
                     {"id": "sms", "name": "SMS", "consentField": "consentSMS"}],
        "placements": [{"id": "p", "name": "Hero", "description": "top", "channelId": "email", "slotType": "banner"}],
        "categories": [
            {"id": "cat", "name": "Cat", "description": "c", "displayOrder": 1, "color": "#f00",
             "customFields": [{"name": "tier", "type": "text", "description": "t", "label": "Tier"},
                              {"name": "boost", "type": "computed", "formula": "customer.revenue * 2",
                               "outputType": "number", "label": "Boost"}]},
            {"id": "cat2", "name": "Cat 2"},
        ],
        "subCategories": [{"id": "sub", "name": "Sub", "description": "s", "categoryId": "cat"}],
        "offers": [
            {"id": "a", "name": "A", "description": "offer a", "categoryId": "cat", "subCategoryId": "sub",
             "priority": 50, "tags": ["x"], "customFields": {"tier": "gold"}},
            {"id": "b", "name": "B", "priority": 60},
        ],
        "creatives": [{"id": "cr", "name": "Hero mail", "description": "d", "offerId": "a", "channelId": "email",
                       "content": {"subject": "hi"}, "templateType": "html", "variant": "A"}],
        "segments": [{"id": "vips", "name": "VIPs", "description": "v", "relation": "segment_membership"}],
        "behavioralMetrics": [{"id": "imps", "name": "Impressions", "description": "m", "aggregation": "count",
                               "sourceField": "impressions", "windowDays": 30, "computeMode": "batch"}],
        "algorithmModels": [{"id": "m", "name": "M", "description": "d", "modelType": "bayesian",
                             "scoresRelation": "scores"}],
        "arbitrationProfiles": [{"id": "ap", "name": "AP", "description": "d", "weights": {"margin": 1}}],
        "qualificationRules": [
            {"name": "r_attr", "description": "d", "ruleType": "attribute_condition",
             "config": {"attribute": "customer.purchases", "operator": "gte", "value": 0, "missing": "pass"}},
            {"name": "r_seg", "ruleType": "segment_required", "stage": "fit",
             "config": {"segmentId": "vips", "multiplier": 0.9}},
            {"name": "r_prop", "ruleType": "propensity_threshold", "config": {"threshold": 0.1, "modelId": "m"}},
            {"name": "r_rec", "ruleType": "recency_check",
             "config": {"condition": "has_not", "withinDays": 1, "outcomeType": "complaint"}},
            {"name": "r_met", "ruleType": "metric_condition",
             "config": {"metricId": "imps", "operator": "lt", "value": 100, "missing": "pass"}},
        ],
        "contactPolicies": [{"name": "cap", "description": "d", "ruleType": "customer_total_cap",
                             "config": {"maxTotal": 3}}],
        "decisionFlows": [{
            **flow(standard_nodes(score={"method": "formula", "modelId": "m", "formula": {"propensityWeight": 1}},
                                  extra=[]) + [{"id": "out", "type": "response", "config": {}},
                                               {"id": "mc", "type": "match_creatives", "config": {}}],
                   channel="email"),
            "description": "the flow",
        }],
    }


def _compile(folder: Path) -> dict[str, str]:
    project = load_project(folder, display_root=folder)
    return {m.name: m.sql if isinstance(m.sql, str) else render(m.sql, DUCKDB) for m in compile_project(project)}


def _errors(folder: Path) -> list[str]:
    """Every error `kaireon validate` reports ([] when valid)."""
    try:
        _compile(folder)
    except ConfigErrors as exc:
        return [str(e) for e in exc.errors]
    except ConfigError as exc:
        return [str(exc)]
    return []


def _write(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return folder


def test_rich_config_is_valid(tmp_path):
    assert _errors(_write(tmp_path, rich_config())) == []


def instances(config: dict, project) -> list[tuple[BaseModel, dict, str]]:
    """(model instance, the raw mapping it was read from, its path) for every model of a loaded config."""
    out: list[tuple[BaseModel, dict, str]] = []

    def walk(obj: BaseModel, raw: dict, path: str) -> None:
        out.append((obj, raw, path))
        for name, info in type(obj).model_fields.items():
            alias = info.alias or name
            value, raw_value = getattr(obj, name), raw.get(alias)
            if isinstance(value, BaseModel) and isinstance(raw_value, dict):
                walk(value, raw_value, f"{path}.{alias}")
            elif isinstance(value, list) and isinstance(raw_value, list):
                for i, (item, raw_item) in enumerate(zip(value, raw_value)):
                    if isinstance(item, BaseModel) and isinstance(raw_item, dict):
                        walk(item, raw_item, f"{path}.{alias}[{i}]")

    for kind in KINDS:
        for index, obj in enumerate(project.objects[kind]):
            walk(obj, config[kind][index], f"{kind}[{index}]")
    walk(project.interaction_history, config["interactionHistory"], "interactionHistory")
    for key, (attribute, _) in SINGLES.items():
        walk(getattr(project, attribute), config[key], key)
    return out


def _other_value(cls: type[BaseModel], alias: str, current: Any) -> Any:
    """A different value the schema accepts for a metadata field."""
    overrides = {("SubCategory", "categoryId"): "cat2", ("Placement", "channelId"): "sms"}
    if (cls.__name__, alias) in overrides:
        return overrides[(cls.__name__, alias)]
    info = next(i for n, i in cls.model_fields.items() if (i.alias or n) == alias)
    options = [a for a in typing.get_args(info.annotation) if a is not type(None)]
    literal = next((a for a in options if typing.get_origin(a) is Literal), None)
    if typing.get_origin(info.annotation) is Literal or literal is not None:
        choices = typing.get_args(literal if literal is not None else info.annotation)
        return next(c for c in choices if c != current)
    if isinstance(current, bool):
        return not current
    if isinstance(current, int):
        return current + 7
    if isinstance(current, dict) or dict in options or typing.get_origin(info.annotation) is dict:
        return {"changed": "value"}
    if isinstance(current, list) or typing.get_origin(info.annotation) is list:
        return ["changed"]
    if info.annotation is bool:
        return True
    if info.annotation is int or int in options:
        return 7
    return "changed text"


# ---- metadata: changing it changes no SQL -------------------------------------------------------

@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    folder = _write(tmp_path_factory.mktemp("rich"), rich_config())
    return rich_config(), load_project(folder, display_root=folder), _compile(folder)


@pytest.mark.parametrize("target", _entries(registry.METADATA), ids=_id)
def test_metadata_field_changes_no_sql(rich, tmp_path, target):
    cls, alias = target
    if cls in registry.REFUSED_CLASSES:
        pytest.skip("the whole object is refused")
    config, project, before = rich
    config = copy.deepcopy(config)
    found = [(obj, raw) for obj, raw, _ in instances(config, project) if type(obj) is cls]
    assert found, f"rich_config() holds no {cls.__name__}: extend it so {alias!r} is exercised"
    info = next(i for n, i in cls.model_fields.items() if (i.alias or n) == alias)
    for obj, raw in found:
        current = raw.get(alias, info.get_default(call_default_factory=True))
        raw[alias] = _other_value(cls, alias, current)
        assert raw[alias] != current
    after = _compile(_write(tmp_path, config))
    assert list(after) == list(before)
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"metadata field {cls.__name__}.{alias} changed the SQL of {changed}"


# ---- refused: a validate-time error naming the field -----------------------------------------

def _place_refused_object(config: dict, cls: type, alias: str, example: Any) -> str:
    """Add an object of a wholly refused class with `alias` set; return the location text expected."""
    nodes = config["decisionFlows"][0]["draftConfig"]["nodes"]
    if cls.__name__ in ("ArbitrationProfile", "ArbitrationWeights"):
        profile = {"name": "prof"}
        if cls.__name__ == "ArbitrationProfile":
            profile[alias] = example
        else:
            profile["weights"] = {alias: example}
        config["arbitrationProfiles"] = [profile]
        return "arbitrationProfiles[0]"
    if cls.__name__ == "FormatTransform":
        compute = next(n for n in nodes if n["type"] == "compute")
        compute["config"]["transforms"] = [{"type": "format", "field": "boost", "pattern": "%.2f", alias: example}]
        return f"field 'draftConfig.nodes[{nodes.index(compute)}].config.transforms[0]'"
    node_type = {"MatchCreativesConfig": "match_creatives", "GroupConfig": "group", "CallFlowConfig": "call_flow"}[cls.__name__]
    node_config = {"flowKey": "f"} if node_type == "call_flow" else {}
    nodes.append({"id": "extra", "type": node_type, "config": {**node_config, alias: example}})
    return f"field 'draftConfig.nodes[{len(nodes) - 1}].config'"


@pytest.mark.parametrize("target", _entries(registry.REFUSED), ids=_id)
def test_refused_field_is_refused_at_validate(rich, tmp_path, target):
    cls, alias = target
    example = registry.FIELDS[cls][alias].example
    config, project, _ = rich
    config = copy.deepcopy(config)
    owner = cls if cls in registry.REFUSED_CLASSES else ("ArbitrationProfile" if cls.__name__ == "ArbitrationWeights" else None)
    if owner is not None:
        where = _place_refused_object(config, cls, alias, example)
        errors = _errors(_write(tmp_path, config))
        assert any(where in e and "not supported yet" in e for e in errors), errors
        return
    found = [(raw, path) for obj, raw, path in instances(config, project) if type(obj) is cls]
    assert found, f"rich_config() holds no {cls.__name__}: extend it so {alias!r} is exercised"
    raw, path = found[0]
    raw[alias] = example
    errors = _errors(_write(tmp_path, config))
    field = path.split("]", 1)[1].lstrip(".") if "]" in path else ""
    field = f"{field}.{alias}" if field else alias
    assert any(f"field '{field}'" in e and "not supported yet" in e for e in errors), (field, errors)


def test_refused_field_at_its_default_is_accepted(tmp_path):
    """A refused field at its default changes nothing: `responseFormat: standard`, `includeTrace: false`."""
    config = rich_config()
    response = next(n for n in config["decisionFlows"][0]["draftConfig"]["nodes"] if n["type"] == "response")
    response["config"] = {"responseFormat": "standard", "includeTrace": False}
    config["algorithmModels"][0]["config"] = {}
    assert _errors(_write(tmp_path, config)) == []


# ---- the README lists every field ---------------------------------------------------------------

def _reference_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Config reference")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_readme_config_reference_lists_every_field():
    section = _reference_section()
    assert registry.reference_table() in section, (
        "README's config reference is out of date; paste the output of "
        "`python -c 'from kaireon_sql.config.fields import reference_table; print(reference_table())'`")
    for cls, entries in registry.FIELDS.items():
        row = next(line for line in section.splitlines() if line.startswith(f"| {registry.LABELS[cls]} |"))
        for alias in entries:
            assert f"`{alias}`" in row, (cls.__name__, alias)


# ---- offer schedule ------------------------------------------------------------------------------

SCHEDULED_OFFERS = [
    {"id": "open", "name": "Open", "priority": 10},
    {"id": "ended", "name": "Ended", "priority": 20,  # end is exclusive: as_of == end is outside
     "schedule": {"startDate": "2026-11-01", "endDate": "2026-11-20T15:00:00Z"}},
    {"id": "starts_now", "name": "Starts now", "priority": 30,  # start is inclusive
     "schedule": {"startDate": "2026-11-20T15:00:00Z"}},
    {"id": "date_end", "name": "Date end", "priority": 40,  # a date is 00:00 UTC of that day: already over
     "schedule": {"endDate": "2026-11-20"}},
    {"id": "offset", "name": "Offset", "priority": 50,  # 16:00+01:00 is 15:00 UTC: starts now
     "schedule": {"startDate": "2026-11-20T16:00:00+01:00", "endDate": "2026-11-21"}},
    {"id": "later", "name": "Later", "priority": 60, "schedule": {"startDate": "2026-11-20T15:00:01"}},
]


def test_offer_schedule_limits_the_runs_that_decide_it(tmp_path):
    config = {"offers": SCHEDULED_OFFERS, "decisionFlows": [flow(standard_nodes(top_n=10, score={"method": "priority"}))]}
    con = scenario(tmp_path, config, [cust("c1")], as_of=AS_OF)
    decided = {r["offer_id"] for r in rows(con, "select offer_id from kaireon_decisions")}
    assert decided == {"open", "starts_now", "offset"}
    # out of schedule is out of the inventory, as an inactive offer: no rejection row, not counted
    assert rows(con, "select offer_id from kaireon_rejections") == []
    assert rows(con, "select total_candidates from kaireon_funnel") == [{"total_candidates": 3}]


def test_offer_schedule_follows_as_of(tmp_path):
    config = {"offers": SCHEDULED_OFFERS, "decisionFlows": [flow(standard_nodes(top_n=10, score={"method": "priority"}))]}
    con = scenario(tmp_path, config, [cust("c1")], as_of="2026-11-10 00:00:00")
    decided = {r["offer_id"] for r in rows(con, "select offer_id from kaireon_decisions")}
    assert decided == {"open", "ended", "date_end"}


def test_unquoted_yaml_dates_are_read(tmp_path):
    folder = tmp_path / "decisioning"
    base = {"schemas": [schema()], "interactionHistory": {"relation": "history"},
            "offers": [{"id": "a", "name": "A"}], "decisionFlows": [flow(standard_nodes())]}
    write_config(folder, base)
    text = (folder / "config.yml").read_text(encoding="utf-8")
    (folder / "config.yml").write_text(text.replace("name: A\n", "name: A\n  schedule: {startDate: 2026-11-01, "
                                                    "endDate: 2026-11-20T15:00:00Z}\n"), encoding="utf-8")
    project = load_project(folder)
    assert project.offers[0].schedule.end.isoformat() == "2026-11-20T15:00:00"
    sql = compile_sql(folder)["kaireon_offers"]
    assert "2026-11-20 15:00:00" in sql and "2026-11-01 00:00:00" in sql


@pytest.mark.parametrize("schedule,fragments", [
    ({"startDate": "2026-13-01"}, ["field 'schedule.startDate'", "valid ISO 8601"]),
    ({"endDate": "next week"}, ["field 'schedule.endDate'", "expected an ISO 8601 date"]),
    ({"startDate": "2026-11-20T15:00:00+99:99"}, ["field 'schedule.startDate'", "expected an ISO 8601"]),
    ({"startDate": "2026-11-20", "endDate": "2026-11-20"}, ["field 'schedule.endDate'", "is not after startDate"]),
    ({"startDate": 20261120}, ["field 'schedule.startDate'"]),
])
def test_bad_schedules_are_refused(tmp_path, schedule, fragments):
    config = rich_config()
    config["offers"][1]["schedule"] = schedule
    errors = _errors(_write(tmp_path, config))
    assert any(all(f in e for f in ["config.yml", "offers[1] 'B'", *fragments]) for e in errors), errors


# ---- consent ---------------------------------------------------------------------------------------

def _consent_config(channel, channels=None, **flow_config) -> dict:
    config = {"offers": [{"id": "a", "name": "A"}],
              "decisionFlows": [flow(standard_nodes(score={"method": "priority"}), channel=channel, **flow_config)]}
    if channels is not None:
        config["channels"] = channels
    return config


@pytest.mark.parametrize("channel,channels,fragments", [
    ("whatsapp", [{"id": "whatsapp", "name": "WhatsApp"}],
     ["channel 'whatsapp' has no consent field", "'consentWhatsapp'", "requiresConsent: false"]),
    ("push", None, ["channel 'push' has no consent field"]),  # undeclared, no consentPush field loaded
    (["email", "push"], None, ["channel 'push' has no consent field"]),
    (["email", "auto"], None, ["'auto' is not a channel to list", "channels: [...]"]),  # auto: tests/test_channel_preference.py
    ("email", [{"id": "email", "name": "Email", "status": "inactive"}], ["channel 'email' has status 'inactive'"]),
])
def test_a_channel_without_consent_is_refused(tmp_path, channel, channels, fragments):
    config = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, **_consent_config(channel, channels)}
    errors = _errors(_write(tmp_path, config))
    assert any(all(f in e for f in ["config.yml", "decisionFlows[0] 'f'", "field 'draftConfig.flowConfig.channel'",
                                    *fragments]) for e in errors), errors


def test_requires_consent_false_sends_without_a_consent_check(tmp_path):
    channels = [{"id": "push", "name": "Push", "requiresConsent": False}]
    con = scenario(tmp_path, _consent_config("push", channels), [cust("c1", consentEmail=False, consentSMS=False)])
    assert rows(con, "select customer_id, channel from kaireon_decisions") == [{"customer_id": "c1", "channel": "push"}]


def test_requires_consent_false_with_a_consent_field_is_refused(tmp_path):
    channels = [{"id": "email", "name": "Email", "requiresConsent": False, "consentField": "consentEmail"}]
    config = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, **_consent_config("email", channels)}
    errors = _errors(_write(tmp_path, config))
    assert any("channels[0] 'Email'" in e and "field 'requiresConsent'" in e and "takes no 'consentField'" in e
               for e in errors), errors


def test_run_channel_without_consent_field_sends_nothing(tmp_path):
    """With the run's channel var, a channel with no consent field is rejected at stage consent."""
    customers = [cust("c1"), cust("c2", consentEmail=False)]
    base = {"schemas": [schema()], "interactionHistory": {"relation": "history"}, **_consent_config(None)}
    models = compile_sql(write_config(tmp_path / "decisioning", base))
    tables = {"customers": customers_table(customers), "history": history_table([])}
    con = run_models(models, tables, as_of=AS_OF, channel="whatsapp")
    assert rows(con, "select * from kaireon_decisions") == []
    got = rows(con, "select customer_id, stage, rule_name, reason from kaireon_rejections order by customer_id")
    assert [(r["customer_id"], r["stage"], r["rule_name"]) for r in got] == [
        ("c1", "consent", "Consent (no consent field)"), ("c2", "consent", "Consent (no consent field)")]
    assert "has no consent field" in got[0]["reason"]
    con = run_models(models, tables, as_of=AS_OF, channel="email")  # email: consentEmail decides
    assert [r["customer_id"] for r in rows(con, "select customer_id from kaireon_decisions")] == ["c1"]


# ---- refusals of settings that would be ignored ---------------------------------------------------

def _node(config: dict, node_id: str) -> dict:
    return next(n for n in config["decisionFlows"][0]["draftConfig"]["nodes"] if n["id"] == node_id)


def _mutate(fn):
    def build():
        config = rich_config()
        fn(config)
        return config
    return build


FLOW = "decisionFlows[0] 'f'"
NODES = "field 'draftConfig.nodes"
REFUSALS = {
    "decisionTraceSampleRate without includeTrace": (
        _mutate(lambda c: _node(c, "out")["config"].update(decisionTraceSampleRate=0.5)),
        [FLOW, NODES + "[7].config.decisionTraceSampleRate'", "only read with includeTrace: true"]),
    "model config": (_mutate(lambda c: c["algorithmModels"][0].update(config={"smoothingWeight": 10})),
                     ["algorithmModels[0] 'M'", "field 'config'", "read from 'scoresRelation'"]),
    "keyColumn on a scoresRelation model": (_mutate(lambda c: c["algorithmModels"][0].update(keyColumn="cid")),
                                            ["algorithmModels[0] 'M'", "field 'keyColumn'", "for modelType 'uplift'"]),
    "inactive model used by the score node": (
        _mutate(lambda c: c["algorithmModels"][0].update(status="inactive")),
        [FLOW, NODES + "[4].config.modelId'", "algorithm model 'm' has status 'inactive'"]),
    "inactive model named by a rule": (
        _mutate(lambda c: c["algorithmModels"][0].update(status="training")),
        ["qualificationRules[2] 'r_prop'", "field 'config.modelId'", "has status 'training'"]),
    "inactive metric": (_mutate(lambda c: c["behavioralMetrics"][0].update(status="draft")),
                        ["qualificationRules[4] 'r_met'", "field 'config.metricId'", "has status 'draft'"]),
    "inactive placement": (
        _mutate(lambda c: (c["placements"][0].update(status="inactive"),
                           c["decisionFlows"][0]["draftConfig"]["flowConfig"].update(placementId="p"))),
        [FLOW, "field 'draftConfig.flowConfig.placementId'", "placement 'p' has status 'inactive'"]),
    "two default arbitration profiles": (
        _mutate(lambda c: c.update(arbitrationProfiles=[{"name": "p1", "isDefault": True},
                                                        {"name": "p2", "isDefault": True}])),
        ["arbitrationProfiles[1] 'p2'", "field 'isDefault'", "at most one profile with isDefault: true"]),
    "arbitrationProfileId on a formula score": (
        _mutate(lambda c: (c.update(arbitrationProfiles=[{"name": "prof"}]),
                           c["decisionFlows"][0]["draftConfig"]["flowConfig"].update(arbitrationProfileId="prof"))),
        [FLOW, "field 'draftConfig.flowConfig.arbitrationProfileId'", "never arbitrate"]),
    "inactive arbitration profile": (
        _mutate(lambda c: (c.update(arbitrationProfiles=[{"name": "prof", "status": "inactive"}]),
                           c["decisionFlows"][0]["draftConfig"]["flowConfig"].update(arbitrationProfileId="prof"))),
        [FLOW, "field 'draftConfig.flowConfig.arbitrationProfileId'", "arbitration profile 'prof' has status 'inactive'"]),
    "unknown arbitration profile": (
        _mutate(lambda c: c["decisionFlows"][0]["draftConfig"]["flowConfig"].update(arbitrationProfileId="nope")),
        [FLOW, "field 'draftConfig.flowConfig.arbitrationProfileId'", "unknown arbitration profile 'nope'"]),
    "multiplier on a hard rule": (
        _mutate(lambda c: c["qualificationRules"][0]["config"].update(multiplier=0.2)),
        ["qualificationRules[0] 'r_attr'", "field 'config.multiplier'", "only read by fit-stage rules"]),
    "missing on segment_required": (
        _mutate(lambda c: c["qualificationRules"][1]["config"].update(missing="pass")),
        ["qualificationRules[1] 'r_seg'", "field 'config.missing'", "not supported yet"]),
    "formula weights with method priority": (
        _mutate(lambda c: _node(c, "score").update(config={"method": "priority", "formula": {"impactWeight": 1}})),
        [FLOW, NODES + "[4].config.formula'", "only used with method 'formula'"]),
    "categoryIds with scope all": (_mutate(lambda c: _node(c, "inv")["config"].update(categoryIds=["cat"])),
                                   [FLOW, NODES + "[0].config.categoryIds'", "only read with scope 'category'"]),
    "offerIds with scope category": (
        _mutate(lambda c: _node(c, "inv")["config"].update(scope="category", categoryIds=["cat"], offerIds=["a"])),
        [FLOW, NODES + "[0].config.offerIds'", "only read with scope 'manual'"]),
    "qualify mode with logic": (
        _mutate(lambda c: _node(c, "qual")["config"].update(mode="any", logic={"operator": "AND",
                                                                             "conditions": [{"ruleId": "r_attr"}]})),
        [FLOW, NODES + "[2].config.mode'", "not read when 'logic' is given"]),
    "sampleRate without sampling": (
        _mutate(lambda c: c["decisionFlows"][0]["draftConfig"]["flowConfig"].update(rejections={"sampleRate": 0.5})),
        [FLOW, "field 'draftConfig.flowConfig.rejections.sampleRate'", "only read with volume 'sampled'"]),
    "segment columns with a formula": (
        _mutate(lambda c: c["segments"].append({"id": "rich", "name": "Rich", "formula": "customer.revenue > 100",
                                                "segmentColumn": "seg"})),
        ["segments[1] 'Rich'", "field 'segmentColumn'", "not with 'formula'"]),
    "defaultValue on a computed field": (
        _mutate(lambda c: c["categories"][0]["customFields"][1].update(defaultValue=3)),
        ["categories[0] 'Cat'", "field 'customFields[1].defaultValue'", "takes no 'defaultValue'"]),
    "schema field defaultValue": (_mutate(lambda c: c["schemas"][0]["fields"][1].update(defaultValue=0)),
                                  ["schemas[0] 'customer'", "field 'fields[1].defaultValue'", "not supported yet"]),
    "archived flow": (_mutate(lambda c: c["decisionFlows"][0].update(status="archived")),
                      [FLOW, "field 'status'", "an archived flow would still run"]),
    "a second match_creatives node": (
        _mutate(lambda c: c["decisionFlows"][0]["draftConfig"]["nodes"].append(
            {"id": "mc2", "type": "match_creatives", "config": {"salt": "s"}})),
        [FLOW, NODES + "[9]'", "a flow takes at most one 'match_creatives' node"]),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_ignored_setting_is_refused(tmp_path, case):
    build, fragments = REFUSALS[case]
    errors = _errors(_write(tmp_path, build()))
    assert any(all(f in e for f in ["config.yml", *fragments]) for e in errors), errors


def test_v1_stages_on_the_flow_itself_get_a_clear_message(tmp_path):
    """Seed 001's fixed-stage pipeline compiles (tests/test_v1_flows.py); its stages go inside the definition."""
    config = rich_config()
    config["decisionFlows"] = [{"key": "legacy", "name": "Legacy flow", "stages": {"inventory": {"scope": "all"}}}]
    errors = _errors(_write(tmp_path, config))
    assert len(errors) == 1 and all(f in errors[0] for f in ["decisionFlows[0] 'Legacy flow'", "field 'stages'",
                                                             "fixed-stage (v1)", "draftConfig: {version: 1"]), errors
