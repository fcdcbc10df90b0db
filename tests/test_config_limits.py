"""Hostile or broken config files get a message naming file, object, field and what was expected;
never a traceback, a hang or a value that reaches SQL as `nan` (issue 10).

Each case writes files into a fresh folder and runs what `kaireon validate` runs. A last test
mutates a valid config at random (wrong types everywhere, huge numbers, deep lists, odd keys) and
requires that nothing but a KaireonError ever comes out.
"""
from __future__ import annotations

import copy
import datetime
import json
import os
import random
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import KAIREON, kaireon
from test_config_errors import _errors, _write, base
from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.config.loader import ALIAS_BUDGET, MAX_DEPTH
from kaireon_sql.dialect import engine
from kaireon_sql.errors import ConfigError, KaireonError, Location, clip_message, shown
from kaireon_sql.writer import model_files

N = 10_000  # the depth of the report


def yml(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def one_error(folder: Path, files: dict[str, object]) -> str:
    errors = _errors(_write(folder, files))
    assert len(errors) >= 1, "expected the config to be refused"
    return "\n".join(errors)


# ---- nesting, aliases, size ----------------------------------------------------------------------------

DEEP = {
    "flow sequence": "offers:\n  - name: x\n    customFields: " + "[" * N + "]" * N + "\n",
    "flow mapping": "offers:\n  - name: x\n    customFields: " + "{a: " * N + "1" + "}" * N + "\n",
    "block sequence": "offers:\n  - name: x\n    customFields:\n      " + "- " * N + "1\n",
    "block mapping": "offers:\n  - name: x\n    customFields:\n"
                     + "".join("  " * (i + 3) + "a:\n" for i in range(1000)),
    "top level": "[" * N + "]" * N + "\n",
}


@pytest.mark.parametrize("case", DEEP)
def test_deep_yaml_is_refused_with_the_line(tmp_path, case):
    text = one_error(tmp_path, {"config.yml": DEEP[case]})
    assert f"config.yml: nested deeper than {MAX_DEPTH} levels of mappings and lists (line" in text


def test_deep_json_is_refused_with_the_line(tmp_path):
    doc = '{"offers": [{"name": "x", "customFields": ' + "[" * N + "]" * N + "}]}"
    text = one_error(tmp_path, {"config.json": doc})
    assert f"config.json: nested deeper than {MAX_DEPTH} levels of objects and arrays (line 1)" in text


def test_deep_yaml_through_the_cli_exits_1_with_a_message(tmp_path):
    from test_config_errors import _dbt_project

    root = _dbt_project(tmp_path / "proj", base())
    (root / "decisioning" / "deep.yml").write_text(DEEP["flow sequence"], encoding="utf-8")
    proc = kaireon("validate", "--project-dir", str(root), check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "deep.yml: nested deeper than" in proc.stderr


def _alias_tower(levels: int, width: int) -> str:
    """`a` is `width` scalars; each next anchor lists `width` aliases of the previous one."""
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join("      " + line for line in lines) + "\n"


def _with_provider_config(tower: str) -> str:
    return yml(base()) + "channels:\n  - id: email\n    name: Email\n    providerConfig:\n" + tower


def test_yaml_alias_bomb_is_refused(tmp_path):
    # 6 levels of 10: a million values from 2 KB (the 3.7 KB file grows to billions).
    tower = _alias_tower(6, 10)
    assert len(tower) < 4000
    text = one_error(tmp_path, {"config.yml": _with_provider_config(tower)})
    assert f"config.yml: YAML aliases expand to more than {ALIAS_BUDGET:,} values (at alias *a" in text


def test_a_few_aliases_are_still_fine(tmp_path):
    config = yml(base()).replace("maxTotal: 3", "maxTotal: &cap 3") + "channels:\n  - id: email\n    name: Email\n" \
        "    providerConfig:\n" + _alias_tower(3, 5) + "      again: *cap\n"
    assert _errors(_write(tmp_path, {"config.yml": config})) == []


@pytest.mark.parametrize("doc,line", [("offers: &a [*a]\n", 1), ("offers:\n  - &b [*b]\n", 2),
                                      ("offers: [&b [*b]]\n", 1),
                                      ("offers:\n  - &m {x: [*m]}\n", 2)])
def test_recursive_alias_is_refused_without_hanging(tmp_path, doc, line):
    from test_config_errors import _dbt_project

    root = _dbt_project(tmp_path / "proj", base())
    (root / "decisioning" / "loop.yml").write_text(doc, encoding="utf-8")
    # A subprocess with a generous timeout, so that a regression fails instead of hanging the suite.
    proc = subprocess.run([KAIREON, "validate", "--project-dir", str(root)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    name = doc.split("&")[1][0]
    assert (f"loop.yml: a YAML alias refers to the value it is in (*{name} inside &{name}); "
            f"a value cannot contain itself (line {line})") in proc.stderr


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    import kaireon_sql.config.loader as loader

    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 1000)
    text = one_error(tmp_path, {"config.yml": yml(base())})
    assert "config.yml: the file is" in text and "config files may be at most 1,000 bytes" in text


# ---- numbers and characters that no field may hold -------------------------------------------------------

def _set(path: tuple, value):
    def fn(config):
        cur = config
        for part in path[:-1]:
            cur = cur[part]
        cur[path[-1]] = value
    return fn


NOT_FINITE = {
    "priority nan": (("offers", 0, "priority"), float("nan"), "offers[0] 'A': field 'priority'", "NaN"),
    "priority inf": (("offers", 0, "priority"), float("inf"), "offers[0] 'A': field 'priority'", "infinity"),
    "rule value -inf": (("qualificationRules", 0, "config", "value"), float("-inf"),
                        "qualificationRules[0] 'r1': field 'config.value'", "-infinity"),
    "custom field value nan": (("offers", 0, "customFields", "pct"), float("nan"),
                               "offers[0] 'A': field 'customFields.pct'", "NaN"),
    "policy maxTotal inf": (("contactPolicies", 0, "config", "maxTotal"), float("inf"),
                            "contactPolicies[0] 'p1': field 'config.maxTotal'", "infinity"),
}


@pytest.mark.parametrize("case", NOT_FINITE)
def test_non_finite_numbers_are_refused(tmp_path, case):
    path, value, where, got = NOT_FINITE[case]
    config = base()
    _set(path, value)(config)
    text = one_error(tmp_path, {"config.yml": yml(config)})
    assert f"config.yml: {where}: expected a finite number, got {got}" in text


def test_cooldown_nan_is_refused(tmp_path):
    config = base()
    config["contactPolicies"].append({"name": "cool", "ruleType": "cooldown", "config": {"cooldownHours": ".nan"}})
    text = one_error(tmp_path, {"config.yml": yml(config).replace("'.nan'", ".nan")})
    assert "contactPolicies[2] 'cool': field 'config.cooldownHours': expected a finite number, got NaN" in text


@pytest.mark.parametrize("token,got", [("NaN", "NaN"), ("Infinity", "infinity"), ("-Infinity", "-infinity")])
def test_json_nan_and_infinity_tokens_are_refused(tmp_path, token, got):
    doc = json.dumps(base()).replace('"priority": 50', f'"priority": {token}')
    text = one_error(tmp_path, {"config.json": doc})
    assert f"config.json: offers[0] 'A': field 'priority': expected a finite number, got {got}" in text


@pytest.mark.parametrize("path,where", [
    (("offers", 1, "name"), "offers[1] 'B\\x00x': field 'name'"),
    (("offers", 0, "customFields", "tier"), "offers[0] 'A': field 'customFields.tier'"),
    (("qualificationRules", 0, "config", "attribute"), "qualificationRules[0] 'r1': field 'config.attribute'"),
    (("decisionFlows", 0, "description"), "decisionFlows[0] 'f': field 'description'"),
])
def test_nul_in_any_string_is_refused(tmp_path, path, where):
    config = base()
    cur = config
    for part in path[:-1]:
        cur = cur[part]
    cur[path[-1]] = str(cur.get(path[-1], "")) + "\x00x"
    text = one_error(tmp_path, {"config.yml": yml(config)})
    assert f"config.yml: {where}: text holds a NUL character (U+0000) at position" in text


def test_nul_in_a_key_and_non_text_keys_are_refused(tmp_path):
    text = one_error(tmp_path, {"config.yml": "offers:\n  - name: a\n    customFields: {1: x, \"k\\0\": y}\n"})
    assert "offers[0] 'a': field 'customFields': a key must be text, got a number 1" in text
    assert "offers[0] 'a': field 'customFields.k\\x00': a key holds a NUL character" in text


def test_a_list_or_mapping_as_a_key_is_refused(tmp_path):
    text = one_error(tmp_path, {"config.yml": "offers:\n  - name: a\n    customFields:\n      ? [a]\n      : b\n"})
    assert "config.yml: invalid YAML at line 4, column 9: a key must be text, got a list" in text
    text = one_error(tmp_path / "b", {"config.yml": "offers:\n  - {? {k: v} : b}\n"})
    assert "config.yml: invalid YAML at line 2, column 8: a key must be text, got a mapping" in text


@pytest.mark.parametrize("name,doc", [
    ("config.yml", 'offers: [{name: "\\ud800"}]\n'),
    ("config.json", '{"offers": [{"name": "\\ud800"}]}'),
])
def test_lone_surrogate_in_text_is_refused(tmp_path, name, doc):
    text = one_error(tmp_path, {name: doc})
    assert f"{name}: offers[0]" in text and "field 'name': text is not valid Unicode: a lone surrogate " \
        "(U+D800) at position 0" in text


def test_lone_surrogate_in_a_key_is_refused(tmp_path):
    text = one_error(tmp_path, {"config.json": '{"offers": [{"name": "a", "customFields": {"k\\udfff": 1}}]}'})
    assert "offers[0] 'a': field 'customFields.k\\udfff': a key is not valid Unicode" in text


def test_huge_integers_are_refused(tmp_path):
    text = one_error(tmp_path, {"config.yml": yml(base()).replace("priority: 50", "priority: " + "9" * 400)})
    assert "offers[0] 'A': field 'priority': integer of 400 digits is out of range" in text
    text = one_error(tmp_path / "b", {"config.yml": yml(base()).replace("priority: 50", "priority: " + "9" * 5000)})
    assert "config.yml: invalid YAML at line" in text and "integer of 5,000 characters is too large" in text


@pytest.mark.parametrize("tagged,got", [("!!binary aGVsbG8=", "binary data (!!binary)"), ("!!set {a, b}", "a set (!!set)")])
def test_yaml_only_types_are_refused(tmp_path, tagged, got):
    text = one_error(tmp_path, {"config.yml": f"offers:\n  - name: {tagged}\n"})
    assert f"offers[0]: field 'name': expected text, a number, true/false, null, a list or a mapping, got {got}" in text


def test_json_duplicate_keys_are_refused(tmp_path):
    text = one_error(tmp_path, {"config.json": '{"offers": [{"name": "a", "name": "b"}]}'})
    assert "config.json: duplicate key 'name' in a JSON object" in text


def test_schema_name_that_is_no_relation_without_relation(tmp_path):
    config = base()
    config["schemas"][0].update(name="my schema")
    config["schemas"][0].pop("relation")
    text = one_error(tmp_path, {"config.yml": yml(config)})
    assert "schemas[0] 'my schema': field 'relation': the schema's name 'my schema' is its relation when 'relation' is not set" in text


# ---- files that are not what they seem ---------------------------------------------------------------

def test_byte_order_marks_are_accepted(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config.yml").write_bytes(b"\xef\xbb\xbf" + yml(base()).encode())
    assert _errors(tmp_path / "a") == []
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(base()).encode())
    assert _errors(tmp_path / "b") == []


def test_binary_and_empty_files(tmp_path):
    assert _errors(_write(tmp_path, {"config.yml": yml(base()), "blob.yml": ""})) == []  # an empty config
    (tmp_path / "blob.yml").write_bytes(bytes(range(256)))
    assert "blob.yml: the file is not UTF-8 text" in "\n".join(_errors(tmp_path))


def test_a_folder_named_yml_is_read_as_a_folder(tmp_path):
    _write(tmp_path, {"config.yml": yml(base())})
    (tmp_path / "more.yml").mkdir()
    (tmp_path / "more.yml" / "inner.yml").write_text("offers:\n  - name: inner\n    priority: .inf\n")
    assert any("more.yml/inner.yml: offers[0] 'inner': field 'priority'" in e for e in _errors(tmp_path))


def test_link_loops_dangling_links_and_pipes_are_reported(tmp_path):
    _write(tmp_path, {"config.yml": yml(base())})
    (tmp_path / "loop.yml").symlink_to(tmp_path / "loop2.yml")
    (tmp_path / "loop2.yml").symlink_to(tmp_path / "loop.yml")
    (tmp_path / "gone.yml").symlink_to(tmp_path / "nowhere.yml")
    os.mkfifo(tmp_path / "pipe.yml")  # reading it would block for ever
    (tmp_path / "dirloop").symlink_to(tmp_path)  # not followed
    text = "\n".join(_errors(tmp_path))
    assert "loop.yml: cannot read the file: a symbolic link that points nowhere or to itself" in text
    assert "gone.yml: cannot read the file: a symbolic link that points nowhere or to itself" in text
    assert "pipe.yml: not a regular file" in text


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_reported(tmp_path):
    _write(tmp_path, {"config.yml": yml(base()), "secret.yml": "offers: []\n"})
    (tmp_path / "secret.yml").chmod(0)
    assert "secret.yml: cannot read the file: Permission denied" in "\n".join(_errors(tmp_path))


# ---- long values are echoed as a prefix -------------------------------------------------------------

def test_long_values_are_echoed_as_a_prefix_with_the_length(tmp_path):
    config = base()
    config["offers"][0].update(name="n" * 100_000, priority="p" * 100_000)
    config["qualificationRules"][0]["config"]["operator"] = "o" * 100_000
    errors = _errors(_write(tmp_path, {"config.yml": yml(config)}))
    assert errors
    for error in errors:
        assert len(error) < 1000, error[:300]
    text = "\n".join(errors)
    assert "offers[0] 'nnnnnnnnnn" in text and "(100,000 characters): field 'priority': expected a number, got a string" \
        in text
    assert "'" + "p" * 120 + "'… (100,000 characters)" in text
    assert "field 'config.operator'" in text and "(100,000 characters)" in text


def test_every_message_is_clipped_even_when_a_builder_echoes_a_value_whole():
    message = str(ConfigError(Location("f.yml", "offers", 0, "x" * 5000), f"unknown thing {'y' * 100_000!r}"))
    assert len(message) < 600
    assert message.startswith("f.yml: offers[0] 'xxxx") and "(5,000 characters)" in message
    assert "(100,000 characters)" in message
    assert clip_message("short 'value'") == "short 'value'" and shown("abc") == "'abc'"


# ---- fuzz: hostile structures anywhere in a valid config -------------------------------------------------

HOSTILE = [None, True, 0, -1, 1.5, 2 ** 70, -(2 ** 63), 1e308, "", "x" * 3000, "customer.revenue", "{{ x }}",
           [], {}, [[[[]]]], {"a": {"b": [None]}}, ["a", 1, None], {"name": "x"}, [{"name": "x"}], "0", "true",
           datetime.date(2020, 1, 1), "\u202e", "a'b", 24, float("nan"), "\x00", {1: 2}]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


ENGINES = [engine("duckdb"), engine("postgres"), engine("spark")]


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2 ** 32), st.integers(1, 3))
def test_fuzz_hostile_structures_give_messages_only(tmp_path, seed, n):
    rng = random.Random(seed)
    config = base()
    for _ in range(n):
        path = rng.choice([p for p in _paths(config) if p])
        parent = config
        for part in path[:-1]:
            parent = parent[part]
        action = rng.random()
        if action < 0.75:
            parent[path[-1]] = copy.deepcopy(rng.choice(HOSTILE))
        elif action < 0.9:
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[rng.choice(["x", "config", "value", "type", "ruleType", "priority"])] = rng.choice(HOSTILE)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "config.yml").write_text(yaml.dump(config, Dumper=yaml.SafeDumper), encoding="utf-8")
    eng = rng.choice(ENGINES)
    try:
        model_files(compile_project(load_project(folder, display_root=folder)), eng, "x/")
    except KaireonError:
        pass


def test_prose_between_apostrophes_stays_whole_and_long_values_are_cut():
    from kaireon_sql.errors import clip_message
    prose = ("channel 'push' has no consent field, so the flow would contact every customer on it without a consent "
             "check (S10); expected the channel's 'consentField', or 'requiresConsent: false' on the channel")
    assert clip_message(prose) == prose
    assert len(clip_message(f"got '{'x' * 100_000}' instead")) < 600
