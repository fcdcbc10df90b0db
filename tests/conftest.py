import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
KAIREON = str(Path(sys.executable).with_name("kaireon"))


def kaireon(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the installed `kaireon` console script as a user would."""
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run([KAIREON, *args], cwd=cwd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"kaireon {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


SECOND_FLOW = "cross_sell.yml"  # the second demo flow (cross_sell + loyalty_boost): tests/test_demo_dbt.py runs it


def winback_config(dest: Path) -> Path:
    """The demo config folder without the second demo flow: the winback flow alone, as the tests of the
    winback story (and the cross-engine and fakesnow comparisons, whose Spark heap it keeps small) read it."""
    shutil.copytree(REPO / "decisioning", dest, ignore=shutil.ignore_patterns(SECOND_FLOW))
    return dest


def copy_demo(dest: Path, cross_sell: bool = False) -> Path:
    """The repo's dbt project (demo config, seeds, macros) copied to `dest`, without build outputs; the
    second demo flow only with `cross_sell`."""
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(REPO / name, dest / name)
    for name in ("macros", "seeds"):
        shutil.copytree(REPO / name, dest / name)
    if cross_sell:
        shutil.copytree(REPO / "decisioning", dest / "decisioning")
    else:
        winback_config(dest / "decisioning")
    (dest / "models").mkdir()
    (dest / "warehouse").mkdir()  # the profile's DuckDB file (kaireon run makes the folder; dbt does not)
    return dest


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("demo"))
