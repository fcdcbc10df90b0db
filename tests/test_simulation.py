"""A 30-day simulation of contact policies (S5): the compiled models run once a day, each run
reading the history so far; every delivered decision becomes an `impression` at the run's as_of,
and some customers click, convert or complain. Independent Python over the final history and
the run log then checks that no cap, cooldown, budget, exclusion or quiet hour was ever broken.

The SQL is compiled once; only the data changes between runs (a fresh in-memory DuckDB per day).
"""
from __future__ import annotations

import bisect
import datetime as dt
import random
import time
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

import duckdb

from harness import _REF, CUSTOMER_COLUMNS, first_build, HISTORY_COLUMNS, compile_sql, flow, rows, schema, standard_nodes, write_config

SEED = 20261102
START = dt.datetime(2026, 11, 2)  # a Monday; DST ended on 2026-11-01, so New York is UTC-5 throughout
DAYS = 30
N_CUSTOMERS = 300
NY = ZoneInfo("America/New_York")
ADVERSE = {"complaint", "unsubscribe", "hard_bounce", "spam_report"}

# the policies, as the checker below reads them (kept apart from the YAML-shaped config on purpose)
QUIET = (8, 21)
WEEKLY_TOTAL = 3
DAILY = ("email", 1)  # rolling 24 h, email only: sms contacts are then spaced by the cooldown
PER_OFFER = (1, dt.timedelta(days=7))
COOLDOWN = dt.timedelta(hours=20)
CROSS = (("email", "sms"), 4, dt.timedelta(days=14))
MUTEX = ({"c1", "l1"}, dt.timedelta(days=14))
ADVERSE_LOOKBACK = dt.timedelta(days=30)
IMPRESSION_BUDGETS = {"l3": (20, "monthly"), "c2": (40, "weekly")}
CONVERSION_BUDGETS = {"c3": 3}  # period total
DNC = "dnc"

OFFERS = [
    {"id": "c1", "name": "Card cashback", "priority": 60, "categoryId": "cards"},
    {"id": "c2", "name": "Card upgrade", "priority": 55, "categoryId": "cards",
     "budget": {"maxImpressions": 40, "period": "weekly"}},
    {"id": "c3", "name": "Card bonus", "priority": 50, "categoryId": "cards", "budget": {"maxConversions": 3}},
    {"id": "l1", "name": "Loan rate cut", "priority": 58, "categoryId": "loans"},
    {"id": "l2", "name": "Loan top-up", "priority": 52, "categoryId": "loans"},
    {"id": "l3", "name": "Loan holiday", "priority": 65, "categoryId": "loans",
     "budget": {"maxImpressions": 20, "period": "monthly"}},
]
POLICIES = [
    {"name": "Quiet hours 21:00-08:00", "ruleType": "time_window", "priority": 100,
     "config": {"startHour": 8, "endHour": 21, "timezone": "America/New_York"}},
    {"name": "No contact after adverse outcomes", "ruleType": "outcome_based", "priority": 90,
     "config": {"preset": "adverse_outcomes", "lookbackDays": 30}},
    {"name": "Do not contact", "ruleType": "segment_exclusion", "priority": 80, "config": {"excludeSegments": [DNC]}},
    {"name": "Offer budgets", "ruleType": "budget_exhausted", "priority": 70},
    {"name": "3 per week", "ruleType": "customer_total_cap", "priority": 60, "config": {"maxTotal": 3, "periodType": "weekly"}},
    {"name": "1 email per day", "ruleType": "frequency_cap", "priority": 50, "scope": "channel", "scopeId": "email",
     "config": {"maxPerDay": 1}},
    {"name": "Offer once a week", "ruleType": "frequency_cap", "priority": 40,
     "config": {"maxContacts": 1, "windowDays": 7, "perOffer": True}},
    {"name": "20h rest", "ruleType": "cooldown", "priority": 30, "config": {"cooldownHours": 20}},
    {"name": "4 per fortnight", "ruleType": "cross_channel_cap", "priority": 20,
     "config": {"channels": ["email", "sms"], "maxContacts": 4, "windowDays": 14}},
    {"name": "Cashback or rate cut", "ruleType": "mutual_exclusion", "priority": 10,
     "config": {"offerIds": ["c1", "l1"], "lookbackDays": 14}},
]
SCORE = {"method": "expression", "expression": "offer.priority / 100 + ((customer.days * offer.priority) % 17) / 20"}


