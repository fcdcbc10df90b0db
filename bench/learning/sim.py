"""Learning from outcomes on simulated ground truth: cumulative regret of scoring policies over daily runs.

    python bench/learning/sim.py                      # 5 policies + oracle, 30 days, 5,000 customers
    python bench/learning/sim.py --policies formula,random,oracle --days 5 --customers 500

The simulated world (all of it deterministic from --seed):
- segments s1..sS, offers o1..oK; a true conversion rate for every (offer, segment): per segment a
  best rate in [8%, 12%] and the other offers below it by gaps drawn in [0.3, 6] points (so the
  second best is often within a point of the best); which offer is best is drawn per segment;
- N customers, each in one segment (`customer.segment`), each decided every day;
- each segment has its own copy of the K offers (`o3_s2` is offer o3 for segment s2, category `o3`);
  a filter node joins a customer to the copies of its segment. So an engine that keeps statistics
  per offer (S8's thompson_bandit and epsilon_greedy do) has one arm per (offer, segment), and the
  bayesian hierarchy shrinks a segment's rate toward the same offer's rate over all segments.

Each policy (bench/learning/policies.yml) is a score node config plus the algorithmModels it names;
the simulator writes one dbt project per policy into --work and, for day d = 0 .. days-1:
1. `dbt build --select +tag:kaireon --exclude resource_type:test` with as_of = start + d days
   (through dbt's Python runner as `kaireon run` does; `--via cli` runs `kaireon run --as-of` instead);
2. reads `kaireon_decisions` (topN 1: one offer per customer);
3. draws each decided customer's outcome from the truth: convert iff u < p(segment, offer), with
   u uniform per (seed, day, customer), the same u for every policy (common random numbers);
4. appends an `impression` row (as_of + 1 h) per decision and a `convert` row (as_of + 3 h) per
   conversion to the interaction history, which the next run reads.

Regret of day d = sum over customers of p*(segment) - p(segment, offer decided), p* the best true
rate of the customer's segment (the best-in-hindsight policy); a customer the run decides nothing for
counts p*. This is the expected (pseudo-)regret, not the noisier realised one; realised conversions
are reported next to it. Writes --out/regret.json (per-day regret per policy) and --out/regret.png.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
POLICIES_FILE = HERE / "policies.yml"
START = datetime(2026, 11, 1, 12, 0, 0)  # as_of of day 0 (UTC)
SINCE = START - timedelta(days=1)        # customer.since: days_since(customer.since) = day + 1
FLOW_KEY = "learn"
DEFAULT_POLICIES = ("formula", "random", "oracle", "bayesian", "epsilon_greedy", "thompson_bandit")


# ---------------------------------------------------------------- the truth
@dataclass(frozen=True)
class Truth:
    segments: tuple[str, ...]
    offers: tuple[str, ...]
    rates: np.ndarray          # [segment, offer]
    priority: tuple[int, ...]  # per base offer: what the formula score ranks by
    business_value: tuple[int, ...]
    offer_rnd: np.ndarray      # [segment, offer] random integers < 2^25 (the random policy's hash)

    @property
    def best(self) -> np.ndarray:
        return self.rates.max(axis=1)

    def offer_id(self, s: int, k: int) -> str:
        return f"{self.offers[k]}_{self.segments[s]}"

    def as_dict(self) -> dict:
        return {
            "segments": list(self.segments), "offers": list(self.offers),
            "rates": {seg: {o: round(float(self.rates[s, k]), 6) for k, o in enumerate(self.offers)}
                      for s, seg in enumerate(self.segments)},
            "best_offer": {seg: self.offers[int(self.rates[s].argmax())] for s, seg in enumerate(self.segments)},
            "priority": dict(zip(self.offers, self.priority)),
            "businessValue": dict(zip(self.offers, self.business_value)),
        }


def make_truth(seed: int, n_segments: int = 3, n_offers: int = 8, best_lo: float = 0.08, best_hi: float = 0.12,
               gap_min: float = 0.003, gap_max: float = 0.06) -> Truth:
    """Per segment: a best rate in [best_lo, best_hi], the other offers below it by gaps drawn in
    [gap_min, gap_max]; which offer is best is drawn per segment (a random permutation), so no offer id
    or business field tells it. Priority and businessValue are drawn independently of the rates."""
    if best_lo - gap_max <= 0:
        raise ValueError("best_lo - gap_max must stay above 0: a rate must be a probability")
    rng = np.random.default_rng([seed, 1])
    rates = np.empty((n_segments, n_offers))
    for s in range(n_segments):
        best = rng.uniform(best_lo, best_hi)
        gaps = np.concatenate([[0.0], np.sort(rng.uniform(gap_min, gap_max, n_offers - 1))])
        rates[s, rng.permutation(n_offers)] = best - gaps
    priority = tuple(int(x) for x in rng.integers(20, 90, n_offers))
    value = tuple(int(x) for x in rng.integers(20, 90, n_offers))
    offer_rnd = rng.integers(1, 2 ** 25, (n_segments, n_offers))
    return Truth(tuple(f"s{s + 1}" for s in range(n_segments)), tuple(f"o{k + 1}" for k in range(n_offers)),
                 rates, priority, value, offer_rnd)


def make_customers(seed: int, n: int, truth: Truth) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, 2])
    return {
        "customer_id": np.array([f"c{i:06d}" for i in range(1, n + 1)]),
        "segment_index": rng.integers(0, len(truth.segments), n),
        "rnd": rng.integers(1, 2 ** 25, n),
    }


def outcome_uniforms(seed: int, day: int, n: int) -> np.ndarray:
    """u per customer (in customer order) for one day: the same for every policy."""
    return np.random.default_rng([seed, 3, day]).random(n)


# ---------------------------------------------------------------- config
def load_policies(path: Path = POLICIES_FILE) -> dict[str, dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _salted(value, salt: str):
    if isinstance(value, str):
        return value.replace("{salt}", salt)
    if isinstance(value, list):
        return [_salted(v, salt) for v in value]
    if isinstance(value, dict):
        return {k: _salted(v, salt) for k, v in value.items()}
    return value


def base_config(truth: Truth, score: dict, models: list[dict]) -> dict:
    """The simulated flow: every active offer of the customer's segment, scored by the policy, top 1."""
    offers = [
        {"id": truth.offer_id(s, k), "name": f"{o} for {seg}", "status": "active", "categoryId": o,
         "priority": truth.priority[k], "businessValue": truth.business_value[k], "channels": ["email"],
         "customFields": {"segment": seg, "rnd": int(truth.offer_rnd[s, k])}}
        for s, seg in enumerate(truth.segments) for k, o in enumerate(truth.offers)
    ]
    fields = [{"name": "customer_id", "dataType": "varchar", "isUnique": True},
              {"name": "segment", "dataType": "varchar"},
              {"name": "rnd", "dataType": "integer"},
              {"name": "since", "dataType": "timestamp"}]
    nodes = [
        {"id": "inv", "type": "inventory", "phase": 1, "position": 0,
         "config": {"scope": "all", "includeStatuses": ["active"]}},
        {"id": "enr", "type": "enrich", "phase": 1, "position": 1,
         "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id",
                                 "fields": ["segment", "rnd", "since"]}]}},
        {"id": "seg", "type": "filter", "phase": 1, "position": 2, "label": "the segment's offers",
         "config": {"mode": "all", "conditions": [
             {"field": "customer.segment", "operator": "eq", "valueFormula": "offer.segment"}]}},
        {"id": "score", "type": "score", "phase": 2, "position": 3, "config": score},
        {"id": "rank", "type": "rank", "phase": 2, "position": 4, "config": {"method": "topN", "maxCandidates": 1}},
        {"id": "out", "type": "response", "phase": 3, "position": 5, "config": {"responseFormat": "standard"}},
    ]
    config = {
        "schemas": [{"id": "customer", "name": "customer", "relation": "source('sim', 'customers')", "fields": fields}],
        "interactionHistory": {"relation": "source('sim', 'interactions')"},
        "channels": [{"id": "email", "name": "Email", "channelType": "email", "requiresConsent": False}],
        "categories": [{"id": o, "name": o, "customFields": [{"name": "segment", "type": "text"},
                                                             {"name": "rnd", "type": "number"}]}
                       for o in truth.offers],
        "offers": offers,
        "decisionFlows": [{
            "key": FLOW_KEY, "name": "learning simulation",
            "draftConfig": {"version": 2,
                            "flowConfig": {"channel": "email", "rejections": {"volume": "none"}},
                            "nodes": nodes},
        }],
    }
    if models:
        config["algorithmModels"] = models
    return config


