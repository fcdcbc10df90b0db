"""`kaireon explain CUSTOMER`: why a customer got what it got, as KaireonAI's `?explain=true` shows it.

For each flow (or the one asked for), in its latest run (or the run asked for): every candidate offer
and channel with its fate (decided with rank, channel, placement, slot and creative; withheld for the
holdout; ranked out; rejected at a stage by a rule, with the reason), its score and rank, and, where the
flow traced the customer (includeTrace), the result of every check. Read from the run's tables with
one UNION ALL through `dbt show` (any adapter): kaireon_traces, kaireon_decisions,
kaireon_withheld_decisions, kaireon_rejections, kaireon_assignments, each flow's candidates model, the
funnel (the latest run of each flow) and kaireon_decision_log (earlier runs, decisions only). What the
tables cannot say (rejections not recorded, a customer outside the traced or sampled share, an earlier
run's checks) is said in a note, never guessed.

The customer id is user input: it reaches SQL only as a string literal built by sqlglot (quotes escaped,
Jinja delimiters split by dialect/text.py), never formatted into the SQL text.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from sqlglot import exp

from . import runner
from .config.flows import ResponseConfig
from .dialect import Engine, cast_double, cast_text, engine, relation
from .errors import DbtRunError, KaireonError, shown
from .plan.build_order import flows_in_order
from .plan.context import flow_model, model_slug
from .plan.traces import TRACES_MODEL
from .sql.common import DECISION_LOG

TEXT, DOUBLE, BIGINT = "text", "double", "bigint"
# the one row shape of the query: every source maps these to its own columns (or NULL)
FIELDS = {
    "kind": TEXT, "flow": TEXT, "run_id": TEXT, "as_of": TEXT, "offer_id": TEXT, "offer_name": TEXT,
    "channel": TEXT, "experiment_group": TEXT, "score": DOUBLE, "rank": BIGINT, "slot": BIGINT, "bucket": BIGINT,
    "placement_id": TEXT, "creative_id": TEXT, "creative_name": TEXT, "decision_id": TEXT, "stage": TEXT,
    "rule_name": TEXT, "reason": TEXT, "checks": TEXT, "fate": TEXT, "source_flow_key": TEXT, "reject_code": TEXT,
    "delivered": TEXT,
}
_DECIDED = ("offer_id", "offer_name", "channel", "experiment_group", "score", "rank", "slot", "placement_id",
            "creative_id", "creative_name", "decision_id")
FATES = ("decided", "withheld", "ranked_out", "rejected")


class ExplainError(KaireonError):
    """An unknown customer, flow or run: nothing to explain (exit status 1)."""


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


TEXT_MARK = "~"  # before every text value: dbt show's agate table would read '00123' as a number, 'true' as a boolean


def _typed(value: exp.Expression, kind: str) -> exp.Expression:
    if kind == DOUBLE:
        return cast_double(value)
    if kind == BIGINT:
        return exp.cast(value, "BIGINT")
    return exp.DPipe(this=exp.Literal.string(TEXT_MARK), expression=cast_text(value), safe=False)


def unmarked(row: dict) -> dict:
    """A row of the query with its text values as the tables hold them (TEXT_MARK removed)."""
    return {k: (v[len(TEXT_MARK):] if FIELDS.get(k) == TEXT and isinstance(v, str) and v.startswith(TEXT_MARK) else v)
            for k, v in row.items()}


def _select(kind: str, table: str, columns: dict[str, str | exp.Expression], customer: str | None,
            group: bool = False) -> exp.Select:
    """One part of the union: FIELDS from `table` (`columns`: field -> column name or expression), the
    customer's rows only (a string literal), or every row when `customer` is None."""
    values = {"kind": exp.Literal.string(kind), **{f: _col(c) if isinstance(c, str) else c for f, c in columns.items()}}
    select = exp.select(*[exp.alias_(_typed(values.get(f, exp.null()), t), f, quoted=True) for f, t in FIELDS.items()])
    select = select.from_(relation(table))
    if customer is not None:
        select = select.where(exp.EQ(this=cast_text(_col("customer_id")), expression=exp.Literal.string(customer)))
    if group:
        select = select.group_by(*[_col(c) for c in columns.values() if isinstance(c, str)])
    return select


def _decision_columns() -> dict[str, str]:
    return {"flow": "decision_flow_key", "run_id": "run_id", **{c: c for c in _DECIDED}}


