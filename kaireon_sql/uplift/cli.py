"""`kaireon uplift fit | score | evaluate | sql`: the handlers behind the `uplift` subcommand.

Data is a CSV or Parquet file, or with --database a relation of a DuckDB database file.
`score` runs the model's scoring SQL (the same SELECT dbt would run) in DuckDB.
"""
from __future__ import annotations

import json
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path


class ForestDefaults:
    """forest.ForestParams' defaults, repeated here so that `kaireon --help` loads no numpy
    (tests/test_uplift_forest_cli.py checks they agree)."""

    n_trees, max_depth, min_leaf, criterion, sample_fraction = 200, 6, 100, "kl", 0.8


def add_subcommands(sub) -> None:
    """Register `uplift` and its subcommands on the main parser's subparsers."""
    up = sub.add_parser("uplift", help="fit, score and evaluate uplift models (treated vs holdout)")
    usub = up.add_subparsers(dest="uplift_command", required=True)

    def data(sp):
        sp.add_argument("--data", required=True, help="CSV or Parquet file, or a relation of --database")
        sp.add_argument("--database", help="DuckDB database file holding the --data relation")

    f = usub.add_parser("fit", help="fit a learner and save the model as JSON")
    data(f)
    f.add_argument("--treatment", required=True, help="0/1 column: 1 = got the offer, 0 = holdout")
    f.add_argument("--outcome", required=True, help="0/1 outcome column")
    f.add_argument("--features", nargs="+",
                   help="feature columns (default: every other column but ids, --post-treatment columns and columns "
                        "derived from the treatment or the outcome, each left out with a note)")
    f.add_argument("--post-treatment", nargs="+", default=[], metavar="COLUMN",
                   help="columns measured after the treatment (other outcomes, say): never default features")
    f.add_argument("--learner", choices=["t", "s", "x", "ct", "forest"], default="t",
                   help="t: two models, s: one model with treatment interactions, x: X-learner, "
                        "ct: class transformation, forest: uplift random forest")
    f.add_argument("--log-transform", choices=["auto", "none"], default="auto",
                   help="auto: strongly right-skewed non-negative numbers (Hillstrom's `history` spend, say) are "
                        "taken as ln(1 + x); none: every number as it is (default auto)")
    f.add_argument("--l2", default="1.0", help="L2 penalty on standardised coefficients, or 'auto' (inner CV); "
                                               "for the forest, the penalty of its explanation surrogate")
    forest = f.add_argument_group("forest learner")
    forest.add_argument("--trees", type=int, default=ForestDefaults.n_trees, help="trees (default %(default)s)")
    forest.add_argument("--depth", type=int, default=ForestDefaults.max_depth, help="maximum depth (default %(default)s)")
    forest.add_argument("--min-leaf", type=int, default=ForestDefaults.min_leaf,
                        help="fewest treated and fewest control rows in a leaf (default %(default)s)")
    forest.add_argument("--criterion", choices=["kl", "ddp", "ed"], default=ForestDefaults.criterion,
                        help="split criterion: kl (KL divergence), ddp (delta-delta-p), ed (Euclidean distance)")
    forest.add_argument("--max-features", type=int, help="encoded columns tried per node (default all)")
    forest.add_argument("--sample-fraction", type=float, default=ForestDefaults.sample_fraction,
                        help="share of the rows each tree draws (default %(default)s)")
    forest.add_argument("--not-honest", dest="honest", action="store_false",
                        help="estimate the leaves on the rows that chose the splits (default: the other half)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--min-per-arm", type=int, default=30, help="fewest rows per arm to fit (default 30)")
    f.add_argument("--target-uplift", type=float, default=0.20, help="persuadable from this uplift (default 0.20)")
    f.add_argument("--exclude-uplift", type=float, default=0.05, help="sure thing / lost cause below (default 0.05)")
    f.add_argument("--top-features", type=int, default=3, help="features named per prediction (default 3)")
    f.add_argument("--out", required=True, help="model file to write (JSON)")
    f.set_defaults(func=cmd_fit)

    s = usub.add_parser("score", help="score every row with the model's SQL (in DuckDB)")
    s.add_argument("--model", required=True)
    data(s)
    s.add_argument("--keep", nargs="*", help="columns to carry through (default: every non-feature column)")
    s.add_argument("--out", required=True, help="scores file: .csv or .parquet")
    s.set_defaults(func=cmd_score)

    e = usub.add_parser("evaluate", help="Qini, uplift AUC and uplift@k of the model on a table with outcomes")
    e.add_argument("--model", required=True)
    data(e)
    e.add_argument("--treatment", help="treatment column (default: the model's)")
    e.add_argument("--outcome", help="outcome column (default: the model's)")
    e.add_argument("--out", required=True, help="report file (JSON)")
    e.add_argument("--chart", help="Qini-curve chart to write (.svg or .png)")
    e.set_defaults(func=cmd_evaluate)

    q = usub.add_parser("sql", help="print the model's scoring SELECT for an engine")
    q.add_argument("--model", required=True)
    q.add_argument("--relation", required=True, help="feature relation: a dbt model/seed name or source('s', 't')")
    q.add_argument("--engine", default="duckdb")
    q.add_argument("--keep", nargs="*", default=["customer_id"], help="columns to carry through (default customer_id)")
    q.set_defaults(func=cmd_sql)