def config() -> dict:
    return {
        "schemas": [schema()], "interactionHistory": {"relation": "history"},
        "categories": [{"id": "cards", "name": "Cards"}, {"id": "loans", "name": "Loans"}],
        "segments": [{"id": DNC, "name": DNC}],
        "offers": OFFERS, "contactPolicies": POLICIES,
        "decisionFlows": [flow(standard_nodes(top_n=2, score=SCORE), key="sim", channel=["email", "sms"],
                               experiment={"enabled": True, "holdoutPercent": 10})],
    }


def fmt(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def quiet(t: dt.datetime) -> bool:
    hour = t.replace(tzinfo=dt.timezone.utc).astimezone(NY).hour
    return not (QUIET[0] <= hour < QUIET[1])


def generate(rng: random.Random):
    customers, membership, history = [], [], []
    for i in range(N_CUSTOMERS):
        cid = f"u{i:03d}"
        customers.append((cid, rng.randrange(1, 400), rng.randrange(1, 12), round(rng.uniform(10, 2000), 2), "x",
                          "America/New_York", True, rng.random() > 0.1))
        if rng.random() < 0.05:
            membership.append((cid, DNC))
        if rng.random() < 0.5 and not 3 <= i <= 7:  # at most one earlier contact each: it breaks no cap itself
            at = START - dt.timedelta(seconds=rng.randrange(1, 4 * 86400))
            history.append((cid, rng.choice(["c1", "l1", "l2"]), rng.choice(["email", "sms"]), "impression", at))
        if rng.random() < 0.04:  # complaints up to 40 days back: some expire during the simulation
            at = START - dt.timedelta(seconds=rng.randrange(1, 40 * 86400))
            history.append((cid, rng.choice(OFFERS)["id"], "email", rng.choice(sorted(ADVERSE)), at))
    for cid in ("u003", "u004", "u005", "u006", "u007"):  # 5 of l3's 20 November impressions went out on Nov 1
        history.append((cid, "l3", "sms", "impression", START - dt.timedelta(hours=12)))
    for cid in ("u001", "u002"):  # 2 of c3's 3 conversions are already spent
        history.append((cid, "c3", "email", "convert", START - dt.timedelta(days=3)))
    return customers, membership, history


def run_times(rng: random.Random) -> list[dt.datetime]:
    return [START + dt.timedelta(days=d, hours=rng.randrange(24), minutes=rng.randrange(60)) for d in range(DAYS)]


def create(con, name, columns, data):
    con.execute(f'CREATE TABLE "{name}" (' + ", ".join(f'"{c}" {t}' for c, t in columns.items()) + ")")
    append(con, name, data)


def append(con, name, data):
    if data:
        con.executemany(f'INSERT INTO "{name}" VALUES (' + ", ".join("?" * len(data[0])) + ")", data)


def run_day(con, models, as_of: dt.datetime):
    """Re-run the compiled models (as tests/harness.run_models does) over the tables as they are now."""
    for name in reversed(list(models)):
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
    con.execute("CREATE TABLE kaireon_run_params AS SELECT CAST(? AS TIMESTAMP) AS as_of, CAST(? AS VARCHAR) AS as_of_text, "
                "CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS VARCHAR) AS channel", [fmt(as_of), fmt(as_of).replace(" ", "T") + "Z"])
    for name, sql in models.items():
        if name != "kaireon_run_params":
            body = first_build("\n".join(line for line in sql.splitlines() if not line.startswith("--")))
            con.execute(f'CREATE TABLE "{name}" AS {_REF.sub(lambda m: chr(34) + m.group(1) + chr(34), body)}')


def history_row(c, o, ch, out, at):
    return (c, o, ch, out, fmt(at), None, None, None)


def simulate(tmp_path):
    """Compile once; then 30 runs in one in-memory DuckDB whose history table grows between runs."""
    rng = random.Random(SEED)
    models = compile_sql(write_config(tmp_path / "decisioning", config()))
    customers, membership, history = generate(rng)
    con = duckdb.connect()
    create(con, "customers", CUSTOMER_COLUMNS, customers)
    create(con, "segment_membership", {"customer_id": "VARCHAR", "segment": "VARCHAR"}, membership)
    create(con, "history", HISTORY_COLUMNS, [history_row(*h) for h in history])
    log = []
    for t in run_times(rng):
        run_day(con, models, t)
        decisions = [(r["customer_id"], r["offer_id"], r["channel"]) for r in rows(con, "select * from kaireon_decisions")]
        withheld = [(r["customer_id"], r["offer_id"], r["channel"])
                    for r in rows(con, "select * from kaireon_withheld_decisions")]
        holdout = {r["customer_id"] for r in rows(con, "select customer_id from kaireon_assignments "
                                                       "where experiment_group = 'holdout'")}
        reasons = Counter(r["rule_name"] for r in rows(con, "select rule_name from kaireon_rejections"))
        log.append({"as_of": t, "decisions": decisions, "withheld": withheld, "holdout": holdout, "reasons": reasons})
        new = []
        for c, o, ch in decisions:
            new.append((c, o, ch, "impression", t))
            roll = rng.random()
            later = t + dt.timedelta(minutes=rng.randrange(1, 180))  # may land after the next run's as_of
            if roll < 0.15:
                new.append((c, o, ch, "click", later))
            elif roll < 0.22:
                new.append((c, o, ch, "convert", later))
            elif roll < 0.25:
                new.append((c, o, ch, "complaint", later))
        history += new
        append(con, "history", [history_row(*h) for h in new])
    con.close()
    return customers, membership, history, log


# ---- the independent checker ---------------------------------------------------------------------------

def iso_week(t):
    return t.isocalendar()[:2]


def month(t):
    return (t.year, t.month)


PERIOD_KEYS = {"weekly": iso_week, "monthly": month}


class Checker:
    """The policies re-stated over plain Python lists: contacts are (at, customer, offer, channel)."""

    def __init__(self, customers, membership, history, log):
        self.log = log
        self.impressions = sorted((at, c, o, ch) for c, o, ch, out, at in history if out == "impression")
        self.run_times = sorted(e["as_of"] for e in log)
        self.by_customer = defaultdict(list)
        for x in self.impressions:
            self.by_customer[x[1]].append(x)
        self.events = [(at, c, o, out) for c, o, ch, out, at in history if out != "impression"]
        self.dnc = {c for c, s in membership if s == DNC}
        self.no_sms = {c[0] for c in customers if not c[7]}
        self.counts = Counter()

    # ---- over the final history: every window, sliding -----------------------------------------------
    def rolling(self, name, window, maximum, keep=lambda x: True, per_offer=False):
        """Every window (t - w, t] holds at most `maximum`: ending at each contact (where a count can
        peak) and at each run time."""
        for customer, contacts in self.by_customer.items():
            for offer in ({x[2] for x in contacts} if per_offer else {None}):
                times = [x[0] for x in contacts if keep(x) and offer in (None, x[2])]
                for end in sorted(set(times) | set(self.run_times)):
                    n = bisect.bisect_right(times, end) - bisect.bisect_right(times, end - window)
                    assert n <= maximum, (name, customer, offer, end, n)
                    self.counts["cap windows"] += 1

    def calendar(self, name, key, maximum, who, keep=lambda x: True):
        """Every calendar period (UTC; ISO weeks) holds at most `maximum` contacts per customer / offer."""
        counts = Counter((who(x), key(x[0])) for x in self.impressions if keep(x))
        for k, n in counts.items():
            assert n <= maximum, (name, k, n)
        self.counts["cap windows"] += len(counts)

    # ---- at every run: what it decided (delivered and withheld) against the history before it -------
    def run(self, entry):
        t = entry["as_of"]
        decided = [(t, c, o, ch) for c, o, ch in entry["decisions"] + entry["withheld"]]
        if quiet(t):
            assert decided == [], ("quiet hours", t)
        past = {c: [x for x in self.by_customer[c] if x[0] < t] for c in {x[1] for x in decided}}
        mine = defaultdict(list)
        for x in decided:
            mine[x[1]].append(x)

        def window(c, start, keep=lambda x: True, closed=False):
            """Contacts of c in (start, t] (or [start, t]) including this run's."""
            return sum(1 for x in past[c] + mine[c] if (x[0] >= start if closed else x[0] > start) and keep(x))

        for c, xs in mine.items():
            assert c not in self.dnc, ("segment exclusion", c)
            assert not any(x[3] == "sms" for x in xs) or c not in self.no_sms, ("consent", c)
            bad = [e for e in self.events if e[1] == c and e[3] in ADVERSE and t - ADVERSE_LOOKBACK < e[0] <= t]
            assert not bad, ("adverse outcome", c, t, bad)
            if past[c]:
                assert t - past[c][-1][0] >= COOLDOWN, ("cooldown", c, t, past[c][-1])
            assert window(c, t - dt.timedelta(hours=24), lambda x: x[3] == DAILY[0]) <= DAILY[1], ("daily", c, t)
            monday = dt.datetime.combine(t.date() - dt.timedelta(days=t.weekday()), dt.time())
            assert window(c, monday, closed=True) <= WEEKLY_TOTAL, ("weekly total", c, t)
            for o in {x[2] for x in xs}:
                assert window(c, t - PER_OFFER[1], lambda x: x[2] == o) <= PER_OFFER[0], ("per offer", c, o, t)
            assert window(c, t - CROSS[2], lambda x: x[3] in CROSS[0]) <= CROSS[1], ("cross-channel", c, t)
            group, lookback = MUTEX
            shown = {x[2] for x in past[c] if x[2] in group and x[0] > t - lookback}
            for o in {x[2] for x in xs} & group:
                assert not shown - {o}, ("mutual exclusion: history", c, o, t, shown)
            assert len({x[2] for x in xs} & group) <= 1, ("mutual exclusion: one per run", c, t)
            self.counts["customer runs"] += 1
        for o, (maximum, period) in IMPRESSION_BUDGETS.items():
            key = PERIOD_KEYS[period]
            spent = sum(1 for x in self.impressions if x[2] == o and x[0] < t and key(x[0]) == key(t))
            assert spent + sum(1 for x in decided if x[2] == o) <= maximum, ("budget", o, t, spent)
        for o, maximum in CONVERSION_BUDGETS.items():
            converted = sum(1 for e in self.events if e[2] == o and e[3] == "convert" and e[0] <= t)
            assert converted < maximum or not any(x[2] == o for x in decided), ("conversion budget", o, t)
        self.counts["budget checks"] += len(IMPRESSION_BUDGETS) + len(CONVERSION_BUDGETS)


def test_thirty_day_simulation(tmp_path):
    started = time.perf_counter()
    customers, membership, history, log = simulate(tmp_path)
    chk = Checker(customers, membership, history, log)
    n_decisions = sum(len(e["decisions"]) for e in log)
    n_withheld = sum(len(e["withheld"]) for e in log)
    assert n_decisions == sum(1 for x in chk.impressions if x[0] in set(chk.run_times))
    assert n_decisions > 300 and n_withheld > 0, "the simulation should contact people"

    quiet_runs = [e for e in log if quiet(e["as_of"])]
    assert 3 <= len(quiet_runs) < DAYS - 10
    assert all(e["reasons"]["Quiet hours 21:00-08:00"] > 0 for e in quiet_runs)

    # the final history: rolling windows sliding over every contact, calendar periods
    chk.rolling("1 email per day", dt.timedelta(hours=24), DAILY[1], keep=lambda x: x[3] == DAILY[0])
    chk.rolling("offer once a week", PER_OFFER[1], PER_OFFER[0], per_offer=True)
    chk.rolling("4 per fortnight", CROSS[2], CROSS[1], keep=lambda x: x[3] in CROSS[0])
    chk.calendar("3 per week", iso_week, WEEKLY_TOTAL, who=lambda x: x[1])
    for offer, (maximum, period) in IMPRESSION_BUDGETS.items():
        chk.calendar(f"budget {offer}", PERIOD_KEYS[period], maximum, who=lambda x: x[2], keep=lambda x, o=offer: x[2] == o)
    # each run: delivered and withheld decisions against the history before it (holdout obeys caps too)
    for e in log:
        chk.run(e)
        assert not {c for c, _, _ in e["decisions"]} & e["holdout"], "holdout customers are never delivered"
        assert {c for c, _, _ in e["withheld"]} <= e["holdout"]

    reasons = sum((e["reasons"] for e in log), Counter())
    for policy in POLICIES:
        assert reasons[policy["name"]] > 0, f"policy {policy['name']!r} never bound: the simulation does not exercise it"
    spent = Counter(month(x[0]) for x in chk.impressions if x[2] == "l3")
    elapsed = time.perf_counter() - started
    print(f"\n{DAYS} runs ({len(quiet_runs)} at quiet hours), {n_decisions} decisions delivered, {n_withheld} withheld, "
          f"{len(chk.impressions)} impressions in the final history; checked {chk.counts['cap windows']} cap windows, "
          f"{chk.counts['customer runs']} customer-runs (cooldown, exclusions, adverse outcomes, caps), "
          f"{chk.counts['budget checks']} budget checks; l3 impressions per month {dict(spent)}; "
          f"rejections by policy {dict(reasons)}; {elapsed:.1f}s")
