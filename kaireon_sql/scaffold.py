"""`kaireon init`: adopt kaireon-sql in a new or an existing dbt project.

Writes only what is missing: a minimal dbt_project.yml (new projects only), the kaireon_sql
entry of packages.yml, a DuckDB profile, and a starter config folder with two sample seeds.
A user's own files are never rewritten: dbt_project.yml stays byte-identical, packages.yml
is extended by appending text (checked by re-reading it), and anything already there is
reported as kept.  Everything is planned before the first file is written, so a refusal
leaves the project untouched.
"""
from __future__ import annotations

import json
from importlib.metadata import version
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import KaireonError
from .project_files import DEFAULT_CONFIG

PACKAGE_NAME = "kaireon_sql"
DEFAULT_PROFILE = "kaireon"
TEMPLATES = Path(__file__).parent / "templates" / "init"
EXAMPLE_CONFIG = "kaireon_example.yml"
EXAMPLE_SEEDS = ("kaireon_example_customers.csv", "kaireon_example_interactions.csv", "_kaireon_example_seeds.yml")
EXAMPLE_AS_OF = "2026-11-20T15:00:00Z"
MARKER = "written by `kaireon init`"
WAREHOUSE_GITIGNORE = "warehouse/.gitignore"
CONFIG_SUFFIXES = (".yml", ".yaml", ".json")


@dataclass
class Plan:
    """Files to write (relative path -> text) and the report lines, in order."""

    root: Path
    force: bool
    writes: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def file(self, rel: str, text: str, overwritable: bool = True) -> None:
        """Create `rel` unless it exists; with force, overwrite it when `overwritable`."""
        exists = (self.root / rel).exists()
        if exists and not (self.force and overwritable):
            self.lines.append(f"kept     {rel} (exists)")
            return
        self.writes[rel] = text
        self.lines.append(f"{'replaced' if exists else 'created '} {rel}")

    def note(self, text: str) -> None:
        self.lines.append(f"note:    {text}")

    def apply(self) -> None:
        for rel, text in self.writes.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


def init_project(project_dir: Path, package: str | None = None, force: bool = False) -> list[str]:
    root = Path(project_dir).resolve()
    if root.exists() and not root.is_dir():
        raise KaireonError(f"{root}: not a folder")
    plan = Plan(root, force)
    project, new = _dbt_project(plan)
    _packages(plan, _package_entry(package, root))
    _profile(plan, project, new)
    _starter(plan, project)
    if new:
        plan.file(".gitignore", "target/\ndbt_packages/\nlogs/\n", overwritable=False)
    root.mkdir(parents=True, exist_ok=True)
    plan.apply()
    return [f"kaireon init in {root}:"] + ["  " + line for line in plan.lines] + _next_steps(root)


# --- dbt_project.yml ------------------------------------------------------------------------

def _dbt_project(plan: Plan) -> tuple[dict, bool]:
    """The project's parsed dbt_project.yml (planning a minimal one when there is none)."""
    path = plan.root / "dbt_project.yml"
    if not path.is_file():
        name = project_name(plan.root.name)
        plan.file("dbt_project.yml", _template("dbt_project.yml").format(name=name, profile=DEFAULT_PROFILE))
        return {"name": name, "profile": DEFAULT_PROFILE}, True
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise KaireonError(f"{path}: cannot parse: {exc}") from None
    if not isinstance(data, dict) or not data.get("profile") or not data.get("name"):
        raise KaireonError(f"{path}: expected a dbt project with 'name' and 'profile' keys")
    if data["name"] == PACKAGE_NAME:
        raise KaireonError(f"{path}: this is kaireon_sql's own project; run init in the project that uses it")
    plan.lines.append(f"kept     dbt_project.yml (yours, unchanged; profile {data['profile']!r})")
    models = data.get("model-paths") or ["models"]
    if not any(Path(p).parts[:1] == ("models",) for p in models):
        plan.note(f"model-paths is {models}; kaireon writes its models to models/kaireon/, "
                  "so add \"models\" to model-paths")
    return data, False


