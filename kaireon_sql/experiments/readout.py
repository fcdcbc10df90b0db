"""`kaireon experiments`: the holdout readout of seed 000 step 9, from the `kaireon_experiments` table.

The aggregates and test statistics are computed in the warehouse (sql/experiments.py); this
module reads one row per flow (the pooled row over every run whose outcome window has closed, plus
the per-run rows when there are several runs), adds the p-values with scipy, prints the readout
and optionally draws the lift chart. Undefined statistics (SQL NULL) print as "n/a", never NaN.

Exit status: 0 with a readout; 1 when there is nothing to analyse (no flow with an experiment, the
models not built, no run whose outcome window has closed); 2 when a readout was printed but an arm
is smaller than `minGroupSize` (the test is underpowered).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlglot import exp

from ..config.flows import MatchCreativesConfig, ScoreConfig
from ..errors import DbtRunError, KaireonError

SRM_ALPHA = 0.001
UNDERPOWERED = 2


class NothingToAnalyse(KaireonError):
    """No experiment, no built table, or no run whose outcome window has closed."""


def _float(value) -> float | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (Decimal, int, float)):
        out = float(value)
        return out if math.isfinite(out) else None
    return value


def p_two_sided(z: float | None) -> float | None:
    """Two-sided normal p-value of a z statistic."""
    if z is None:
        return None
    from scipy.stats import norm

    return float(2 * norm.sf(abs(z)))


def p_chi2_1df(stat: float | None) -> float | None:
    if stat is None:
        return None
    from scipy.stats import chi2

    return float(chi2.sf(stat, 1))


@dataclass
class Readout:
    """One row of kaireon_experiments with its p-values."""

    row: dict
    p_conversion: float | None = None
    p_revenue: float | None = None
    p_srm: float | None = None
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, name: str):
        return self.row.get(name)

    @property
    def underpowered(self) -> bool:
        return any((self[f"{g}_n"] or 0) < self["min_group_size"] for g in ("treatment", "holdout"))


def finish(row: dict) -> Readout:
    """p-values (scipy) and warnings for one summary row."""
    row = {k: _float(v) for k, v in row.items()}
    for k in ("treatment_n", "holdout_n", "treatment_conversions", "holdout_conversions", "runs", "min_group_size"):
        if row.get(k) is not None:
            row[k] = int(row[k])
    out = Readout(row, p_two_sided(row.get("z")), p_two_sided(row.get("welch_z")), p_chi2_1df(row.get("srm_chi2")))
    flow = row["decision_flow_key"]
    for g in ("treatment", "holdout"):
        n = row[f"{g}_n"]
        if n < row["min_group_size"]:
            out.warnings.append(
                f"warning: flow {flow!r}: the {g} arm has {n} customer(s), fewer than {row['min_group_size']} "
                "(experiment.minGroupSize): the test is underpowered; statistics that need both arms are n/a"
                if n == 0 else
                f"warning: flow {flow!r}: the {g} arm has {n} customers, fewer than {row['min_group_size']} "
                "(experiment.minGroupSize): the test is underpowered, read the intervals with care")
    if out.p_srm is not None and out.p_srm < SRM_ALPHA:
        share = row["expected_holdout_share"]
        total = row["treatment_n"] + row["holdout_n"]
        out.warnings.append(
            f"warning: flow {flow!r}: sample-ratio mismatch: {row['holdout_n']} of {total} customers in the holdout "
            f"({_pct(row['holdout_n'] / total)}), expected {_pct(share)}; chi-square {row['srm_chi2']:.2f}, "
            f"p = {_p(out.p_srm)} < {SRM_ALPHA}: check the assignment before trusting the lift")
    return out


# ---- formatting ------------------------------------------------------------------------------------

NA = "n/a"


def _money(x: float | None) -> str:
    if x is None:
        return NA
    return f"{'-' if x < 0 else ''}${abs(x):,.0f}"


def _cents(x: float | None) -> str:
    if x is None:
        return NA
    return f"{'-' if x < 0 else ''}${abs(x):,.2f}"


def _pct(x: float | None) -> str:
    return NA if x is None else f"{100 * x:.2f}%"


def _points(x: float | None) -> str:
    return NA if x is None else f"{100 * x:+.2f}"


def _num(x: float | None, digits: int = 2) -> str:
    return NA if x is None else f"{x:.{digits}f}"


def _p(p: float | None) -> str:
    if p is None:
        return NA
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def headline(r: Readout) -> str:
    """Seed 000 step 9: 'winback drives $X incremental revenue, 95% CI [$low, $high]'."""
    return (f"{r['decision_flow_key']} drives {_money(r['incremental_revenue'])} incremental revenue, "
            f"95% CI [{_money(r['incremental_revenue_low'])}, {_money(r['incremental_revenue_high'])}]")


def lines(r: Readout) -> list[str]:
    window = r["window_days"]
    window_text = f"{window:g} days"
    scope = (f"run {r['run_id']} (as_of {r['as_of']})" if r["analysis"] == "run"
             else f"{r['runs']} run(s) pooled, latest as_of {r['as_of']}")
    out = [
        headline(r),
        f"  {scope}; outcome '{r['outcome']}' within {window_text}, revenue = sum of '{r['revenue_outcome']}' value",
        f"  incremental revenue = (revenue per treated customer {_cents(r['treatment_revenue_per_customer'])} - "
        f"per holdout customer {_cents(r['holdout_revenue_per_customer'])}) x {r['treatment_n']} treated customers; "
        f"Welch z = {_num(r['welch_z'])}, p = {_p(r.p_revenue)}",
        f"  conversion: treatment {_pct(r['treatment_conversion_rate'])} ({r['treatment_conversions']}/{r['treatment_n']}, "
        f"Wilson 95% [{_pct(r['treatment_wilson_low'])}, {_pct(r['treatment_wilson_high'])}]) vs holdout "
        f"{_pct(r['holdout_conversion_rate'])} ({r['holdout_conversions']}/{r['holdout_n']}, "
        f"[{_pct(r['holdout_wilson_low'])}, {_pct(r['holdout_wilson_high'])}])",
        f"  conversion lift {_points(r['lift_abs'])} points, 95% CI [{_points(r['lift_low'])}, {_points(r['lift_high'])}], "
        f"relative {_pct(r['lift_rel'])}, z = {_num(r['z'])}, p = {_p(r.p_conversion)}",
    ]
    total = (r["treatment_n"] or 0) + (r["holdout_n"] or 0)
    share = _pct(r["holdout_n"] / total) if total else NA
    out.append(f"  sample ratio: {r['holdout_n']} of {total} in the holdout ({share}, expected "
               f"{_pct(r['expected_holdout_share'])}), chi-square {_num(r['srm_chi2'])}, p = {_p(r.p_srm)}")
    return out + r.warnings


# ---- per-model comparison (champion-challenger, overrides) -----------------------------------------

@dataclass
class ModelStat:
    """One model's treatment customers (pooled runs) and its test against the champion."""

    model_id: str | None
    customers: int
    conversions: int
    revenue_sum: float
    z: float | None = None
    p: float | None = None

    @property
    def conversion_rate(self) -> float | None:
        return self.conversions / self.customers if self.customers else None

    @property
    def value_per_customer(self) -> float | None:
        return self.revenue_sum / self.customers if self.customers else None


