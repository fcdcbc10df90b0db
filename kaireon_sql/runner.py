"""Run dbt through its Python API and read results back for the summary."""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import yaml

from sqlglot import exp

from .dialect import Engine, render
from .errors import DbtRunError, KaireonError, shown
from .project_files import DbtProject


LOCK_FILE = "kaireon.lock"


class ProjectLocked(KaireonError):
    """Another kaireon compile or run of the same project is in progress."""


def lock_path(project: DbtProject) -> Path:
    """`<project>/<target-path>/kaireon.lock` (target-path as dbt reads it: env, dbt_project.yml, 'target')."""
    target = os.environ.get("DBT_TARGET_PATH") or project.project_yml().get("target-path") or "target"
    return project.root / str(target) / LOCK_FILE


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt  # lazy: the platform's own locking module, one of two

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl  # lazy: the platform's own locking module, one of two

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def project_lock(project: DbtProject, command: str) -> Iterator[Path]:
    """Hold the project's exclusive lock for a compile, or a run's compile + dbt deps + build + summary.

    The lock is an OS lock (flock; msvcrt on Windows) on a file in the project's target folder: it
    covers every kaireon compile/run of this project folder on this machine, and the OS releases it
    when the process ends however it ends (a killed run leaves no stale lock). A second command
    fails at once with ProjectLocked, naming the process that holds the lock, as DuckDB does for its
    database file. It does not cover dbt commands run directly, or runs from another copy of the
    project against the same warehouse schema.
    """
    path = lock_path(project)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise KaireonError(f"{path}: cannot create the project lock file: {exc.strerror or exc}") from None
    try:
        if not _try_lock(fd):
            holder = os.pread(fd, 200, 0).decode("utf-8", errors="replace").strip() if hasattr(os, "pread") else ""
            raise ProjectLocked(
                f"{path}: another kaireon compile or run of this project is in progress"
                f"{' (' + holder + ')' if holder else ''}; wait for it to finish and try again")
        if hasattr(os, "pwrite"):  # who holds it, for the message of the one that waits
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, kaireon {command}, since {stamp}".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


def _base_args(project: DbtProject) -> list[str]:
    args = ["--project-dir", str(project.root)]
    profiles = project.profiles_path().parent
    args += ["--profiles-dir", str(profiles)]
    if project.target:
        args += ["--target", project.target]
    return args


def invoke(args: list[str], cwd: Path | None = None, callbacks: list | None = None):
    """Run dbt in-process. With `cwd`, dbt runs from that folder (relative profile paths, such as
    a DuckDB file, resolve against it) and the caller's working directory is restored after."""
    from dbt.cli.main import dbtRunner  # lazy: dbt takes seconds to import; only `run` needs it

    before = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        return dbtRunner(callbacks=callbacks).invoke(args)
    finally:
        os.chdir(before)


def ensure_deps(project: DbtProject, quiet: bool = False) -> str | None:
    """Run `dbt deps` when the project lists packages that are not installed or changed since.

    Stale means: the install folder (packages-install-path, default dbt_packages) is missing, a
    package of package-lock.yml is missing from it, or packages.yml / dependencies.yml is newer
    than it (`dbt deps` recreates the folder every time).  Returns why deps ran, or None.
    """
    root = project.root
    specs = [p for p in (root / "packages.yml", root / "dependencies.yml") if _lists_packages(p)]
    if not specs:
        return None
    install = root / str(project.project_yml().get("packages-install-path") or "dbt_packages")
    lock = _yaml_file(root / "package-lock.yml")
    locked = [p.get("name") for p in (lock.get("packages") or []) if isinstance(p, dict)]
    if not install.is_dir():
        reason = f"{install.name}/ is missing"
    elif not lock:
        reason = "package-lock.yml is missing"
    elif any(name and not (install / name).exists() for name in locked):
        reason = f"a package is missing from {install.name}/"
    elif max(p.stat().st_mtime for p in specs) > install.stat().st_mtime:
        reason = f"{specs[0].name} changed since the last dbt deps"
    else:
        return None
    print(f"running dbt deps: {reason}")
    result = invoke((["--quiet"] if quiet else []) + ["deps", "--project-dir", str(root)], cwd=root)
    if not result.success:
        raise DbtRunError(f"dbt deps failed{': ' + str(result.exception) if result.exception else ''}")
    return reason