@contextmanager
def _reported_warnings(command: str):
    from .dataset import UpliftDataWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UpliftDataWarning)
        yield
    for w in caught:
        if issubclass(w.category, UpliftDataWarning):
            print(f"kaireon uplift {command}: warning: {w.message}", file=sys.stderr)


def cmd_fit(args) -> int:
    from .dataset import UpliftDataError, load_table
    from .forest import ForestParams
    from .learners import fit_uplift
    from .segments import Thresholds

    try:
        l2 = "auto" if args.l2 == "auto" else float(args.l2)
    except ValueError:
        raise UpliftDataError(f"--l2 must be a number or 'auto', got {args.l2!r}") from None
    try:
        thresholds = Thresholds(target_uplift=args.target_uplift, exclude_uplift=args.exclude_uplift)
    except ValueError as exc:
        raise UpliftDataError(str(exc)) from None
    forest = None
    if args.learner == "forest":
        forest = ForestParams(n_trees=args.trees, max_depth=args.depth, min_leaf=args.min_leaf, criterion=args.criterion,
                              max_features=args.max_features, sample_fraction=args.sample_fraction, honest=args.honest)
        forest.check()
    with _reported_warnings("fit"):
        table = load_table(args.data, args.database)
        model = fit_uplift(table, args.treatment, args.outcome, args.features, args.learner, l2=l2, seed=args.seed,
                           min_per_arm=args.min_per_arm, thresholds=thresholds, top_k=args.top_features,
                           log_skewed=args.log_transform == "auto", forest=forest,
                           post_treatment=tuple(args.post_treatment))
    model.save(args.out)
    tr = model.training
    mean_uplift = float(model.uplift(table).mean())
    shape = (f"{forest.n_trees} trees of depth <= {forest.max_depth}, min leaf {forest.min_leaf}, {forest.criterion}"
             if forest else f"l2={tr['l2']:g}")
    print(f"fitted {model.learner} learner on {tr['rows']} rows ({tr['treated']} treated, {tr['control']} control), "
          f"{len(model.features)} feature(s) ({', '.join(model.features)}), {shape}: observed uplift "
          f"{tr['outcome_rate_treated'] - tr['outcome_rate_control']:+.4f}, mean predicted {mean_uplift:+.4f}; "
          f"wrote {args.out}")
    return 0


