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


def copy_demo(dest: Path) -> Path:
    """The repo's dbt project (demo config, seeds, macros) copied to `dest`, without build outputs."""
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(REPO / name, dest / name)
    for name in ("macros", "seeds", "decisioning"):
        shutil.copytree(REPO / name, dest / name)
    (dest / "models").mkdir()
    return dest


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("demo"))