def _yaml_file(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _lists_packages(path: Path) -> bool:
    return bool(_yaml_file(path).get("packages"))


class RunParamError(KaireonError):
    """A run parameter (--as-of, --run-id, --channel) that is refused before dbt starts."""


# The grammar macros/run_params.sql accepts too. dbt renders string vars as Jinja before a macro
# reads them, so a value must hold no '{' at all: these patterns admit none.
TOKEN = re.compile(r"^[A-Za-z0-9_.:@+-]{1,200}$")
AS_OF = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(Z|[+-]\d{2}:?\d{2})?$",
                   re.ASCII)  # ASCII: \d would take other scripts' digits (２０２６)
TOKEN_RULE = "1-200 characters, each a letter, digit or one of _ . : @ + -"
AS_OF_RULE = ("an ISO 8601 timestamp YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM|-HH:MM] with an offset "
              "from -23:59 to +23:59, e.g. 2026-11-20T15:00:00Z")


def parse_as_of(value: str) -> datetime:
    """The UTC time of an --as-of value (naive datetime), or RunParamError saying what is expected."""
    match = AS_OF.fullmatch(value)  # fullmatch: '$' would admit a final newline
    if not match:
        raise RunParamError(f"--as-of: expected {AS_OF_RULE}, got {shown(value, 60)}")
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        at = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError as exc:  # month 13, day 31 of a 30-day month, hour 24, second 60 ...
        raise RunParamError(f"--as-of: not a valid date and time ({exc}): {shown(value, 60)}") from None
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise RunParamError(f"--as-of: offset {offset} is out of range; expected {AS_OF_RULE}")
        try:
            at -= (1 if offset[0] == "+" else -1) * timedelta(hours=hours, minutes=minutes)
        except OverflowError:
            raise RunParamError(f"--as-of: out of the range of dates: {shown(value, 60)}") from None
    if not 1900 <= at.year <= 9999:  # in UTC: dbt and the engines read a four-digit year
        raise RunParamError(f"--as-of: expected a time from 1900 to 9999 (UTC), got {shown(value, 60)}")
    return at


def check_token(value: str, option: str) -> str:
    if not TOKEN.fullmatch(value):
        raise RunParamError(f"{option}: expected {TOKEN_RULE}, got {shown(value, 60)}")
    return value


RUN_VARS = ("as_of", "run_id", "channel")  # dbt vars kaireon_<name>; the bare <name> is read when that is unset


ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # a formula identifier (macros/run_attributes.sql)


def _attribute_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return str(value)
    raise RunParamError(f"--attributes: expected text, a number, true/false or null as a value, got {shown(value, 60)}")


def attribute_vars(text: str) -> dict:
    """--attributes (a JSON object) as the `attributes` var: every value as {hex: <UTF-8 hex>}, so no '{' of a
    value reaches dbt (which renders string vars as Jinja) and no value reaches SQL as text."""
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise RunParamError(f"--attributes: expected a JSON object such as '{{\"season\": \"winter\"}}' ({exc})") from None
    if not isinstance(parsed, dict):
        raise RunParamError(f"--attributes: expected a JSON object of names to values, got {shown(parsed, 60)}")
    out: dict = {}
    for name, value in parsed.items():
        if not ATTRIBUTE_NAME.fullmatch(name):
            raise RunParamError(f"--attributes: an attribute name is 1-63 letters, digits or _, not starting with "
                                f"a digit; got {shown(name, 60)}")
        text_value = _attribute_text(value)
        out[name] = None if text_value is None else {"hex": text_value.encode("utf-8").hex()}
    return out


