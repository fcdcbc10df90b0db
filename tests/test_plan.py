"""The flow plan: built once before any SQL, frozen, with every feature registered."""
import dataclasses

import pytest

from conftest import REPO
from harness import flow, schema, standard_nodes, write_config
from kaireon_sql.config import load_project

from kaireon_sql.plan.context import FlowContext, flow_model
from kaireon_sql.plan.features import FeatureSet, Features, history
from kaireon_sql.plan.flow import QUOTA_CODE_BASE, FlowPlan, build_plan


@pytest.fixture(scope="module")
def plans() -> list[FlowPlan]:
    project = load_project(REPO / "decisioning", display_root=REPO)
    return [build_plan(project, flow) for flow in project.flows]


def _second_schema() -> dict:
    return {"id": "extra", "name": "extra", "relation": "extras",
            "fields": [{"name": "member_id", "dataType": "varchar"}, {"name": "loyalty", "dataType": "decimal"}]}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> list[FlowPlan]:
    """Two flows of one build (runOrder), two enrich sources, a customer time zone, caps and a sampled rejections."""
    nodes = standard_nodes()
    nodes[1]["config"]["sources"].append({"schemaId": "extra", "lookupKey": "member_id", "fields": ["loyalty"]})
    config = {
        "schemas": [schema(), _second_schema()],
        "interactionHistory": {"relation": "history"},
        "offers": [{"id": "a", "name": "A", "priority": 50}, {"id": "b", "name": "B", "priority": 60}],
        "contactPolicies": [
            {"name": "cap", "ruleType": "customer_total_cap", "config": {"maxTotal": 3}},
            {"name": "per_day", "ruleType": "frequency_cap", "config": {"maxPerDay": 1}},
            {"name": "tw", "ruleType": "time_window", "config": {"startHour": 8, "endHour": 21, "timezone": "customer.tz"}},
        ],
        "decisionFlows": [
            flow(nodes, key="second", runOrder=2, rejections={"volume": "sampled", "sampleRate": 0.25},
                 experiment={"enabled": True, "holdoutPercent": 10, "controlGroupAction": "no_offers"}),
            flow(standard_nodes(), key="first", runOrder=1),
        ],
    }
    project = load_project(write_config(tmp_path_factory.mktemp("plan") / "decisioning", config))
    return sorted((build_plan(project, f) for f in project.flows), key=lambda p: p.ctx.flow.key)


def test_plan_is_frozen(plans):
    for plan in plans:
        with pytest.raises(dataclasses.FrozenInstanceError):
            plan.checks = ()  # type: ignore[misc]
        assert isinstance(plan.checks, tuple) and isinstance(plan.quotas, tuple)
        assert all(isinstance(q.partition, tuple) for q in plan.quotas)


def test_no_feature_after_the_plan(plans):
    for plan in plans:
        assert isinstance(plan.features, FeatureSet) and plan.features.frozen
        known = dict(plan.features.aggregates)
        with pytest.raises(RuntimeError, match="after flow .* plan was frozen"):
            plan.features.count(history("never_asked_for").eq(1))
        with pytest.raises(RuntimeError, match="after flow .* plan was frozen"):
            plan.ctx.features.count(history("never_asked_for").eq(1))  # what a late formula resolves through
        assert dict(plan.features.aggregates) == known
        with pytest.raises(TypeError):
            plan.features.aggregates["x"] = None  # type: ignore[index]
        with pytest.raises(TypeError):
            plan.features.segments["x"] = None  # type: ignore[index]
        with pytest.raises(dataclasses.FrozenInstanceError):
            plan.features.zones = ()  # type: ignore[misc]
        assert isinstance(plan.features.zones, tuple)
    assert any(plan.features.aggregates for plan in plans)


def test_the_registry_refuses_requests_once_frozen(plans):
    registry = Features(FlowContext(plans[0].ctx.project, plans[0].ctx.flow))
    registry.count(history("outcome").eq("impression"))
    snapshot = registry.freeze()
    with pytest.raises(RuntimeError, match="after flow .* plan was frozen"):
        registry.count(history("outcome").eq("click"))
    with pytest.raises(TypeError):
        registry.aggregates["x"] = None  # type: ignore[index]
    assert list(snapshot.aggregates) == list(registry.aggregates) and len(snapshot.aggregates) == 1


def test_plan_names_the_columns_models_carry(plans):
    for plan in plans:
        assert plan.candidate_columns[:3] == ("customer_id", "offer_id", "channel")
        assert "reject_code" in plan.candidate_columns
        assert set(plan.personalize.columns) <= set(plan.candidate_columns)
        assert {f.column for f in plan.ctx.fields.values()} <= plan.customer_columns
        assert set(plan.features.aggregate_columns("customer")) <= plan.customer_columns
        assert plan.rank.method == {"winback": "topN", "loyalty_boost": "topN", "cross_sell": "diversity"}[plan.ctx.flow.key]
        assert plan.rank.n >= 1


def test_quotas_carry_their_code_and_columns(built):
    quotas = [q for plan in built for q in plan.quotas]
    assert quotas
    for plan in built:
        for i, quota in enumerate(plan.quotas, start=1):
            assert quota.code == QUOTA_CODE_BASE + i and quota.cte == f"quota_{i}"
        # every cap of a customer is a limit of the walk with its code (or never binds), budgets after it
        codes = {limit.code for limit in plan.walk.limits} | {b.code for b in plan.walk.budgets}
        assert codes - {None} <= {q.code for q in plan.quotas}
        assert [c for c, *_ in plan.codes()][len(plan.checks):] == [q.code for q in plan.quotas]


def test_zones_carry_their_columns_and_source(built):
    second = built[1]
    (zone,) = second.features.zones
    assert (zone.column, zone.relation, zone.source_column) == ("cust__tz", "customers", "tz")
    assert (zone.zone, zone.hour, zone.dow) == ("tz0_zone", "tz0_hour", "tz0_dow")
    assert {zone.hour, zone.dow} <= second.customer_columns


def test_enrich_plan_resolves_every_source(built):
    second = built[1]
    enrich = second.enrich
    assert (enrich.key.relation, enrich.key.alias, enrich.key.key_column) == ("customers", "s0", "customer_id")
    assert [(j.relation, j.alias, j.key_column) for j in enrich.joins] == [("extras", "s1", "member_id")]
    assert [f.column for f in enrich.fields] == [f.column for f in second.ctx.fields.values()]
    assert {f.alias for f in enrich.fields if f.column == "cust__loyalty"} == {"s1"}
    assert all(f.number == (f.column in ("cust__revenue", "cust__loyalty", "cust__days", "cust__purchases"))
               for f in enrich.fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        enrich.joins = ()  # type: ignore[misc]


def test_outputs_and_earlier_flows_are_planned(built):
    first, second = built
    assert first.prior_decisions == ()
    assert second.prior_decisions == (flow_model(first.ctx.slug, "decisions"),
                                      flow_model(first.ctx.slug, "withheld_decisions"))
    assert first.ctx.model("decisions") == second.prior_decisions[0]  # the names the compiler gives the models
    assert (first.withholds, second.withholds) == (False, True)
    assert first.rejections.volume == "all"
    assert (second.rejections.volume, second.rejections.sample_limit) == ("sampled", 2500)
    assert (first.holdout.salt, first.holdout.threshold) == ("first", 0)  # salt: the flow key unless set
    assert (second.holdout.salt, second.holdout.threshold) == ("second", 1000)