def explain_query(customer: str, flows: list[tuple[str, str]], traced: bool) -> exp.Expression:
    """The customer's rows of every table explain reads, and the runs of every flow, as one UNION ALL."""
    flow_run = {"flow": "decision_flow_key", "run_id": "run_id"}
    parts = [
        _select("funnel", "kaireon_funnel", {**flow_run, "as_of": "as_of"}, None),
        _select("log_run", DECISION_LOG, {**flow_run, "as_of": "as_of"}, None, group=True),
        _select("decided", "kaireon_decisions", _decision_columns(), customer),
        _select("withheld", "kaireon_withheld_decisions", _decision_columns(), customer),
        _select("logged", DECISION_LOG, {**_decision_columns(), "delivered": "delivered"}, customer),
        _select("rejected", "kaireon_rejections", {**flow_run, **{c: c for c in (
            "offer_id", "offer_name", "channel", "experiment_group", "stage", "rule_name", "reason")}}, customer),
        _select("assignment", "kaireon_assignments", {**flow_run, "experiment_group": "experiment_group",
                                                      "bucket": "bucket"}, customer),
    ]
    if traced:
        parts.append(_select("trace", TRACES_MODEL, {**flow_run, **{c: c for c in (
            "offer_id", "offer_name", "channel", "experiment_group", "score", "rank", "checks", "fate",
            "source_flow_key")}, "stage": "fate_stage", "rule_name": "fate_rule", "reason": "fate_reason"}, customer))
    for key, slug in flows:  # each flow's candidates (past the narrowing checks): score, rank, reject_code
        parts.append(_select("candidate", flow_model(slug, "candidates"), {
            "flow": exp.Literal.string(key), **{c: c for c in ("offer_id", "offer_name", "channel", "experiment_group",
                                                                 "score", "rank", "reject_code")}}, customer))
    union: exp.Expression = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=False)
    return union


# ---- the flows' settings that decide what the tables can tell -------------------------------------

@dataclass(frozen=True)
class FlowSettings:
    key: str
    slug: str
    traced: bool
    trace_rate: float
    rejections: str  # all | sampled | none
    rejection_rate: float
    withholds: bool


def flow_settings(config) -> list[FlowSettings]:
    out = []
    for f in flows_in_order(config.flows):  # as `kaireon run` lists them
        fc = f.definition.flow_config
        response = [n.config for n in f.definition.nodes if isinstance(n.config, ResponseConfig)]
        traced = bool(response and response[0].include_trace)
        withholds = fc.experiment.enabled and fc.experiment.holdout_percent > 0 and \
            fc.experiment.control_group_action == "no_offers"
        out.append(FlowSettings(f.key, model_slug(f.key), traced, response[0].decision_trace_sample_rate if traced else 0.0,
                                fc.rejections.volume, fc.rejections.sample_rate, withholds))
    return out


def rejections_sampled(customer: str, rate: float) -> bool:
    """The customer is in the sampled share of rejections.volume: sampled (sql/outputs.py `rejections`)."""
    bucket = int(hashlib.md5(f"rejections:{customer}".encode("utf-8")).hexdigest()[:8], 16) % 10000
    return bucket < int(round(rate * 10000))


# ---- assembling one flow's story ----------------------------------------------------------------

@dataclass
class Candidate:
    offer_id: str
    offer_name: str | None
    channel: str
    fate: str  # decided | withheld | ranked_out | rejected
    score: float | None = None
    rank: int | None = None
    placement_id: str | None = None
    slot: int | None = None
    creative_id: str | None = None
    creative_name: str | None = None
    decision_id: str | None = None
    stage: str | None = None
    rule_name: str | None = None
    reason: str | None = None
    source_flow_key: str | None = None
    checks: list[dict] | None = None  # traced: every check with passed true/false