def user_vars(text: str | None) -> dict:
    """`--vars` as dbt reads it (a YAML or JSON mapping), refused before dbt starts when it is not one."""
    if text is None:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RunParamError(f"--vars: expected a YAML or JSON mapping such as '{{my_var: 1}}'; "
                            f"cannot parse {shown(text, 60)}: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise RunParamError(f"--vars: expected a YAML or JSON mapping such as '{{my_var: 1}}', got {shown(text, 60)}")
    return data


def run_vars(as_of: str | None, run_id: str | None, channel: str | None, extra: str | None = None,
             attributes: str | None = None) -> str:
    """The dbt --vars of a run: the user's `--vars` (`extra`) merged with kaireon_as_of (normalised to
    UTC, '...Z'), kaireon_run_id and kaireon_channel, each checked, and `attributes` (--attributes,
    hex-encoded by attribute_vars). A value not given is passed as '' (the macro's default), so a
    project's own bare `as_of` / `run_id` / `channel` vars are never read as kaireon's. Raises
    RunParamError before anything runs."""
    values = user_vars(extra)
    flags = {"as_of": as_of, "run_id": run_id, "channel": channel}
    for name in RUN_VARS:
        key, given, in_vars = "kaireon_" + name, flags[name], values.get("kaireon_" + name)
        if given is not None:  # an empty flag is refused: it is not "not given"
            if in_vars not in (None, "") and str(in_vars) != given:
                raise RunParamError(f"--{name.replace('_', '-')} {shown(given, 60)} and --vars {key} "
                                    f"{shown(str(in_vars), 60)} disagree; give one of them")
            values[key] = _checked(name, given, "--" + name.replace("_", "-"))
        elif in_vars not in (None, ""):
            values[key] = _checked(name, str(in_vars), f"--vars {key}")
        else:
            values[key] = ""
    if attributes is not None:
        if values.get("attributes") is not None:
            raise RunParamError("--attributes and --vars attributes: give one of them")
        values["attributes"] = attribute_vars(attributes)
    return json.dumps(values, default=str)  # a YAML date in --vars: its ISO text


def _checked(name: str, value: str, option: str) -> str:
    if name == "as_of":
        try:
            return parse_as_of(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        except RunParamError as exc:
            raise RunParamError(str(exc).replace("--as-of", option, 1)) from None
    return check_token(value, option)


class Progress:
    """A dbt event callback printing one line per finished model, seed or snapshot (and per failure):
    how many of the build's nodes are done and the time since the build started."""

    SHOWN = ("model", "seed", "snapshot")

    def __init__(self, out=None):
        self.out, self.start, self.done, self.total = out or sys.stdout, time.monotonic(), 0, None
        self.lock = threading.Lock()  # dbt's threads call back concurrently
        self._write("dbt build: parsing the project and starting the build ...")

    def _write(self, line: str) -> None:
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()

    def __call__(self, msg) -> None:
        name = msg.info.name
        if name == "LogStartLine" and getattr(msg.data, "total", 0):
            self.total = msg.data.total
        elif name == "NodeFinished":
            info = msg.data.node_info
            with self.lock:
                self.done += 1
                done = self.done
            if info.resource_type in self.SHOWN or info.node_status in ("error", "fail"):
                self._write(f"  [{done}/{self.total or '?'}] {info.resource_type} {info.node_name}: "
                            f"{info.node_status} ({time.monotonic() - self.start:.1f} s)")


def build(project: DbtProject, variables: str, select: str | list[str] = "+tag:kaireon", quiet: bool = False,
          exclude: list[str] | None = None, threads: int | None = None, full_refresh: bool = False,
          progress: Progress | None = None) -> str:
    """dbt build of the kaireon models and what they read; returns a one-line account of it."""
    selected = [select] if isinstance(select, str) else list(select)
    args = ["build", "--select", *selected, "--vars", variables] + _base_args(project)
    if exclude:
        args += ["--exclude", *exclude]
    if threads is not None:
        args += ["--threads", str(threads)]
    if full_refresh:
        args.append("--full-refresh")
    if quiet:
        args = ["--quiet"] + args
    warned: list[str] = []
    callbacks = [progress] if progress else []
    callbacks.append(lambda msg: warned.append(msg.data.msg) if msg.info.name == "JinjaLogWarning"
                     and str(msg.data.msg).startswith("kaireon: ") else None)
    result = invoke(args, cwd=project.root, callbacks=callbacks)
    if not result.success:
        failed = []
        for r in getattr(result.result, "results", None) or []:
            if str(getattr(r, "status", "")) in ("error", "fail"):
                failed.append(f"{r.node.name}: {r.message}")
        detail = ("\n  " + "\n  ".join(failed)) if failed else (f": {result.exception}" if result.exception else "")
        raise DbtRunError(f"dbt build failed{detail}" + "".join(f"\n  warning: {w[9:]}" for w in warned))
    statuses = [str(getattr(r, "status", "")) for r in getattr(result.result, "results", None) or []]
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    return "dbt build: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + "".join(
        f"\nwarning: {w[len('kaireon: '):]}" for w in dict.fromkeys(warned))  # the data checks' (known_time_zone)


def query(project: DbtProject, select: exp.Expression, engine: Engine, variables: str = "{}") -> list[dict]:
    """Rows of a SELECT over project relations, through `dbt show` (works on every adapter)."""
    sql = render(select, engine, pretty=False)
    # --no-write-json: target/run_results.json stays the build's, not this query's
    result = invoke(["--no-write-json", "--log-level", "none", "show", "--inline", sql, "--limit", "-1", "--vars", variables]
                    + _base_args(project), cwd=project.root)
    if not result.success:
        raise DbtRunError(f"dbt show failed: {result.exception or 'see the dbt log'}")
    table = result.result.results[0].agate_table
    names = list(table.column_names)
    return [dict(zip(names, row)) for row in table.rows]
