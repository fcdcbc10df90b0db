"""The closing summary of `kaireon run`: one block per flow, in build order, as text or JSON.

Read from the run's S4 relations with two `dbt show --no-write-json` queries (the funnel, and one
UNION ALL of grouped counts), so target/run_results.json stays the build's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from . import runner
from .config.lifecycle import STAGES
from .dialect import Engine, relation
from .plan.lifecycle import TRANSITIONS_MODEL
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
    ("send_hour", "kaireon_decisions", "send_hour_local", None, True),  # sendTime: optimize (S9)
    ("reason", "kaireon_rejections", "stage", "reason", False),
    ("log", "kaireon_decision_log", "decision_flow_key", None, False),  # flows the log holds (kaireon prune)
    ("discount", "kaireon_decisions", "discount_pct", None, True),  # the discount learner's tiers (S9)
)


def _transitions_part() -> exp.Select:
    """kind 'stage', flow = previous_as_of (text), k1 from_stage, k2 to_stage, n customers (S9)."""
    return exp.select(
        exp.alias_(exp.Literal.string("stage"), "kind", quoted=True),
        exp.alias_(_text(_col("previous_as_of")), "flow", quoted=True),
        exp.alias_(_text(_col("from_stage")), "k1", quoted=True),
        exp.alias_(_text(_col("to_stage")), "k2", quoted=True),
        exp.alias_(_col("customers"), "n", quoted=True),
    ).from_(relation(TRANSITIONS_MODEL))


def counts_query(lifecycle: bool = False) -> exp.Expression:
    """kind, flow, k1, k2, n: decisions per offer / channel / placement / creative and rejections per
    (stage, reason), per flow, and (with `lifecycle`) the stage transitions, as one UNION ALL (one dbt
    invocation)."""
    parts = [_transitions_part()] if lifecycle else []
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
    send_hours: list[tuple[int, int]] = field(default_factory=list)  # (local hour, decisions), by hour

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
        if self.send_hours:
            out.append("  send hours (local): " + ", ".join(f"{h:02d}h {n}" for h, n in self.send_hours))
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
        if self.send_hours:
            data["send_hours"] = {str(h): n for h, n in self.send_hours}
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
            send_hours=sorted((int(c["k1"]), int(c["n"])) for c in of("send_hour")),
        ))
    return out


@dataclass
class StageSummary:
    """The lifecycle stages of the run and the transitions since the previous logged run (S9)."""

    previous_as_of: str | None
    transitions: list[dict]  # from_stage, to_stage (None: not in that run), customers

    @property
    def stages(self) -> dict[str, int]:
        counts = {s: 0 for s in STAGES}
        for t in self.transitions:
            if t["to_stage"] is not None:
                counts[t["to_stage"]] = counts.get(t["to_stage"], 0) + t["customers"]
        return counts

    def moves(self) -> list[dict]:
        rank = {s: i for i, s in enumerate(STAGES)}
        moved = [t for t in self.transitions if t["from_stage"] != t["to_stage"]]
        return sorted(moved, key=lambda t: (-t["customers"], rank.get(t["from_stage"], -1), rank.get(t["to_stage"], -1)))

    def lines(self) -> list[str]:
        stages = self.stages
        out = [f"lifecycle: {sum(stages.values())} customers: " + ", ".join(f"{s} {n}" for s, n in stages.items())]
        if self.previous_as_of is None:
            return out + ["  transitions: none yet (the first logged run)"]
        shown = lambda s: s if s is not None else "(not logged)"  # noqa: E731
        moves = self.moves()
        stayed = sum(t["customers"] for t in self.transitions if t["from_stage"] == t["to_stage"])
        out.append(f"  transitions since {self.previous_as_of}: {sum(t['customers'] for t in moves)} moved, "
                   f"{stayed} stayed")
        out += [f"    {t['customers']:>7}  {shown(t['from_stage'])} -> {shown(t['to_stage'])}" for t in moves]
        return out

    def as_json(self) -> dict:
        return {"previous_as_of": self.previous_as_of, "stages": self.stages, "transitions": self.moves()}


def stage_summary(counts: list[dict]) -> StageSummary:
    rows = [c for c in counts if c["kind"] == "stage"]
    previous = next((c["flow"] for c in rows if c["flow"] is not None), None)
    return StageSummary(previous, [{"from_stage": c["k1"], "to_stage": c["k2"], "customers": int(c["n"])}
                                   for c in rows])


def summary(project: DbtProject, engine: Engine, variables: str, order: list[str],
            lifecycle: bool = False) -> tuple[list[FlowSummary], dict[str, int], StageSummary | None]:
    """The per-flow blocks, the decision-log rows per flow key that is not in `order`, and (with
    `lifecycle`: the project declares orders) the lifecycle stages and transitions."""
    counts = runner.query(project, counts_query(lifecycle), engine, variables)
    logged = {c["k1"]: int(c["n"]) for c in counts if c["kind"] == "log" and c["k1"] not in order}
    stages = stage_summary(counts) if lifecycle else None
    return assemble(runner.query(project, funnel_query(), engine, variables), counts, order), logged, stages
