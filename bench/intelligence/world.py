"""The simulated world of bench/intelligence: synthetic customers with a latent truth, and the response
model outcomes are drawn from. Pure numpy and the standard library (no dbt, no kaireon): every number
here is an ASSUMPTION of the simulation, listed in bench/intelligence/README.md.

Deterministic from the seed: each kind of draw has its own stream `np.random.default_rng([seed, k, ...])`,
and the daily draws (carts, clicks, conversions, organic orders) are common random numbers: the same for
both arms on the same seed and day, so the arms are compared on the same luck.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

CHANNELS = ("email", "sms", "whatsapp", "push")
# share of customers who consented to each channel (everyone has email: the cart needs an address)
CONSENT_RATE = {"email": 1.0, "sms": 0.6, "whatsapp": 0.55, "push": 0.35}
# weight of each channel as a customer's preferred one, among the channels the customer consented to
PREFERRED_WEIGHT = {"email": 0.20, "sms": 0.20, "whatsapp": 0.50, "push": 0.10}
NEVER_OPEN_EMAIL = 1 / 3  # seed 002: "a third never open email"
ZONES = {"America/New_York": 0.30, "America/Chicago": 0.10, "America/Los_Angeles": 0.20, "Europe/London": 0.15,
         "Europe/Berlin": 0.10, "Asia/Kolkata": 0.08, "Australia/Sydney": 0.07}
# the customer's active hours: a peak local hour drawn from one of three habits
HABITS = ((0.25, (7, 8, 9)), (0.20, (12, 13)), (0.55, (18, 19, 20, 21, 22)))
HOUR_WIDTH = 2.0   # hours: the response falls off as a Gaussian of the distance to the peak hour
HOUR_FLOOR = 0.60  # ... down to this share of the peak response (a message read later, off-peak)
TIERS = (5, 10, 15, 25)  # discount tiers (percent)
# the smallest tier a customer needs, by lifecycle stage (new and active customers need less)
THRESHOLD_SHARES = {"new": (0.60, 0.20, 0.10, 0.10), "active": (0.80, 0.10, 0.05, 0.05),
                    "at_risk": (0.30, 0.30, 0.20, 0.20), "lapsed": (0.05, 0.15, 0.30, 0.50),
                    "won_back": (0.40, 0.30, 0.20, 0.10)}
BELOW_THRESHOLD = 0.35  # P(convert | click) with a discount below the customer's threshold, as a share
CONVERT_GIVEN_CLICK = 0.90  # P(convert | click) at or above the threshold, before the stage factor
STAGE_CONVERT = {"new": 1.0, "active": 1.2, "at_risk": 0.85, "lapsed": 0.6, "won_back": 1.0}
STAGE_CART = {"new": 0.12, "active": 0.14, "at_risk": 0.07, "lapsed": 0.04, "won_back": 0.12}  # P(abandon a cart) a day
STAGES = ("new", "won_back", "active", "at_risk", "lapsed")
NEW_DAYS, ACTIVE_DAYS, LAPSED_DAYS = 30, 60, 180  # S9 defaults: the truth's stage uses the same rule
CLICK_MINUTES, CONVERT_MINUTES = 10, 40  # after the send: a click, then the conversion
HISTORY_WEEKS = 4  # weekly broadcasts on every consented channel before the first run (the engagement log)


def _circular(a: np.ndarray, b) -> np.ndarray:
    d = np.abs(np.asarray(a, dtype=float) - b) % 24
    return np.minimum(d, 24 - d)


def hour_factor(peak: np.ndarray, hour) -> np.ndarray:
    """The share of the peak response a message sent at local `hour` gets."""
    d = _circular(peak, hour)
    return HOUR_FLOOR + (1 - HOUR_FLOOR) * np.exp(-d ** 2 / (2 * HOUR_WIDTH ** 2))


def stage_of(order_days: list[float], today: float) -> str:
    """S9's rule on day numbers (fractional days since the epoch of the simulation): the truth's stage."""
    if not order_days:
        return "lapsed"
    last, first = order_days[-1], order_days[0]
    recency = today - last
    if today - first <= NEW_DAYS:
        return "new"
    if len(order_days) >= 2 and recency <= ACTIVE_DAYS and last - order_days[-2] > LAPSED_DAYS:
        return "won_back"
    if recency <= ACTIVE_DAYS:
        return "active"
    if recency <= LAPSED_DAYS:
        return "at_risk"
    return "lapsed"


@dataclass
class World:
    seed: int
    n: int
    start: datetime  # as_of of run 0 (UTC, naive)
    ids: list[str]
    zone: list[str]
    consent: dict[str, np.ndarray]       # channel -> bool per customer
    engage: dict[str, np.ndarray]        # channel -> P(click | message at the peak hour)
    preferred: np.ndarray                # index into CHANNELS
    peak: np.ndarray                     # local peak hour
    threshold_u: np.ndarray              # uniform: the threshold tier through THRESHOLD_SHARES of the stage
    order_rate: np.ndarray               # organic orders a day
    cart_mean: np.ndarray                # mean cart value
    prior_orders: list[list[float]] = field(default_factory=list)  # day numbers (< 0) of orders before run 0

    def threshold(self, stages: list[str]) -> np.ndarray:
        out = np.empty(self.n)
        for i, s in enumerate(stages):
            cum = np.cumsum(THRESHOLD_SHARES[s])
            out[i] = TIERS[int(np.searchsorted(cum, self.threshold_u[i], side="right").clip(0, len(TIERS) - 1))]
        return out

    def day_time(self, day: float) -> datetime:
        return self.start + timedelta(days=day)

    def local_hour(self, i: int, at: datetime) -> int:
        return at.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(self.zone[i])).hour

    def next_local(self, i: int, at: datetime, hour: int) -> datetime:
        """The first instant at or after `at` (UTC) where the customer's local clock reads `hour`:00 (the
        baseline's 9 a.m.; in Asia/Kolkata that is hh:30 UTC). UTC, naive."""
        z = ZoneInfo(self.zone[i])
        t = at.replace(tzinfo=timezone.utc)
        day = t.astimezone(z).date()
        for k in range(3):
            local = datetime(day.year, day.month, day.day, hour, tzinfo=z) + timedelta(days=k)
            local = datetime(local.year, local.month, local.day, hour, tzinfo=z)
            if local.astimezone(timezone.utc) >= t:
                return local.astimezone(timezone.utc).replace(tzinfo=None)
        raise ValueError(f"no local hour {hour} in {self.zone[i]} within 3 days of {at}")


