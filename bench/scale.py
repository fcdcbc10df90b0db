"""The scale curve: generate, run and check each size, then write the results and the chart.

    python bench/scale.py --root /tmp/bench [--sizes 100000 1000000 5000000 10000000] [--runs 3]
                          [--offers 30] [--rejections none] [--tests] [--tag NAME]

For each size: bench/gen.py (skipped when the files exist), bench/run.py --runs times (the run
with the median decision-path time is kept), bench/yardstick.py (fastest of 3, and the row-for-row
check). Appends one JSON line per size to bench/results/scale.jsonl and rewrites
bench/results/scale.svg from every line of the file with the default options. Prints a
markdown table of this invocation's rows.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _json(*cmd: str) -> dict:
    proc = subprocess.run([sys.executable, *cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _label(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def machine() -> dict:
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), None) if Path("/proc/meminfo").exists() else None
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_mb": mem, "os": platform.platform()}


def measure(root: Path, n: int, offers: int, runs: int, rejections: str, tests: bool) -> dict:
    data = root / (_label(n) + ("" if offers == 30 else f"-{offers}o"))
    if not (data / "interactions.parquet").exists():
        subprocess.run([sys.executable, str(HERE / "gen.py"), "--customers", str(n), "--offers", str(offers),
                        "--out", str(data)], check=True, capture_output=True)
    args = ["--data", str(data), "--rejections", rejections] + ([] if tests else ["--no-tests"])
    done = sorted((_json(str(HERE / "run.py"), *args) for _ in range(runs)), key=lambda r: r["decision_path_s"])
    kept = done[len(done) // 2]
    # the check reads the last run's database: every run decides the same rows (asserted by the check)
    yard = _json(str(HERE / "yardstick.py"), "--data", str(data), "--repeat", "3")
    return {
        **kept, "offers": offers, "runs": runs,
        "decision_path_runs_s": [r["decision_path_s"] for r in done],
        "end_to_end_runs_s": [r["end_to_end_s"] for r in done],
        "yardstick_s": yard["yardstick_s"], "yardstick_peak_rss_mb": yard["peak_rss_mb"], "match": yard["match"],
        "ratio_decision_path": round(kept["decision_path_s"] / yard["yardstick_s"], 2),
        "customers_per_s": round(n / kept["decision_path_s"]),
        "machine": machine(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def chart(rows: list[dict]) -> str:
    """Log-log SVG (kaireon_sql.charts, matplotlib): decision path, end to end and yardstick seconds
    against customers."""
    from kaireon_sql import charts  # lazy: matplotlib only when the chart is drawn

    rows = sorted(rows, key=lambda r: r["customers"])
    xs = [r["customers"] for r in rows]
    series = [charts.Series("end to end (dbt build + compile)", xs, [r["end_to_end_s"] for r in rows],
                            colour=charts.GREY, markers=True),
              charts.Series("decision path (compiled flow)", xs, [r["decision_path_s"] for r in rows],
                            colour=charts.PALETTE[0], markers=True),
              charts.Series("yardstick (hand-written SQL)", xs, [r["yardstick_s"] for r in rows],
                            colour=charts.PALETTE[1], markers=True)]
    fig = charts.line_chart(series, f"Benchmark flow on DuckDB, {rows[0]['machine']['cores']} cores: seconds "
                            "vs customers (log-log)", "customers", "seconds", log=True,
                            x_formatter=charts.log_formatter(), y_formatter=charts.log_formatter(" s"))
    return charts.svg_text(fig)


def table(rows: list[dict]) -> str:
    head = ("| customers | offers | rejections | candidate rows | decisions | decision path (s) | yardstick (s) | "
            "path / yardstick | customers/s (path) | end to end (s) | peak RSS (MB) | equal |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(f"| {r['customers']:,} | {r['offers']:,} | {r['rejections']} | {r['candidate_rows']:,} | "
                     f"{r['decisions']:,} | {r['decision_path_s']:.2f} | {r['yardstick_s']:.3f} | "
                     f"{r['ratio_decision_path']:.2f}x | {r['customers_per_s']:,} | {r['end_to_end_s']:.1f} | "
                     f"{r['peak_rss_mb']:,.0f} | {'yes' if r['match'] else 'NO'} |")
    return "\n".join(lines)


def redraw() -> None:
    """Rewrite scale.svg from the saved lines: the latest default-option row per size."""
    saved = [json.loads(line) for line in (RESULTS / "scale.jsonl").read_text().splitlines() if line.strip()]
    curve = {r["customers"]: r for r in saved if r["offers"] == 30 and r["rejections"] == "none" and not r["dbt_tests"]}
    if len(curve) >= 2:
        (RESULTS / "scale.svg").write_text(chart(list(curve.values())), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/tmp/bench", help="folder for the generated data and work folders")
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    p.add_argument("--offers", type=int, default=30)
    p.add_argument("--runs", type=int, default=3, help="run.py runs per size; the median decision path is kept")
    p.add_argument("--rejections", default="none", choices=["all", "sampled", "none"])
    p.add_argument("--tests", action="store_true", help="let dbt build run the data tests too")
    p.add_argument("--no-save", action="store_true", help="print only; do not append to bench/results/")
    args = p.parse_args(argv)
    rows = []
    for n in args.sizes:
        row = measure(Path(args.root), n, args.offers, args.runs, args.rejections, args.tests)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        with (RESULTS / "scale.jsonl").open("a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        redraw()
    print(table(rows))
    return 0 if all(r["match"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