def two_proportion_z(x1: int, n1: int, x0: int, n0: int) -> float | None:
    """(p1 - p0) / sqrt(p (1 - p) (1/n1 + 1/n0)) with the pooled p; None when undefined."""
    if not n1 or not n0:
        return None
    pooled = (x1 + x0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    return None if se == 0 else (x1 / n1 - x0 / n0) / se


def model_stats(rows: list[dict], champion: str | None) -> tuple[str | None, list[ModelStat]]:
    """The reference model (the champion, else the first model with customers) and every model's stats,
    each challenger tested against the reference."""
    stats = [ModelStat(r["model_id"], int(r["customers"] or 0), int(r["conversions"] or 0),
                       float(_float(r["revenue_sum"]) or 0.0)) for r in rows]
    named = [m for m in stats if m.model_id is not None and m.customers]
    ids = [m.model_id for m in named]
    reference = champion if champion in ids else (ids[0] if ids else None)
    base = next((m for m in named if m.model_id == reference), None)
    for m in named:
        if base is not None and m is not base:
            m.z = two_proportion_z(m.conversions, m.customers, base.conversions, base.customers)
            m.p = p_two_sided(m.z)
    return reference, stats


def model_lines(reference: str | None, stats: list[ModelStat]) -> list[str]:
    if reference is None:
        return []
    out = [f"  per model (treatment customers, all runs pooled; tested against {reference!r}):"]
    for m in stats:
        test = "reference" if m.model_id == reference else f"z = {_num(m.z)}, p = {_p(m.p)}"
        out.append(f"    {m.model_id if m.model_id is not None else '(no model)'}: {m.customers} customers, conversion "
                   f"{_pct(m.conversion_rate)}, value per customer {_cents(m.value_per_customer)}"
                   + ("" if m.model_id is None else f"; {test}"))
    return out


# ---- per creative (match_creatives A/B variants) ----------------------------------------------------

@dataclass
class CreativeStat:
    """One creative of an offer: impressions (all runs up to as_of) with an attributed positive outcome, and
    its test against the offer's first variant by id (None for that reference and when undefined)."""

    offer_id: str
    creative_id: str
    impressions: int
    conversions: int
    difference: float | None = None  # rate - the reference's rate
    low: float | None = None  # 95% interval of the difference (unpooled normal approximation)
    high: float | None = None
    z: float | None = None  # pooled two-proportion z
    p: float | None = None  # two-sided

    @property
    def rate(self) -> float | None:
        return self.conversions / self.impressions if self.impressions else None


def difference_interval(x1: int, n1: int, x0: int, n0: int) -> tuple[float | None, float | None, float | None]:
    """p1 - p0 and its 95% interval (p1 - p0) +- z_0.975 sqrt(p1 (1 - p1) / n1 + p0 (1 - p0) / n0)."""
    if not n1 or not n0:
        return None, None, None
    from scipy.stats import norm

    p1, p0 = x1 / n1, x0 / n0
    half = float(norm.ppf(0.975)) * math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return p1 - p0, p1 - p0 - half, p1 - p0 + half


def creative_stats(rows: list[dict]) -> dict[str, list[CreativeStat]]:
    """Per offer, its creatives by id, each after the first tested against the first (the reference)."""
    by_offer: dict[str, list[CreativeStat]] = {}
    for r in rows:
        by_offer.setdefault(str(r["offer_id"]), []).append(
            CreativeStat(str(r["offer_id"]), str(r["creative_id"]), int(r["impressions"] or 0), int(r["conversions"] or 0)))
    for stats in by_offer.values():
        stats.sort(key=lambda s: s.creative_id)
        base = stats[0]
        for s in stats[1:]:
            s.difference, s.low, s.high = difference_interval(s.conversions, s.impressions, base.conversions,
                                                              base.impressions)
            s.z = two_proportion_z(s.conversions, s.impressions, base.conversions, base.impressions)
            s.p = p_two_sided(s.z)
    return dict(sorted(by_offer.items()))


def creative_lines(stats: dict[str, list[CreativeStat]], names: dict[str, str]) -> list[str]:
    if not stats:
        return []
    out = ["per creative (impressions with an attributed positive outcome; each variant against the offer's first "
           "by id):"]
    for offer, variants in stats.items():
        out.append(f"  offer {offer}:")
        for s in variants:
            head = f"    {s.creative_id} ({names.get(s.creative_id, '?')}): {s.impressions} impressions, conversion {_pct(s.rate)}"
            if s is variants[0]:
                out.append(head + "; reference")
                continue
            interval = (f"[{_points(s.low)}, {_points(s.high)}]" if s.low is not None else NA)
            out.append(head + f"; difference {_points(s.difference)} points {interval}, z = {_num(s.z)}, p = {_p(s.p)}")
    return out


# ---- chart ----------------------------------------------------------------------------------------

PANELS = (
    ("Conversion lift, treatment \u2212 holdout", "percentage points (95% interval)", "", "lift_abs", "lift_low",
     "lift_high", 100.0),
    ("Revenue per customer, treatment \u2212 holdout", "dollars per customer (95% interval)", "$", "revenue_diff",
     "revenue_diff_low", "revenue_diff_high", 1.0),
)


def _scaled(value, scale: float) -> float | None:
    return None if value is None else value * scale


def lift_figure(readouts: list[Readout]):
    """Lift and revenue difference per flow with their 95% intervals (kaireon_sql.charts, matplotlib)."""
    from .. import charts

    panels = []
    for title, xlabel, prefix, mid, low, high, scale in PANELS:
        rows = [charts.Interval(str(r["decision_flow_key"]), _scaled(r[mid], scale),
                                *((_scaled(r[low], scale), _scaled(r[high], scale))
                                  if r[low] is not None and r[high] is not None else (None, None)))
                for r in readouts]
        panels.append((title, xlabel, prefix, rows))
    return charts.interval_chart(panels)


def svg_chart(readouts: list[Readout]) -> str:
    """Lift and revenue difference per flow with their 95% intervals, as standalone SVG."""
    from .. import charts

    return charts.svg_text(lift_figure(readouts))


def write_chart(readouts: list[Readout], path: Path) -> None:
    from .. import charts

    if path.suffix.lower() not in charts.CHART_SUFFIXES:
        raise KaireonError(f"--chart {path}: expected a file name ending in .svg or .png")
    charts.save(lift_figure(readouts), path)


# ---- command --------------------------------------------------------------------------------------

def analysed_flows(config, flow_key: str | None) -> list[str]:
    """Keys of the flows with an experiment (enabled, holdoutPercent > 0), or the one asked for."""
    flows = [f for f in config.flows
             if f.definition.flow_config.experiment.enabled and f.definition.flow_config.experiment.holdout_percent > 0]
    if flow_key is not None:
        known = [f.key for f in config.flows]
        if flow_key not in known:
            raise NothingToAnalyse(f"no flow with key {flow_key!r}; the config has: {', '.join(known)}")
        flows = [f for f in flows if f.key == flow_key]
        if not flows:
            raise NothingToAnalyse(f"nothing to analyse: flow {flow_key!r} has no experiment (set "
                                   "flowConfig.experiment.enabled: true and holdoutPercent > 0)")
    if not flows:
        raise NothingToAnalyse("nothing to analyse: no flow has an experiment (flowConfig.experiment.enabled: true "
                               "with holdoutPercent > 0)")
    return [f.key for f in flows]


def read_rows(project, engine, keys: list[str]) -> list[dict]:
    from ..dialect import relation
    from ..runner import query

    col = lambda n: exp.column(n, quoted=True)  # noqa: E731
    select = (exp.select("*").from_(relation("kaireon_experiments"))
              .where(exp.In(this=col("decision_flow_key"), expressions=[exp.Literal.string(k) for k in keys]))
              .order_by(col("decision_flow_key"), col("analysis"), col("as_of"), col("run_id")))
    try:
        return query(project, select, engine)
    except DbtRunError as exc:
        raise NothingToAnalyse(f"cannot read kaireon_experiments ({exc}); build it first with `kaireon run`") from None


def champion_of(config, key: str) -> str | None:
    """The flow's champion: its score node's modelId (None without one)."""
    flow = next(f for f in config.flows if f.key == key)
    scores = [n.config for n in flow.definition.nodes if isinstance(n.config, ScoreConfig)]
    return scores[0].model_id if scores else None


def read_models(project, engine, config, keys: list[str]) -> dict[str, tuple[str | None, list[ModelStat]]]:
    """Per flow key: the reference model and the per-model stats of its treatment customers."""
    from ..plan.context import flow_model, model_slug
    from ..runner import query
    from ..sql.experiments import model_comparison

    out = {}
    for key in keys:
        try:
            rows = query(project, model_comparison(flow_model(model_slug(key), "experiment_units")), engine)
        except DbtRunError:
            continue
        out[key] = model_stats(rows, champion_of(config, key))
    return out


def report(rows: list[dict], keys: list[str],
           models: dict[str, tuple[str | None, list[ModelStat]]] | None = None) -> tuple[list[str], list[Readout], int]:
    """Printed lines, the readouts charted (one per flow) and the exit status."""
    out: list[str] = []
    charted: list[Readout] = []
    status = 0
    missing = []
    for key in keys:
        mine = [finish(r) for r in rows if r["decision_flow_key"] == key]
        pooled = [r for r in mine if r["analysis"] == "pooled"]
        if not pooled:
            missing.append(key)
            continue
        main = pooled[0]
        runs = [r for r in mine if r["analysis"] == "run"]
        if len(runs) == 1:  # one run: the pooled row is that run
            main = runs[0]
        if out:
            out.append("")
        out += lines(main)
        if len(runs) > 1:
            out.append("  per run:")
            for r in runs:
                out.append(f"    {r['run_id']}: {_money(r['incremental_revenue'])} [{_money(r['incremental_revenue_low'])}, "
                           f"{_money(r['incremental_revenue_high'])}], conversion lift {_points(r['lift_abs'])} points, "
                           f"n = {r['treatment_n']} / {r['holdout_n']}")
        out += model_lines(*(models or {}).get(key, (None, [])))
        charted.append(main)
        if main.underpowered:
            status = UNDERPOWERED
    if missing and not charted:
        raise NothingToAnalyse(
            f"nothing to analyse for {', '.join(repr(k) for k in missing)}: no run's outcome window has closed by the "
            "as_of of the last build (or no run decided for anyone); wait for the window (experiment.outcomeWindowDays) "
            "or give past runs in experiment.assignmentsRelation")
    for key in missing:
        out.append(f"note: flow {key!r}: nothing to analyse yet (no run's outcome window has closed)")
    return out, charted, status


def creative_flows(config, flow_key: str | None) -> list[str]:
    """Keys of the flows with a match_creatives node (the one asked for, when it has one)."""
    return [f.key for f in config.flows if any(isinstance(n.config, MatchCreativesConfig) for n in f.definition.nodes)
            and flow_key in (None, f.key)]


def read_creatives(project, engine, config) -> dict[str, list[CreativeStat]]:
    """Per offer, the per-creative readout over the attributed impressions (S8) of the config's creatives."""
    from ..runner import query
    from ..sql.attribution import attribution_sql
    from ..sql.experiments import creative_comparison

    select = creative_comparison(attribution_sql(config.interaction_history), [c.ref for c in config.all("creatives")])
    try:
        return creative_stats(query(project, select, engine))
    except DbtRunError as exc:
        raise NothingToAnalyse(f"cannot read the attributed impressions ({exc}); build the project first with "
                               "`kaireon run`") from None


def _creative_report(project, eng, config, flow_key: str | None) -> list[str]:
    if not creative_flows(config, flow_key):
        return []
    names = {c.ref: c.name for c in config.all("creatives")}
    return creative_lines(read_creatives(project, eng, config), names) or [
        "per creative: no impression of a creative yet (interaction history rows with a creative_id)"]


def cmd_experiments(args) -> int:
    from ..cli import _load, _project
    from ..dialect import engine

    project = _project(args)
    config = _load(args, project)
    eng = engine(args.engine or project.engine_name())
    creatives = _creative_report(project, eng, config, args.flow)
    try:
        keys = analysed_flows(config, args.flow)
    except NothingToAnalyse:
        if not creatives:
            raise
        print("\n".join(creatives))  # a flow with creatives and no holdout: the A/B readout alone
        return 0
    rows = read_rows(project, eng, keys)
    out, charted, status = report(rows, keys, read_models(project, eng, config, keys))
    print("\n".join(out + ([""] if out and creatives else []) + creatives))
    if args.chart:
        path = Path(args.chart)
        write_chart(charted, path)
        print(f"chart: {path}")
    return status
