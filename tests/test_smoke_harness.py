from harness import flow, rows, scenario, standard_nodes


def test_offer_scoped_rule_and_rank(tmp_path):
    config = {
        "offers": [
            {"id": "a", "name": "A", "priority": 50, "businessValue": 10},
            {"id": "b", "name": "B", "priority": 60, "businessValue": 10},
        ],
        "qualificationRules": [
            {"name": "b needs 3 purchases", "ruleType": "attribute_condition", "scope": "offer", "scopeId": "b",
             "config": {"attribute": "customer.purchases", "operator": "gte", "value": 3}},
        ],
        "decisionFlows": [flow(standard_nodes(score={"method": "priority"}))],
    }
    con = scenario(tmp_path, config, [("c1", 100, 5, 80.0, "x", "UTC", True, True), ("c2", 100, 1, 80.0, "x", "UTC", True, True)])
    got = rows(con, "select customer_id, offer_id, rank from kaireon_decisions order by 1, 3")
    assert got == [
        {"customer_id": "c1", "offer_id": "b", "rank": 1},
        {"customer_id": "c1", "offer_id": "a", "rank": 2},
        {"customer_id": "c2", "offer_id": "a", "rank": 1},
    ]
    rej = rows(con, "select customer_id, offer_id, stage, rule_name from kaireon_rejections")
    assert rej == [{"customer_id": "c2", "offer_id": "b", "stage": "qualification", "rule_name": "b needs 3 purchases"}]
