"""`kaireon report`: one self-contained HTML page of a run, read from the run's tables.

Sections: the funnel, decisions per offer and channel, the top rejection reasons (per flow); the
experiment lift with its 95% intervals (kaireon_experiments, as `kaireon experiments` reads it); the
Qini curve of each uplift model that scores a flow with a holdout; the learning curves of the models
that learn in the warehouse (an online_learner's state versions, a posterior's per-offer rates). A
section with nothing to show says why. Charts are inline SVG (kaireon_sql.charts, matplotlib); the
page has its CSS inline and loads nothing from the network.

Every value read from the warehouse (offer names, rule names, reasons, flow keys, run ids) is
untrusted: it is HTML-escaped on the page and drawn as escaped text in the SVG.

Data is read with `dbt show` (runner.query, any adapter; target/run_results.json stays the build's),
one query per kind of table: the funnel, the grouped counts (run_summary.counts_query), the experiments,
and one per uplift or learning model.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlglot import exp

from . import charts, runner
from .compiler import compile_project
from .config.flows import ScoreConfig
from .config.models import BAYESIAN, EPSILON_GREEDY, ONLINE_LEARNER, THOMPSON_BANDIT
from .dialect import engine, relation
from .errors import DbtRunError, KaireonError
from .experiments import readout
from .plan.build_order import flows_in_order
from .plan.context import flow_model, model_slug
from .plan.engine import model_relation
from .plan.uplift import scores_model_name
from .run_summary import counts_query, funnel_query
from .uplift.chart import qini_figure
from .uplift.metrics import perfect_qini_curve, qini_auc_score, qini_curve

TOP_REASONS = 10
SMALL_IN = 6.2  # width of the charts that sit beside their table, inches
POSTERIOR_TYPES = (BAYESIAN, EPSILON_GREEDY, THOMPSON_BANDIT)
FUNNEL_STEPS = (("customers", "customers"), ("total_candidates", "candidates"),
                ("after_qualification", "after qualification"), ("after_contact_policy", "after contact policy"),
                ("decided", "decisions"), ("withheld", "withheld (holdout)"))


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _int(value) -> int:
    return 0 if value is None else int(value)


# ---- what the page shows ---------------------------------------------------------------------------

@dataclass
class FlowSection:
    """One flow of the run: its funnel row (None when only the decision log has the run) and counts."""

    flow: str
    run_id: str | None
    funnel: dict | None
    offers: list[tuple[str, str, int]] = field(default_factory=list)  # (offer_id, offer_name, decisions)
    channels: list[tuple[str, int]] = field(default_factory=list)
    reasons: list[tuple[str, str, int]] = field(default_factory=list)  # (stage, reason, candidates)
    note: str | None = None  # why a part is missing (an earlier run: funnel and rejections not kept)


@dataclass
class Qini:
    model: str
    flow: str
    rows: int
    treated: int
    coefficient: float | None
    curves: dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass
class Learning:
    model: str
    model_type: str
    kind: str  # "online" (state versions) or "posterior" (per offer, this build)
    rows: list[dict]


@dataclass
class Report:
    project: str
    run: str | None
    flows: list[FlowSection]
    lift: list[readout.Readout] = field(default_factory=list)
    lift_lines: list[str] = field(default_factory=list)
    lift_note: str | None = None
    qini: list[Qini] = field(default_factory=list)
    qini_notes: list[str] = field(default_factory=list)
    learning: list[Learning] = field(default_factory=list)
    learning_notes: list[str] = field(default_factory=list)


# ---- queries ---------------------------------------------------------------------------------------

def qini_query(training: str, scores: str) -> exp.Select:
    """treatment, outcome (the flow's holdout units, window closed) and the model's uplift per customer."""
    return (exp.select(_col("treatment", "t"), _col("outcome", "t"), _col("uplift", "s"))
            .from_(relation(training).as_("t"))
            .join(relation(scores).as_("s"), on=exp.EQ(this=_col("customer_id", "t"), expression=_col("customer_id", "s")))
            .order_by(_col("customer_id", "t"), _col("run_id", "t")))


def state_query(state: str) -> exp.Select:
    return (exp.select(*[_col(c) for c in ("as_of", "update_n", "kind", "term", "coefficient", "rows")])
            .from_(relation(state)).order_by(_col("update_n"), _col("kind"), _col("term")))


def posterior_query(posterior: str) -> exp.Select:
    return (exp.select(*[_col(c) for c in ("offer_id", "n", "k", "propensity")])
            .from_(relation(posterior)).order_by(_col("offer_id")))


def log_counts_query(run: str) -> exp.Select:
    """Per flow, offer and channel of run `run` in kaireon_decision_log: decisions and withheld rows."""
    delivered = _col("delivered")
    return (exp.select(_col("decision_flow_key"), _col("run_id"), _col("offer_id"), _col("offer_name"), _col("channel"),
                       exp.alias_(exp.func("SUM", exp.case().when(delivered, exp.Literal.number(1))
                                           .else_(exp.Literal.number(0))), "decided", quoted=True),
                       exp.alias_(exp.func("SUM", exp.case().when(delivered, exp.Literal.number(0))
                                           .else_(exp.Literal.number(1))), "withheld", quoted=True))
            .from_(relation("kaireon_decision_log"))
            .where(exp.EQ(this=_col("run_id"), expression=exp.Literal.string(run)))
            .group_by(*[_col(c) for c in ("decision_flow_key", "run_id", "offer_id", "offer_name", "channel")]))


# ---- assembling ------------------------------------------------------------------------------------

def flow_sections(funnel: list[dict], counts: list[dict], order: list[str]) -> list[FlowSection]:
    """One section per funnel row, flows in `order` (build order) first."""
    rank = {key: i for i, key in enumerate(order)}
    out = []
    for f in sorted(funnel, key=lambda r: (rank.get(r["decision_flow_key"], len(rank)), str(r["decision_flow_key"]))):
        key = f["decision_flow_key"]
        mine = [c for c in counts if c["flow"] == key]
        of = lambda kind: sorted((c for c in mine if c["kind"] == kind),  # noqa: E731
                                 key=lambda c: (-int(c["n"]), str(c["k1"]), str(c["k2"])))
        out.append(FlowSection(
            flow=key, run_id=f.get("run_id"), funnel=f,
            offers=[(c["k1"], c["k2"], int(c["n"])) for c in of("offer")],
            channels=[(c["k1"], int(c["n"])) for c in of("channel")],
            reasons=[(c["k1"], c["k2"], int(c["n"])) for c in of("reason")][:TOP_REASONS]))
    return out


def log_sections(rows: list[dict], run: str, latest: dict[str, str]) -> list[FlowSection]:
    """Sections of an earlier run, from the decision log: decisions per offer and channel only."""
    out = []
    for key in sorted({r["decision_flow_key"] for r in rows}):
        mine = [r for r in rows if r["decision_flow_key"] == key]
        offers: dict[tuple[str, str], int] = {}
        channels: dict[str, int] = {}
        for r in mine:
            offers[(r["offer_id"], r["offer_name"])] = offers.get((r["offer_id"], r["offer_name"]), 0) + _int(r["decided"])
            channels[r["channel"]] = channels.get(r["channel"], 0) + _int(r["decided"])
        section = FlowSection(
            flow=key, run_id=run, funnel=None,
            offers=sorted(((o, n, c) for (o, n), c in offers.items() if c), key=lambda t: (-t[2], str(t[0]))),
            channels=sorted(((ch, c) for ch, c in channels.items() if c), key=lambda t: (-t[1], str(t[0]))))
        section.note = (f"Run {run} is not the latest build's run of flow {key} ({latest.get(key, 'none')}): the "
                        "funnel and the rejections are kept for the latest run only (kaireon_funnel, kaireon_rejections); "
                        f"its decisions ({sum(_int(r['decided']) for r in mine)}) and withheld decisions "
                        f"({sum(_int(r['withheld']) for r in mine)}) are read from kaireon_decision_log.")
        out.append(section)
    return out


def qini_of(model: str, flow: str, rows: list[dict]) -> Qini | str:
    """The model's Qini curve over the flow's holdout units, or why there is none."""
    t = np.array([_int(r["treatment"]) for r in rows], dtype=float)
    y = np.array([_int(r["outcome"]) for r in rows], dtype=float)
    u = np.array([float(r["uplift"]) for r in rows], dtype=float)
    treated = int(t.sum())
    if not len(rows) or treated in (0, len(rows)):
        return (f"Uplift model {model} scores flow {flow}, but the flow has {treated} treated and {len(rows) - treated} "
                "holdout units whose outcome window has closed: a Qini curve needs both groups.")
    curves = {f"model {model}": qini_curve(y, u, t), "perfect": perfect_qini_curve(y, t)}
    return Qini(model, flow, len(rows), treated, float(qini_auc_score(y, u, t)), curves)


# ---- reading the warehouse -------------------------------------------------------------------------

def _flow_experiments(config, keys: list[str]) -> list[str]:
    return [f.key for f in config.flows if f.key in keys and f.definition.flow_config.experiment.enabled
            and f.definition.flow_config.experiment.holdout_percent > 0]


def read_lift(report: Report, project, eng, config, keys: list[str]) -> None:
    flows = _flow_experiments(config, keys)
    if not flows:
        report.lift_note = ("No flow of this run has an experiment (flowConfig.experiment.enabled: true with "
                            "holdoutPercent > 0): there is no holdout to measure a lift against.")
        return
    try:
        lines, report.lift, _status = readout.report(readout.read_rows(project, eng, flows), flows)
    except readout.NothingToAnalyse as exc:
        report.lift_note = str(exc)
        return
    report.lift_lines = lines


def _score_model_ids(flow) -> list[str]:
    return [n.config.model_id for n in flow.definition.nodes
            if isinstance(n.config, ScoreConfig) and n.config.model_id]


def read_qini(report: Report, project, eng, config, keys: list[str], built: set[str]) -> None:
    uplift = {m.ref: m for m in config.all("algorithmModels") if m.model_type == "uplift" and m.status == "active"}
    experiments = set(_flow_experiments(config, keys))
    for flow in (f for f in config.flows if f.key in keys):
        for model_id in (m for m in _score_model_ids(flow) if m in uplift):
            scores, training = scores_model_name(uplift[model_id]), flow_model(model_slug(flow.key), "uplift_training")
            if flow.key not in experiments or training not in built:
                report.qini_notes.append(f"Uplift model {model_id} scores flow {flow.key}, which has no experiment: "
                                         "there is no holdout to evaluate the model against.")
                continue
            try:
                got = qini_of(model_id, flow.key, runner.query(project, qini_query(training, scores), eng))
            except DbtRunError as exc:
                got = f"Cannot read {training} and {scores} ({exc}); build them with `kaireon run`."
            (report.qini_notes.append(got) if isinstance(got, str) else report.qini.append(got))
    if not report.qini and not report.qini_notes:
        report.qini_notes.append("No uplift model: no active algorithm model with modelType: uplift scores a flow "
                                 "of this run.")


def _learning_relation(model, built: set[str]) -> tuple[str, str] | None:
    if model.model_type == ONLINE_LEARNER and model_relation(model, "state") in built:
        return "online", model_relation(model, "state")
    if model.model_type in POSTERIOR_TYPES and model_relation(model, "posterior") in built:
        return "posterior", model_relation(model, "posterior")
    return None


def read_learning(report: Report, project, eng, config, built: set[str]) -> None:
    for model in config.all("algorithmModels"):
        found = _learning_relation(model, built)
        if found is None:
            continue
        kind, name = found
        try:
            rows = runner.query(project, state_query(name) if kind == "online" else posterior_query(name), eng)
        except DbtRunError as exc:
            report.learning_notes.append(f"Cannot read {name} ({exc}); build it with `kaireon run`.")
            continue
        report.learning.append(Learning(model.ref, model.model_type, kind, rows))
    if not report.learning and not report.learning_notes:
        report.learning_notes.append(
            "No learning model: no flow of this config scores with a model that learns in the warehouse "
            "(modelType online_learner, bayesian, epsilon_greedy or thompson_bandit).")


def gather(project, eng, config, run: str | None = None, flow: str | None = None) -> Report:
    """Everything the page shows, read from the warehouse."""
    order = [f.key for f in flows_in_order(config.flows)]
    if flow is not None and flow not in order:
        raise KaireonError(f"--flow {flow!r}: no flow with that key; the config has: {', '.join(order)}")
    built = {m.name for m in compile_project(config)}
    try:
        funnel = runner.query(project, funnel_query(), eng)
    except DbtRunError as exc:
        raise KaireonError(f"cannot read kaireon_funnel ({exc}); build the project first with `kaireon run`") from None
    funnel = [f for f in funnel if flow in (None, f["decision_flow_key"])]
    latest = {f["decision_flow_key"]: f["run_id"] for f in funnel}
    current = [f for f in funnel if run in (None, f["run_id"])]
    if current:
        sections = flow_sections(current, runner.query(project, counts_query(), eng), order)
    elif run is not None:
        rows = [r for r in runner.query(project, log_counts_query(run), eng) if flow in (None, r["decision_flow_key"])]
        if not rows:
            raise KaireonError(f"--run {run!r}: no such run in kaireon_funnel (latest runs: "
                               f"{', '.join(sorted(map(str, latest.values()))) or 'none'}) or kaireon_decision_log")
        sections = log_sections(rows, run, latest)
    else:
        raise KaireonError("kaireon_funnel has no rows" + (f" for flow {flow!r}" if flow else "")
                           + "; build the project first with `kaireon run`")
    keys = [s.flow for s in sections]
    report = Report(str(project.project_yml().get("name") or project.root.name), run, sections)
    read_lift(report, project, eng, config, keys)
    read_qini(report, project, eng, config, keys, built)
    read_learning(report, project, eng, config, built)
    return report


# ---- the page --------------------------------------------------------------------------------------

def e(value) -> str:
    """HTML text of any value (quotes too: safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


CSS = """
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;margin:0;background:#f8f9fa;color:#212529}
header{background:#343a40;color:#fff;padding:18px 32px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.9}main{max-width:1100px;margin:0 auto;padding:8px 32px 40px}
section{background:#fff;border:1px solid #dee2e6;border-radius:6px;margin:18px 0;padding:14px 20px}
h2{font-size:18px;margin:4px 0 10px}h3{font-size:15px;margin:14px 0 6px}
.chart{margin:8px 0}.chart svg{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}td,th{border-bottom:1px solid #e9ecef;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f1f3f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#495057;background:#f1f3f5;border-left:4px solid #adb5bd;padding:8px 12px;margin:8px 0}
.warn{color:#862e9c}pre{font-size:12px;white-space:pre-wrap;background:#f8f9fa;padding:8px}
.pair{display:flex;gap:20px;align-items:flex-start;flex-wrap:wrap}.pair .chart{flex:0 0 auto;max-width:620px}
"""


def _pair(chart: str, table: str) -> str:
    return f'<div class="pair">{chart}{table}</div>'


def _chart(fig, name: str) -> str:
    """A chart as inline SVG (its element ids salted by `name`, so charts of one page never share ids)."""
    return f'<div class="chart" data-chart="{e(name)}">{charts.inline_svg(fig, salt=name)}</div>'


def _empty(text: str) -> str:
    return f'<p class="empty">{e(text)}</p>'


def _table(head: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    out = ["<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f'<td class="n">{e(v)}</td>' if i in numeric else f"<td>{e(v)}</td>"
                                     for i, v in enumerate(r)) + "</tr>")
    return "".join(out) + "</table>"


def _funnel_html(s: FlowSection, slug: str) -> str:
    if s.funnel is None:
        return _empty(s.note or "No funnel row for this run.")
    steps = [(label, _int(s.funnel.get(key))) for key, label in FUNNEL_STEPS]
    fig = charts.bar_chart([label for label, _ in steps], [n for _, n in steps], f"Funnel: flow {s.flow}", "rows",
                           label_width=24, width_in=SMALL_IN)
    extra = [("customers in the holdout", _int(s.funnel.get("holdout_customers")))]
    return _pair(_chart(fig, f"funnel-{slug}"), _table(["step", "count"], [list(r) for r in steps + extra], {1}))


def _decisions_html(s: FlowSection, slug: str) -> str:
    if not s.offers:
        why = ("No decisions in this run: every candidate was rejected, ranked out or withheld"
               + (f" ({_int(s.funnel.get('after_contact_policy'))} candidates after contact policy, "
                  f"{_int(s.funnel.get('withheld'))} withheld)" if s.funnel else "") + "; see the rejection reasons.")
        return _empty(why)
    offers = charts.bar_chart([f"{name} ({oid})" for oid, name, _ in s.offers], [n for _, _, n in s.offers],
                              f"Decisions per offer: flow {s.flow}", "decisions", width_in=SMALL_IN)
    channels = charts.bar_chart([c for c, _ in s.channels], [n for _, n in s.channels],
                                f"Decisions per channel: flow {s.flow}", "decisions", label_width=24, width_in=SMALL_IN)
    return (_pair(_chart(offers, f"offers-{slug}"),
                  _table(["offer", "name", "decisions"], [[o, name, n] for o, name, n in s.offers], {2}))
            + _pair(_chart(channels, f"channels-{slug}"),
                    _table(["channel", "decisions"], [[c, n] for c, n in s.channels], {1})))


def _reasons_html(s: FlowSection, slug: str) -> str:
    if s.funnel is None:
        return ""
    if not s.reasons:
        return _empty("No candidate was rejected in this run (kaireon_rejections has no row for this flow, or its "
                      "flowConfig keeps no rejection rows).")
    fig = charts.bar_chart([f"[{stage}] {reason}" for stage, reason, _ in s.reasons], [n for _, _, n in s.reasons],
                           f"Top rejection reasons: flow {s.flow}", "candidates rejected", label_width=44)
    return _chart(fig, f"reasons-{slug}") + _table(["stage", "reason", "candidates"], [list(r) for r in s.reasons], {2})


def _flow_html(s: FlowSection, index: int) -> str:
    slug = f"{index}"
    head = f'<section data-flow="{e(s.flow)}"><h2>Flow {e(s.flow)}</h2><p>run {e(s.run_id)}'
    if s.funnel is not None:
        head += f", as_of {e(s.funnel.get('as_of'))}, flow version {e(s.funnel.get('decision_flow_version'))}"
    head += "</p>"
    return (head + "<h3>Funnel</h3>" + _funnel_html(s, slug) + "<h3>Decisions per offer and channel</h3>"
            + _decisions_html(s, slug) + ("<h3>Top rejection reasons</h3>" if s.funnel is not None else "")
            + _reasons_html(s, slug) + "</section>")


def _lift_html(r: Report) -> str:
    out = ['<section id="experiments"><h2>Experiment lift (treatment vs holdout, 95% intervals)</h2>']
    if not r.lift:
        return "".join(out) + _empty(r.lift_note or "Nothing to analyse.") + "</section>"
    out.append(_chart(readout.lift_figure(r.lift), "lift"))
    rows = [[x["decision_flow_key"], x["analysis"], f"{x['treatment_n']} / {x['holdout_n']}",
             readout._points(x["lift_abs"]), f"[{readout._points(x['lift_low'])}, {readout._points(x['lift_high'])}]",
             readout._p(x.p_conversion), readout._money(x["incremental_revenue"]),
             f"[{readout._money(x['incremental_revenue_low'])}, {readout._money(x['incremental_revenue_high'])}]",
             readout._p(x.p_revenue)] for x in r.lift]
    out.append(_table(["flow", "rows", "treated / holdout", "conversion lift (points)", "95% interval", "p",
                       "incremental revenue", "95% interval", "p"], rows, {2, 3, 5, 6, 8}))
    out.append("<pre>" + e("\n".join(r.lift_lines)) + "</pre>")
    return "".join(out) + "</section>"


def _qini_html(r: Report) -> str:
    out = ['<section id="uplift"><h2>Uplift: Qini curves</h2>']
    for i, q in enumerate(r.qini):
        title = f"Qini curve: model {q.model} on flow {q.flow}'s holdout units (Qini coefficient {q.coefficient:.3f})"
        out.append(_chart(qini_figure(q.curves, title), f"qini-{i}"))
        out.append(f"<p>{e(q.rows)} units whose outcome window has closed ({e(q.treated)} treated, "
                   f"{e(q.rows - q.treated)} holdout), scored with today's customer features; when the model was fitted on "
                   "these units the curve is in-sample (optimistic).</p>")
    out += [_empty(n) for n in r.qini_notes]
    return "".join(out) + "</section>"


def _online_html(m: Learning, i: int) -> str:
    versions = sorted({_int(x["update_n"]) for x in m.rows})
    intercepts: dict[str, dict[int, float]] = {}
    for x in m.rows:
        if x["kind"] == "intercept" and x["coefficient"] is not None:
            intercepts.setdefault(str(x["term"]), {})[_int(x["update_n"])] = float(x["coefficient"])
    series = [charts.Series(f"intercept {term}", list(v), list(v.values()), markers=True)
              for term, v in sorted(intercepts.items())]
    out = []
    if series:
        out.append(_chart(charts.line_chart(series, f"Learning curve: model {m.model} (online_learner), offer "
                                                    "intercepts per state version", "state version (one per run)",
                                            "intercept", integer_x=True), f"learning-{i}"))
    rows = {}
    for x in m.rows:
        rows[_int(x["update_n"])] = [_int(x["update_n"]), x["as_of"], _int(x["rows"])]
    out.append(_table(["version", "as_of", "impressions learned from"], [rows[v] for v in versions], {0, 2}))
    if len(versions) < 2:
        out.append(_empty(f"Model {m.model} has {len(versions)} state version(s): a curve needs two runs or more."))
    return "".join(out)


def _posterior_html(m: Learning, i: int) -> str:
    rows = [x for x in m.rows if x["propensity"] is not None]
    if not rows:
        return _empty(f"Model {m.model}'s posterior has no row.")
    fig = charts.bar_chart([str(x["offer_id"]) for x in rows], [float(x["propensity"]) for x in rows],
                           f"Posterior propensity per offer: model {m.model} ({m.model_type}), this build",
                           "propensity (shrunk rate)", label_width=30, integer=False)
    table = _table(["offer", "impressions n", "positives k", "propensity"],
                   [[x["offer_id"], _int(x["n"]), _int(x["k"]), f"{float(x['propensity']):.4f}"] for x in rows], {1, 2, 3})
    return (_chart(fig, f"learning-{i}") + table + _empty(
        "A posterior is recomputed on each build from the impressions of its window; the warehouse keeps the "
        "latest only, so this is the current state rather than a curve over runs."))


def _learning_html(r: Report) -> str:
    out = ['<section id="learning"><h2>Learning</h2>']
    for i, m in enumerate(r.learning):
        out.append(f"<h3>Model {e(m.model)} ({e(m.model_type)})</h3>")
        out.append(_online_html(m, i) if m.kind == "online" else _posterior_html(m, i))
    out += [_empty(n) for n in r.learning_notes]
    return "".join(out) + "</section>"


def page(r: Report) -> str:
    """The whole page: inline CSS and SVG, no script, nothing fetched."""
    runs = ", ".join(str(s.run_id) for s in r.flows)
    body = "".join(_flow_html(s, i) for i, s in enumerate(r.flows)) + _lift_html(r) + _qini_html(r) + _learning_html(r)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\">"
            f"<title>kaireon report: {e(r.project)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>kaireon report: {e(r.project)}</h1><p>{e(len(r.flows))} flow(s); run(s) {e(runs)}</p></header>"
            f"<main>{body}</main></body></html>\n")


# ---- command ---------------------------------------------------------------------------------------

DEFAULT_OUT = "reports/kaireon_report.html"


def cmd_report(args) -> int:
    from .cli import _load, _project  # lazy: cli imports this module's command lazily too

    project = _project(args)
    config = _load(args, project)
    eng = engine(args.engine or project.engine_name())
    data = gather(project, eng, config, run=args.run, flow=args.flow)
    out = Path(args.out) if args.out else project.root / DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(data), encoding="utf-8")
    print(f"report: {out} ({len(data.flows)} flow(s), {len(data.lift)} experiment(s), {len(data.qini)} Qini curve(s), "
          f"{len(data.learning)} learning model(s))")
    return 0
