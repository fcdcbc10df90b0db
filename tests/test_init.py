"""`kaireon init` as a user runs it: scaffold a new or an existing dbt project, then `kaireon run`.

The slow tests (marked dbt) run the `kaireon` and `dbt` executables of this interpreter's
environment as subprocesses and read the DuckDB file afterwards.  The expected decisions of
the starter config are recomputed here from its CSV seeds, independently of the compiler.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from kaireon_sql.errors import KaireonError
from kaireon_sql.scaffold import init_project, project_name

BIN = Path(sys.executable).parent
AS_OF = "2026-11-20T15:00:00Z"
DEMO_RELATIONS = {"demo_customers", "demo_interaction_history", "demo_segment_membership", "demo_orders"}
GENERATED = {"target", "dbt_packages", "logs"}


@pytest.fixture
def env(tmp_path):
    """The user's environment, without a ~/.dbt or DBT_* settings of the machine running the tests."""
    home = tmp_path / "home"
    home.mkdir()
    values = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    return dict(values, HOME=str(home), DBT_SEND_ANONYMOUS_USAGE_STATS="false")


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    """Run BIN/<cmd>; the DuckDB profile path is relative, so users (and we) run in the project."""
    proc = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not GENERATED & set(p.relative_to(root).parts)}


def tables(db: Path) -> dict[str, list[dict]]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        names = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        out = {}
        for name in names:
            cur = con.execute(f'select * from "{name}"')
            cols = [d[0] for d in cur.description]
            out[name] = [dict(zip(cols, row)) for row in cur.fetchall()]
        return out


# --- the starter config's decisions, recomputed from the seeds --------------------------------

OFFERS = {  # id: (priority, businessValue), as in decisioning/kaireon_example.yml
    "welcome_back_10": (60, 40),
    "free_shipping": (50, 70),
}


