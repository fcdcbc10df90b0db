"""Deterministic synthetic benchmark data (issue 6): customers, offers and interactions as Parquet.

    python bench/gen.py --customers 1000000 --out /tmp/bench/1m [--offers 30]

Everything is generated inside DuckDB with range() and hash()-based pseudo-random numbers, so 10M
customers need neither Python loops nor much memory, and the same N (and offers) gives
byte-identical files (single-threaded writes, fixed row order).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

AS_OF = "2026-11-20 15:00:00"  # UTC; interactions cover the 120 days before it
CATEGORIES = ["apparel", "electronics", "home", "beauty", "sports", "toys", "grocery", "books", "garden", "automotive"]
CHANNELS = ["email", "sms", "push"]
TIMEZONES = ["America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Tokyo"]


def _list(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _u(expr: str, salt: int) -> str:
    """A pseudo-random double in [0, 1) from hash(expr, salt): deterministic for a DuckDB version."""
    return f"((hash({expr}, {salt}) % 1000000007) / 1000000007.0)"


def customers_sql(n: int) -> str:
    width = max(7, len(str(n)))
    i = "i"
    return f"""
select
  'c' || lpad(i::varchar, {width}, '0') as customer_id,
  -- skewed towards recent purchases: 900 * u^2 (about a third of customers in 90..365)
  least(900, floor(900 * pow({_u(i, 1)}, 2)))::integer as days_since_last_purchase,
  -- geometric-like: mostly 0..10, a long tail
  floor(-ln(1 - {_u(i, 2)}) * 5)::integer as lifetime_purchases,
  round(floor(-ln(1 - {_u(i, 2)}) * 5) * (15 + 85 * {_u(i, 3)}), 2)::double as lifetime_revenue,
  {_list(CATEGORIES)}[1 + (hash(i, 4) % 10)::integer] as primary_category,
  {_list(CHANNELS)}[1 + (hash(i, 5) % 3)::integer] as preferred_channel,
  {_u(i, 6)} < 0.7 as consent_email,
  {_u(i, 7)} < 0.45 as consent_sms,
  {_list(TIMEZONES)}[1 + (hash(i, 8) % 4)::integer] as timezone
from range(1, {n} + 1) t(i)
order by i
"""


def offers_sql(n_offers: int) -> str:
    width = max(2, len(str(n_offers)))
    return f"""
select
  'o' || lpad(k::varchar, {width}, '0') as offer_id,
  'Offer ' || lpad(k::varchar, {width}, '0') || ' (' || {_list(CATEGORIES)}[1 + ((k - 1) % 10)::integer] || ', '
    || {_list(CHANNELS)}[1 + (((k - 1) // 10) % 3)::integer] || ')' as name,
  {_list(CATEGORIES)}[1 + ((k - 1) % 10)::integer] as category,
  {_list(CHANNELS)}[1 + (((k - 1) // 10) % 3)::integer] as channel,
  (40 + (k * 7) % 60)::double as priority,
  (20 + (k * 13) % 80)::double as business_value,
  (10 + (k * 17) % 40)::double as margin,
  round(0.05 + ((k * 37) % 30) / 100.0, 2)::double as propensity_base,
  ((5 + k % 5) / 100.0)::double as uplift
from range(1, {n_offers} + 1) t(k)
order by k
"""


def interactions_sql(n: int, n_offers: int) -> str:
    width = max(7, len(str(n)))
    owidth = max(2, len(str(n_offers)))
    # per customer 0..20 interactions (mean 10); each picks an offer, its channel, a time in the
    # 120 days before as_of (to the second) and an outcome (70% impression, 12% click, 5% convert,
    # 13% dismiss)
    return f"""
with c as (
  select i, (hash(i, 11) % 21)::integer as n_rows from range(1, {n} + 1) t(i)
), r as (
  select i, j, (hash(i, j, 12) % {n_offers})::integer + 1 as k, {_u('i, j', 13)} as ut, {_u('i, j', 14)} as uo,
         {_u('i, j', 15)} as uv
  from c, range(0, c.n_rows) s(j)
)
select
  'c' || lpad(i::varchar, {width}, '0') as customer_id,
  'o' || lpad(k::varchar, {owidth}, '0') as offer_id,
  {_list(CHANNELS)}[1 + (((k - 1) // 10) % 3)::integer] as channel,
  case when uo < 0.70 then 'impression' when uo < 0.82 then 'click' when uo < 0.87 then 'convert'
       else 'dismiss' end as outcome,
  timestamp '{AS_OF}' - to_seconds(floor(ut * 120 * 86400)::bigint) as occurred_at,
  case when uo >= 0.82 and uo < 0.87 then round(10 + 140 * uv, 2) end::double as value,
  null::varchar as creative_id,
  'winback'::varchar as decision_flow_key
from r
order by i, j
"""


def generate(n: int, out: Path, n_offers: int = 30, threads: int | None = None) -> dict[str, float]:
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    # one thread while writing keeps row groups in a fixed order (byte-identical files); the
    # queries themselves are cheap
    con.execute("set preserve_insertion_order = true")
    if threads:
        con.execute(f"set threads = {threads}")
    timings = {}
    for name, sql in (("customers", customers_sql(n)), ("offers", offers_sql(n_offers)),
                      ("interactions", interactions_sql(n, n_offers))):
        start = time.perf_counter()
        target = out / f"{name}.parquet"
        tmp = out / f".{name}.parquet.tmp"
        con.execute(f"copy ({sql}) to '{tmp}' (format parquet, compression zstd, row_group_size 1000000)")
        tmp.replace(target)
        timings[name] = round(time.perf_counter() - start, 2)
    return timings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--offers", type=int, default=30)
    p.add_argument("--threads", type=int, help="DuckDB threads (default: DuckDB's)")
    args = p.parse_args(argv)
    timings = generate(args.customers, Path(args.out), args.offers, args.threads)
    print(f"wrote {args.out}: {args.customers} customers, {args.offers} offers; seconds {timings}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
