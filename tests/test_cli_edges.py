"""Edge cases of config numbers and CLI parameters that validated but then failed a run or changed
nothing (found reviewing issue 10): each is refused with a message, before anything is written."""
from __future__ import annotations

import copy

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
    assert runner.run_vars("1900-01-01T23:59:00+23:59", None, None) == '{"as_of": "1900-01-01T00:00:00Z"}'
    with pytest.raises(runner.RunParamError):
        runner.run_vars("1900-01-01T00:00:00+00:01", None, None)