def _columns(data: str, database: str | None) -> list[str]:
    from .dataset import UpliftDataError, connect, source_relation
    from sqlglot import exp

    con = connect(database)
    try:
        return [r[0] for r in con.execute("DESCRIBE " + exp.select("*").from_(source_relation(data)).sql("duckdb")).fetchall()]
    except Exception as exc:
        raise UpliftDataError(f"cannot read {data}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


def cmd_score(args) -> int:
    from sqlglot import exp

    from ..dialect import engine, render
    from .dataset import UpliftDataError, connect, source_relation
    from .model import UpliftModel
    from .scoring import OUTPUT_COLUMNS, check_columns, model_sql

    model = UpliftModel.load(args.model)
    if Path(args.data).suffix and not Path(args.data).exists():
        raise UpliftDataError(f"no such file: {args.data}")
    available = _columns(args.data, args.database)
    check_columns(model, available, args.data)
    keep = args.keep
    if keep is None:
        keep = [c for c in available if c not in model.features and c not in OUTPUT_COLUMNS]
        shadowed = [c for c in available if c in OUTPUT_COLUMNS]
        if shadowed:
            print(f"kaireon uplift score: warning: input column(s) {shadowed} not carried through: the scores have "
                  "columns of that name", file=sys.stderr)
    missing = [k for k in keep if k not in available]
    if missing:
        raise UpliftDataError(f"{args.data} has no column(s) {missing} to keep")
    eng = engine("duckdb")
    select = model_sql(model, source_relation(args.data), keep=tuple(keep))
    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise UpliftDataError(f"--out must end in .csv or .parquet, got {args.out}")
    con = connect(args.database)
    try:
        try:
            con.sql(render(select, eng, pretty=False)).to_table("kaireon_uplift_scores")
        except Exception as exc:  # duckdb.Error: a feature of the wrong type, say
            raise UpliftDataError(f"scoring failed: {str(exc).splitlines()[0]}") from None
        scores = exp.to_table("kaireon_uplift_scores")
        bad = exp.select(exp.func("COUNT", exp.Star())).from_(scores).where(
            exp.not_(exp.func("isfinite", exp.column("uplift"))))
        n_bad = con.execute(bad.sql("duckdb")).fetchall()[0][0]
        if n_bad:
            raise UpliftDataError(f"{n_bad} row(s) would get a non-finite uplift (infinite feature values?); nothing written")
        if out.suffix.lower() == ".csv":
            con.table("kaireon_uplift_scores").write_csv(str(out))
        else:
            con.table("kaireon_uplift_scores").write_parquet(str(out))
        counts = con.execute(exp.select("segment", exp.func("COUNT", exp.Star())).from_(scores.copy())
                             .group_by("segment").order_by("segment").sql("duckdb")).fetchall()
    finally:
        con.close()
    total = sum(n for _, n in counts)
    print(f"scored {total} rows with the {model.learner} learner into {args.out}: "
          + ", ".join(f"{seg} {n}" for seg, n in counts))
    return 0


def cmd_evaluate(args) -> int:
    from .chart import write_qini_chart
    from .dataset import MIN_PER_ARM, UpliftDataError, load_table, treatment_and_outcome
    from .metrics import evaluate, perfect_qini_curve, qini_curve
    from .model import UpliftModel

    model = UpliftModel.load(args.model)
    treatment, outcome = args.treatment or model.treatment, args.outcome or model.outcome
    if args.chart and not args.chart.lower().endswith((".svg", ".png")):
        raise UpliftDataError(f"charts are written as SVG or PNG; give --chart a .svg or .png name, not {args.chart}")
    with _reported_warnings("evaluate"):
        table = load_table(args.data, args.database)
        check_cols = [treatment, outcome] + model.features
        table.require(check_cols, "evaluation")
        t, y = treatment_and_outcome(table, treatment, outcome, min_per_arm=1)
        if min(t.sum(), len(t) - t.sum()) < MIN_PER_ARM:
            from .dataset import warn
            warn(f"only {int(t.sum())} treated and {int(len(t) - t.sum())} control rows; the metrics are very noisy")
        uplift = model.uplift(table)
        report = evaluate(y, uplift, t)
    report = {"model": {"file": str(args.model), "learner": model.learner, "treatment": treatment, "outcome": outcome,
                        "features": model.features}, "data": str(args.data), **report}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if args.chart:
        curves = {f"{model.learner} learner": qini_curve(y, uplift, t), "perfect": perfect_qini_curve(y, t)}
        write_qini_chart(args.chart, curves, f"Qini curve: {outcome} (Qini coefficient {report['qini_auc_score']:.3f})")
    at30 = report["uplift_at_k"].get("0.3", {}).get("overall")
    print(f"evaluated {model.learner} learner on {report['rows']} rows: Qini {report['qini_auc_score']:.4f}, "
          f"uplift AUC {report['uplift_auc_score']:.4f}, uplift@30% "
          f"{'n/a' if at30 is None else format(at30, '+.4f')}; wrote {args.out}"
          + (f" and {args.chart}" if args.chart else ""))
    return 0


def cmd_sql(args) -> int:
    from ..dialect import engine, render
    from .model import UpliftModel
    from .scoring import model_sql

    from .dataset import UpliftDataError

    model = UpliftModel.load(args.model)
    try:
        eng = engine(args.engine)
    except ValueError as exc:
        raise UpliftDataError(str(exc)) from None
    print(render(model_sql(model, args.relation, keep=tuple(args.keep)), eng))
    return 0
