"""The two arms of bench/intelligence as kaireon config, and which S9 features this checkout supports.

(a) baseline, as seed 002 describes it: every abandoned cart gets one email, at 9 a.m. local, with a
    flat 15% discount. The flow decides the channel (`flowConfig.channel: email`); the send hour and the
    discount are the marketing calendar's, outside the decisioning: the decisions carry no `send_at` and
    no `discount_pct`, and the simulator's dispatcher sends at 09:00 local with 15% (DEFAULT_SEND_HOUR,
    DEFAULT_DISCOUNT).
(b) learned: the same flow plus the four S9 models: `orders` + `lifecycle` (customer.lifecycleStage, the
    discount learner's default group), `flowConfig.channel: auto` over `flowConfig.channels`,
    `flowConfig.sendTime: optimize`, `flowConfig.discountTiers: [5, 10, 15, 25]`. A feature this
    checkout does not support yet (its config is refused, or does not compile) is left out of the arm
    and named in the report; its decision column then falls back to the dispatcher's default.
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import yaml

from world import CHANNELS, LAPSED_DAYS, ACTIVE_DAYS, NEW_DAYS, TIERS

FLOW_KEY = "recovery"
OFFER_ID = "cart_recovery"
OFFER_VALUE = 70  # the offer's value (businessValue, revenueValue): the mean cart value of the world
DEFAULT_SEND_HOUR = 9    # the baseline's send hour, local
DEFAULT_DISCOUNT = 15.0  # the baseline's flat discount, percent
FEATURES = ("lifecycle", "channel", "sendtime", "discount")

CUSTOMER_FIELDS = [
    {"name": "customer_id", "dataType": "varchar", "isUnique": True},
    {"name": "timezone", "dataType": "varchar"},
    {"name": "cart_open", "dataType": "integer"},
    {"name": "cart_value", "dataType": "double"},
    # the truth's lifecycle stage (S9's rule on the same orders, computed by the simulator): the discount
    # learner's group while the warehouse's lifecycle model is not on main (see learned_config)
    {"name": "sim_stage", "dataType": "varchar"},
] + [{"name": f"{c}_opt_in", "dataType": "boolean"} for c in CHANNELS]


def base_config() -> dict:
    """The baseline arm: one offer, decided for every customer with an open cart, on email."""
    nodes = [
        {"id": "inv", "type": "inventory", "phase": 1, "position": 0,
         "config": {"scope": "all", "includeStatuses": ["active"]}},
        {"id": "enr", "type": "enrich", "phase": 1, "position": 1,
         "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id",
                                 "fields": ["cart_open", "cart_value", "timezone", "sim_stage",
                                            *(f"{c}_opt_in" for c in CHANNELS)]}]}},
        {"id": "cart", "type": "filter", "phase": 1, "position": 2, "label": "an abandoned cart today",
         "config": {"mode": "all", "conditions": [{"field": "customer.cart_open", "operator": "eq", "value": 1}]}},
        {"id": "score", "type": "score", "phase": 2, "position": 3,
         "config": {"method": "formula", "formula": {"propensityWeight": 1, "impactWeight": 1, "emphasisWeight": 1}}},
        {"id": "rank", "type": "rank", "phase": 2, "position": 4, "config": {"method": "topN", "maxCandidates": 1}},
        {"id": "out", "type": "response", "phase": 3, "position": 5, "config": {"responseFormat": "standard"}},
    ]
    return {
        "schemas": [{"id": "customer", "name": "customer", "relation": "source('sim', 'customers')",
                     "fields": copy.deepcopy(CUSTOMER_FIELDS)}],
        "interactionHistory": {"relation": "source('sim', 'interactions')"},
        "channels": [{"id": c, "name": c, "channelType": c, "consentField": f"{c}_opt_in"} for c in CHANNELS],
        "offers": [{"id": OFFER_ID, "name": "Cart recovery", "status": "active", "priority": 50,
                    "businessValue": OFFER_VALUE, "revenueValue": OFFER_VALUE, "channels": list(CHANNELS)}],
        "decisionFlows": [{
            "key": FLOW_KEY, "name": "cart recovery",
            "draftConfig": {"version": 2, "flowConfig": {"channel": "email", "rejections": {"volume": "none"}},
                            "nodes": nodes},
        }],
    }


def _flow_config(config: dict) -> dict:
    return config["decisionFlows"][0]["draftConfig"]["flowConfig"]


def add_feature(config: dict, feature: str) -> dict:
    """`config` with one S9 feature of the learned arm added (the shapes of issue 14)."""
    out = copy.deepcopy(config)
    fc = _flow_config(out)
    if feature == "lifecycle":
        out["orders"] = {"relation": "source('sim', 'orders')"}
        out["lifecycle"] = {"newDays": NEW_DAYS, "activeDays": ACTIVE_DAYS, "lapsedDays": LAPSED_DAYS}
    elif feature == "channel":
        fc["channel"] = "auto"
        fc["channels"] = list(CHANNELS)
        fc["channelPreference"] = {"priorStrength": 10, "positiveOutcomes": ["click"]}
    elif feature == "sendtime":
        fc["sendTime"] = "optimize"
        fc["timezone"] = "customer.timezone"
    elif feature == "discount":
        fc["discountTiers"] = list(TIERS)
        # the discount posterior learns from conversions (a click does not depend on the discount)
        out["interactionHistory"]["positiveOutcomes"] = ["convert"]
        if "lifecycle" not in out:  # no lifecycle model: group by the simulator's stage column instead
            fc["discount"] = {"groupBy": "sim_stage"}
    else:
        raise ValueError(f"unknown feature {feature!r}; expected one of {FEATURES}")
    return out


def learned_config(features: list[str]) -> dict:
    """The baseline plus `features`, lifecycle first (the discount learner groups by customer.lifecycleStage
    when the lifecycle model is there, else by the simulator's `sim_stage` column: the same S9 rule on
    the same orders, computed outside the warehouse)."""
    config = base_config()
    for f in sorted(features, key=lambda f: f != "lifecycle"):
        config = add_feature(config, f)
    return config


def config_problem(config: dict) -> str | None:
    """Why kaireon refuses or cannot compile `config` (None: it compiles)."""
    from kaireon_sql.compiler import compile_project  # lazy: kaireon only when probing
    from kaireon_sql.config.loader import load_project

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sim.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        try:
            compile_project(load_project(tmp))
        except Exception as exc:  # noqa: BLE001 - any refusal is the answer
            text = " ".join(str(exc).split())
            return text[:400] or type(exc).__name__
    return None


def supported_features(wanted: tuple[str, ...] = FEATURES) -> dict[str, str | None]:
    """Per feature: None when this checkout compiles the baseline with it (and with lifecycle, which the
    discount learner's default group reads), else the refusal."""
    out: dict[str, str | None] = {}
    base = base_config()
    for f in wanted:
        config = add_feature(base, "lifecycle") if f == "discount" and out.get("lifecycle", "?") is None else base
        out[f] = config_problem(add_feature(config, f))
    return out
