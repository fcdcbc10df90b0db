"""The benchmark flow (issue 6) as decisioning config, generated from offers.parquet.

    python bench/flow.py --offers DATA/offers.parquet --out WORK/decisioning

Writes `bench.yml`: the customer schema over the dbt model `bench_customers`, interaction history
`bench_interactions`, channels email/sms/push, one category per retail category (static custom
fields propensity_base and uplift; computed loyalty_score), one offer per row of the file (on its own channel),
the eligibility rules, the contact policies and the flow `winback`.

How the offer-dependent conditions are expressed:
- each offer's own channel is its `channels` list, so an offer is a candidate on that channel only;
- the category match is a `filter` node condition `customer.primary_category eq valueFormula
  offer.categoryId`, which the compiler turns into a join key (customers are joined to the offers
  of their category, never crossed with every offer);
- the other eligibility conditions are global attribute_condition rules (stage eligibility); they
  read the customer only, so they run once per customer.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import yaml

CHANNELS = ["email", "sms", "push"]
SCORE = ("0.4 * offer.propensity_base * (1 + min(customer.lifetime_purchases, 10) / 100)"
         " + 0.3 * offer.businessValue / 100 + 0.1 * offer.priority / 100 + 0.6 * offer.uplift")
LOYALTY = "round(customer.lifetime_purchases * 3 + customer.lifetime_revenue / 50)"


def _num(v: float):
    return int(v) if float(v).is_integer() else float(v)


def build_config(offers_parquet: Path, rejections: str = "all", scoring: dict | None = None) -> dict:
    """The benchmark config; `scoring` ({"score": score node config, "models": algorithmModels}) swaps the score."""
    con = duckdb.connect()
    rows = con.execute(
        "select offer_id, name, category, channel, priority, business_value, margin, propensity_base, uplift "
        f"from read_parquet('{offers_parquet}') order by offer_id").fetchall()
    categories = sorted({r[2] for r in rows})
    fields = [
        {"name": "customer_id", "dataType": "varchar", "isUnique": True},
        {"name": "days_since_last_purchase", "dataType": "integer"},
        {"name": "lifetime_purchases", "dataType": "integer"},
        {"name": "lifetime_revenue", "dataType": "double"},
        {"name": "primary_category", "dataType": "varchar"},
        {"name": "preferred_channel", "dataType": "varchar"},
        {"name": "consent_email", "dataType": "boolean"},
        {"name": "consent_sms", "dataType": "boolean"},
        {"name": "timezone", "dataType": "varchar"},
    ]
    custom = [
        {"name": "propensity_base", "type": "number"},
        {"name": "uplift", "type": "number"},
        {"name": "loyalty_score", "type": "computed", "formula": LOYALTY, "outputType": "number"},
    ]
    config = {
        "schemas": [{"id": "customer", "name": "customer", "relation": "bench_customers", "fields": fields}],
        "interactionHistory": {"relation": "bench_interactions"},
        "channels": [
            {"id": "email", "name": "Email", "channelType": "email", "consentField": "consent_email"},
            {"id": "sms", "name": "SMS", "channelType": "sms", "consentField": "consent_sms"},
            {"id": "push", "name": "Push", "channelType": "push", "requiresConsent": False},  # never suppressed
        ],
        "categories": [{"id": c, "name": c, "customFields": custom} for c in categories],
        "offers": [
            {"id": oid, "name": name, "status": "active", "categoryId": cat, "priority": _num(prio),
             "businessValue": _num(bv), "margin": _num(margin),
             "channels": [ch], "customFields": {"propensity_base": float(pb), "uplift": float(up)}}
            for oid, name, cat, ch, prio, bv, margin, pb, up in rows
        ],
        "qualificationRules": [
            {"name": "lapsed >= 90 days", "ruleType": "attribute_condition", "scope": "global", "stage": "eligibility",
             "config": {"attribute": "customer.days_since_last_purchase", "operator": "gte", "value": 90}},
            {"name": "lapsed <= 365 days", "ruleType": "attribute_condition", "scope": "global", "stage": "eligibility",
             "config": {"attribute": "customer.days_since_last_purchase", "operator": "lte", "value": 365}},
            {"name": "3+ lifetime purchases", "ruleType": "attribute_condition", "scope": "global", "stage": "eligibility",
             "config": {"attribute": "customer.lifetime_purchases", "operator": "gte", "value": 3}},
            {"name": "lifetime revenue >= 50", "ruleType": "attribute_condition", "scope": "global", "stage": "eligibility",
             "config": {"attribute": "customer.lifetime_revenue", "operator": "gte", "value": 50}},
        ],
        "contactPolicies": [
            {"name": "Quiet hours 08-21 local", "ruleType": "time_window",
             "config": {"startHour": 8, "endHour": 21, "timezone": "customer.timezone"}},
            {"name": "3 per month", "ruleType": "customer_total_cap", "config": {"maxTotal": 3, "periodType": "monthly"}},
            {"name": "Offer once a week", "ruleType": "frequency_cap",
             "config": {"maxContacts": 1, "windowDays": 7, "perOffer": True}},
            {"name": "24h rest", "ruleType": "cooldown", "config": {"cooldownHours": 24}},
        ],
        "decisionFlows": [{
            "key": "winback", "name": "Winback benchmark",
            "draftConfig": {
                "version": 2,
                "flowConfig": {
                    "channel": CHANNELS,
                    "experiment": {"enabled": True, "holdoutPercent": 15, "controlGroupAction": "no_offers",
                                   "salt": "winback"},
                    "rejections": {"volume": rejections},
                },
                "nodes": [
                    {"id": "inv", "type": "inventory", "phase": 1, "position": 0,
                     "config": {"scope": "all", "includeStatuses": ["active"]}},
                    {"id": "enr", "type": "enrich", "phase": 1, "position": 1,
                     "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id",
                                             "fields": [f["name"] for f in fields[1:]]}]}},
                    {"id": "match", "type": "filter", "phase": 1, "position": 2, "label": "offer category",
                     "config": {"mode": "all", "conditions": [
                         {"field": "customer.primary_category", "operator": "eq", "valueFormula": "offer.categoryId"},
                     ]}},
                    {"id": "qual", "type": "qualify", "phase": 1, "position": 3, "config": {"mode": "all"}},
                    {"id": "cp", "type": "contact_policy", "phase": 1, "position": 4, "config": {}},
                    {"id": "score", "type": "score", "phase": 2, "position": 5,
                     "config": {"method": "expression", "expression": SCORE}},
                    {"id": "rank", "type": "rank", "phase": 2, "position": 6,
                     "config": {"method": "topN", "maxCandidates": 3}},
                    {"id": "compute", "type": "compute", "phase": 3, "position": 7, "config": {}},
                    {"id": "out", "type": "response", "phase": 3, "position": 8, "config": {"responseFormat": "standard"}},
                ],
            },
        }],
    }
    if scoring is not None:
        score = next(n for n in config["decisionFlows"][0]["draftConfig"]["nodes"] if n["id"] == "score")
        score["config"] = scoring["score"]
        config["algorithmModels"] = scoring.get("models", [])
    return config


def write(offers_parquet: Path, out: Path, rejections: str = "all", scoring: dict | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench.yml"
    text = "# Generated by bench/flow.py from " + offers_parquet.name + "; do not edit.\n"
    text += yaml.safe_dump(build_config(offers_parquet, rejections, scoring), sort_keys=False, allow_unicode=True, width=120)
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--offers", required=True, help="offers.parquet")
    p.add_argument("--out", required=True, help="config folder to write bench.yml into")
    p.add_argument("--rejections", default="all", choices=["all", "sampled", "none"],
                   help="flowConfig.rejections.volume (default all, as KaireonAI)")
    args = p.parse_args(argv)
    print(write(Path(args.offers).resolve(), Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