@dataclass
class FlowStory:
    flow: str
    run_id: str
    as_of: str | None
    latest: bool  # the flow's latest build (every table), or a run of the decision log only
    experiment_group: str | None = None
    bucket: int | None = None
    traced: bool = False
    candidates: list[Candidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        data = asdict(self)
        data["counts"] = {fate: sum(c.fate == fate for c in self.candidates) for fate in FATES}
        return data


def _number(value, integral: bool = False):
    if value is None:
        return None
    if isinstance(value, str):
        value = float(value)
    out = float(value) if isinstance(value, (Decimal, int, float)) else value
    if isinstance(out, float) and not math.isfinite(out):
        return None
    return int(out) if integral and out is not None else out


def _candidate(row: dict, fate: str) -> Candidate:
    return Candidate(offer_id=row["offer_id"], offer_name=row.get("offer_name"), channel=row["channel"], fate=fate,
                     score=_number(row.get("score")), rank=_number(row.get("rank"), True),
                     placement_id=row.get("placement_id"), slot=_number(row.get("slot"), True),
                     creative_id=row.get("creative_id"), creative_name=row.get("creative_name"),
                     decision_id=row.get("decision_id"), stage=row.get("stage"), rule_name=row.get("rule_name"),
                     reason=row.get("reason"), source_flow_key=row.get("source_flow_key"))


def _key(row: dict) -> tuple[str, str]:
    return (str(row["offer_id"]), str(row["channel"]))


def _decided_details(target: Candidate, row: dict) -> None:
    for name in ("rank", "slot", "placement_id", "creative_id", "creative_name", "decision_id"):
        value = row.get(name)
        setattr(target, name, _number(value, True) if name in ("rank", "slot") else value)


def _from_traces(rows: dict[str, list[dict]]) -> list[Candidate]:
    """Traced: one candidate per trace row, its checks parsed, decided ones with their delivery details."""
    decided = {_key(r): r for r in rows.get("decided", []) + rows.get("withheld", [])}
    out = []
    for r in rows["trace"]:
        c = _candidate(r, r["fate"])
        c.checks = json.loads(r["checks"]) if r.get("checks") else []
        if _key(r) in decided:
            _decided_details(c, decided[_key(r)])
        out.append(c)
    return out


def _from_tables(rows: dict[str, list[dict]]) -> list[Candidate]:
    """Not traced: decisions, withheld decisions, rejections, and the candidates model's survivors."""
    out: dict[tuple[str, str], Candidate] = {}
    for kind in ("decided", "withheld"):
        for r in rows.get(kind, []):
            out.setdefault(_key(r), _candidate(r, kind))
    candidates = {_key(r): r for r in rows.get("candidate", [])}
    for r in rows.get("rejected", []):
        if _key(r) not in out:
            out[_key(r)] = c = _candidate(r, "rejected")
            c.score = _number(candidates.get(_key(r), {}).get("score"))
    for key, r in candidates.items():
        if key in out:
            if out[key].score is None:
                out[key].score = _number(r.get("score"))
            continue
        c = out[key] = _candidate(r, "ranked_out" if r.get("reject_code") is None else "rejected")
        if c.fate == "rejected":
            c.rank = None  # dropped by a contact policy, cap or budget; its reason is not in the rejections
    return list(out.values())


def _from_log(rows: list[dict]) -> list[Candidate]:
    return [_candidate(r, "decided" if str(r.get("delivered")).lower() in ("true", "1") else "withheld") for r in rows]


def _order(candidates: list[Candidate]) -> list[Candidate]:
    fate = {f: i for i, f in enumerate(FATES)}
    return sorted(candidates, key=lambda c: (fate.get(c.fate, 9), c.rank if c.rank is not None else 10**9,
                                             -(c.score if c.score is not None else -math.inf), c.offer_id, c.channel))


def _notes(story: FlowStory, s: FlowSettings, customer: str, rows: dict[str, list[dict]]) -> list[str]:
    notes = []
    if not s.traced:
        notes.append(f"no decision trace: flow {s.key} has no includeTrace, so the checks a candidate passed are "
                     "not recorded; a rejected candidate shows the first check, cap or budget that dropped it")
    elif not story.traced:
        notes.append(f"no decision trace for this customer: flow {s.key} traces a share of customers "
                     f"(decisionTraceSampleRate {s.trace_rate:g}) and this customer is outside it in this run")
    if story.traced:
        return notes
    if s.rejections == "none":
        notes.append(f"rejections are not recorded for this flow (rejections.volume: none): candidates dropped at "
                     "consent, qualification or filters do not appear, and those dropped by a contact policy, cap or "
                     "budget appear without a reason")
    elif s.rejections == "sampled" and not rejections_sampled(customer, s.rejection_rate):
        notes.append(f"rejections of this customer are not recorded (rejections.volume: sampled, sampleRate "
                     f"{s.rejection_rate:g}: the customer is outside the sampled share)")
    if any(c.fate == "rejected" and c.reason is None for c in story.candidates) and s.rejections == "all":
        notes.append("a candidate rejected without a reason: the rejections table holds no row for it")
    return notes


def _story(s: FlowSettings, run: dict, rows: dict[str, list[dict]], customer: str) -> FlowStory:
    story = FlowStory(flow=s.key, run_id=run["run_id"], as_of=run.get("as_of"), latest=True)
    assignment = (rows.get("assignment") or [None])[0]
    if assignment:
        story.experiment_group, story.bucket = assignment["experiment_group"], _number(assignment["bucket"], True)
    story.traced = bool(rows.get("trace"))
    story.candidates = _order(_from_traces(rows) if story.traced else _from_tables(rows))
    if assignment is None:
        story.notes.append(f"customer {shown(customer, 60)} was not evaluated by flow {s.key} in this run (not in "
                           "its kaireon_assignments): the flow's customers relation or its segment left it out")
        return story
    if story.experiment_group == "holdout" and s.withholds:
        story.notes.append("the customer is in the holdout: what it would have received is withheld, never delivered")
    story.notes += _notes(story, s, customer, rows)
    return story


def _log_story(s: FlowSettings, run: dict, latest_run: str | None, rows: list[dict]) -> FlowStory:
    story = FlowStory(flow=s.key, run_id=run["run_id"], as_of=run.get("as_of"), latest=False)
    story.candidates = _order(_from_log(rows))
    if story.candidates:
        story.experiment_group = rows[0].get("experiment_group")
    story.notes.append(f"run {run['run_id']} is not the latest build of flow {s.key}"
                       f"{' (' + latest_run + ')' if latest_run else ''}: only its decisions and withheld decisions "
                       "are kept (kaireon_decision_log); its checks, rejections and ranked-out candidates are not")
    return story


# ---- the command --------------------------------------------------------------------------------

def _by_kind(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["kind"], []).append(r)
    return out


def _flow_rows(rows: list[dict], flow: FlowSettings, run_id: str) -> dict[str, list[dict]]:
    mine = [r for r in rows if r["flow"] == flow.key and (r["kind"] == "candidate" or r["run_id"] == run_id)]
    return _by_kind([r for r in mine if r["kind"] not in ("funnel", "log_run", "logged")])


def stories(rows: list[dict], flows: list[FlowSettings], customer: str, run_id: str | None) -> list[FlowStory]:
    """One story per flow with a run to explain; ExplainError when the customer, the flow's run or the run
    asked for is not there."""
    kinds = _by_kind(rows)
    out, available = [], []
    for s in flows:
        latest = next((r for r in kinds.get("funnel", []) if r["flow"] == s.key), None)
        logged = [r for r in kinds.get("log_run", []) if r["flow"] == s.key]
        available += [r["run_id"] for r in ([latest] if latest else []) + logged]
        if run_id is None or (latest and latest["run_id"] == run_id):
            if latest is not None:
                out.append(_story(s, latest, _flow_rows(rows, s, latest["run_id"]), customer))
            continue
        past = next((r for r in logged if r["run_id"] == run_id), None)
        if past is not None:
            mine = [r for r in kinds.get("logged", []) if r["flow"] == s.key and r["run_id"] == run_id]
            out.append(_log_story(s, past, latest["run_id"] if latest else None, mine))
    if run_id is not None and not out:
        runs = ", ".join(sorted(set(map(str, available)))[:20]) or "none"
        raise ExplainError(f"no run {shown(run_id, 80)} of {'flow ' + flows[0].key if len(flows) == 1 else 'any flow'} "
                           f"in the warehouse; runs: {runs}")
    if not out:
        raise ExplainError("no run in the warehouse for " + ", ".join(s.key for s in flows) + "; build it with `kaireon run`")
    if not any(st.experiment_group is not None or st.candidates for st in out):
        raise ExplainError(f"unknown customer {shown(customer, 80)}: not evaluated by "
                           f"{'flow ' + flows[0].key if len(flows) == 1 else 'any flow'} in "
                           f"{'run ' + run_id if run_id else 'its latest run'} (kaireon_assignments) and no decision "
                           "of it in the decision log")
    return out


def selected_flows(config, flow_key: str | None) -> list[FlowSettings]:
    flows = flow_settings(config)
    if flow_key is None:
        return flows
    chosen = [s for s in flows if s.key == flow_key]
    if not chosen:
        raise ExplainError(f"no flow with key {shown(flow_key, 80)}; the config has: {', '.join(s.key for s in flows)}")
    return chosen


def read_rows(project, eng: Engine, customer: str, flows: list[FlowSettings], all_flows: list[FlowSettings]) -> list[dict]:
    traced = any(s.traced for s in all_flows)  # kaireon_traces exists when any flow of the config traces
    select = explain_query(customer, [(s.key, s.slug) for s in flows], traced)
    try:
        return [unmarked(r) for r in runner.query(project, select, eng)]
    except DbtRunError as exc:
        raise ExplainError(f"cannot read the run's tables ({exc}); build them first with `kaireon run`") from None


def check_customer(customer: str) -> str:
    if customer == "" or len(customer) > 1000:
        raise ExplainError("CUSTOMER: expected a customer id of 1 to 1000 characters")
    if "\x00" in customer:
        raise ExplainError("CUSTOMER: a customer id cannot contain the character U+0000")
    return customer


# ---- text -----------------------------------------------------------------------------------------

def _score(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _fate_text(c: Candidate) -> str:
    if c.fate in ("decided", "withheld"):
        where = [f"rank {c.rank}"] if c.rank is not None else []
        if c.placement_id is not None:
            where.append(f"placement {c.placement_id} slot {c.slot}")
        if c.creative_id is not None:
            where.append(f"creative {c.creative_id} ({c.creative_name})")
        head = "DECIDED" if c.fate == "decided" else "WITHHELD (holdout)"
        return f"{head}: {', '.join(where)}" if where else head
    if c.fate == "ranked_out":
        return "RANKED OUT: passed every check" + (f", rank {c.rank} among the survivors" if c.rank is not None else "") + \
            ", not kept by the rank (top N, diversity) or a placement"
    if c.reason is None:
        return "REJECTED by a contact policy, cap or budget (the reason is not recorded)"
    return f"REJECTED at {c.stage} by '{c.rule_name}': {c.reason}"


def _check_lines(c: Candidate) -> list[str]:
    if c.checks is None:
        return []
    failed = [k for k in c.checks if not k.get("passed")]
    line = f"      checks: {len(c.checks) - len(failed)} of {len(c.checks)} passed"
    return [line + ("; failed: " + ", ".join(f"[{k.get('stage')}] {k.get('rule')}" for k in failed) if failed else "")]


def lines(customer: str, found: list[FlowStory]) -> list[str]:
    out = []
    for st in found:
        group = (f"{st.experiment_group}" + (f" (bucket {st.bucket})" if st.bucket is not None else "")
                 if st.experiment_group else "not evaluated")
        counts = ", ".join(f"{sum(c.fate == f for c in st.candidates)} {f.replace('_', ' ')}" for f in FATES)
        out.append(f"customer {customer}, flow {st.flow}, run {st.run_id} (as_of {st.as_of}): {group}; "
                   f"{len(st.candidates)} candidate(s): {counts}" + ("; traced" if st.traced else ""))
        for i, c in enumerate(st.candidates, 1):
            name = f"{c.offer_name} ({c.offer_id})" if c.offer_name else c.offer_id
            via = f", via flow {c.source_flow_key}" if c.source_flow_key and c.source_flow_key != st.flow else ""
            out.append(f"  {i}. {name} on {c.channel}{via}: score {_score(c.score)}")
            out.append(f"      {_fate_text(c)}")
            out += _check_lines(c)
        out += [f"  note: {n}" for n in st.notes]
    return out


def cmd_explain(args) -> int:
    from .cli import _load, _project  # lazy: cli imports this module's command at run time

    customer = check_customer(args.customer)
    project = _project(args)
    config = _load(args, project)
    eng = engine(args.engine or project.engine_name())
    flows = selected_flows(config, args.flow)
    rows = read_rows(project, eng, customer, flows, flow_settings(config))
    found = stories(rows, flows, customer, args.run)
    if args.output == "json":
        print(json.dumps({"customer_id": customer, "flows": [st.as_json() for st in found]}, indent=2, default=str))
    else:
        print("\n".join(lines(customer, found)))
    return 0