SOURCES_YML = """version: 2
sources:
  - name: sim
    schema: main
    tables:
      - name: customers
      - name: interactions
      - name: truth_scores
"""


def setup_project(work: Path, config: dict, threads: int = 1) -> None:
    """A fresh dbt project in `work` (as bench/run.py makes one): DuckDB file sim.duckdb, this checkout
    as the kaireon package, the simulator's tables as the source 'sim', the policy's config."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "models" / "sim").mkdir(parents=True)
    (work / "dbt_project.yml").write_text(
        "name: kaireon_learning_sim\nversion: '1.0'\nconfig-version: 2\nprofile: kaireon_learning_sim\n"
        "model-paths: [models]\ntarget-path: target\nflags:\n  send_anonymous_usage_stats: false\n"
        "  partial_parse: true\n", encoding="utf-8")
    (work / "profiles.yml").write_text(
        "kaireon_learning_sim:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n"
        f"      path: {work / 'sim.duckdb'}\n      threads: {threads}\n", encoding="utf-8")
    (work / "packages.yml").write_text(f"packages:\n  - local: {REPO}\n", encoding="utf-8")
    (work / "models" / "sim" / "sources.yml").write_text(SOURCES_YML, encoding="utf-8")
    (work / "decisioning").mkdir()
    (work / "decisioning" / "sim.yml").write_text(
        "# Generated by bench/learning/sim.py; do not edit.\n"
        + yaml.safe_dump(config, sort_keys=False, width=120), encoding="utf-8")


def _insert(con, table: str, columns: list[list]) -> None:
    """Append rows given as columns (one list per column) in one statement."""
    if columns and len(columns[0]):
        params = ", ".join(f"unnest(${i + 1})" for i in range(len(columns)))
        con.execute(f"insert into {table} select {params}", columns)


def load_tables(db: Path, truth: Truth, customers: dict[str, np.ndarray]) -> None:
    con = duckdb.connect(str(db))
    try:
        ids = customers["customer_id"].tolist()
        seg = customers["segment_index"].tolist()
        con.execute("create or replace table customers (customer_id varchar, segment varchar, rnd integer, "
                    "since timestamp)")
        _insert(con, "customers", [ids, [truth.segments[i] for i in seg], customers["rnd"].tolist(),
                                   [SINCE] * len(ids)])
        con.execute("create or replace table interactions (customer_id varchar, offer_id varchar, channel varchar, "
                    "outcome varchar, occurred_at timestamp, value double, creative_id varchar, "
                    "decision_flow_key varchar)")
        con.execute("create or replace table truth_scores (customer_id varchar, offer_id varchar, propensity double, "
                    "uplift double)")
        pairs = [(c, s, k) for c, s in zip(ids, seg) for k in range(len(truth.offers))]
        _insert(con, "truth_scores", [[c for c, _, _ in pairs], [truth.offer_id(s, k) for _, s, k in pairs],
                                      [float(truth.rates[s, k]) for _, s, k in pairs], [0.0] * len(pairs)])
    finally:
        con.close()


# ---------------------------------------------------------------- running
def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _env() -> dict:
    return {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def prepare(work: Path, via: str) -> float:
    """dbt deps and kaireon compile, once: the config does not change between days. With via='cli' each
    is a fresh process as a user runs them; else both run in this process (dbt's runner, kaireon's main)."""
    start = time.perf_counter()
    common = ["--project-dir", str(work), "--profiles-dir", str(work)]
    if via == "cli":
        for cmd in ([_bin("dbt"), "deps", *common], [_bin("kaireon"), "compile", *common]):
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=_env())
            if proc.returncode != 0:
                raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
    else:
        from kaireon_sql.cli import main as kaireon  # lazy, as dbt
        from kaireon_sql.runner import invoke

        if not invoke(["--quiet", "deps", *common], cwd=work).success:
            raise SystemExit(f"dbt deps failed in {work}")
        with contextlib.redirect_stdout(io.StringIO()):
            status = kaireon(["compile", *common])
        if status != 0:
            raise SystemExit(f"kaireon compile failed in {work} (exit {status})")
    return time.perf_counter() - start


def as_of(day: int) -> str:
    return (START + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")


class DbtSession:
    """dbt's Python runner for one project, the project parsed once: each day's build reuses the
    manifest (the config, so the models, do not change between days; the vars are read at run time)."""

    def __init__(self, work: Path):
        from dbt.cli.main import dbtRunner  # lazy: dbt takes seconds to import

        self.work = work
        self.common = ["--project-dir", str(work), "--profiles-dir", str(work)]
        result = self._invoke(dbtRunner(), ["--quiet", "parse", *self.common])
        self.runner = dbtRunner(manifest=result.result)

    def _invoke(self, runner, args: list[str]):
        before = os.getcwd()
        try:
            os.chdir(self.work)
            result = runner.invoke(args)
        finally:
            os.chdir(before)
        if not result.success:
            failed = [f"{r.node.name}: {r.message}" for r in (getattr(result.result, "results", None) or [])
                      if str(getattr(r, "status", "")) in ("error", "fail")]
            raise SystemExit(f"dbt {args[1]} failed in {self.work}: {failed or result.exception}")
        return result

    def build(self, day: int) -> None:
        self._invoke(self.runner, ["--quiet", "build", "--select", "+tag:kaireon", "--exclude", "resource_type:test",
                                   "--vars", json.dumps({"as_of": as_of(day)}), *self.common])


def build_day(work: Path, day: int, via: str, session: DbtSession | None = None) -> float:
    """One daily run at as_of(day): `dbt build` of the kaireon models without data tests (dbt's Python
    runner, through `session`), or with via='cli' `kaireon run --as-of` as a fresh process."""
    start = time.perf_counter()
    if via == "cli":
        cmd = [_bin("kaireon"), "run", "--as-of", as_of(day), "--quiet-dbt",
               "--project-dir", str(work), "--profiles-dir", str(work)]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=_env())
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
    else:
        session.build(day)
    return time.perf_counter() - start


def record_day(db: Path, truth: Truth, customers: dict[str, np.ndarray], seed: int, day: int) -> dict:
    """Read the day's decisions, draw outcomes, append them to the history; the day's bookkeeping."""
    index = {c: i for i, c in enumerate(customers["customer_id"])}
    offer_index = {truth.offer_id(s, k): (s, k) for s in range(len(truth.segments)) for k in range(len(truth.offers))}
    u = outcome_uniforms(seed, day, len(index))
    at = START + timedelta(days=day)
    con = duckdb.connect(str(db))
    try:
        decided = con.execute("select customer_id, offer_id, channel from kaireon_decisions").fetchall()
        p_chosen = np.zeros(len(index))
        got = np.zeros(len(index), dtype=bool)
        shares: dict[str, int] = {}
        impressions, converts = [], []
        for cid, oid, channel in decided:
            i = index[cid]
            s, k = offer_index[oid]
            if got[i] or s != customers["segment_index"][i]:
                raise SystemExit(f"day {day}: customer {cid} got a second offer or another segment's ({oid})")
            got[i] = True
            p_chosen[i] = truth.rates[s, k]
            shares[truth.offers[k]] = shares.get(truth.offers[k], 0) + 1
            impressions.append((cid, oid, channel, "impression", at + timedelta(hours=1), None, None, FLOW_KEY))
            if u[i] < truth.rates[s, k]:
                converts.append((cid, oid, channel, "convert", at + timedelta(hours=3), 1.0, None, FLOW_KEY))
        rows = impressions + converts
        _insert(con, "interactions", [list(col) for col in zip(*rows)] if rows else [])
    finally:
        con.close()
    best = truth.best[customers["segment_index"]]
    best_converts = int((u < best).sum())
    return {
        "day": day, "as_of": as_of(day), "decided": int(got.sum()),
        "regret": round(float((best - p_chosen).sum()), 6),
        "expected_conversions": round(float(p_chosen.sum()), 6),
        "conversions": len(converts), "oracle_conversions": best_converts,
        "offer_shares": dict(sorted(shares.items())),
    }


def run_policy(name: str, policy: dict, truth: Truth, customers: dict[str, np.ndarray], seed: int, days: int,
               work: Path, via: str = "dbt", log=print) -> dict:
    salt = f"sim{seed}"
    config = base_config(truth, _salted(policy["score"], salt), _salted(policy.get("algorithmModels") or [], salt))
    project = work / name
    setup_project(project, config)
    db = project / "sim.duckdb"
    load_tables(db, truth, customers)
    prep_s = prepare(project, via)
    session = DbtSession(project) if via == "dbt" else None
    out, cum = [], 0.0
    build_s = 0.0
    for day in range(days):
        build_s += build_day(project, day, via, session)
        row = record_day(db, truth, customers, seed, day)
        cum += row["regret"]
        row["cumulative_regret"] = round(cum, 6)
        out.append(row)
        log(f"  {name} day {day:2d}: regret {row['regret']:8.2f}  cumulative {cum:9.2f}  "
            f"conversions {row['conversions']:4d} (oracle {row['oracle_conversions']})")
    return {"policy": name, "description": " ".join(str(policy.get("description", "")).split()),
            "score": policy["score"], "algorithmModels": policy.get("algorithmModels") or [],
            "days": out, "cumulative_regret": round(cum, 6),
            "conversions": sum(r["conversions"] for r in out),
            "prepare_s": round(prep_s, 2), "dbt_build_s": round(build_s, 2), "work": str(project)}


def simulate(policies: list[str], days: int = 30, n_customers: int = 5000, seed: int = 1, work: Path | None = None,
             via: str = "dbt", policies_file: Path = POLICIES_FILE, log=print, **truth_args) -> dict:
    defined = load_policies(policies_file)
    unknown = [p for p in policies if p not in defined]
    if unknown:
        raise SystemExit(f"unknown policies {unknown}; {policies_file} defines {sorted(defined)}")
    truth = make_truth(seed, **truth_args)
    customers = make_customers(seed, n_customers, truth)
    work = work or Path("/tmp/kaireon_learning_sim")
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = {}
    for name in policies:
        log(f"policy {name}")
        results[name] = run_policy(name, defined[name], truth, customers, seed, days, work, via, log)
    segment_sizes = np.bincount(customers["segment_index"], minlength=len(truth.segments))
    return {
        "seed": seed, "days": days, "customers": n_customers, "via": via,
        "truth": {**truth.as_dict(), "customers_per_segment": dict(zip(truth.segments, segment_sizes.tolist()))},
        "best_in_hindsight_expected_conversions_per_day": round(float(truth.best[customers["segment_index"]].sum()), 3),
        "policies": results,
        "wall_s": round(time.perf_counter() - started, 1),
        "machine": machine(),
    }


def machine() -> dict:
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), platform.processor())
        mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal")), 0)
    except OSError:
        cpu, mem = platform.processor(), 0
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2 ** 20, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "commit": rev.stdout.strip(),
            "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


# ---------------------------------------------------------------- reporting
def summarize(runs: list[dict]) -> dict:
    """Per policy over the runs (one per seed): mean and per-seed cumulative regret, mean per-day curve;
    and in how many runs each policy had the lowest cumulative regret (the oracle left out)."""
    names = list(runs[0]["policies"])
    out: dict = {"seeds": [r["seed"] for r in runs], "policies": {}}
    for name in names:
        cums = [r["policies"][name]["cumulative_regret"] for r in runs]
        curves = np.array([[d["cumulative_regret"] for d in r["policies"][name]["days"]] for r in runs])
        out["policies"][name] = {
            "mean_cumulative_regret": round(float(np.mean(cums)), 3), "cumulative_regret_per_seed": cums,
            "mean_cumulative_curve": [round(float(x), 3) for x in curves.mean(axis=0)],
            "min_cumulative_curve": [round(float(x), 3) for x in curves.min(axis=0)],
            "max_cumulative_curve": [round(float(x), 3) for x in curves.max(axis=0)],
        }
    learners = [n for n in names if n != "oracle"]
    lowest = {n: 0 for n in learners}
    for r in runs:
        if learners:
            lowest[min(learners, key=lambda n: r["policies"][n]["cumulative_regret"])] += 1
    out["lowest_in_runs"] = lowest
    return out


def chart(report: dict, path: Path) -> Path:
    """Cumulative regret per policy over the daily runs (kaireon_sql.charts, matplotlib), .png or .svg."""
    from kaireon_sql import charts  # lazy: matplotlib only when the chart is drawn

    summary, first = report["summary"], report["runs"][0]
    order = sorted(summary["policies"].items(), key=lambda kv: -kv[1]["mean_cumulative_regret"])
    several = len(summary["seeds"]) > 1
    series = []
    for name, res in order:
        days = list(range(1, len(res["mean_cumulative_curve"]) + 1))
        series.append(charts.Series(f"{name} ({res['mean_cumulative_regret']:.0f})", days, res["mean_cumulative_curve"],
                                    markers=True, band=(res["min_cumulative_curve"], res["max_cumulative_curve"])
                                    if several else None))
    seeds = summary["seeds"]
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"mean of seeds {seeds[0]}-{seeds[-1]} (band: min-max)"
    fig = charts.line_chart(series, f"Regret against the best offer per segment: {first['customers']:,} customers, "
                            f"{len(first['truth']['offers'])} offers x {len(first['truth']['segments'])} segments, "
                            f"{which}", "daily run (dbt build)", "cumulative expected regret (conversions)",
                            integer_x=True, height_in=5.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    charts.save(fig, path)
    return path


def table(report: dict) -> str:
    summary, runs = report["summary"], report["runs"]
    n = len(runs)
    best_per_day = float(np.mean([r["best_in_hindsight_expected_conversions_per_day"] for r in runs]))
    days = runs[0]["days"]
    lines = [f"| policy | cumulative regret{' (mean of ' + str(n) + ' seeds)' if n > 1 else ''} | per seed | "
             "regret per day, last 5 days | share of the best policy's conversions lost | lowest in |",
             "|---|---|---|---|---|---|"]
    for name, res in sorted(summary["policies"].items(), key=lambda kv: kv[1]["mean_cumulative_regret"]):
        tail = np.mean([np.mean([d["regret"] for d in r["policies"][name]["days"][-5:]]) for r in runs])
        lost = res["mean_cumulative_regret"] / (best_per_day * days) if best_per_day else 0
        per_seed = ", ".join(f"{x:.0f}" for x in res["cumulative_regret_per_seed"])
        low = "-" if name == "oracle" else f"{summary['lowest_in_runs'].get(name, 0)} of {n}"
        lines.append(f"| {name} | {res['mean_cumulative_regret']:.1f} | {per_seed} | {tail:.2f} | {lost:.1%} | {low} |")
    return "\n".join(lines)


def _added(earlier: dict, runs: list[dict]) -> list[dict]:
    """The earlier report's runs with the policies of `runs` added (each run keeps the machine facts and
    the command of its own invocation, in its policies' entries)."""
    same = ("seed", "days", "customers", "truth")
    old = {r["seed"]: r for r in earlier["runs"]}
    if set(old) != {r["seed"] for r in runs}:
        raise SystemExit(f"--add: the earlier report has seeds {sorted(old)}, this run {[r['seed'] for r in runs]}")
    merged = []
    for run in runs:
        prev = old[run["seed"]]
        if any(prev[k] != run[k] for k in same):
            raise SystemExit(f"--add: seed {run['seed']}: the earlier report simulated another world "
                             "(days, customers or truth differ)")
        for res in prev["policies"].values():
            res.setdefault("command", prev.get("command"))
            res.setdefault("machine", prev["machine"])
        for res in run["policies"].values():
            res["command"], res["machine"] = run["command"], run["machine"]
        merged.append({**prev, "policies": {**prev["policies"], **run["policies"]},
                       "wall_s": prev["wall_s"] + run["wall_s"]})
    return merged


