"""The same simulated world with the learned policy written in numpy from ../shared/SPEC.md S9, no dbt and
no kaireon SQL: what the warehouse's learned arm should come close to, and a check of it once the S9
models have landed (bench/intelligence/README.md). THIS IS A SIMULATION, and this file is a reading of
S9, not the warehouse.

    python bench/intelligence/reference.py                  # 2 arms x 5 seeds x 60 runs, 1,000 customers
    python bench/intelligence/reference.py --features channel,sendtime   # routing only (the seed's +34% claim)

S9 as read here (the parameters the simulated flow sets, bench/intelligence/arms.py):
- channel: per customer and channel, (k + m p_c) / (n + m), k clicks over n impressions on the channel
  up to as_of, p_c the channel's population rate, m = 10; the consented channel of the list with the
  highest value (ties by list order);
- send time: the customer's clicks on the chosen channel by local hour, plus m x the channel's population
  share of clicks at that hour (m = 10); the argmax (ties: the earliest hour); sent at the first instant
  at or after as_of whose local clock reads that hour;
- discount: per lifecycle stage (S9 from orders up to as_of) and tier, Beta(1 + conversions, 1 + sends -
  conversions) of the sends of earlier runs with that tier; one draw per customer and tier (numpy, seeded);
  the tier maximising draw x offer value x (1 - tier / 100).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import arms  # noqa: E402
import sim  # noqa: E402
import world as w  # noqa: E402

PRIOR_STRENGTH = 10
SEND_PRIOR_STRENGTH = 10
POSITIVE = ("click",)


class ReferencePolicy:
    def __init__(self, features: list[str], seed: int):
        self.features, self.seed = set(features), seed

    def _history(self, arm: sim.Arm, day: int):
        wd = arm.world
        con = duckdb.connect(str(arm.db))
        try:
            rows = con.execute("select customer_id, channel, outcome, occurred_at from interactions "
                               "where occurred_at <= ?", [wd.day_time(day)]).fetchall()
        finally:
            con.close()
        n = np.zeros((wd.n, len(w.CHANNELS)))
        k = np.zeros((wd.n, len(w.CHANNELS)))
        hours = np.zeros((wd.n, len(w.CHANNELS), 24))
        zones = {z: ZoneInfo(z) for z in set(wd.zone)}
        for cid, ch, outcome, at in rows:
            i, c = arm.index[cid], w.CHANNELS.index(ch)
            if outcome == "impression":
                n[i, c] += 1
            elif outcome in POSITIVE:
                k[i, c] += 1
                hours[i, c, at.replace(tzinfo=timezone.utc).astimezone(zones[wd.zone[i]]).hour] += 1
        return n, k, hours

    def _tiers(self, arm: sim.Arm, day: int, idx: np.ndarray, stages: list[str]) -> np.ndarray:
        sends: dict[tuple[str, float], list[int]] = {}
        for run, _, _, _, disc, conv, stage in arm.sent_log:
            if run < day:
                got = sends.setdefault((stage, disc), [0, 0])
                got[0] += 1
                got[1] += int(conv)
        rng = np.random.default_rng([self.seed, 21, day])
        out = np.empty(len(idx))
        for r, i in enumerate(idx):
            ev = []
            for t in w.TIERS:
                n, c = sends.get((stages[i], float(t)), (0, 0))
                ev.append(rng.beta(1 + c, 1 + n - c) * arms.OFFER_VALUE * (1 - t / 100))
            out[r] = w.TIERS[int(np.argmax(ev))]
        return out

    def decide(self, arm: sim.Arm, day: int, carts: np.ndarray, stages: list[str]):
        wd = arm.world
        at = wd.day_time(day)
        idx = np.nonzero(carts)[0]
        n, k, hours = self._history(arm, day)
        rate = k.sum(axis=0) / np.maximum(n.sum(axis=0), 1)
        pref = (k + PRIOR_STRENGTH * rate) / (n + PRIOR_STRENGTH)
        pop = hours.sum(axis=0) / np.maximum(hours.sum(axis=(0, 2))[:, None], 1)
        tiers = self._tiers(arm, day, idx, stages) if "discount" in self.features else None
        out = []
        for r, i in enumerate(idx):
            c = 0
            if "channel" in self.features:
                ok = [j for j, ch in enumerate(w.CHANNELS) if wd.consent[ch][i]]
                c = max(ok, key=lambda j: (pref[i, j], -j))
            send_at = hour = None
            if "sendtime" in self.features:
                score = hours[i, c] + SEND_PRIOR_STRENGTH * pop[c]
                hour = int(np.argmax(score))  # the first maximum: ties go to the earliest hour
                send_at = wd.next_local(int(i), at, hour)
            out.append({"customer_id": wd.ids[i], "channel": w.CHANNELS[c], "send_at": send_at,
                        "send_hour_local": hour, "discount_pct": None if tiers is None else float(tiers[r]),
                        "channel_preference": float(pref[i, c])})
        return out, 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--features", default=",".join(arms.FEATURES), help="of the learned arm: " + ",".join(arms.FEATURES))
    p.add_argument("--seeds", default="1-5")
    p.add_argument("--runs", type=int, default=60)
    p.add_argument("--customers", type=int, default=1000)
    p.add_argument("--work", default="/tmp/kaireon_intelligence_reference")
    p.add_argument("--out", default=str(HERE / "results" / "reference"))
    args = p.parse_args(argv)
    features = [f.strip() for f in args.features.split(",") if f.strip()]
    started = time.perf_counter()
    results = []
    for seed in sim._seeds(args.seeds):
        for name, feats in (("baseline", []), ("learned", features)):
            results.append(sim.run_arm(name, arms.base_config(), seed, args.runs, args.customers, Path(args.work),
                                       log=lambda *_: None, policy=ReferencePolicy(feats, seed)))
            print(f"seed {seed} {name}: {results[-1]['totals']}")
    report = {"simulation": True, "reference": "numpy reading of S9, no dbt", "features": features,
              "customers": args.customers, "runs": args.runs, "seeds": sim._seeds(args.seeds),
              "start_as_of": sim.as_of(0), "summary": sim.summarize(results),
              "curves": {a: sim.curves(results, a) for a in sim.ARMS}, "results": results,
              "wall_s": round(time.perf_counter() - started, 1), "machine": sim.machine(),
              "command": "python bench/intelligence/reference.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "intelligence.json").write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    sim.chart(report, out)
    print(sim.table(report))
    print(f"wrote {out} in {report['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
