"""`kaireon prune`: relations and decision-log rows of flows no longer in the config.

Generated relations are named `kaireon_<flow or model>__<part>`; one that the current compile does
not produce is stale (the flat S4 relations, kaireon_decisions and friends, are always produced).
Decision-log rows are stale when their decision_flow_key is no flow of the config. A dry run by
default: it lists what would go; --yes drops the relations; log rows only with --log-rows too.
"""
from __future__ import annotations

import json
import re

from sqlglot import exp

from . import runner
from .dialect import Engine, relation
from .errors import DbtRunError
from .project_files import DbtProject
from .sql.common import DECISION_LOG

PREFIX = "kaireon_relations "
FLOW_KEY = re.compile(r"^[A-Za-z0-9_.:@+-]{1,200}$")


def generated(name: str) -> bool:
    """A per-flow or per-model relation of kaireon's (kaireon_<key>__<part>)."""
    return name.startswith("kaireon_") and "__" in name


def _operation(project: DbtProject, macro: str, args: dict | None = None, capture: list | None = None) -> None:
    def callback(msg) -> None:
        if capture is not None and msg.info.name == "JinjaLogInfo" and msg.data.msg.startswith(PREFIX):
            capture.append(json.loads(msg.data.msg[len(PREFIX):]))

    cmd = ["--no-write-json", "--quiet", "run-operation", f"kaireon_sql.{macro}"]
    cmd += ["--args", json.dumps(args)] if args else []
    result = runner.invoke(cmd + runner._base_args(project), cwd=project.root, callbacks=[callback])
    if not result.success:
        raise DbtRunError(f"dbt run-operation {macro} failed{': ' + str(result.exception) if result.exception else ''}")


def stale_relations(project: DbtProject, models: list[str]) -> list[tuple[str, str]]:
    """(name, type) of the target schema's kaireon relations that the current compile does not produce."""
    found: list = []
    _operation(project, "kaireon_list_relations", capture=found)
    current = {m.rsplit(".", 1)[0].lower() for m in models}
    return sorted((n, t) for n, t in (found[0] if found else []) if generated(n) and n not in current)


def stale_log_rows(project: DbtProject, engine: Engine, flows: list[str]) -> dict[str, int]:
    """Decision-log rows per flow key that is no flow of the config ({} when there is no log)."""
    key = exp.column("decision_flow_key", quoted=True)
    select = (exp.select(exp.alias_(key, "flow", quoted=True), exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True))
              .from_(relation(DECISION_LOG)).group_by(key))
    try:
        rows = runner.query(project, select, engine)
    except DbtRunError:  # no log yet
        return {}
    return {str(r["flow"]): int(r["n"]) for r in rows if str(r["flow"]) not in flows}


def prune(project: DbtProject, engine: Engine, models: list[str], flows: list[str], yes: bool,
          log_rows: bool) -> list[str]:
    relations = stale_relations(project, models)
    logged = stale_log_rows(project, engine, flows)
    out = [f"{'dropped' if yes else 'would drop'} {kind} {name}" for name, kind in relations]
    for key, n in sorted(logged.items()):
        verb = ("deleted" if yes else "would delete") if log_rows else "kept (add --log-rows to delete)"
        out.append(f"{verb} {n} {DECISION_LOG} row(s) of flow {key}")
    if not out:
        return ["nothing to prune: every kaireon relation and decision-log row belongs to a flow of the config"]
    if yes and relations:
        _operation(project, "kaireon_drop_relations", {"names": [n for n, _ in relations]})
    if yes and log_rows and logged:
        keys = [k for k in logged if FLOW_KEY.fullmatch(k)]
        _operation(project, "kaireon_delete_log_rows", {"flows": keys})
    if not yes:
        out.append("dry run: nothing changed; run `kaireon prune --yes` to drop the relations"
                   + (" and delete the log rows" if log_rows and logged else ""))
    return out


def stale_flows(removed: list[str], logged: dict[str, int]) -> dict:
    """What `kaireon run` warns about: model files this compile removed (their relations stay in the
    warehouse) and flows of the decision log that are no longer in the config."""
    return {"removed_models": sorted(r.rsplit(".", 1)[0] for r in removed if r.endswith(".sql")),
            "logged_flows": dict(sorted(logged.items()))}


def warning(stale: dict) -> list[str]:
    out = []
    if stale["removed_models"]:
        out.append(f"warning: this compile removed {len(stale['removed_models'])} generated model(s) "
                   f"({', '.join(stale['removed_models'][:5])}{', ...' if len(stale['removed_models']) > 5 else ''}); "
                   "their tables stay in the warehouse")
    if stale["logged_flows"]:
        out.append("warning: the decision log holds rows of flows no longer in the config: "
                   + ", ".join(f"{k} ({n} rows)" for k, n in stale["logged_flows"].items()))
    if out:
        out.append("  `kaireon prune` lists them; `kaireon prune --yes` drops the relations (--log-rows: the rows too)")
    return out
