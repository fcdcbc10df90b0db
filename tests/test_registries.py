"""Registries: every config variant maps to exactly one compiler or one explicit refusal.

Variants are enumerated from the config classes and Literals (a new rule type, policy type, node
type, rank method or scoring engine in config fails here until it is compiled or refused)."""
from __future__ import annotations

import typing

import pytest

from kaireon_sql.config.flows import NodeConfig, RankConfig
from kaireon_sql.config.models import AlgorithmModel
from kaireon_sql.config.policies import PolicyConfig
from kaireon_sql.config.rules import RuleConfig
from kaireon_sql.plan.flow import NODE_PLANNERS, REFUSED_NODES
from kaireon_sql.plan.narrowing import RULE_COMPILERS
from kaireon_sql.plan.policies import POLICY_COMPILERS
from kaireon_sql.plan.rank import REFUSED_RANK_METHODS
from kaireon_sql.plan.models import ENGINES as SCORING_ENGINES
from kaireon_sql.sql.rank import RANK_METHODS


def _variants(base: type) -> list[type]:
    """Concrete config classes under `base`: those with their own `kaireon_type` tag."""
    out, todo = [], list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if "kaireon_type" in cls.model_fields:
            out.append(cls)
    return out


def _literal(model, field_name: str) -> list[str]:
    return list(typing.get_args(model.model_fields[field_name].annotation))


def _problems(variants, compiled, refused=()) -> list[str]:
    """Variants with no compiler and no refusal, with both, and registry keys that are no variant."""
    out = []
    for v in variants:
        n = (v in compiled) + (v in refused)
        if n != 1:
            out.append(f"{getattr(v, '__name__', v)}: {'neither a compiler nor a refusal' if n == 0 else 'both'}")
    out += [f"{getattr(k, '__name__', k)}: registered but not a config variant"
            for k in [*compiled, *refused] if k not in variants]
    return out


REGISTRIES = {
    "qualification rule types": (lambda: _variants(RuleConfig), RULE_COMPILERS, ()),
    "contact policy types": (lambda: _variants(PolicyConfig), POLICY_COMPILERS, ()),
    "flow node types": (lambda: _variants(NodeConfig), NODE_PLANNERS, REFUSED_NODES),
    "rank methods": (lambda: _literal(RankConfig, "method"), RANK_METHODS, REFUSED_RANK_METHODS),
    "scoring engines": (lambda: _literal(AlgorithmModel, "model_type"), SCORING_ENGINES, ()),
}


@pytest.mark.parametrize("name", list(REGISTRIES))
def test_every_variant_has_one_compiler_or_refusal(name):
    variants, compiled, refused = REGISTRIES[name]
    found = variants()
    assert found, f"no {name} found in config"
    assert _problems(found, compiled, refused) == []


def test_a_variant_without_a_compiler_fails():
    variants = _literal(RankConfig, "method") + ["new_method"]
    assert _problems(variants, RANK_METHODS, REFUSED_RANK_METHODS) == ["new_method: neither a compiler nor a refusal"]
    compiled = {variants[0]: RANK_METHODS[variants[0]]}
    assert _problems(variants[:1], compiled, {variants[0]: "refused"}) == [f"{variants[0]}: both"]


def test_refusals_are_loud():
    assert all(isinstance(message, str) and "not compiled" in message for message in REFUSED_RANK_METHODS.values())
