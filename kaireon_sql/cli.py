"""`kaireon`: validate, compile and run decisioning config in a dbt project."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from . import __version__
from .errors import KaireonError


def _project(args):
    from .project_files import DbtProject

    profiles_dir = getattr(args, "profiles_dir", None)
    return DbtProject(Path(args.project_dir).resolve(), Path(profiles_dir).resolve() if profiles_dir else None,
                      getattr(args, "target", None))


def _config_dir(args, project) -> Path:
    return Path(args.config).resolve() if args.config else project.config_dir


def _load(args, project):
    from .config import load_project

    return load_project(_config_dir(args, project), display_root=project.root)


def _compile(args, project, lock: contextlib.ExitStack, quiet: bool = False, out=None, compiled: dict | None = None):
    """Validate and compile, then, holding the project lock (kept in `lock` for the caller), write."""
    from . import runner
    from .compiler import compile_project
    from .dialect import engine
    from .writer import model_files, write_models

    project.project_yml()  # a dbt project, before anything else
    config = _load(args, project)
    eng = engine(project.engine_name() if args.engine is None else args.engine)
    if getattr(args, "channel", None) is not None and all(f.definition.flow_config.channel for f in config.flows):
        raise runner.RunParamError("--channel: every flow sets its own flowConfig.channel, so the run's channel "
                                   "would change nothing; drop --channel (it is for flows without one)")
    models = compile_project(config)  # one engine-neutral tree per model, rendered for `eng` below
    source = _config_dir(args, project)
    try:
        shown = str(source.relative_to(project.root))
    except ValueError:
        shown = str(source)
    files = model_files(models, eng, shown + "/")
    lock.enter_context(runner.project_lock(project, args.command))
    changed = write_models(files, Path(args.out).resolve() if args.out else project.out_dir)
    if compiled is not None:  # for run: the flows in build order, the model files written and removed
        from .plan.build_order import flows_in_order

        compiled.update(flows=[f.key for f in flows_in_order(config.flows)], models=sorted(files), changed=changed)
    if not quiet:
        print(f"compiled {len(config.flows)} flow(s) for {eng.name} into "
              f"{args.out or project.out_dir.relative_to(project.root)}: {len(changed['written'])} written, "
              f"{len(changed['unchanged'])} unchanged, {len(changed['removed'])} removed", file=out or sys.stdout)
    return eng


def cmd_validate(args) -> int:
    project = _project(args)
    config = _load(args, project)
    from .compiler import compile_project
    from .dialect import engine

    from .writer import model_files

    eng = engine("duckdb" if args.engine is None else args.engine)
    model_files(compile_project(config), eng, "")  # every file text compile would write, checked, not written
    counts = ", ".join(f"{len(v)} {k}" for k, v in config.objects.items() if v)
    print(f"config OK: {counts}")
    return 0


def cmd_compile(args) -> int:
    with contextlib.ExitStack() as lock:
        _compile(args, _project(args), lock=lock)
    return 0


def cmd_run(args) -> int:
    from . import prune, run_summary, runner

    variables = runner.run_vars(args.as_of, args.run_id, args.channel, args.vars,  # refused before anything is written
                                attributes=args.attributes)
    project = _project(args)
    as_json = args.output == "json"
    log = sys.stderr if as_json else sys.stdout  # --output json: stdout holds the JSON only
    quiet_dbt = args.quiet or args.quiet_dbt or as_json
    compiled: dict = {}
    with contextlib.ExitStack() as lock:  # taken by _compile before it writes, held until the summary
        eng = _compile(args, project, lock=lock, out=log, compiled=compiled)
        project.ensure_duckdb_folder()
        with contextlib.redirect_stdout(log):
            runner.ensure_deps(project, quiet=quiet_dbt)
            progress = None if args.quiet or not quiet_dbt else runner.Progress(log)
            built = runner.build(project, variables, select=args.select or "+tag:kaireon", quiet=quiet_dbt,
                                 exclude=args.exclude, threads=args.threads, full_refresh=args.full_refresh,
                                 progress=progress)
        print(built, file=log)
        flows, logged = run_summary.summary(project, eng, variables, compiled["flows"])
        stale = prune.stale_flows(compiled["changed"]["removed"], logged)
    if as_json:
        print(json.dumps({"build": built, "flows": [f.as_json() for f in flows],
                          "no_longer_in_config": stale}, indent=2, default=str))
    else:
        print("\n".join(line for f in flows for line in f.lines()))
    for line in prune.warning(stale):
        print(line, file=sys.stderr)
    return 0


def cmd_prune(args) -> int:
    from . import prune

    project = _project(args)
    compiled: dict = {}
    with contextlib.ExitStack() as lock:
        args.out = None
        eng = _compile(args, project, lock=lock, quiet=True, compiled=compiled)
        for line in prune.prune(project, eng, compiled["models"], compiled["flows"], args.yes, args.log_rows):
            print(line)
    return 0


def cmd_experiments(args) -> int:
    from .experiments.readout import cmd_experiments as experiments

    return experiments(args)


def cmd_discounts(args) -> int:
    from .discount_readout import cmd_discounts as discounts

    return discounts(args)
def cmd_report(args) -> int:
    from .report import cmd_report as report

    return report(args)


def cmd_init(args) -> int:
    from .scaffold import init_project

    for line in init_project(Path(args.project_dir).resolve(), package=args.package, force=args.force):
        print(line)
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kaireon", description=__doc__)
    p.add_argument("--version", action="version", version=f"kaireon {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, compile_opts=True):
        sp.add_argument("--project-dir", default=".", help="the dbt project (default: current directory)")
        sp.add_argument("--config", help="config folder (default: <project>/decisioning)")
        if compile_opts:
            sp.add_argument("--profiles-dir", help="folder of profiles.yml (default: as dbt looks it up)")
            sp.add_argument("--target", help="dbt target (default: the profile's)")
            sp.add_argument("--engine", help="compile for this engine instead of the target's type")
            sp.add_argument("--out", help="folder for the generated models (default: <project>/models/kaireon)")

    v = sub.add_parser("validate", help="check the config; writes nothing")
    common(v, compile_opts=False)
    v.add_argument("--engine", help="engine to compile for while checking (default duckdb)")
    v.set_defaults(func=cmd_validate)
    c = sub.add_parser("compile", help="write the dbt models for the config")
    common(c)
    c.set_defaults(func=cmd_compile)
    r = sub.add_parser("run", help="compile, dbt build, and print a summary of the decisions")
    common(r)
    r.add_argument("--as-of", help="timestamp to decide at, e.g. 2026-11-20T15:00:00Z (default: now)")
    r.add_argument("--run-id", help="run id (default: <flow key>@<as_of>)")
    r.add_argument("--channel", help="channel for flows without flowConfig.channel")
    r.add_argument("-s", "--select", nargs="+", action="extend",
                   help="dbt node selection, passed to dbt build (default: +tag:kaireon)")
    r.add_argument("--exclude", nargs="+", action="extend", help="nodes to exclude, passed to dbt build")
    r.add_argument("--threads", type=_positive_int, help="dbt threads (default: the profile's)")
    r.add_argument("--full-refresh", action="store_true",
                   help="rebuild incremental models (the decision log) and seeds from scratch")
    r.add_argument("--vars", help="dbt vars (YAML or JSON mapping), merged with kaireon's own kaireon_* vars")
    r.add_argument("--output", choices=("text", "json"), default="text", help="the summary's format (default text)")
    r.add_argument("--quiet-dbt", action="store_true",
                   help="hide dbt's own log lines; print one progress line per model instead")
    r.add_argument("--quiet", "-q", action="store_true", help="no dbt log lines and no progress; only the summary")
    r.add_argument("--attributes", help='run attributes as a JSON object, read as attributes.<name> in formulas, '
                                        'e.g. \'{"season": "winter"}\'')
    r.set_defaults(func=cmd_run)
    pr = sub.add_parser("prune", help="list (or, with --yes, drop) relations and log rows of flows no longer in the config")
    common(pr)
    pr.add_argument("--yes", action="store_true", help="drop them (default: a dry run that lists what would go)")
    pr.add_argument("--log-rows", action="store_true", help="also delete kaireon_decision_log rows of those flows")
    pr.set_defaults(func=cmd_prune)
    x = sub.add_parser("experiments", help="holdout readout: incremental revenue and conversion lift with intervals; per-creative A/B readout")
    common(x, compile_opts=False)
    x.add_argument("--profiles-dir", help="folder of profiles.yml (default: as dbt looks it up)")
    x.add_argument("--target", help="dbt target (default: the profile's)")
    x.add_argument("--engine", help="the target's engine, when it cannot be read from the profile")
    x.add_argument("--flow", help="only this flow (its key)")
    x.add_argument("--chart", help="also write a chart of the lift and its interval (.svg or .png)")
    x.set_defaults(func=cmd_experiments)
    dr = sub.add_parser("discounts", help="discount learner readout: conversion by discount tier and group")
    common(dr, compile_opts=False)
    dr.add_argument("--profiles-dir", help="folder of profiles.yml (default: as dbt looks it up)")
    dr.add_argument("--target", help="dbt target (default: the profile's)")
    dr.add_argument("--engine", help="the target's engine, when it cannot be read from the profile")
    dr.add_argument("--flow", help="only this flow (its key)")
    dr.set_defaults(func=cmd_discounts)
    rp = sub.add_parser("report", help="one self-contained HTML page of a run: funnel, decisions, rejections, "
                                       "experiment lift, Qini curves, learning curves")
    common(rp, compile_opts=False)
    rp.add_argument("--profiles-dir", help="folder of profiles.yml (default: as dbt looks it up)")
    rp.add_argument("--target", help="dbt target (default: the profile's)")
    rp.add_argument("--engine", help="the target's engine, when it cannot be read from the profile")
    rp.add_argument("--run", help="a run id (default: the latest build's run of each flow); an earlier run is read "
                                  "from kaireon_decision_log")
    rp.add_argument("--flow", help="only this flow (its key)")
    rp.add_argument("--out", help="the HTML file to write (default: <project>/reports/kaireon_report.html)")
    rp.set_defaults(func=cmd_report)
    i = sub.add_parser("init", help="scaffold a config folder and a DuckDB profile into a dbt project")
    i.add_argument("--project-dir", default=".", help="the dbt project (created if missing)")
    i.add_argument("--package", help="where this package is, for packages.yml (path or git URL; default: installed location)")
    i.add_argument("--force", action="store_true", help="overwrite scaffolded files that exist")
    i.set_defaults(func=cmd_init)
    from .uplift.cli import add_subcommands as add_uplift

    add_uplift(sub)
    from .train.cli import add_subcommand as add_train

    add_train(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except KaireonError as exc:
        print(f"kaireon {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
