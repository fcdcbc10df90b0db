"""One version everywhere, a dbt version range that matches the installed one, `kaireon --version`."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; on 3.10 this check runs where 3.11 does

import kaireon_sql

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DBT_PROJECT = yaml.safe_load((ROOT / "dbt_project.yml").read_text(encoding="utf-8"))


def _dbt_core_range() -> tuple[str, str]:
    [spec] = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("dbt-core")]
    low, high = re.fullmatch(r"dbt-core>=([\d.]+),<([\d.]+)", spec).groups()
    return low, high


def _padded(v: str) -> tuple[int, ...]:
    parts = tuple(int(x) for x in v.split("."))
    return parts + (0,) * (3 - len(parts))


def test_one_version_in_pyproject_dbt_project_package_and_changelog():
    version = PYPROJECT["project"]["version"]
    assert DBT_PROJECT["version"] == version
    assert kaireon_sql.__version__ == version
    assert f"## {version} " in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_require_dbt_version_is_the_installed_dbt_core_range():
    low, high = _dbt_core_range()
    required = DBT_PROJECT["require-dbt-version"]
    assert [_padded(r.lstrip(">=<")) for r in required] == [_padded(low), _padded(high)]
    assert required[0].startswith(">=") and required[1].startswith("<")


def test_kaireon_version_prints_and_exits_zero():
    proc = subprocess.run([sys.executable, "-m", "kaireon_sql.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"kaireon {PYPROJECT['project']['version']}"


def test_license_is_the_apache_license_pyproject_names():
    assert PYPROJECT["project"]["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
