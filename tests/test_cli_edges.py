"""Edge cases of config numbers and CLI parameters that validated but then failed a run or changed
nothing (found reviewing issue 10): each is refused with a message, before anything is written."""
from __future__ import annotations

import copy
import json

import pytest

from harness import flow, standard_nodes, write_config
from kaireon_sql import cli, runner
from test_injection import _base, _mini_project


def _with(path: tuple, value) -> dict:
    config = copy.deepcopy(_base())
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return config


@pytest.mark.parametrize("path,value,field", [
    (("offers", 0, "priority"), "nan", "priority"),
    (("offers", 0, "businessValue"), "-Infinity", "businessValue"),
    (("offers", 0, "margin"), "1e400", "margin"),
])
def test_numbers_written_as_text_must_be_finite(tmp_path, capsys, path, value, field):
    # the loader refuses .nan/.inf; text such as "nan" became a float only in pydantic, then CAST(nan AS DOUBLE)
    _mini_project(tmp_path)
    write_config(tmp_path / "decisioning", _with(path, value))
    assert cli.main(["validate", "--project-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"field '{field}'" in err and "finite" in err


def test_policy_and_weight_numbers_written_as_text_must_be_finite(tmp_path, capsys):
    config = _base()
    config["contactPolicies"] = [{"name": "rest", "ruleType": "cooldown", "config": {"cooldownHours": "1e400"}},
                                 {"name": "cap", "ruleType": "frequency_cap",
                                  "config": {"maxContacts": 1, "windowDays": "inf"}}]
    config["decisionFlows"] = [flow(standard_nodes(score={"method": "formula", "propensityWeight": "inf"}))]
    _mini_project(tmp_path)
    write_config(tmp_path / "decisioning", config)
    assert cli.main(["validate", "--project-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    for field in ("config.cooldownHours", "config.windowDays", "propensityWeight"):
        assert field in err, field


@pytest.mark.parametrize("args,message", [
    (["--as-of", "0001-01-01T00:00:00-23:59"], "from 1900 to 9999"),
    (["--as-of", "２０２６-11-20"], "--as-of: expected an ISO 8601 timestamp"),
    (["--as-of", ""], "--as-of: expected an ISO 8601 timestamp"),
    (["--run-id", ""], "--run-id: expected 1-200 characters"),
    (["--channel", ""], "--channel: expected 1-200 characters"),
    (["--as-of", "2026-13-20"], "--as-of: not a valid date and time (month must be in 1..12)"),  # before dbt starts
    (["--vars", "[1, 2]"], "--vars: expected a YAML or JSON mapping"),
    (["--vars", "{kaireon_run_id: 'a b'}"], "--vars kaireon_run_id: expected 1-200 characters"),
    (["--as-of", "2026-11-20", "--vars", "{kaireon_as_of: '2026-11-21'}"], "disagree"),
    (["--engine", "oracle"], "unknown engine 'oracle'"),
    (["--engine", ""], "unknown engine ''"),
])
def test_run_params_edges_are_refused(tmp_path, capsys, args, message):
    _mini_project(tmp_path)
    write_config(tmp_path / "decisioning", _base())
    assert cli.main(["run", "--project-dir", str(tmp_path), *args]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "models").exists()


def test_a_channel_var_no_flow_reads_is_refused(tmp_path, capsys):
    config = _base()
    config["decisionFlows"][0]["draftConfig"]["flowConfig"] = {"channel": "email"}
    _mini_project(tmp_path)
    write_config(tmp_path / "decisioning", config)
    assert cli.main(["run", "--project-dir", str(tmp_path), "--engine", "duckdb", "--channel", "sms"]) == 1
    assert "--channel: every flow sets its own flowConfig.channel" in capsys.readouterr().err
    assert not (tmp_path / "models" / "kaireon").exists()


def test_an_unwritable_out_folder_is_a_message(tmp_path, capsys):
    _mini_project(tmp_path)
    write_config(tmp_path / "decisioning", _base())
    assert cli.main(["compile", "--project-dir", str(tmp_path), "--engine", "duckdb", "--out", "/proc/kaireon"]) == 1
    assert "/proc/kaireon: cannot write the generated models there" in capsys.readouterr().err


def test_run_vars_keep_four_digit_years():
    assert json.loads(runner.run_vars("1900-01-01T23:59:00+23:59", None, None))["kaireon_as_of"] == "1900-01-01T00:00:00Z"
    with pytest.raises(runner.RunParamError):
        runner.run_vars("1900-01-01T00:00:00+00:01", None, None)


def test_run_vars_merge_the_users_vars_and_leave_the_old_names_to_them():
    merged = json.loads(runner.run_vars(None, "r1", None, "{my_var: [1, 2], as_of: theirs, day: 2026-11-20}"))
    assert merged == {"my_var": [1, 2], "as_of": "theirs", "day": "2026-11-20", "kaireon_as_of": "",
                      "kaireon_run_id": "r1", "kaireon_channel": ""}
    assert json.loads(runner.run_vars(None, None, None, "{kaireon_as_of: '2026-11-20T10:00:00-05:00'}"))[
        "kaireon_as_of"] == "2026-11-20T15:00:00Z"


def test_threads_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--threads", "0"])
    assert "expected a whole number of at least 1" in capsys.readouterr().err


def test_summary_blocks_per_flow_in_build_order_with_placements_and_creatives():
    from kaireon_sql import prune
    from kaireon_sql.run_summary import assemble

    funnel = [{"decision_flow_key": k, "run_id": f"{k}@t", "customers": 3, "holdout_customers": 0,
               "total_candidates": 6, "after_qualification": 5, "after_contact_policy": 4, "decided": d,
               "withheld": 0} for k, d in (("a_first", 1), ("z_second", 3))]
    row = lambda kind, flow, k1, k2, n: {"kind": kind, "flow": flow, "k1": k1, "k2": k2, "n": n}  # noqa: E731
    counts = [row("offer", "z_second", "o1", "Offer 1", 2), row("offer", "z_second", "o2", "Offer 2", 1),
              row("channel", "z_second", "push", None, 1), row("channel", "z_second", "email", None, 2),
              row("placement", "z_second", "hero", None, 2), row("creative", "z_second", "c1", "Creative 1", 3),
              row("offer", "a_first", "o1", "Offer 1", 1), row("channel", "a_first", "email", None, 1),
              *[row("reason", "a_first", "qualification", f"r{i}", 10 - i) for i in range(7)]]
    flows = assemble(funnel, counts, ["z_second", "a_first"])  # runOrder: z_second is built first
    assert [f.flow for f in flows] == ["z_second", "a_first"]
    second, first = [f.lines() for f in flows]
    assert second[1] == "  by channel: email 2, push 1"
    assert "  placements: 1 (hero 2)" in second and "  creatives: 1 (c1 3)" in second
    assert not any("placements" in line or "creatives" in line for line in first)
    assert [line.split()[-1] for line in first if "[qualification]" in line] == ["r0", "r1", "r2", "r3", "r4"]
    as_json = flows[0].as_json()
    assert as_json["decisions"] == 3 and as_json["placements"] == {"hero": 2}
    assert as_json["creatives"] == [{"creative_id": "c1", "creative_name": "Creative 1", "decisions": 3}]
    warned = prune.warning(prune.stale_flows(["kaireon_old__decisions.sql", "_kaireon_models.yml"], {"old": 4}))
    assert "kaireon_old__decisions" in warned[0] and "old (4 rows)" in warned[1] and "kaireon prune" in warned[2]
    assert prune.warning(prune.stale_flows([], {})) == []