def _seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = (int(x) for x in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policies", default=",".join(DEFAULT_POLICIES), help="comma-separated names from policies.yml")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--seeds", default="1", help="one seed, a list 1,2,3 or a range 1-5: a whole simulation per seed")
    p.add_argument("--segments", type=int, default=3)
    p.add_argument("--offers", type=int, default=8)
    p.add_argument("--work", default="/tmp/kaireon_learning_sim", help="folder for the per-policy dbt projects")
    p.add_argument("--out", default=str(HERE / "results"), help="folder for regret.json and regret.png")
    p.add_argument("--via", default="dbt", choices=["dbt", "cli"],
                   help="dbt: deps, compile and each day's dbt build in this process through dbt's Python runner "
                        "(the project parsed once); cli: `dbt deps`, `kaireon compile` and each day's `kaireon run "
                        "--as-of` as fresh processes, as a user runs them (slower: start-up, dbt tests, summary)")
    p.add_argument("--add", action="store_true",
                   help="add the policies run now to --out/regret.json (same seeds, days, customers, segments, "
                        "offers; a policy run again replaces its earlier result) instead of replacing the file")
    args = p.parse_args(argv)
    started = time.perf_counter()
    names = [x.strip() for x in args.policies.split(",") if x.strip()]
    command = "python bench/learning/sim.py " + " ".join(argv if argv is not None else sys.argv[1:])
    runs = []
    for seed in _seeds(args.seeds):
        print(f"seed {seed}")
        runs.append(simulate(names, args.days, args.customers, seed, Path(args.work), args.via,
                             n_segments=args.segments, n_offers=args.offers))
        runs[-1]["command"] = command
    out = Path(args.out)
    if args.add and (out / "regret.json").exists():
        runs = _added(json.loads((out / "regret.json").read_text(encoding="utf-8")), runs)
    report = {"command": command, "machine": machine(), "wall_s": round(time.perf_counter() - started, 1),
              "summary": summarize(runs), "runs": runs}
    out.mkdir(parents=True, exist_ok=True)
    (out / "regret.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    chart(report, out / "regret.png")
    print(table(report))
    print(f"wrote {out / 'regret.json'} and {out / 'regret.png'} in {report['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