def make_world(seed: int, n: int, start: datetime) -> World:
    rng = np.random.default_rng([seed, 1])
    zones = list(ZONES)
    zone = [zones[k] for k in rng.choice(len(zones), n, p=np.array(list(ZONES.values())) / sum(ZONES.values()))]
    consent = {c: rng.random(n) < CONSENT_RATE[c] for c in CHANNELS}
    weights = np.array([[PREFERRED_WEIGHT[c] * consent[c][i] for c in CHANNELS] for i in range(n)])
    preferred = np.array([rng.choice(len(CHANNELS), p=w / w.sum()) for w in weights])
    engage = {c: rng.beta(3, 9, n) for c in CHANNELS}  # a channel the customer does not prefer: ~25%
    best = rng.beta(5, 5, n)                               # the preferred channel: ~50%
    for k, c in enumerate(CHANNELS):
        engage[c] = np.where(preferred == k, best, engage[c])
    never_email = (rng.random(n) < NEVER_OPEN_EMAIL) & (preferred != 0)
    engage["email"] = np.where(never_email, 0.01, engage["email"])
    habit = rng.choice(len(HABITS), n, p=[h[0] for h in HABITS])
    peak = np.array([rng.choice(HABITS[h][1]) for h in habit], dtype=float)
    world = World(seed, n, start, [f"c{i:06d}" for i in range(1, n + 1)], zone, consent, engage, preferred, peak,
                  rng.random(n), rng.gamma(2.0, 1 / 120, n), rng.lognormal(np.log(70), 0.4, n))
    world.prior_orders = _prior_orders(seed, n)
    return world