def round_half_away(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


def expected_decisions(project: Path) -> tuple[dict, dict]:
    """(treatment, holdout): customer_id -> (offer_id, score, loyaltyScore)."""
    as_of = datetime(2026, 11, 20, 15, 0, 0)
    customers = list(csv.DictReader((project / "seeds/kaireon_example_customers.csv").open()))
    history = list(csv.DictReader((project / "seeds/kaireon_example_interactions.csv").open()))
    local_hour = as_of.replace(tzinfo=timezone.utc).astimezone(ZoneInfo("America/New_York")).hour
    quiet_hours_ok = 8 <= local_hour < 21
    week_start = datetime(as_of.year, as_of.month, as_of.day) - timedelta(days=as_of.weekday())
    contacts: dict[str, int] = {}
    for row in history:
        at = datetime.fromisoformat(row["occurred_at"])
        if row["outcome"] == "impression" and week_start <= at <= as_of:
            contacts[row["customer_id"]] = contacts.get(row["customer_id"], 0) + 1
    treatment, holdout = {}, {}
    for c in customers:
        cid = c["customer_id"]
        days = int(c["daysSinceLastPurchase"]) if c["daysSinceLastPurchase"] else None
        purchases, revenue = int(c["lifetimePurchases"]), float(c["lifetimeRevenue"])
        eligible = [o for o in OFFERS if days is not None and days >= 60 and (o != "free_shipping" or purchases >= 2)]
        allowed = c["consentEmail"] == "true" and quiet_hours_ok and contacts.get(cid, 0) < 2
        if not (eligible and allowed):
            continue
        scored = []
        for o in eligible:
            priority, value = OFFERS[o]
            impact, emphasis = min(max(value / 100, 0), 1), min(max(priority / 100, 0), 1)
            score = (0.4 * 0.5 + 0.2 * 1 + 0.3 * impact + 0.1 * emphasis) / (0.4 + 0.2 + 0.3 + 0.1)
            scored.append((-score, -priority, o, score))
        _, _, offer, score = min(scored)
        bucket = int(hashlib.md5(f"example_winback:{cid}".encode()).hexdigest()[:8], 16) % 10000
        group = holdout if bucket < 20 * 100 else treatment
        group[cid] = (offer, score, round_half_away(purchases * 2 + revenue / 100))
    return treatment, holdout


def assert_decisions(db: Path, project: Path) -> None:
    treatment, holdout = expected_decisions(project)
    assert len(treatment) >= 5 and holdout and len({o for o, _, _ in treatment.values()}) == 2, \
        "the example should show both offers, a holdout and rejections"
    found = tables(db)
    for table, expected, group in (("kaireon_decisions", treatment, "treatment"),
                                   ("kaireon_withheld_decisions", holdout, "holdout")):
        rows = found[table]
        assert {r["customer_id"] for r in rows} == set(expected), table
        for r in rows:
            offer, score, loyalty = expected[r["customer_id"]]
            assert (r["offer_id"], r["channel"], r["rank"]) == (offer, "email", 1), r
            assert r["score"] == pytest.approx(score, abs=1e-9), r
            assert json.loads(r["personalization"])["loyaltyScore"] == pytest.approx(loyalty), r
        if group == "treatment":
            assert {r["experiment_group"] for r in rows} == {"treatment"}


def assert_no_demo(db: Path) -> None:
    leaked = DEMO_RELATIONS & set(tables(db))
    assert not leaked, f"kaireon_sql's demo seeds were loaded into the user's warehouse: {leaked}"


# --- a brand new project ------------------------------------------------------------------------

@pytest.mark.dbt
def test_init_new_project_then_run(tmp_path, env):
    project = tmp_path / "Acme Decisions"
    out = run(["kaireon", "init", "--project-dir", str(project)], tmp_path, env)
    assert "created  dbt_project.yml" in out and "kaireon run --as-of" in out and "dbt deps" in out
    name = project_name(project.name)
    assert name == "acme_decisions"
    dbt_project = yaml.safe_load((project / "dbt_project.yml").read_text())
    assert dbt_project["name"] == name and dbt_project["profile"] == "kaireon"
    assert dbt_project["flags"] == {"send_anonymous_usage_stats": False}
    profiles = yaml.safe_load((project / "profiles.yml").read_text())
    assert profiles["kaireon"]["outputs"]["dev"] == {"type": "duckdb", "path": f"warehouse/{name}.duckdb", "threads": 2}
    entry = yaml.safe_load((project / "packages.yml").read_text())["packages"]
    assert len(entry) == 1 and (Path(entry[0]["local"]) / "dbt_project.yml").is_file()

    # (c) a second init changes nothing and says so
    before = snapshot(project)
    again = run(["kaireon", "init", "--project-dir", str(project)], tmp_path, env)
    assert snapshot(project) == before
    assert "created" not in again and "updated" not in again and again.count("kept") >= 7

    out = run(["kaireon", "run", "--project-dir", str(project), "--as-of", AS_OF], project, env)
    assert "running dbt deps" in out and "flow example_winback" in out
    db = project / "warehouse" / f"{name}.duckdb"
    assert_decisions(db, project)
    # (d) nothing of the package's demo in the user's warehouse, even after a plain `dbt seed`
    run(["dbt", "seed", "--project-dir", str(project), "--vars", json.dumps({"as_of": AS_OF})], project, env)
    assert_no_demo(db)
    assert {"kaireon_example_customers", "kaireon_example_interactions"} <= set(tables(db))

    # deps are installed now: a second run does not reinstall them
    out = run(["kaireon", "run", "--project-dir", str(project), "--as-of", AS_OF, "--quiet-dbt"], project, env)
    assert "running dbt deps" not in out and "flow example_winback" in out


# --- an existing dbt project ----------------------------------------------------------------------

USER_PROJECT = """\
# Acme's analytics project.  (A comment that must survive: kaireon never rewrites this file.)
name: shop
version: "2.3.0"
config-version: 2
profile: shop_warehouse   # the profile in profiles.yml next to this file

model-paths: ["models"]
seed-paths: ["seeds"]

flags:
  send_anonymous_usage_stats: false

models:
  shop:
    +materialized: table
"""

USER_PROFILES = """\
# Acme's profile (kept as is by kaireon init)
shop_warehouse:
  target: local
  outputs:
    local:
      type: duckdb
      path: target/shop.duckdb
      threads: 1
"""


@pytest.mark.dbt
def test_init_existing_project_then_run(tmp_path, env):
    project = tmp_path / "shop"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(USER_PROJECT)
    (project / "profiles.yml").write_text(USER_PROFILES)
    (project / "models" / "order_totals.sql").write_text("select 1 as order_id, 42.5 as amount\n")
    mine = snapshot(project)

    out = run(["kaireon", "init", "--project-dir", str(project)], tmp_path, env)
    assert "kept     dbt_project.yml" in out and "kept     profiles.yml" in out
    after = snapshot(project)
    assert {k: after[k] for k in mine} == mine, "the user's files must stay byte-identical"
    assert set(after) - set(mine) == {
        "packages.yml", "decisioning/kaireon_example.yml", "seeds/kaireon_example_customers.csv",
        "seeds/kaireon_example_interactions.csv", "seeds/_kaireon_example_seeds.yml"}

    out = run(["kaireon", "run", "--project-dir", str(project), "--as-of", AS_OF, "--quiet-dbt"], project, env)
    assert "flow example_winback" in out
    # the user's own model still builds next to the generated ones (--vars: see run_params)
    run(["dbt", "build", "--project-dir", str(project), "--select", "order_totals",
         "--vars", json.dumps({"as_of": AS_OF})], project, env)
    db = project / "target" / "shop.duckdb"
    assert tables(db)["order_totals"] == [{"order_id": 1, "amount": pytest.approx(42.5)}]
    assert_decisions(db, project)
    assert_no_demo(db)
    final = snapshot(project)
    assert {k: final[k] for k in mine} == mine


# --- packages.yml and other details, without dbt ----------------------------------------------

def _project(root: Path, packages: str | None = None) -> Path:
    root.mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: p\nprofile: p\nconfig-version: 2\n")
    (root / "profiles.yml").write_text("p:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: x.duckdb}\n")
    if packages is not None:
        (root / "packages.yml").write_text(packages)
    return root


def test_commented_packages_yml_gets_an_appended_entry(tmp_path):
    text = "# our packages\npackages:\n    # date helpers\n    - package: dbt-labs/dbt_utils\n      version: 1.3.0  # pinned\n"
    root = _project(tmp_path / "p", text)
    lines = init_project(root)
    new = (root / "packages.yml").read_text()
    assert new.startswith(text) and any("updated  packages.yml" in line for line in lines)
    listed = yaml.safe_load(new)["packages"]
    assert listed[0] == {"package": "dbt-labs/dbt_utils", "version": "1.3.0"}
    assert (Path(listed[1]["local"]) / "macros" / "run_params.sql").is_file()
    assert new[len(text):].startswith("    - local: ")
    before = snapshot(root)
    assert not any("updated" in line or "created" in line for line in init_project(root))
    assert snapshot(root) == before


def test_uncommon_packages_yml_layout_is_refused_with_the_lines_to_add(tmp_path):
    text = "packages: [{package: dbt-labs/dbt_utils, version: 1.3.0}]  # flow style\n"
    root = _project(tmp_path / "p", text)
    with pytest.raises(KaireonError) as err:
        init_project(root)
    assert "  - local: " in str(err.value) and "nothing was written" in str(err.value)
    assert (root / "packages.yml").read_text() == text and not (root / "decisioning").exists()


def test_git_package_and_existing_config_folder(tmp_path):
    root = _project(tmp_path / "p")
    (root / "decisioning").mkdir()
    (root / "decisioning" / "flows.yml").write_text("offers: []\n")
    lines = init_project(root, package="https://github.com/acme/kaireon-sql.git#v0.1.0")
    assert yaml.safe_load((root / "packages.yml").read_text())["packages"] == [
        {"git": "https://github.com/acme/kaireon-sql.git", "revision": "v0.1.0"}]
    assert not (root / "decisioning" / "kaireon_example.yml").exists() and not (root / "seeds").exists()
    assert any("has your config" in line for line in lines)


def test_project_names():
    assert project_name("My-Shop 2") == "my_shop_2"
    assert project_name("2024 work") == "kaireon_project_2024_work"
    assert project_name("kaireon_sql") == "kaireon_sql_project"


def test_init_does_not_shadow_a_profile_in_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".dbt").mkdir(parents=True)
    (home / ".dbt" / "profiles.yml").write_text("p:\n  target: prod\n  outputs:\n    prod: {type: postgres}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    root = tmp_path / "p"
    root.mkdir()
    (root / "dbt_project.yml").write_text("name: p\nprofile: p\nconfig-version: 2\n")
    lines = init_project(root)
    assert not (root / "profiles.yml").exists()
    assert any("kept     your profile 'p'" in line for line in lines)
