"""One engine-neutral tree per model, rendered for every engine (issue 11 item 3).

(a) every node of kaireon_sql/dialect/nodes.py has a render entry, and lowers to plain sqlglot on
    every engine of ENGINES; (b) the demo and the scenarios of neutral_scenarios.py are compiled once
    and that one list of models renders, for all seven engines, to the files of before (golden files,
    golden/neutral_scenarios.json); (c) the tree holds no engine choice: rendering leaves it unchanged
    and no Engine is reachable from a compiled model.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
from pathlib import Path

import pytest
import yaml
from sqlglot import exp

from conftest import REPO
from neutral_scenarios import SCENARIOS
from kaireon_sql import dialect
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import ENGINES, NODES, RENDERS, Engine, Neutral, lower, render
from kaireon_sql.dialect.render import _dialect
from kaireon_sql.plan.context import FlowContext
from kaireon_sql.writer import model_files

GOLDEN = Path(__file__).parent / "golden"
x, y, ts, zone = exp.column("x"), exp.column("y"), exp.column("ts"), exp.column("zone")

# one instance of every neutral node, as the public builders make it
SAMPLES = {
    "CastText": lambda: dialect.cast_text(x.copy()),
    "CastDouble": lambda: dialect.cast_double(x.copy()),
    "EngineType": lambda: exp.cast(x.copy(), dialect.data_type("text_type")),
    "HexToInt": lambda: dialect.hex8_to_int(x.copy()),
    "Md5Hex": lambda: dialect.md5_hex(x.copy()),
    "LocalTime": lambda: dialect.local_time(ts.copy(), zone.copy()),
    "KnownZone": lambda: dialect.known_zone(zone.copy()),
    "IsoDayOfWeek": lambda: dialect.iso_day_of_week(ts.copy()),
    "TruncateCalendar": lambda: dialect.truncate(ts.copy(), "WEEK"),
    "AddMinutes": lambda: dialect.plus_minutes(ts.copy(), exp.Mul(this=y.copy(), expression=exp.Literal.number(15))),
    "CharOf": lambda: dialect.char_of(0),
    "JsonString": lambda: dialect.json_string(x.copy()),
    "JsonValue": lambda: dialect.json_value(x.copy(), "number"),
    "JsonObject": lambda: dialect.json_object([("a", "text", x.copy()), ("b", "boolean", y.copy())]),
    "JsonArrayAgg": lambda: dialect.json_array_agg(dialect.json_object([("a", "json", x.copy())]), y.copy()),
    "Arithmetic": lambda: dialect.arithmetic("*", x.copy(), y.copy()),
    "Fmod": lambda: dialect.fmod(x.copy(), y.copy()),
    "Integral": lambda: dialect.integral(x.copy(), "trunc"),
    "RoundHalfAway": lambda: dialect.round_half_away(x.copy()),
    "RoundDigits": lambda: dialect.round_digits(x.copy(), -2),
    "Extreme": lambda: dialect.extreme([x.copy(), y.copy()], largest=False),
    "RegexMatch": lambda: dialect.regex_match(x.copy(), "^a.b$"),
    "Grouped": lambda: dialect.grouped(dialect.fmod(x.copy(), y.copy())),
    "OptionalRelation": lambda: exp.Exists(this=exp.select("*").from_(
        dialect.optional_relation("kaireon_decision_log", {"run_id": "text_type", "as_of": "TIMESTAMP"}))),
    "Bind": lambda: dialect.with_uniforms([x.copy(), y.copy()], 2, lambda u: exp.Add(this=u[0], expression=u[1])),
    "HexText": lambda: dialect.hex_text(x.copy()),
    "RunAttribute": lambda: dialect.run_attribute("season"),
    "EpochSeconds": lambda: dialect.seconds_between(ts.copy(), ts.copy()).this,
}


def _neutral_nodes(tree: exp.Expression) -> list[exp.Expression]:
    return [node for node in tree.walk() if isinstance(node, Neutral)]


# ---- (a) the render table is complete ------------------------------------------------------------

def test_every_node_has_a_render_entry():
    assert NODES, "dialect/nodes.py defines the neutral nodes"
    missing = [cls.__name__ for cls in NODES if cls not in RENDERS]
    assert not missing, f"neutral nodes without a render entry (dialect/render.py RENDERS): {missing}"
    assert set(RENDERS) <= set(NODES)


def test_every_node_has_a_sample():
    assert sorted(SAMPLES) == sorted(cls.__name__ for cls in NODES), "add a sample of the new node to SAMPLES"


@pytest.mark.parametrize("name", sorted(ENGINES))
@pytest.mark.parametrize("node", sorted(SAMPLES))
def test_every_node_renders_on_every_engine(node, name):
    eng = ENGINES[name]
    tree = exp.select(exp.alias_(SAMPLES[node](), "v"))
    assert any(type(n).__name__ == node for n in tree.walk())
    lowered = lower(tree, eng)
    assert _neutral_nodes(lowered) == [], f"{node} is not fully lowered for {name}"
    assert render(tree, eng, pretty=False).startswith("SELECT ")


def test_nested_nodes_are_all_lowered():
    """Lowering is bottom-up: neutral nodes inside neutral nodes (inside a let) are lowered too."""
    inner = dialect.round_digits(dialect.arithmetic("+", dialect.fmod(x.copy(), y.copy()), x.copy()), 2)
    tree = exp.select(dialect.json_object([("n", "number", dialect.extreme([inner, dialect.integral(y.copy(), "floor")],
                                                                            largest=True))]))
    for eng in ENGINES.values():
        assert _neutral_nodes(lower(tree, eng)) == []


def test_an_unlowered_node_is_refused_by_the_generator():
    with pytest.raises(TypeError, match="engine-neutral node"):
        _dialect(ENGINES["duckdb"]).generate(exp.select(dialect.cast_text(x.copy())))


# ---- (b) one tree, seven renderings ---------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_models():
    return compile_project(load_project(REPO / "decisioning", display_root=REPO))


def test_demo_compiled_once_renders_every_golden_file(demo_models):
    for name, eng in ENGINES.items():
        files = model_files(demo_models, eng, "decisioning/")
        expected = {p.name: p.read_text(encoding="utf-8") for p in (GOLDEN / name).iterdir()}
        assert sorted(files) == sorted(expected), name
        for file, content in files.items():
            assert content == expected[file], f"{name}/{file} differs from the golden copy"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def scenario_folders(tmp_path_factory):
    folders = {"init": REPO / "kaireon_sql" / "templates" / "init" / "decisioning"}
    for name, build in SCENARIOS.items():
        folder = tmp_path_factory.mktemp(name)
        (folder / "config.yml").write_text(yaml.safe_dump(build(), sort_keys=False, allow_unicode=True), encoding="utf-8")
        folders[name] = folder
    return folders


@pytest.mark.parametrize("scenario", ["init", *SCENARIOS])
def test_scenario_compiled_once_renders_as_before_on_every_engine(scenario_folders, scenario):
    recorded = json.loads((GOLDEN / "neutral_scenarios.json").read_text(encoding="utf-8"))
    folder = scenario_folders[scenario]
    models = compile_project(load_project(folder, display_root=folder))
    for name, eng in ENGINES.items():
        files = model_files(models, eng, "decisioning/")
        before = recorded["sha256"][scenario][name]
        reordered = recorded["reordered"].get(scenario, {}).get(name, {})
        assert sorted(files) == sorted(before), (scenario, name)
        for file, content in files.items():
            if file in reordered:  # same lines, another column order (see "reordered_why")
                assert _sha("\n".join(sorted(content.split("\n")))) == reordered[file], (scenario, name, file)
            else:
                assert _sha(content) == before[file], f"{scenario}: {name}/{file} differs from before"


def test_the_scenarios_reach_every_node(scenario_folders):
    seen: set[str] = set()
    for folder in scenario_folders.values():
        for m in compile_project(load_project(folder, display_root=folder)):
            if not isinstance(m.sql, str):
                seen |= {type(n).__name__ for n in _neutral_nodes(m.sql)}
    assert seen >= {"CastText", "EngineType", "HexToInt", "Md5Hex", "LocalTime", "KnownZone", "IsoDayOfWeek",
                    "TruncateCalendar", "JsonObject", "JsonValue", "Arithmetic", "Fmod", "Integral", "RoundDigits",
                    "Extreme", "RegexMatch", "Grouped"}, seen


# ---- (c) the tree holds no engine choice -----------------------------------------------------------

def test_rendering_does_not_change_the_tree(demo_models):
    trees = [m.sql for m in demo_models if not isinstance(m.sql, str)]
    before = [t.copy() for t in trees]
    nodes_before = [[id(n) for n in t.walk()] for t in trees]
    first = {name: model_files(demo_models, eng, "decisioning/") for name, eng in ENGINES.items()}
    assert trees == before
    assert [[id(n) for n in t.walk()] for t in trees] == nodes_before
    assert any(_neutral_nodes(t) for t in trees), "the compiled trees hold neutral nodes until rendered"
    # rendering again, in another order, gives the same text: nothing carried over from one engine to the next
    for name, eng in reversed(list(ENGINES.items())):
        assert model_files(demo_models, eng, "decisioning/") == first[name]


def _reachable_engines(root: object) -> list[str]:
    """Engines reachable from `root` through expression args, containers and dataclass fields."""
    found, seen, stack = [], set(), [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None), type)) or inspect.isroutine(obj):
            continue
        seen.add(id(obj))
        if isinstance(obj, Engine):
            found.append(obj.name)
        elif isinstance(obj, exp.Expression):
            stack.extend(obj.args.values())
            stack.append(obj.meta)
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif dataclasses.is_dataclass(obj):
            stack.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
    return found


def test_no_engine_is_reachable_from_a_compiled_model(demo_models, scenario_folders):
    assert _reachable_engines(demo_models) == []
    for folder in scenario_folders.values():
        assert _reachable_engines(compile_project(load_project(folder, display_root=folder))) == []
    assert _reachable_engines([exp.select(f()) for f in SAMPLES.values()]) == []


def test_compiling_takes_no_engine():
    assert list(inspect.signature(compile_project).parameters) == ["project"]
    assert "engine" not in {f.name for f in dataclasses.fields(FlowContext)}
    for builder in (dialect.cast_text, dialect.local_time, dialect.truncate, dialect.json_object, dialect.arithmetic,
                    dialect.fmod, dialect.integral, dialect.round_digits, dialect.extreme, dialect.md5_bucket):
        assert "eng" not in inspect.signature(builder).parameters, builder.__name__