def _prior_orders(seed: int, n: int) -> list[list[float]]:
    """Order days before run 0 (day < 0): a past buying spell of a few orders, which ended some time ago,
    and for some customers a return after a long gap (so every stage, won_back included, occurs)."""
    rng = np.random.default_rng([seed, 2])
    out = []
    for _ in range(n):
        if rng.random() < 0.08:
            out.append([])
            continue
        end = -rng.exponential(90)
        count = int(rng.integers(1, 6))
        days = sorted((end - rng.uniform(0, 200, count - 1)).tolist() + [end])
        if rng.random() < 0.1:  # came back after more than lapsedDays
            days = [d - LAPSED_DAYS - 20 for d in days[:-1]] + [min(days[-1], -1.0)]
        out.append(sorted(days))
    return out


@dataclass
class DayDraws:
    cart: np.ndarray      # uniform: a cart is abandoned iff cart < STAGE_CART[stage]
    cart_value: np.ndarray
    click: np.ndarray     # uniform: a click iff click < P(click)
    convert: np.ndarray   # uniform: a conversion iff convert < P(convert | click)
    organic: np.ndarray   # uniform: an organic order iff organic < order_rate
    organic_at: np.ndarray  # fraction of the day


def day_draws(world: World, day: int) -> DayDraws:
    """The common random numbers of one day (the same for both arms)."""
    rng = np.random.default_rng([world.seed, 3, day])
    u = rng.random((5, world.n))
    value = world.cart_mean * np.exp(rng.normal(0, 0.3, world.n))
    return DayDraws(u[0], np.round(value, 2), u[1], u[2], u[3], u[4])


def p_click(world: World, idx: np.ndarray, channel: list[str], local_hour: np.ndarray) -> np.ndarray:
    """P(click) of a message to customers `idx` on `channel` sent at `local_hour` (their own zone)."""
    eng = np.array([world.engage[c][i] for i, c in zip(idx, channel)], dtype=float)
    return eng * hour_factor(world.peak[idx], np.asarray(local_hour, dtype=float))


def p_convert_given_click(stage: list[str], threshold: np.ndarray, discount: np.ndarray) -> np.ndarray:
    mult = np.array([STAGE_CONVERT[s] for s in stage])
    return np.clip(CONVERT_GIVEN_CLICK * mult * np.where(discount >= threshold, 1.0, BELOW_THRESHOLD), 0, 1)


def broadcast_history(world: World) -> list[tuple]:
    """The engagement log before run 0: HISTORY_WEEKS weekly broadcasts (offer `newsletter`) on every
    channel the customer consented to, sent at a random local hour 8-20; a click comes at the customer's
    next active hour (the peak hour +- 1) with P = the channel's engagement. Rows as the interaction
    history holds them."""
    rng = np.random.default_rng([world.seed, 4])
    rows = []
    for week in range(HISTORY_WEEKS, 0, -1):
        day = -7.0 * week + 0.0
        for i in range(world.n):
            for c in CHANNELS:
                if not world.consent[c][i]:
                    continue
                send = world.next_local(i, world.day_time(day + rng.random()), int(rng.integers(8, 21)))
                rows.append((world.ids[i], "newsletter", c, "impression", send, None))
                if rng.random() < world.engage[c][i]:
                    hour = int(world.peak[i] + rng.integers(-1, 2)) % 24
                    at = world.next_local(i, send, hour) + timedelta(minutes=int(rng.integers(0, 50)))
                    rows.append((world.ids[i], "newsletter", c, "click", at, None))
    return rows
