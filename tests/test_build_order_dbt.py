"""Several flows in one build through real dbt (S7): the later flow reads the earlier flow's decision
tables by ref(), so dbt builds them first, and one customer_total_cap holds across both flows."""
from __future__ import annotations

import duckdb
import pytest
import yaml

from conftest import copy_demo, kaireon

pytestmark = pytest.mark.dbt
AS_OF = "2026-11-20T15:00:00Z"


def test_demo_cap_holds_across_two_flows(tmp_path):
    project = copy_demo(tmp_path)
    path = project / "decisioning" / "winback.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    first = config["decisionFlows"][0]
    second = yaml.safe_load(yaml.safe_dump(first))  # a copy of the demo flow, decided before it
    second.update(key="early", name="Early")
    second["draftConfig"]["flowConfig"]["runOrder"] = -1
    second["draftConfig"]["flowConfig"]["experiment"] = {"enabled": False}
    config["decisionFlows"].append(second)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    kaireon("run", "--as-of", AS_OF, "--quiet-dbt", cwd=project)
    con = duckdb.connect(str(project / "warehouse" / "kaireon_demo.duckdb"), read_only=True)
    try:
        used = dict(con.execute(
            "select customer_id, count(*) from kaireon_stg_interactions where outcome = 'impression' "
            "and occurred_at >= timestamp '2026-11-01' and occurred_at <= timestamp '2026-11-20 15:00:00' "
            "group by 1").fetchall())
        decided = con.execute(
            "select decision_flow_key, customer_id, count(*) from (select decision_flow_key, customer_id from "
            "kaireon_decisions union all select decision_flow_key, customer_id from kaireon_withheld_decisions) "
            "group by 1, 2").fetchall()
    finally:
        con.close()
    per_flow: dict[str, dict[str, int]] = {}
    for key, customer, n in decided:
        per_flow.setdefault(key, {})[customer] = n
    assert set(per_flow) == {"early", "winback"}
    both = set(per_flow["early"]) & set(per_flow["winback"])
    assert both  # some customers have contacts left after the early flow
    for customer in set(per_flow["early"]) | set(per_flow["winback"]):
        total = used.get(customer, 0) + per_flow["early"].get(customer, 0) + per_flow["winback"].get(customer, 0)
        assert total <= 3, (customer, used.get(customer, 0), per_flow["early"].get(customer), per_flow["winback"].get(customer))
    # the early flow (runOrder -1) decides first: it alone sees only history, as the demo flow did
    for customer, n in per_flow["early"].items():
        assert used.get(customer, 0) + n <= 3
