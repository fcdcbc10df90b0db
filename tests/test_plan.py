"""The flow plan: built once before any SQL, frozen, with every feature registered."""
import dataclasses

import pytest

from conftest import REPO
from kaireon_sql.config import load_project

from kaireon_sql.plan.features import history
from kaireon_sql.plan.flow import FlowPlan, build_plan


@pytest.fixture(scope="module")
def plans() -> list[FlowPlan]:
    project = load_project(REPO / "decisioning", display_root=REPO)
    return [build_plan(project, flow) for flow in project.flows]


def test_plan_is_frozen(plans):
    for plan in plans:
        with pytest.raises(dataclasses.FrozenInstanceError):
            plan.checks = ()  # type: ignore[misc]
        assert isinstance(plan.checks, tuple) and isinstance(plan.quotas, tuple)
        assert all(isinstance(q.partition, tuple) for q in plan.quotas)


def test_no_feature_after_the_plan(plans):
    for plan in plans:
        assert plan.features.frozen
        known = dict(plan.features.aggregates)
        with pytest.raises(RuntimeError, match="after flow .* plan was frozen"):
            plan.features.count(history("never_asked_for").eq(1))
        assert dict(plan.features.aggregates) == known
        with pytest.raises(TypeError):
            plan.features.aggregates["x"] = None  # type: ignore[index]
    assert any(plan.features.aggregates for plan in plans)


def test_plan_names_the_columns_models_carry(plans):
    for plan in plans:
        assert plan.candidate_columns[:3] == ("customer_id", "offer_id", "channel")
        assert "reject_code" in plan.candidate_columns
        assert set(plan.personalize.columns) <= set(plan.candidate_columns)
        assert {f.column for f in plan.ctx.fields.values()} <= plan.customer_columns
        assert set(plan.features.aggregate_columns("customer")) <= plan.customer_columns
        assert plan.rank.method == "topN" and plan.rank.n >= 1
