"""Compile time against config size (issue 10): offers, offer-scoped rules, offer-scoped policies.

    python bench/compile_scale.py                       # the default series, a table on stdout
    python bench/compile_scale.py --series rules --sizes 100 200 400 800
    python bench/compile_scale.py --series offers --sizes 20000 --profile /tmp/offers.prof

Each point writes a generated config folder (one YAML file), then times in this process what
`kaireon compile` does after start-up: read and validate (load_project), compile (compile_project)
and render the model files (model_files), wall clock per step and CPU time in all. `CPU per item`
is the CPU time divided by the series' size; it stays about flat when compile time grows linearly.
"""
from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from pathlib import Path

import yaml

from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine
from kaireon_sql.writer import model_files

SERIES = {
    "offers": [2500, 5000, 10000, 20000],  # offers, no rules
    "rules": [125, 250, 500, 1000],  # offer-scoped qualification rules, one per offer
    "policies": [125, 250, 500, 1000],  # offer-scoped contact policies, one per offer
}


def config(offers: int, rules: int = 0, policies: int = 0, categories: int = 10) -> dict:
    """A one-flow config: `offers` offers over `categories` categories; the first `rules` offers each
    get an offer-scoped attribute rule and the first `policies` offers an offer-scoped frequency cap."""
    width = len(str(max(offers, 1)))
    ids = [f"o{i:0{width}}" for i in range(offers)]
    return {
        "schemas": [{
            "id": "customer", "name": "customer", "relation": "customers",
            "fields": [
                {"name": "customer_id", "dataType": "varchar", "isUnique": True},
                {"name": "purchases", "dataType": "integer"},
                {"name": "revenue", "dataType": "decimal"},
                {"name": "consentEmail", "dataType": "boolean"},
            ],
        }],
        "interactionHistory": {"relation": "history"},
        "categories": [{"id": f"c{k}", "name": f"Category {k}"} for k in range(categories)],
        "offers": [{"id": oid, "name": f"Offer {oid}", "categoryId": f"c{i % categories}", "priority": i % 100}
                   for i, oid in enumerate(ids)],
        "qualificationRules": [
            {"name": f"r_{oid}", "ruleType": "attribute_condition", "scope": "offer", "scopeId": oid,
             "config": {"attribute": "customer.purchases", "operator": "gte", "value": i % 7}}
            for i, oid in enumerate(ids[:rules])
        ],
        "contactPolicies": [
            {"name": f"p_{oid}", "ruleType": "frequency_cap", "scope": "offer", "scopeId": oid,
             "config": {"maxPerWeek": 1 + i % 3}}
            for i, oid in enumerate(ids[:policies])
        ],
        "decisionFlows": [{
            "key": "f", "name": "f",
            "draftConfig": {"version": 2, "flowConfig": {"channel": "email"}, "nodes": [
                {"id": "inv", "type": "inventory", "config": {"scope": "all"}},
                {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]}},
                {"id": "qual", "type": "qualify", "config": {"mode": "all"}},
                {"id": "cp", "type": "contact_policy", "config": {"mode": "all"}},
                {"id": "score", "type": "score", "config": {"method": "formula", "formula": {"propensityWeight": 1}}},
                {"id": "rank", "type": "rank", "config": {"method": "topN", "maxCandidates": 3}},
                {"id": "compute", "type": "compute", "config": {}},
            ]},
        }],
    }


def point(series: str, size: int, root: Path, engine_name: str = "duckdb", profile: str | None = None) -> dict:
    kwargs = {"offers": size} if series == "offers" else {"offers": size, series: size}
    folder = root / f"{series}-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yml").write_text(yaml.safe_dump(config(**kwargs), sort_keys=False), encoding="utf-8")
    eng = engine(engine_name)
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    c0, t0 = time.process_time(), time.perf_counter()
    project = load_project(folder)
    t1 = time.perf_counter()
    models = compile_project(project)
    t2 = time.perf_counter()
    files = model_files(models, eng, "decisioning/")
    t3, c3 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    return {"series": series, "size": size, "load": t1 - t0, "compile": t2 - t1, "render": t3 - t2,
            "total": t3 - t0, "cpu": c3 - c0, "sql_bytes": sum(len(v.encode()) for v in files.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", nargs="+", choices=sorted(SERIES), default=list(SERIES))
    parser.add_argument("--sizes", nargs="+", type=int, help="sizes for every series (default: each series' own)")
    parser.add_argument("--engine", default="duckdb")
    parser.add_argument("--profile", help="write a cProfile of the last point to this file")
    args = parser.parse_args()
    print("| series | size | load (s) | compile (s) | render (s) | total (s) | CPU (s) | CPU per item (ms) | generated bytes |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for series in args.series:
            sizes = args.sizes or SERIES[series]
            for i, size in enumerate(sizes):
                last = series == args.series[-1] and i == len(sizes) - 1
                r = point(series, size, Path(tmp), args.engine, args.profile if last else None)
                print(f"| {series} | {size:,} | {r['load']:.2f} | {r['compile']:.2f} | {r['render']:.2f} | "
                      f"{r['total']:.2f} | {r['cpu']:.2f} | {1000 * r['cpu'] / size:.2f} | {r['sql_bytes']:,} |", flush=True)


if __name__ == "__main__":
    main()
