"""The closing summary of `kaireon run`: one block per flow, in build order, as text or JSON.

Read from the run's S4 relations with two `dbt show --no-write-json` queries (the funnel, and one
UNION ALL of grouped counts), so target/run_results.json stays the build's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from . import runner
from .dialect import Engine, relation
from .project_files import DbtProject

TOP = 5  # offers and rejection reasons shown per flow
FUNNEL_KEYS = ("customers", "holdout_customers", "total_candidates", "after_qualification",
               "after_contact_policy", "decided", "withheld")


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _text(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, "TEXT")


# (kind, relation, first key, second key, only rows where the first key is not NULL)
COUNTS = (
    ("offer", "kaireon_decisions", "offer_id", "offer_name", False),
    ("channel", "kaireon_decisions", "channel", None, False),
    ("placement", "kaireon_decisions", "placement_id", None, True),
    ("creative", "kaireon_decisions", "creative_id", "creative_name", True),
    ("reason", "kaireon_rejections", "stage", "reason", False),
    ("log", "kaireon_decision_log", "decision_flow_key", None, False),  # flows the log holds (kaireon prune)
    ("discount", "kaireon_decisions", "discount_pct", None, True),  # the discount learner's tiers (S9)
)


def counts_query() -> exp.Expression:
    """kind, flow, k1, k2, n: decisions per offer / channel / placement / creative and rejections per
    (stage, reason), per flow, as one UNION ALL (one dbt invocation)."""
    parts = []
    for kind, table, first, second, non_null in COUNTS:
        keys = [_col("decision_flow_key"), _col(first)] + ([_col(second)] if second else [])
        select = exp.select(
            exp.alias_(exp.Literal.string(kind), "kind", quoted=True),
            exp.alias_(_text(_col("decision_flow_key")), "flow", quoted=True),
            exp.alias_(_text(_col(first)), "k1", quoted=True),
            exp.alias_(_text(_col(second)) if second else _text(exp.null()), "k2", quoted=True),
            exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True),
        ).from_(relation(table)).group_by(*keys)
        parts.append(select.where(exp.Not(this=exp.Is(this=_col(first), expression=exp.null()))) if non_null
                     else select)
    union = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=False)
    return union


def funnel_query() -> exp.Expression:
    return exp.select("*").from_(relation("kaireon_funnel")).order_by(_col("decision_flow_key"))


@dataclass
class FlowSummary:
    flow: str
    funnel: dict
    by_channel: list[tuple[str, int]] = field(default_factory=list)
    offers: list[dict] = field(default_factory=list)
    reasons: list[dict] = field(default_factory=list)
    placements: list[tuple[str, int]] = field(default_factory=list)
    creatives: list[dict] = field(default_factory=list)
    discounts: list[tuple[float, int]] = field(default_factory=list)  # (tier, decisions), by tier

    def lines(self) -> list[str]:
        f = self.funnel
        out = [f"flow {self.flow} (run {f.get('run_id')}): {f.get('customers')} customers, "
               f"{f.get('holdout_customers')} in holdout; {f.get('total_candidates')} candidates, "
               f"{f.get('after_qualification')} after qualification, {f.get('after_contact_policy')} after "
               f"contact policy; {f.get('decided')} decisions, {f.get('withheld')} withheld"]
        if self.by_channel:
            out.append("  by channel: " + ", ".join(f"{c} {n}" for c, n in self.by_channel))
        out.append("  top offers:" if self.offers else "  top offers: none")
        out += [f"    {r['decisions']:>7}  {r['offer_name']} ({r['offer_id']})" for r in self.offers]
        if self.placements:
            out.append(f"  placements: {len(self.placements)} ("
                       + ", ".join(f"{p} {n}" for p, n in self.placements) + ")")
        if self.creatives:
            out.append(f"  creatives: {len(self.creatives)} ("
                       + ", ".join(f"{c['creative_id']} {c['decisions']}" for c in self.creatives) + ")")
        if self.discounts:
            out.append("  discount tiers: " + ", ".join(f"{t:g}% {n}" for t, n in self.discounts)
                       + " (kaireon discounts: conversion by tier)")
        if self.reasons:
            out.append("  top rejection reasons:")
            out += [f"    {r['n']:>7}  [{r['stage']}] {r['reason']}" for r in self.reasons]
        return out

    def as_json(self) -> dict:
        data = {"flow": self.flow, "run_id": self.funnel.get("run_id"),
                **{k: self.funnel.get(k) for k in FUNNEL_KEYS},
                "by_channel": dict(self.by_channel), "top_offers": self.offers,
                "top_rejection_reasons": self.reasons}
        data["decisions"] = data.pop("decided")
        if self.placements:
            data["placements"] = dict(self.placements)
        if self.creatives:
            data["creatives"] = self.creatives
        if self.discounts:
            data["discount_tiers"] = {f"{t:g}": n for t, n in self.discounts}
        return data


def _top(rows: list[dict], n: int | None = TOP) -> list[dict]:
    ordered = sorted(rows, key=lambda r: (-int(r["n"]), str(r["k1"]), str(r["k2"])))
    return ordered if n is None else ordered[:n]


def assemble(funnel: list[dict], counts: list[dict], order: list[str]) -> list[FlowSummary]:
    """One FlowSummary per funnel row: flows in `order` (build order) first, any other after, by key."""
    rank = {key: i for i, key in enumerate(order)}
    rows = sorted(funnel, key=lambda f: (rank.get(f["decision_flow_key"], len(rank)), f["decision_flow_key"]))
    out = []
    for f in rows:
        key = f["decision_flow_key"]
        mine = [c for c in counts if c["flow"] == key]
        of = lambda kind: [c for c in mine if c["kind"] == kind]  # noqa: E731
        out.append(FlowSummary(
            flow=key, funnel=f,
            by_channel=[(c["k1"], int(c["n"])) for c in _top(of("channel"), None)],
            offers=[{"offer_id": c["k1"], "offer_name": c["k2"], "decisions": int(c["n"])} for c in _top(of("offer"))],
            reasons=[{"stage": c["k1"], "reason": c["k2"], "n": int(c["n"])} for c in _top(of("reason"))],
            placements=[(c["k1"], int(c["n"])) for c in _top(of("placement"), None)],
            creatives=[{"creative_id": c["k1"], "creative_name": c["k2"], "decisions": int(c["n"])}
                       for c in _top(of("creative"), None)],
            discounts=sorted((float(c["k1"]), int(c["n"])) for c in of("discount")),
        ))
    return out


def summary(project: DbtProject, engine: Engine, variables: str,
            order: list[str]) -> tuple[list[FlowSummary], dict[str, int]]:
    """The per-flow blocks, and the decision-log rows per flow key that is not in `order`."""
    counts = runner.query(project, counts_query(), engine, variables)
    logged = {c["k1"]: int(c["n"]) for c in counts if c["kind"] == "log" and c["k1"] not in order}
    return assemble(runner.query(project, funnel_query(), engine, variables), counts, order), logged