def project_name(folder: str) -> str:
    """A valid dbt project name from a folder name: lowercase letters, digits and _."""
    name = re.sub(r"[^a-z0-9_]+", "_", folder.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = "kaireon_project" + (f"_{name}" if name else "")
    return name + "_project" if name == PACKAGE_NAME else name


# --- packages.yml ---------------------------------------------------------------------------

def _package_entry(package: str | None, root: Path) -> dict:
    """The packages.yml entry for kaireon_sql: the installed checkout, a given path, or a git URL."""
    if package and (re.match(r"^(https?://|ssh://|git://|git@)", package) or package.split("#")[0].endswith(".git")):
        url, _, revision = package.partition("#")
        return {"git": url, "revision": revision or f"v{_version()}"}
    if package:
        given = Path(package).expanduser()
        target = given.resolve()
        _check_package_root(target, f"--package {package}")
        shown = str(given) if given.is_absolute() else os.path.relpath(target, root)
        return {"local": shown}
    here = installed_package()
    if here is None:
        raise KaireonError(
            f"the dbt package kaireon_sql (dbt_project.yml with macros/) is neither in the installed Python "
            f"package ({Path(__file__).resolve().parent / 'dbt_package'}) nor next to it; pass --package with "
            f"the path of a kaireon-sql checkout or its git URL (https://.../kaireon-sql.git#<revision>)")
    return {"local": str(here)}


def installed_package() -> Path | None:
    """The dbt package of this installation: kaireon_sql/dbt_package/ of a wheel (setup.py puts it
    there), else the checkout this module runs from (an editable install), else None."""
    module = Path(__file__).resolve().parent
    for folder in (module / "dbt_package", module.parent):
        if _package_root_name(folder) == PACKAGE_NAME and (folder / "macros").is_dir():
            return folder
    return None


def _package_root_name(folder: Path) -> str | None:
    path = folder / "dbt_project.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (yaml.YAMLError, OSError):
        return None
    return data.get("name") if isinstance(data, dict) else None


def _check_package_root(folder: Path, shown: str) -> None:
    if _package_root_name(folder) != PACKAGE_NAME:
        raise KaireonError(f"{shown}: {folder} has no dbt_project.yml named {PACKAGE_NAME!r}; "
                           "expected the root of a kaireon-sql checkout")


def _version() -> str:
    try:
        return version("kaireon-sql")
    except Exception:  # not installed as a distribution (a bare checkout)
        return "0.1.0"


def _packages(plan: Plan, entry: dict) -> None:
    _add_package(plan, entry)
    if plan.writes.keys() & {"packages.yml", "dependencies.yml"} and Path(entry.get("local", "")).is_absolute():
        plan.note("the kaireon_sql entry points at this machine's kaireon-sql; in a shared repo use "
                  "--package <git URL>#<tag> so that teammates and CI can install it")


def _add_package(plan: Plan, entry: dict) -> None:
    packages_yml, dependencies_yml = plan.root / "packages.yml", plan.root / "dependencies.yml"
    rel = "packages.yml"
    if not packages_yml.exists() and _yaml_keys(dependencies_yml).get("packages") is not None:
        rel = "dependencies.yml"  # dbt reads packages from either file, never both
    path = plan.root / rel
    entry_text = _entry_text(entry)
    if not path.exists():
        plan.file(rel, "# dbt packages; `dbt deps` installs them into dbt_packages/ (kaireon run does it for you).\n"
                       "packages:\n" + entry_text)
        return
    text = path.read_text(encoding="utf-8")
    data = _yaml_keys(path)
    listed = data.get("packages")
    if listed is not None and not isinstance(listed, list):
        raise KaireonError(f"{path}: 'packages' is not a list")
    if any(_is_kaireon(e, plan.root) for e in listed or []):
        plan.lines.append(f"kept     {rel} (already lists kaireon_sql)")
        return
    new_text = _appended(text, data, entry, entry_text)
    if new_text is None and "#" not in text and isinstance(listed, list):
        # no comments to lose: re-dump the mapping in its own key order
        new_text = yaml.safe_dump(dict(data, packages=listed + [entry]), sort_keys=False, default_flow_style=False)
    if new_text is None:
        raise KaireonError(
            f"{path}: kaireon init does not rewrite this file's layout; add kaireon_sql under its "
            f"'packages:' list yourself:\n\n{entry_text}\nthen run `kaireon init` again (nothing was written)")
    plan.writes[rel] = new_text
    plan.lines.append(f"updated  {rel} (appended the kaireon_sql entry; other entries untouched)")


def _yaml_keys(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KaireonError(f"{path}: cannot parse: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KaireonError(f"{path}: expected a mapping with a 'packages' list")
    return data


def _is_kaireon(entry, root: Path) -> bool:
    if not isinstance(entry, dict):
        return False
    if "local" in entry:
        local = Path(str(entry["local"])).expanduser()
        local = local if local.is_absolute() else root / local
        return _package_root_name(local.resolve()) == PACKAGE_NAME or "kaireon" in local.name.lower()
    return any("kaireon" in str(entry.get(k, "")).lower() for k in ("git", "package", "tarball", "private"))


def _scalar(value: str) -> str:
    """A YAML scalar for a path or URL: plain when safe, else double-quoted (JSON is valid YAML)."""
    return value if re.fullmatch(r"[A-Za-z0-9_./~+-][A-Za-z0-9_./~:@+=-]*", value) else json.dumps(value)


def _entry_text(entry: dict, indent: str = "  ") -> str:
    keys = list(entry)
    out = f"{indent}- {keys[0]}: {_scalar(str(entry[keys[0]]))}\n"
    return out + "".join(f"{indent}  {k}: {_scalar(str(entry[k]))}\n" for k in keys[1:])


def _appended(text: str, data: dict, entry: dict, entry_text: str) -> str | None:
    """`text` with the entry added to its packages list, changing no other byte; None if unsafe."""
    base = text if text.endswith("\n") or not text else text + "\n"
    listed = data.get("packages")
    if "packages" not in data:
        candidate = base + "packages:\n" + entry_text
    elif isinstance(listed, list) and listed:
        lines = base.splitlines()
        tops = [i for i, line in enumerate(lines) if re.match(r"^[^\s#-][^:]*:", line)]
        start = next((i for i in tops if re.match(r"^packages\s*:\s*(#.*)?$", lines[i])), None)
        if start is None or tops[-1] != start:
            return None  # packages is not the last top-level key, or a flow-style list
        item = next((line for line in lines[start + 1:] if re.match(r"^\s*-\s", line)), None)
        if item is None:
            return None
        indent = item[: len(item) - len(item.lstrip())]
        candidate = base + _entry_text(entry, indent)
    else:
        return None
    try:
        reread = yaml.safe_load(candidate)
    except yaml.YAMLError:
        return None
    expected = dict(data, packages=list(listed or []) + [entry])
    return candidate if reread == expected else None


# --- profiles.yml ---------------------------------------------------------------------------

def _profile(plan: Plan, project: dict, new: bool) -> None:
    profile, name = str(project["profile"]), str(project["name"])
    text = _template("profiles.yml").format(profile=profile, name=name)
    local = plan.root / "profiles.yml"
    if local.exists():
        ours = MARKER in local.read_text(encoding="utf-8")
        plan.file("profiles.yml", text, overwritable=ours)
        if not plan.writes.get("profiles.yml") and profile not in _yaml_keys(local):
            plan.note(f"profiles.yml has no profile {profile!r} (named by dbt_project.yml); add one")
        return
    found = None if new else _profile_elsewhere(profile)
    if found:
        plan.lines.append(f"kept     your profile {profile!r} in {found} (no profiles.yml written)")
        return
    plan.file("profiles.yml", text)
    if "profiles.yml" in plan.writes:  # the DuckDB file's folder, its file ignored by git
        plan.file(WAREHOUSE_GITIGNORE, "# the DuckDB warehouse of profiles.yml (outside target/: `dbt clean` keeps it)\n"
                                       "*\n!.gitignore\n", overwritable=False)


def _profile_elsewhere(profile: str) -> Path | None:
    """The profiles.yml dbt would use outside the project, when it defines `profile`."""
    folders = [Path(os.environ["DBT_PROFILES_DIR"])] if os.environ.get("DBT_PROFILES_DIR") else []
    for folder in folders + [Path.home() / ".dbt"]:
        path = folder / "profiles.yml"
        try:
            if path.is_file() and profile in _yaml_keys(path):
                return path
        except KaireonError:
            return None
    return None


# --- starter config and seeds ---------------------------------------------------------------

def _starter(plan: Plan, project: dict) -> None:
    config_dir = plan.root / DEFAULT_CONFIG
    others = sorted(p.name for p in config_dir.iterdir()
                    if p.suffix in CONFIG_SUFFIXES and p.name != EXAMPLE_CONFIG) if config_dir.is_dir() else []
    if others:
        plan.lines.append(f"kept     {DEFAULT_CONFIG}/ (has your config: {', '.join(others)}; no example added)")
        return
    plan.file(f"{DEFAULT_CONFIG}/{EXAMPLE_CONFIG}", _template(f"decisioning/{EXAMPLE_CONFIG}"))
    seeds = (project.get("seed-paths") or ["seeds"])[0]
    for name in EXAMPLE_SEEDS:
        plan.file(f"{seeds}/{name}", _template(f"seeds/{name}"))


def _template(rel: str) -> str:
    return (TEMPLATES / rel).read_text(encoding="utf-8")


def _next_steps(root: Path) -> list[str]:
    here = Path.cwd().resolve()
    shown = os.path.relpath(root, here) if root.is_relative_to(here) else str(root)
    cd = [] if root == here else [f"  cd {shlex.quote(shown)}"]
    return ["next:"] + cd + [
        "  dbt deps                                       # install kaireon_sql (kaireon run does it when needed)",
        f"  kaireon run --as-of {EXAMPLE_AS_OF}       # compile decisioning/ and dbt build; prints the decisions",
        "then point decisioning/ at your own tables (see docs/adopting.md in kaireon-sql).",
    ]
