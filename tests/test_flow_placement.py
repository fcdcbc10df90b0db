"""Placement-scoped rules apply when the flow decides for that placement."""
from harness import flow, rows, scenario, standard_nodes

CUSTOMERS = [("c1", 100, 5, 80.0, "x", "UTC", True, True)]


def _config(placement):
    return {
        "placements": [{"id": "hero", "name": "Hero banner"}, {"id": "side", "name": "Sidebar"}],
        "offers": [{"id": "a", "name": "A", "priority": 50}],
        "qualificationRules": [
            {"name": "hero needs 10 purchases", "ruleType": "attribute_condition", "scope": "placement",
             "scopeId": "Hero banner", "config": {"attribute": "customer.purchases", "operator": "gte", "value": 10}},
        ],
        "decisionFlows": [flow(standard_nodes(), **({"placementId": placement} if placement else {}))],
    }


def test_rule_applies_on_its_placement(tmp_path):
    con = scenario(tmp_path, _config("hero"), CUSTOMERS)
    assert rows(con, "select count(*) n from kaireon_decisions") == [{"n": 0}]
    assert rows(con, "select rule_name from kaireon_rejections") == [{"rule_name": "hero needs 10 purchases"}]


def test_rule_ignored_on_other_placements_and_without_one(tmp_path):
    for i, placement in enumerate(["side", None]):
        con = scenario(tmp_path / str(i), _config(placement), CUSTOMERS)
        assert rows(con, "select offer_id from kaireon_decisions") == [{"offer_id": "a"}]
