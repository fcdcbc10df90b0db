"""One kaireon compile or run per project at a time: the second fails at once with a clear lock error
(issue 10; before, two runs on PostgreSQL collided in dbt with "relation already exists")."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from backends import pg_params, postgres_or_skip
from conftest import KAIREON, copy_demo, kaireon
from kaireon_sql.project_files import DbtProject
from kaireon_sql.runner import lock_path, project_lock

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the test forks")
AS_OF = "2026-11-20T15:00:00Z"
LOCKED = "another kaireon compile or run of this project is in progress"


def test_compile_and_run_refuse_while_the_project_is_locked(tmp_path):
    project = copy_demo(tmp_path)
    with project_lock(DbtProject(project, None), "run"):
        for command in ("compile", "run"):
            proc = kaireon(command, "--project-dir", str(project), check=False)
            assert proc.returncode == 1 and "Traceback" not in proc.stderr
            assert f"target/kaireon.lock: {LOCKED} (pid {os.getpid()}, kaireon run, since 20" in proc.stderr
            assert not (project / "models" / "kaireon").exists()  # refused before writing anything
        assert kaireon("validate", "--project-dir", str(project)).returncode == 0  # reads only: no lock
    kaireon("compile", "--project-dir", str(project))  # released


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    project = copy_demo(tmp_path)
    pid = os.fork()
    if pid == 0:
        try:
            with project_lock(DbtProject(project, None), "run"):
                time.sleep(60)
        finally:
            os._exit(0)
    path = lock_path(DbtProject(project, None))
    deadline = time.monotonic() + 10
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kaireon("compile", "--project-dir", str(project), check=False).returncode == 1
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    kaireon("compile", "--project-dir", str(project))




@pytest.mark.dbt
def test_two_runs_at_once_on_postgres(tmp_path):
    psycopg2 = postgres_or_skip()
    project = copy_demo(tmp_path)
    schema = f"kaireon_lock_{os.getpid()}"
    env = {**os.environ, "KAIREON_PG_SCHEMA": schema, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [KAIREON, "run", "--project-dir", str(project), "--target", "postgres", "--as-of", AS_OF, "--quiet-dbt"]
    try:
        runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        results = [(p.wait(timeout=600), *p.communicate()) for p in runs]
        assert sorted(code for code, _, _ in results) == [0, 1], results
        ok = next(r for r in results if r[0] == 0)
        refused = next(r for r in results if r[0] == 1)
        assert "541 decisions, 87 withheld" in ok[1]
        assert f"kaireon run: error: {project / 'target' / 'kaireon.lock'}: {LOCKED} (pid " in refused[2]
        assert ", kaireon run, since " in refused[2] and "already exists" not in refused[2]
        assert "Traceback" not in refused[2]
    finally:
        con = psycopg2.connect(**pg_params())
        with con, con.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        con.close()
