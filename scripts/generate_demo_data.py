#!/usr/bin/env python3
"""Generate the shipped winback demo dataset (dbt seeds) for kaireon-sql.

The story follows the KaireonAI winback tutorial (seeds/000): lapsed customers,
three category-matched winback offers, a 3-touch monthly cap and a 15% holdout.
The demo run decides at ``as_of = 2026-11-20 15:00:00`` UTC.

Output (``--out``, default ``seeds/demo``):

* ``demo_customers.csv``            one row per customer (tutorial step 1 schema)
* ``demo_interaction_history.csv``  impressions and responses, 2026-05-01 .. as_of,
                                    plus a few rows after as_of that a run must ignore
* ``demo_segment_membership.csv``   customer_id, segment (vip, do_not_disturb, new_mover)
* ``demo_orders.csv``               customer_id, order_id, ordered_at (UTC), amount, category:
                                    each customer's lifetimePurchases orders, the last one
                                    daysSinceLastPurchase days before as_of, amounts summing to
                                    lifetimeRevenue (S3 orders, read by the lifecycle stage, S9),
                                    plus a few orders after as_of that a run must ignore
* ``demo_past_assignments.csv``     the 2026-10-15 winback run's assignments (one row per
                                    customer: bucket, group, the offer it decided, delivered
                                    or withheld, and would_receive); read by the flow's
                                    experiment analysis as ``experiment.assignmentsRelation``

Deterministic: one ``numpy.random.default_rng(SEED)``, a fixed draw order, and
output written with the csv module (``\\n`` line endings), so two runs give
byte-identical files.  The ``_demo_seeds.yml`` properties file next to the
CSVs is maintained by hand.

Shape of the history:

* background contacts May..October: ``newsletter_weekly`` (email), ``spring_sale``
  (May/June), with clicks, dismisses, converts and rare complaints/unsubscribes;
  every click/convert/dismiss/complaint/unsubscribe follows an impression of the
  same offer, channel, creative and flow key by minutes to days;
* a past winback run on 2026-10-15 14:00:00 UTC (``decision_flow_key = winback``):
  customers eligible at that date (category in apparel/electronics/home, lapsed
  90-365 days then, >= 3 purchases, revenue >= 50, monthly cap not yet reached)
  in treatment (md5 bucket >= 1500) get one impression of the offer matching
  their primaryCategory; the 15% holdout gets nothing.  Converts follow within
  14 days: exactly 12% of treatment and 4% of holdout (rounded).  Holdout converts are organic
  purchases recorded against the withheld offer and the ``winback`` flow key
  (so experiment analysis can attribute them), without a preceding impression
  and without a creative; they are the only responses without an impression;
* November 2026 contacts before as_of: a per-customer count (about 10% with
  exactly 2 and 7% with 3 or more) of newsletters and winback reminders; a
  winback reminder is always the customer's first November contact, so the
  winback flow never breaks its own 3-touch cap;
* converts are purchases: a customer's daysSinceLastPurchase is never older
  than their last convert, and lifetimePurchases/lifetimeRevenue include the
  winback converts.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

SEED = 20261120
N_GENERIC = 2992  # plus 8 story customers = 3000

AS_OF = dt.datetime(2026, 11, 20, 15, 0, 0)
HISTORY_START = dt.datetime(2026, 5, 1)
CAMPAIGN_AT = dt.datetime(2026, 10, 15, 14, 0, 0)
NOV_START = dt.datetime(2026, 11, 1)
NOV_END = dt.datetime(2026, 11, 20, 14, 59, 59)  # last second a November contact may have

FLOW_KEY = "winback"
PAST_RUN_ID = "winback@2026-10-15T14:00:00Z"
HOLDOUT_BUCKETS = 1500  # holdoutPercent 15 * 100
WINBACK_CATEGORIES = ("apparel", "electronics", "home")
CATEGORIES = ("apparel", "electronics", "home", "beauty", "sports", "toys")
CATEGORY_P = (0.34, 0.28, 0.27, 0.05, 0.035, 0.025)
CHANNELS = ("email", "sms", "push")
CHANNEL_P = (0.55, 0.25, 0.20)

CUSTOMER_COLUMNS = [
    "customer_id", "daysSinceLastPurchase", "lifetimePurchases", "lifetimeRevenue",
    "primaryCategory", "preferredChannel", "consentEmail", "consentSMS",
]
HISTORY_COLUMNS = [
    "customer_id", "offer_id", "channel", "outcome", "occurred_at", "value",
    "creative_id", "decision_flow_key",
]
SEGMENT_COLUMNS = ["customer_id", "segment"]
ORDER_COLUMNS = ["customer_id", "order_id", "ordered_at", "amount", "category"]
ORDERS_SEED = SEED + 1  # the orders draw from their own generator: the other files stay as they were
PAST_ASSIGNMENT_COLUMNS = [
    "run_id", "as_of", "decision_flow_key", "customer_id", "bucket", "experiment_group",
    "offer_id", "would_receive",
]

# Story customers: (id, category, days, purchases, revenue, channel, consentEmail, consentSMS)
STORY = [
    ("cust_lapsed_1", "apparel", 120, 7, 300.00, "email", True, False),
    ("cust_active_1", "apparel", 10, 12, 900.00, "email", True, True),
    ("cust_cold_1", "home", 500, 9, 400.00, "email", True, False),
    ("cust_tirekicker_1", "electronics", 150, 1, 20.00, "email", True, False),
    ("cust_noconsent_1", "electronics", 200, 6, 350.00, "email", False, False),
    ("cust_capped_1", "home", 100, 8, 500.00, "email", True, True),
    ("cust_twotouch_1", "apparel", 130, 5, 260.00, "email", True, True),
    ("cust_quote_'1", "apparel", 95, 4, 120.00, "email", True, False),
]
STORY_IDS = frozenset(s[0] for s in STORY)


def bucket(customer_id: str, salt: str = FLOW_KEY) -> int:
    """KaireonAI holdout bucket (SPEC S5)."""
    return int(hashlib.md5(f"{salt}:{customer_id}".encode()).hexdigest()[:8], 16) % 10000


def in_holdout(customer_id: str) -> bool:
    return bucket(customer_id) < HOLDOUT_BUCKETS


def fmt_ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def fmt_money(x: float) -> str:
    return f"{x:.2f}"


def fmt_bool(b: bool) -> str:
    return "true" if b else "false"


def last_purchase_date(days: int) -> dt.date:
    return AS_OF.date() - dt.timedelta(days=int(days))


class Gen:
    def __init__(self, seed: int = SEED):
        self.rng = np.random.default_rng(seed)
        self.customers: list[dict] = []
        self.rows: list[dict] = []

    # -- helpers -----------------------------------------------------------------------
    def daytime(self, day: dt.date) -> dt.datetime:
        """A send time inside quiet-hours-allowed daylight (13:00-23:59 UTC ~ 08-19 New York)."""
        secs = int(self.rng.integers(13 * 3600, 24 * 3600))
        return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=secs)

    def rand_time(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        """Random daytime timestamp in [start, end]."""
        for _ in range(50):
            span_days = (end.date() - start.date()).days
            day = start.date() + dt.timedelta(days=int(self.rng.integers(0, span_days + 1)))
            t = self.daytime(day)
            if start <= t <= end:
                return t
        return start

    def add(self, cust, offer, channel, outcome, at, value=None, creative="", flow=""):
        self.rows.append({
            "customer_id": cust, "offer_id": offer, "channel": channel, "outcome": outcome,
            "occurred_at": at, "value": "" if value is None else fmt_money(value),
            "creative_id": creative, "decision_flow_key": flow,
        })

    def value(self) -> float:
        return round(float(np.clip(self.rng.lognormal(np.log(70), 0.55), 20, 300)), 2)

    # -- customers ---------------------------------------------------------------------
    def make_customers(self):
        rng = self.rng
        n = N_GENERIC
        cat = rng.choice(len(CATEGORIES), size=n, p=CATEGORY_P)
        band = rng.choice(3, size=n, p=(0.33, 0.40, 0.27))  # recent, lapse window, cold
        recent = rng.integers(0, 90, size=n)
        lapse = 90 + np.floor(rng.beta(1.3, 1.8, size=n) * 276).astype(int)
        cold = 366 + np.floor(rng.beta(1.0, 2.2, size=n) * 535).astype(int)
        days = np.where(band == 0, recent, np.where(band == 1, lapse, cold))
        purchases = np.clip(1 + np.floor(rng.gamma(1.4, 3.6, size=n)), 1, 40).astype(int)
        aov = rng.lognormal(np.log(48), 0.5, size=n)
        revenue = np.round(purchases * aov, 2)
        chan = rng.choice(len(CHANNELS), size=n, p=CHANNEL_P)
        c_email = rng.random(n) < 0.90
        c_sms = rng.random(n) < 0.60
        for i in range(n):
            self.customers.append({
                "customer_id": f"cust_{i + 1:05d}",
                "daysSinceLastPurchase": int(days[i]),
                "lifetimePurchases": int(purchases[i]),
                "lifetimeRevenue": float(revenue[i]),
                "primaryCategory": CATEGORIES[cat[i]],
                "preferredChannel": CHANNELS[chan[i]],
                "consentEmail": bool(c_email[i]),
                "consentSMS": bool(c_sms[i]),
                "story": False,
            })
        for cid, category, d, p, r, ch, ce, cs in STORY:
            self.customers.append({
                "customer_id": cid, "daysSinceLastPurchase": d, "lifetimePurchases": p,
                "lifetimeRevenue": r, "primaryCategory": category, "preferredChannel": ch,
                "consentEmail": ce, "consentSMS": cs, "story": True,
            })

    def contact_channel(self, c) -> str:
        """Channel a marketing send would use: preferred if consented, else push."""
        ch = c["preferredChannel"]
        if ch == "email" and not c["consentEmail"]:
            return "push"
        if ch == "sms" and not c["consentSMS"]:
            return "push"
        return ch

    # -- responses to one impression ---------------------------------------------------
    def respond(self, c, offer, channel, at, creative, flow, p_click, p_dismiss, p_convert,
                allow_convert_until: dt.date | None, horizon: dt.datetime):
        """Add responses after an impression; converts only up to the last purchase date."""
        rng = self.rng
        cid = c["customer_id"]
        u = rng.random()
        if u < p_click:
            t_click = at + dt.timedelta(minutes=int(rng.integers(2, 6 * 60)))
            if t_click <= horizon:
                self.add(cid, offer, channel, "click", t_click, creative=creative, flow=flow)
                if rng.random() < p_convert:
                    t_conv = t_click + dt.timedelta(minutes=int(rng.integers(5, 3 * 24 * 60)))
                    v = self.value()
                    if (t_conv <= horizon and allow_convert_until is not None
                            and t_conv.date() <= allow_convert_until):
                        self.add(cid, offer, channel, "convert", t_conv, v, creative, flow)
        elif u < p_click + p_dismiss:
            t = at + dt.timedelta(minutes=int(rng.integers(1, 48 * 60)))
            if t <= horizon:
                self.add(cid, offer, channel, "dismiss", t, creative=creative, flow=flow)
        elif u < p_click + p_dismiss + 0.004 and channel in ("email", "sms"):
            outcome = "complaint" if rng.random() < 0.4 else "unsubscribe"
            t = at + dt.timedelta(minutes=int(rng.integers(10, 24 * 60)))
            if t <= horizon:
                self.add(cid, offer, channel, outcome, t, creative=creative, flow=flow)

    # -- background May..October --------------------------------------------------------
    def background(self):
        rng = self.rng
        bg_end = dt.datetime(2026, 10, 31, 23, 59, 59)
        for c in self.customers:
            if c["story"]:
                continue
            cid = c["customer_id"]
            lp = last_purchase_date(c["daysSinceLastPurchase"])
            n_news = int(rng.poisson(3.0)) if c["consentEmail"] else 0
            n_spring = int(rng.poisson(1.0))
            for _ in range(n_news):
                at = self.rand_time(HISTORY_START, bg_end)
                cr = f"cr_newsletter_{at:%Y%m%d}"
                self.add(cid, "newsletter_weekly", "email", "impression", at, creative=cr)
                self.respond(c, "newsletter_weekly", "email", at, cr, "", 0.07, 0.04, 0.25,
                             lp, AS_OF - dt.timedelta(seconds=1))
            for _ in range(n_spring):
                at = self.rand_time(HISTORY_START, dt.datetime(2026, 6, 30, 23, 59, 59))
                ch = self.contact_channel(c)
                cr = f"cr_spring_sale_{ch}"
                self.add(cid, "spring_sale", ch, "impression", at, creative=cr,
                         flow="spring_promo")
                self.respond(c, "spring_sale", ch, at, cr, "spring_promo", 0.10, 0.05, 0.30,
                             lp, AS_OF - dt.timedelta(seconds=1))

    # -- the 2026-10-15 winback run ----------------------------------------------------
    def october_impressions_before(self, cid: str, t: dt.datetime) -> int:
        return sum(1 for r in self.rows if r["customer_id"] == cid and r["outcome"] == "impression"
                   and r["occurred_at"].year == t.year and r["occurred_at"].month == t.month
                   and r["occurred_at"] <= t)

    def campaign(self):
        """The 2026-10-15 14:00 UTC winback run and its converts within 14 days.

        Conversion counts are exact (12% of treated, 4% of the holdout, rounded) rather
        than Bernoulli draws, so the ~100-customer holdout reliably shows a lift that the
        experiment z-test can detect; the customers who convert are drawn at random.
        """
        rng = self.rng
        days_back = (AS_OF.date() - CAMPAIGN_AT.date()).days
        self.campaign_treated: set[str] = set()
        self.campaign_converted: set[str] = set()
        oct_counts: dict[str, int] = {}
        for r in self.rows:
            t = r["occurred_at"]
            if r["outcome"] == "impression" and t.year == 2026 and t.month == 10 and t <= CAMPAIGN_AT:
                oct_counts[r["customer_id"]] = oct_counts.get(r["customer_id"], 0) + 1
        treated, holdout, capped = [], [], 0
        for c in self.customers:
            then = c["daysSinceLastPurchase"] - days_back
            if not (c["primaryCategory"] in WINBACK_CATEGORIES and 90 <= then <= 365
                    and c["lifetimePurchases"] >= 3 and c["lifetimeRevenue"] >= 50):
                continue
            if in_holdout(c["customer_id"]):
                holdout.append(c)
            elif oct_counts.get(c["customer_id"], 0) >= 3:
                capped += 1  # the run's own 3-touch monthly cap
            else:
                treated.append(c)
        for c in treated:
            offer = f"winback_{c['primaryCategory']}"
            ch = self.contact_channel(c)
            self.add(c["customer_id"], offer, ch, "impression", CAMPAIGN_AT,
                     creative=f"cr_{offer}_{ch}", flow=FLOW_KEY)
            self.campaign_treated.add(c["customer_id"])

        def pick(group, rate):
            pool = [c for c in group if not c["story"]]
            k = int(round(rate * len(group)))
            idx = sorted(int(i) for i in rng.choice(len(pool), size=k, replace=False))
            return {pool[i]["customer_id"] for i in idx}

        conv_t = pick(treated, 0.12)
        conv_h = pick(holdout, 0.04)
        for c in treated + holdout:
            cid = c["customer_id"]
            offer = f"winback_{c['primaryCategory']}"
            ch = self.contact_channel(c)
            is_treated = cid in self.campaign_treated
            cr = f"cr_{offer}_{ch}" if is_treated else ""
            delay = int(rng.integers(30, 14 * 24 * 60))  # minutes after the run, < 14 days
            u = rng.random()
            v = self.value()
            if c["story"]:
                continue
            if cid in conv_t or cid in conv_h:
                if is_treated and u < 0.7:
                    t_click = CAMPAIGN_AT + dt.timedelta(minutes=max(1, delay // 3))
                    self.add(cid, offer, ch, "click", t_click, creative=cr, flow=FLOW_KEY)
                self.add(cid, offer, ch, "convert", CAMPAIGN_AT + dt.timedelta(minutes=delay),
                         v, cr, FLOW_KEY)
                self.campaign_converted.add(cid)
            elif is_treated and u < 0.06:
                t = CAMPAIGN_AT + dt.timedelta(minutes=max(1, delay // 3))
                self.add(cid, offer, ch, "click", t, creative=cr, flow=FLOW_KEY)
            elif is_treated and u < 0.11:
                t = CAMPAIGN_AT + dt.timedelta(minutes=max(1, delay // 5))
                self.add(cid, offer, ch, "dismiss", t, creative=cr, flow=FLOW_KEY)
        # What the run assigned (S4's kaireon_assignments columns) and whom it would have sent an
        # offer (would_receive): treated customers, and holdout customers who were eligible and
        # under the 3-touch cap, as the flow applies contact policies before the holdout split.
        # Holdout customers over the cap are assigned but would not have received an offer.
        eligible_ids = {c["customer_id"] for c in treated + holdout}
        self.past_assignments = []
        for c in self.customers:
            cid = c["customer_id"]
            group = "holdout" if in_holdout(cid) else "treatment"
            would = cid in self.campaign_treated or (
                group == "holdout" and cid in eligible_ids and oct_counts.get(cid, 0) < 3)
            self.past_assignments.append([
                PAST_RUN_ID, fmt_ts(CAMPAIGN_AT), FLOW_KEY, cid, bucket(cid), group,
                f"winback_{c['primaryCategory']}" if would else "", fmt_bool(would)])
        self.campaign_stats = {"eligible": len(treated) + len(holdout) + capped,
                               "treatment": len(treated), "holdout": len(holdout),
                               "capped": capped, "treat_conv": len(conv_t),
                               "hold_conv": len(conv_h)}

    # -- November before as_of ----------------------------------------------------------
    def november(self):
        rng = self.rng
        for c in self.customers:
            cid = c["customer_id"]
            k = int(rng.choice(5, p=(0.63, 0.20, 0.10, 0.055, 0.015)))
            reminder = rng.random() < 0.6
            if c["story"] or k == 0:
                continue
            times = sorted(self.rand_time(NOV_START, NOV_END) for _ in range(k))
            lp = last_purchase_date(c["daysSinceLastPurchase"])
            for j, at in enumerate(times):
                days_then = c["daysSinceLastPurchase"] - (AS_OF.date() - at.date()).days
                if (j == 0 and reminder and cid in self.campaign_treated
                        and cid not in self.campaign_converted and days_then <= 365):
                    offer = f"winback_{c['primaryCategory']}"
                    ch = self.contact_channel(c)
                    cr, flow = f"cr_{offer}_{ch}", FLOW_KEY
                elif c["consentEmail"]:
                    offer, ch, cr, flow = "newsletter_weekly", "email", f"cr_newsletter_{at:%Y%m%d}", ""
                else:
                    offer, ch, cr, flow = "newsletter_weekly", "push", "", ""
                self.add(cid, offer, ch, "impression", at, creative=cr, flow=flow)
                self.respond(c, offer, ch, at, cr, flow, 0.06, 0.04, 0.2, lp, NOV_END)

    # -- hand-written story histories ---------------------------------------------------
    def story(self):
        T = dt.datetime
        a = self.add
        # cust_lapsed_1: active until July (last purchase 2026-07-23), nothing in November.
        a("cust_lapsed_1", "spring_sale", "email", "impression", T(2026, 5, 12, 14, 5, 0),
          creative="cr_spring_sale_email", flow="spring_promo")
        a("cust_lapsed_1", "spring_sale", "email", "click", T(2026, 5, 12, 15, 40, 12),
          creative="cr_spring_sale_email", flow="spring_promo")
        a("cust_lapsed_1", "newsletter_weekly", "email", "impression", T(2026, 7, 21, 16, 0, 0),
          creative="cr_newsletter_20260721")
        a("cust_lapsed_1", "newsletter_weekly", "email", "click", T(2026, 7, 22, 9, 14, 3),
          creative="cr_newsletter_20260721")
        a("cust_lapsed_1", "newsletter_weekly", "email", "convert", T(2026, 7, 23, 18, 2, 44),
          value=42.50, creative="cr_newsletter_20260721")
        a("cust_lapsed_1", "newsletter_weekly", "email", "impression", T(2026, 9, 8, 16, 0, 0),
          creative="cr_newsletter_20260908")
        a("cust_lapsed_1", "newsletter_weekly", "email", "dismiss", T(2026, 9, 8, 19, 31, 0),
          creative="cr_newsletter_20260908")
        # cust_active_1: recent buyer, one November newsletter.
        a("cust_active_1", "newsletter_weekly", "email", "impression", T(2026, 11, 2, 16, 0, 0),
          creative="cr_newsletter_20261102")
        a("cust_active_1", "newsletter_weekly", "email", "click", T(2026, 11, 2, 17, 12, 0),
          creative="cr_newsletter_20261102")
        # cust_cold_1: last touched in May, never responded.
        a("cust_cold_1", "spring_sale", "email", "impression", T(2026, 5, 20, 15, 30, 0),
          creative="cr_spring_sale_email", flow="spring_promo")
        # cust_tirekicker_1: one newsletter.
        a("cust_tirekicker_1", "newsletter_weekly", "email", "impression", T(2026, 8, 4, 16, 0, 0),
          creative="cr_newsletter_20260804")
        # cust_noconsent_1: email consent revoked; reached by push only.  Its Oct 15 campaign
        # impression (it was eligible then, in treatment) is added by campaign().
        a("cust_noconsent_1", "spring_sale", "push", "impression", T(2026, 6, 3, 17, 45, 0),
          creative="cr_spring_sale_push", flow="spring_promo")
        # cust_capped_1: three November contacts before as_of (cap of 3 reached) and one
        # after as_of that a run at as_of must not see.
        a("cust_capped_1", "newsletter_weekly", "email", "impression", T(2026, 11, 3, 16, 0, 0),
          creative="cr_newsletter_20261103")
        a("cust_capped_1", "newsletter_weekly", "email", "impression", T(2026, 11, 10, 16, 0, 0),
          creative="cr_newsletter_20261110")
        a("cust_capped_1", "winback_home", "email", "impression", T(2026, 11, 17, 14, 0, 0),
          creative="cr_winback_home_email", flow=FLOW_KEY)
        a("cust_capped_1", "winback_home", "email", "dismiss", T(2026, 11, 17, 20, 3, 9),
          creative="cr_winback_home_email", flow=FLOW_KEY)
        # cust_twotouch_1: Oct 15 campaign impression (added by campaign()), then two
        # November contacts: one left under the cap.
        a("cust_twotouch_1", "winback_apparel", "email", "impression", T(2026, 11, 5, 14, 0, 0),
          creative="cr_winback_apparel_email", flow=FLOW_KEY)
        a("cust_twotouch_1", "newsletter_weekly", "email", "impression", T(2026, 11, 12, 16, 0, 0),
          creative="cr_newsletter_20261112")
        a("cust_twotouch_1", "newsletter_weekly", "email", "click", T(2026, 11, 12, 18, 20, 0),
          creative="cr_newsletter_20261112")
        # cust_quote_'1: an id with a quote in it, a couple of ordinary rows.
        a("cust_quote_'1", "newsletter_weekly", "email", "impression", T(2026, 8, 18, 16, 0, 0),
          creative="cr_newsletter_20260818")
        a("cust_quote_'1", "newsletter_weekly", "email", "impression", T(2026, 11, 9, 16, 0, 0),
          creative="cr_newsletter_20261109")

    # -- rows after as_of ---------------------------------------------------------------
    def future(self):
        """Rows after as_of that a run at as_of must ignore.  They go mostly to generic
        customers with exactly two November contacts, who would look capped if counted."""
        T = dt.datetime
        nov = {}
        for r in self.rows:
            t = r["occurred_at"]
            if r["outcome"] == "impression" and NOV_START <= t <= NOV_END:
                nov[r["customer_id"]] = nov.get(r["customer_id"], 0) + 1
        two = sorted(cid for cid, k in nov.items() if k == 2 and cid not in STORY_IDS)
        picks = [two[int(i)] for i in self.rng.choice(len(two), size=10, replace=False)]
        by_id = {c["customer_id"]: c for c in self.customers}
        times = [T(2026, 11, 20, 15, 0, 1), T(2026, 11, 20, 15, 30, 0)] + [
            self.rand_time(T(2026, 11, 20, 16, 0, 0), T(2026, 11, 27, 23, 0, 0)) for _ in range(8)]
        for cid, at in zip(picks, times):
            c = by_id[cid]
            if c["consentEmail"]:
                self.add(cid, "newsletter_weekly", "email", "impression", at,
                         creative=f"cr_newsletter_{at:%Y%m%d}")
            else:
                self.add(cid, "newsletter_weekly", "push", "impression", at)
        self.add("cust_capped_1", "winback_home", "email", "click", T(2026, 11, 21, 10, 0, 0),
                 creative="cr_winback_home_email", flow=FLOW_KEY)
        self.add(picks[0], "newsletter_weekly", "email" if by_id[picks[0]]["consentEmail"] else "push",
                 "convert", T(2026, 11, 22, 12, 0, 0), 55.0,
                 f"cr_newsletter_{times[0]:%Y%m%d}" if by_id[picks[0]]["consentEmail"] else "")

    # -- purchases implied by converts ----------------------------------------------------
    def reconcile(self):
        """Converts are purchases: keep customer recency and lifetime totals consistent."""
        by_id = {c["customer_id"]: c for c in self.customers}
        for r in self.rows:
            if r["outcome"] != "convert" or r["occurred_at"] > AS_OF:
                continue
            c = by_id[r["customer_id"]]
            if c["story"]:
                continue
            days = (AS_OF.date() - r["occurred_at"].date()).days
            if r["customer_id"] in self.campaign_converted and r["decision_flow_key"] == FLOW_KEY:
                c["lifetimePurchases"] = min(40, c["lifetimePurchases"] + 1)
                c["lifetimeRevenue"] = round(c["lifetimeRevenue"] + float(r["value"]), 2)
            c["daysSinceLastPurchase"] = min(c["daysSinceLastPurchase"], days)

    def run(self):
        self.make_customers()
        self.background()
        self.story()
        self.campaign()
        self.november()
        self.future()
        self.reconcile()
        self.rows.sort(key=lambda r: (r["occurred_at"], r["customer_id"], r["offer_id"],
                                      r["outcome"]))

    def segments(self) -> list[tuple[str, str]]:
        rng = self.rng
        out = []
        rev = np.array([c["lifetimeRevenue"] for c in self.customers])
        vip_cut = np.quantile(rev, 0.93)
        for c in self.customers:
            cid = c["customer_id"]
            u_vip, u_dnd, u_nm = rng.random(3)
            if c["story"]:
                u_dnd = 1.0
            if (c["lifetimeRevenue"] >= vip_cut and u_vip < 0.6) or u_vip < 0.008:
                out.append((cid, "vip"))
            if u_dnd < 0.02:
                out.append((cid, "do_not_disturb"))
            if u_nm < 0.03:
                out.append((cid, "new_mover"))
        return out


def orders(customers: list[dict], seed: int = ORDERS_SEED) -> list[list]:
    """Each customer's lifetimePurchases orders: the last on the day daysSinceLastPurchase before as_of,
    earlier ones 10-120 days apart (about one customer in ten came back after a pause of 200-400 days
    before the last order: a win-back), amounts splitting lifetimeRevenue to the cent; then five orders
    after as_of."""
    rng = np.random.default_rng(seed)
    out = []
    for c in customers:
        n, days = int(c["lifetimePurchases"]), int(c["daysSinceLastPurchase"])
        dates = [last_purchase_date(days)]
        paused = rng.random() < 0.1
        for i in range(n - 1):
            gap = int(rng.integers(200, 401)) if paused and i == 0 else int(rng.integers(10, 121))
            dates.append(dates[-1] - dt.timedelta(days=gap))
        cents = int(round(c["lifetimeRevenue"] * 100))
        shares = rng.dirichlet(np.ones(n)) if n > 1 else np.ones(1)
        parts = [int(x) for x in np.floor(shares * cents)]
        parts[0] += cents - sum(parts)
        for day, amount in zip(dates, parts):
            at = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=int(rng.integers(8 * 3600, 15 * 3600)))
            category = c["primaryCategory"] if rng.random() < 0.7 else CATEGORIES[int(rng.integers(len(CATEGORIES)))]
            out.append([c["customer_id"], at, amount / 100, category])
    for i in rng.choice(len(customers), size=5, replace=False):  # after as_of: a run at as_of ignores them
        c = customers[int(i)]
        at = AS_OF + dt.timedelta(minutes=int(rng.integers(1, 7 * 24 * 60)))
        out.append([c["customer_id"], at, round(float(rng.uniform(20, 150)), 2), c["primaryCategory"]])
    out.sort(key=lambda r: (r[1], r[0]))
    return [[cid, f"ord_{k:06d}", fmt_ts(at), fmt_money(amount), cat] for k, (cid, at, amount, cat) in
            enumerate(out, start=1)]


def write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(r)


def generate(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    g = Gen()
    g.run()
    segs = g.segments()
    write_csv(out / "demo_customers.csv", CUSTOMER_COLUMNS, (
        [c["customer_id"], c["daysSinceLastPurchase"], c["lifetimePurchases"],
         fmt_money(c["lifetimeRevenue"]), c["primaryCategory"], c["preferredChannel"],
         fmt_bool(c["consentEmail"]), fmt_bool(c["consentSMS"])] for c in g.customers))
    write_csv(out / "demo_interaction_history.csv", HISTORY_COLUMNS, (
        [r["customer_id"], r["offer_id"], r["channel"], r["outcome"], fmt_ts(r["occurred_at"]),
         r["value"], r["creative_id"], r["decision_flow_key"]] for r in g.rows))
    write_csv(out / "demo_segment_membership.csv", SEGMENT_COLUMNS, segs)
    write_csv(out / "demo_past_assignments.csv", PAST_ASSIGNMENT_COLUMNS, g.past_assignments)
    demo_orders = orders(g.customers)
    write_csv(out / "demo_orders.csv", ORDER_COLUMNS, demo_orders)
    return {"customers": len(g.customers), "interactions": len(g.rows), "orders": len(demo_orders),
            "segments": len(segs), "campaign": g.campaign_stats}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parent.parent / "seeds" / "demo"
    ap.add_argument("--out", type=Path, default=default_out,
                    help="output directory (default: seeds/demo of this repository)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    stats = generate(args.out)
    if not args.quiet:
        print(stats, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
