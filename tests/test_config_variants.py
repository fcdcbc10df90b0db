"""Config variant names are written once (issue 11): rule, policy, node and model types.

Each variant's name is written in its class (`kaireon_type: variant("cooldown")`) or, for model
types, in one tuple; the maps (RULE_CONFIGS, ...), the discriminator Literals and the config unions
are derived from the classes. A second copy of a name anywhere in kaireon_sql/config/ fails here.
"""
from __future__ import annotations

import ast
import functools
import typing
from collections import Counter
from pathlib import Path

import pytest

from kaireon_sql.config.base import TYPE_FIELD
from kaireon_sql.config.flows import NODE_CONFIGS, NODE_TYPES, Node
from kaireon_sql.config.models import MODEL_TYPES, UPLIFT, AlgorithmModel
from kaireon_sql.config.policies import POLICY_CONFIGS, ContactPolicy
from kaireon_sql.config.rules import RULE_CONFIGS, QualificationRule

CONFIG = Path(__file__).resolve().parents[1] / "kaireon_sql" / "config"
VARIANTS = [*RULE_CONFIGS, *POLICY_CONFIGS, *NODE_CONFIGS, *MODEL_TYPES, UPLIFT]
# The same word naming something else, with what it names there: (name, file) -> occurrences.
HOMONYMS = {
    ("inventory", "flows.py"): 1,  # V1_STAGES: a stage of the refused v1 flow format
    ("filter", "flows.py"): 1,  # V1_STAGES
    ("score", "fields.py"): 1,  # the `score` field of a propensity_threshold rule
    ("inventory", "fields.py"): 1,  # the v1 stages.inventory field (config/v1.py Stages)
    ("filter", "fields.py"): 1,  # the v1 stages.filter field
    ("compute", "fields.py"): 1,  # the v1 stages.compute field
    ("uplift", "rules.py"): 1,  # propensity_threshold's score kind, not the model type
}


@functools.cache
def _string_constants() -> Counter:
    found: Counter = Counter()
    for path in sorted(CONFIG.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found[(node.value, path.name)] += 1
    return found


def test_variant_names_are_distinct():
    assert len(VARIANTS) == len(set(VARIANTS)), [n for n, c in Counter(VARIANTS).items() if c > 1]


@pytest.mark.parametrize("name", VARIANTS)
def test_each_variant_name_is_written_once(name):
    found = _string_constants()
    places = {file: count - HOMONYMS.get((name, file), 0) for (value, file), count in found.items() if value == name}
    written = {file: count for file, count in places.items() if count}
    assert sum(written.values()) == 1, f"{name!r} is written {sum(written.values())} times in {CONFIG}: {written}"


@pytest.mark.parametrize("owner, field, configs", [
    (QualificationRule, "rule_type", RULE_CONFIGS),
    (ContactPolicy, "rule_type", POLICY_CONFIGS),
    (Node, "type", NODE_CONFIGS),
], ids=["rules", "policies", "nodes"])
def test_maps_and_literals_come_from_the_classes(owner, field, configs):
    assert typing.get_args(owner.model_fields[field].annotation) == tuple(configs)
    union = typing.get_args(owner.model_fields["config"].annotation)
    assert union == tuple(configs.values())
    assert owner.model_fields["config"].discriminator == TYPE_FIELD
    for name, cls in configs.items():
        assert cls.model_fields[TYPE_FIELD].default == name
        assert typing.get_args(cls.model_fields[TYPE_FIELD].annotation) == (name,)


def test_node_and_model_types():
    assert NODE_TYPES == tuple(NODE_CONFIGS)
    assert typing.get_args(AlgorithmModel.model_fields["model_type"].annotation) == (*MODEL_TYPES, UPLIFT)
