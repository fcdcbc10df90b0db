"""The match_creatives node (S7) on DuckDB, PostgreSQL and Spark, rows compared; one build per engine.

One config holds every edge case: a 50/50 split (with a weight-0 and an inactive creative of the same
offer), a 1:3 split with hostile ids and names, placements (the node's, another one, none), channel-scoped
creatives, offers with no matching creative (rejections at stage match_creatives, numbered at the node's
position), and a creative-scoped frequency cap that counts only that creative's impressions. The expected
creative of every decision is computed here from md5 (hashlib), as S7 defines hash_uniform.
"""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from backends import ENGINE_NAMES, open_backend, run_models_on
from cross_engine import S4_TABLES, diff, normalise, table_rows
from harness import (compile_sql, customers_table, first_build, flow, history_table, run_models, rows, schema,
                     standard_nodes)
from hostile_corpus import write_json_config
from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine, render
from kaireon_sql.experiments.readout import creative_lines, creative_stats
from kaireon_sql.sql.attribution import attribution_sql
from kaireon_sql.sql.experiments import creative_comparison

AS_OF = "2026-11-20 15:00:00"
NOW = datetime(2026, 11, 20, 15, 0)
N = 2000
CUSTOMERS = [f"c{i:04d}" for i in range(N)]
OLD = {c for i, c in enumerate(CUSTOMERS) if i % 10 == 9}  # days >= 900: rejected by the qualification rule

# (line-breaking characters such as U+2028 are in the dbt-built corpus, tests/hostile_corpus.py: the harness
# splits model files into lines)
SALT = "salt'; {{ 7*7 }} -- \t\U0001F600"
LABEL = "Pick 'creative' {% raw %} /* x"
W_IDS = ("w1'\"; drop table x; --", "w2{{ env_var('HOME') }}", "w3 */ \x01")
W_NAMES = {W_IDS[0]: "Name ' with \"quotes\"", W_IDS[1]: "{# jinja #} -- name", W_IDS[2]: "Größe \U0001F600"}
CREATIVES = [
    {"id": "A0", "name": "A zero", "offerId": "o_ab", "weight": 0},  # first by id, never chosen
    {"id": "A1", "name": "A one", "offerId": "o_ab"},
    {"id": "A2", "name": "A two", "offerId": "o_ab", "weight": 1},
    {"id": "A3", "name": "A three", "offerId": "o_ab", "weight": 5, "status": "inactive"},
    {"id": W_IDS[0], "name": W_NAMES[W_IDS[0]], "offerId": "o_w", "weight": 1},
    {"id": W_IDS[1], "name": W_NAMES[W_IDS[1]], "offerId": "o_w", "weight": 3},
    {"id": W_IDS[2], "name": W_NAMES[W_IDS[2]], "offerId": "o_w", "weight": 0},
    {"id": "P1", "name": "P other", "offerId": "o_pl", "placementId": "p_other"},
    {"id": "P2", "name": "P main", "offerId": "o_pl", "placementId": "p_main"},
    {"id": "P3", "name": "P any", "offerId": "o_pl"},
    {"id": "CE", "name": "C email", "offerId": "o_ch", "channelId": "email"},
    {"id": "CS", "name": "C sms", "offerId": "o_ch", "channelId": "sms"},
    {"id": "N1", "name": "N off", "offerId": "o_none", "status": "inactive"},
    {"id": "S1", "name": "S sms", "offerId": "o_sms", "channelId": "sms"},
]
OFFERS = ["o_ab", "o_w", "o_pl", "o_ch", "o_none", "o_sms"]
CAP = "A1 once a week"


def hash_uniform(*parts: str) -> float:
    return int(hashlib.md5(":".join(parts).encode("utf-8")).hexdigest()[:8], 16) / 4294967296


def matching(offer: str, channel: str, placement: str | None) -> list[dict]:
    """S7's matching creatives, by id (an independent reading of the config above)."""
    found = [c for c in CREATIVES if c["offerId"] == offer and c.get("status", "active") == "active"
             and c.get("weight", 1) > 0 and c.get("channelId") in (None, channel)
             and c.get("placementId") in (None, placement)]
    return sorted(found, key=lambda c: c["id"])


def expected_creative(salt: str, customer: str, offer: str, channel: str, placement: str | None) -> str | None:
    found = matching(offer, channel, placement)
    if not found:
        return None
    u = hash_uniform(salt, customer, offer, channel)
    total, running = sum(c.get("weight", 1) for c in found), 0.0
    for c in found:
        running += c.get("weight", 1)
        if running / total > u:
            return c["id"]
    return found[-1]["id"]


def _variant(customer: str) -> str:
    return expected_creative(SALT, customer, "o_ab", "email", "p_main")


A1_CUSTOMERS = [c for c in CUSTOMERS if c not in OLD and _variant(c) == "A1"]
A2_CUSTOMERS = [c for c in CUSTOMERS if c not in OLD and _variant(c) == "A2"]
CAPPED = A1_CUSTOMERS[0]  # saw A1 yesterday: blocked by the A1 cap
UNTAGGED = A1_CUSTOMERS[1]  # saw o_ab yesterday without a creative: not A1's impression
SIBLING = A2_CUSTOMERS[0]  # saw A1 yesterday but is matched to A2: the cap does not apply


def _h(customer, offer, outcome, at, creative=None, channel="email"):
    return (customer, offer, channel, outcome, at, None, creative, None)


def history() -> list[tuple]:
    day = timedelta(days=1)
    out = [_h(CAPPED, "o_ab", "impression", NOW - day, "A1"), _h(UNTAGGED, "o_ab", "impression", NOW - day),
           _h(SIBLING, "o_ab", "impression", NOW - day, "A1")]
    # the A/B readout: 400 impressions of each variant 20 days ago; 40 and 70 of them converted an hour later
    for i, c in enumerate(CUSTOMERS[:800]):
        creative, converts = ("A1", i < 40) if i < 400 else ("A2", i - 400 < 70)
        out.append(_h(c, "o_ab", "impression", NOW - 20 * day, creative))
        if converts:
            out.append(_h(c, "o_ab", "convert", NOW - 20 * day + timedelta(hours=1)))
    for i, c in enumerate(CUSTOMERS[800:900]):  # 100 impressions of a hostile-id variant, 9 clicks
        out.append(_h(c, "o_w", "impression", NOW - 15 * day, W_IDS[1]))
        if i < 9:
            out.append(_h(c, "o_w", "click", NOW - 15 * day + timedelta(hours=2)))
    return out


def _nodes(match_first: bool, match: dict, policies: list[str]) -> list[dict]:
    nodes = standard_nodes(top_n=10)
    nodes[3]["config"]["policyIds"] = policies
    nodes.insert(1 if match_first else 3, match)
    return nodes


def config() -> dict:
    fe = _nodes(True, {"id": "mc", "type": "match_creatives", "label": LABEL,
                       "config": {"placementId": "p_main", "salt": SALT}}, [CAP])
    fs = _nodes(False, {"id": "mc_sms", "type": "match_creatives", "config": {}}, [])
    return {
        "schemas": [schema()], "interactionHistory": {"relation": "history"},
        "channels": [{"id": "email", "name": "Email", "consentField": "consentEmail"},
                     {"id": "sms", "name": "SMS", "consentField": "consentSMS"}],
        "placements": [{"id": "p_main", "name": "Main", "channelId": "email"},
                       {"id": "p_other", "name": "Other", "channelId": "email"}],
        "offers": [{"id": o, "name": o.upper(), "priority": 10 - i} for i, o in enumerate(OFFERS)],
        "creatives": CREATIVES,
        "qualificationRules": [{"name": "young", "ruleType": "attribute_condition",
                                "config": {"attribute": "customer.days", "operator": "lt", "value": 900}}],
        "contactPolicies": [{"name": CAP, "ruleType": "frequency_cap", "scope": "creative", "scopeId": "A1",
                             "config": {"maxPerWeek": 1}}],
        "decisionFlows": [flow(fe, key="fe", channel="email"), flow(fs, key="fs", channel="sms")],
    }


def tables(n: int = N) -> dict:
    """The inputs for the first `n` customers (the other engines compare a share: Spark's cost grows with rows)."""
    keep = set(CUSTOMERS[:n])
    customers = [(c, 900 + i % 100 if c in OLD else i % 900, 1, 10.0, "x", "UTC", True, True)
                 for i, c in enumerate(CUSTOMERS) if c in keep]
    return {"customers": customers_table(customers), "history": history_table([h for h in history() if h[0] in keep])}


CROSS_N = 150  # customers of the other engines' build: every case of the config (CAPPED, UNTAGGED, SIBLING are early)


def readout_rows(backend, folder) -> list[dict]:
    """The per-creative readout query `kaireon experiments` runs, on `backend`'s built models."""
    project = load_project(folder)
    select = creative_comparison(attribution_sql(project.interaction_history), [c.ref for c in project.all("creatives")])
    sql = backend.model_sql(first_build(render(select, backend.engine)))
    return [{k: normalise(v) for k, v in r.items()} for r in backend.query(sql)]


def build_on(name: str, folder, n: int = N) -> dict[str, list[dict]]:
    """The S4 tables and the per-creative readout rows of one build on engine `name` (first `n` customers)."""
    backend = open_backend(name)
    try:
        run_models_on(backend, compile_sql(folder, engine(name)), tables(n), as_of=AS_OF)
        out = {t: table_rows(backend, t) for t in S4_TABLES}
        out["readout"] = readout_rows(backend, folder)
        return out
    finally:
        backend.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The DuckDB build (the reference) and its config folder."""
    # JSON syntax: no YAML line folding changes the hostile values (U+2028) on the way in
    folder = write_json_config(tmp_path_factory.mktemp("creatives") / "decisioning", config())
    return {"duckdb": build_on("duckdb", folder), "duckdb_small": build_on("duckdb", folder, CROSS_N), "folder": folder}


def _decided(built, flow_key):
    return {(r["customer_id"], r["offer_id"]): r for r in built["duckdb"]["kaireon_decisions"]
            if r["decision_flow_key"] == flow_key}


@pytest.mark.parametrize("name", [e for e in ENGINE_NAMES if e != "duckdb"])
def test_same_rows_on_every_engine(built, name):
    """One build on each other engine: every S4 table and the readout equal DuckDB's, row for row (S5)."""
    other, reference = build_on(name, built["folder"], CROSS_N), built["duckdb_small"]
    assert {CAPPED, UNTAGGED, SIBLING} <= set(CUSTOMERS[:CROSS_N]) and len(reference["kaireon_decisions"]) > 1000
    assert {r["stage"] for r in reference["kaireon_rejections"]} == {"match_creatives", "qualification", "contact_policy"}
    for table in (*S4_TABLES, "readout"):
        problem = diff(reference[table], other[table])
        assert problem is None, f"{name} differs from duckdb in {table}: {problem}"


def test_every_decision_has_the_md5_expected_creative(built):
    names = {c["id"]: c["name"] for c in CREATIVES}
    for key, channel, salt, placement in (("fe", "email", SALT, "p_main"), ("fs", "sms", "fs", None)):
        decided = _decided(built, key)
        want = {}
        for c in CUSTOMERS:
            for o in OFFERS:
                chosen = expected_creative(salt, c, o, channel, placement)
                if chosen is not None and c not in OLD and not (key == "fe" and c == CAPPED and o == "o_ab"):
                    want[(c, o)] = chosen
        assert {k: r["creative_id"] for k, r in decided.items()} == want, key
        assert all(r["creative_name"] == names[r["creative_id"]] for r in decided.values())


def test_weights_split_close_to_their_shares(built):
    """Over ~1,800 customers each share lies within 5 standard errors of its weight share."""
    for offer, shares in (("o_ab", {"A1": 0.5, "A2": 0.5}), ("o_w", {W_IDS[0]: 0.25, W_IDS[1]: 0.75})):
        chosen = [r["creative_id"] for (c, o), r in _decided(built, "fe").items() if o == offer]
        assert len(chosen) > 1700
        for creative, share in shares.items():
            bound = 5 * math.sqrt(share * (1 - share) / len(chosen))
            assert abs(chosen.count(creative) / len(chosen) - share) < bound, (offer, creative)
        assert set(chosen) == set(shares)  # weight 0 and inactive creatives are never chosen


def test_placements_and_channels(built):
    fe = {r["creative_id"] for (c, o), r in _decided(built, "fe").items() if o in ("o_pl", "o_ch")}
    fs = {r["creative_id"] for (c, o), r in _decided(built, "fs").items() if o in ("o_pl", "o_ch", "o_sms")}
    assert fe == {"P2", "P3", "CE"}  # P1's placement is not the node's; CS is an sms creative
    assert fs == {"P3", "CS", "S1"}  # no placement on the sms node: only P3 of o_pl


def test_no_creative_is_a_rejection_at_the_nodes_position(built):
    rejected = [r for r in built["duckdb"]["kaireon_rejections"]]
    fe = {(r["customer_id"], r["offer_id"]): r for r in rejected if r["decision_flow_key"] == "fe"}
    for c in CUSTOMERS:  # fe's node runs before qualify: an old customer's o_none is still a match_creatives rejection
        for o in ("o_none", "o_sms"):
            r = fe[(c, o)]
            assert (r["stage"], r["rule_name"]) == ("match_creatives", LABEL)
            assert r["reason"] == (f"Match creatives '{LABEL}': no active creative of the offer with a positive weight "
                                   "on channel email for placement p_main")
    fs = {(r["customer_id"], r["offer_id"]): r for r in rejected if r["decision_flow_key"] == "fs"}
    for c in CUSTOMERS:  # fs's node runs after qualify: the qualification rule is an old customer's reason
        assert (fs[(c, "o_none")]["stage"], fs[(c, "o_none")]["rule_name"]) == (
            ("qualification", "young") if c in OLD else ("match_creatives", "mc_sms"))
    assert {(c, o) for (c, o), r in fs.items() if r["stage"] == "match_creatives"} == {
        (c, "o_none") for c in CUSTOMERS if c not in OLD}


def test_creative_scoped_cap_counts_that_creative(built):
    fe = _decided(built, "fe")
    assert (CAPPED, "o_ab") not in fe and fe[(UNTAGGED, "o_ab")]["creative_id"] == "A1"
    assert fe[(SIBLING, "o_ab")]["creative_id"] == "A2"
    capped = [r for r in built["duckdb"]["kaireon_rejections"] if r["stage"] == "contact_policy"]
    assert [(r["customer_id"], r["offer_id"], r["rule_name"]) for r in capped] == [(CAPPED, "o_ab", CAP)]


def test_same_variant_in_another_run(built):
    """No run id in the hash: another run_id and as_of give every customer the same creative."""
    later = (NOW + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    con = run_models(compile_sql(built["folder"]), tables(), as_of=later, run_id="another run")
    again = {(r["decision_flow_key"], r["customer_id"], r["offer_id"]): r["creative_id"]
             for r in rows(con, "select * from kaireon_decisions")}
    first = {(r["decision_flow_key"], r["customer_id"], r["offer_id"]): r["creative_id"]
             for r in built["duckdb"]["kaireon_decisions"]}
    shared = set(again) & set(first)
    assert len(shared) > 0.99 * len(first)
    assert all(again[k] == first[k] for k in shared)


def test_funnel_counts_match_creatives_as_narrowing(built):
    funnel = {r["decision_flow_key"]: r for r in built["duckdb"]["kaireon_funnel"]}
    young = N - len(OLD)
    assert funnel["fe"]["after_qualification"] == young * 4  # o_none and o_sms never match on email
    assert funnel["fs"]["after_qualification"] == young * 5
    assert funnel["fe"]["decided"] == young * 4 - 1  # the capped customer's o_ab


# ---- the per-creative readout (`kaireon experiments`) ----------------------------------------------

def test_readout_counts(built):
    got = {(r["offer_id"], r["creative_id"]): (r["impressions"], r["conversions"]) for r in built["duckdb"]["readout"]}
    # A1: 400 of the readout's and the impressions of CAPPED and SIBLING yesterday; untagged rows are no creative's
    assert got == {("o_ab", "A1"): (402, 40), ("o_ab", "A2"): (400, 70), ("o_w", W_IDS[1]): (100, 9)}


def _reference(x1, n1, x0, n0):
    """numpy/scipy: the rate difference, its 95% Wald interval and the chi-square p-value (= the z-test's)."""
    p1, p0 = np.float64(x1) / n1, np.float64(x0) / n0
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    _, p, _, _ = chi2_contingency(np.array([[x1, n1 - x1], [x0, n0 - x0]]), correction=False)
    return p1 - p0, p1 - p0 - 1.959963984540054 * se, p1 - p0 + 1.959963984540054 * se, p


def test_readout_statistics_match_scipy(built):
    stats = creative_stats(built["duckdb"]["readout"])
    a1, a2 = stats["o_ab"]
    assert (a1.creative_id, a2.creative_id) == ("A1", "A2") and a1.z is None  # the first by id is the reference
    assert a2.rate == pytest.approx(70 / 400) and a1.rate == pytest.approx(40 / 402)
    d, low, high, p = _reference(70, 400, 40, 402)
    assert (a2.difference, a2.low, a2.high, a2.p) == pytest.approx((d, low, high, p), rel=1e-9)
    assert len(stats["o_w"]) == 1 and stats["o_w"][0].p is None
    text = "\n".join(creative_lines(stats, {c["id"]: c["name"] for c in CREATIVES}))
    assert "A1 (A one): 402 impressions, conversion 9.95%; reference" in text
    assert f"A2 (A two): 400 impressions, conversion 17.50%; difference {100 * d:+.2f} points " \
           f"[{100 * low:+.2f}, {100 * high:+.2f}], z = " in text


def test_readout_command_reads_the_attributed_impressions(built, monkeypatch):
    """`kaireon experiments` on a flow with creatives: the query it sends is creative_comparison over the
    attribution, and its rows print as the per-creative readout (a flow without a holdout gets it alone)."""
    from kaireon_sql import runner
    from kaireon_sql.experiments import readout

    project = load_project(built["folder"])
    sent = []

    def query(_project, select, _engine):
        sent.append(select)
        return built["duckdb"]["readout"]
    monkeypatch.setattr(runner, "query", query)
    assert readout.creative_flows(project, None) == ["fe", "fs"] and readout.creative_flows(project, "fs") == ["fs"]
    text = "\n".join(readout._creative_report(None, engine("duckdb"), project, None))
    ids = [c.ref for c in project.all("creatives")]
    want = creative_comparison(attribution_sql(project.interaction_history), ids)
    assert render(sent[0], engine("duckdb")) == render(want, engine("duckdb"))
    assert text.startswith("per creative") and "offer o_ab:" in text and "A1 (A one): 402 impressions" in text
    assert f"{W_IDS[1]} ({W_NAMES[W_IDS[1]]}): 100 impressions, conversion 9.00%; reference" in text


# ---- bad config -----------------------------------------------------------------------------------

def _errors(tmp_path, node_config: dict, creatives=None, second: bool = False) -> str:
    from kaireon_sql.errors import ConfigError, ConfigErrors

    cfg = config()
    cfg["creatives"] = creatives if creatives is not None else cfg["creatives"]
    match = {"id": "mc", "type": "match_creatives", "config": node_config}
    cfg["decisionFlows"] = [flow(_nodes(True, match, []) + ([dict(match, id="mc2")] if second else []), key="fe")]
    with pytest.raises((ConfigError, ConfigErrors)) as info:
        compile_sql(write_json_config(tmp_path / "decisioning", cfg))
    return str(info.value)


@pytest.mark.parametrize("node_config, creatives, fragments", [
    ({"channelId": "email"}, None, ["decisionFlows[0] 'f", "config.channelId", "not supported yet",
                                    "the candidate's channel picks its creatives"]),
    ({"placementId": "nowhere"}, None, ["config.placementId", "unknown placement 'nowhere'"]),
    ({"salt": ""}, None, ["config.salt", "at least 1 character"]),
    ({}, [{"id": "x", "name": "X", "offerId": "no_offer"}], ["creatives[0] 'X'", "offerId", "unknown offer 'no_offer'"]),
    ({}, [{"id": "x", "name": "X", "offerId": "o_ab", "weight": -1}], ["creatives[0] 'X'", "weight",
                                                                       "expected a number >= 0, got -1"]),
])
def test_bad_config_is_refused_naming_the_field(tmp_path, node_config, creatives, fragments):
    message = _errors(tmp_path, node_config, creatives)
    assert "config.yml" in message and all(f in message for f in fragments), message


def test_a_second_match_creatives_node_is_refused(tmp_path):
    assert "a flow takes at most one 'match_creatives' node" in _errors(tmp_path, {}, second=True)


def test_candidates_render_and_parse_back_on_every_engine(built):
    """The candidates model with creatives compiles for all seven engines and reads back in each dialect."""
    import re

    import sqlglot

    from kaireon_sql.dialect import ENGINES

    for name in ENGINES:
        sql = first_build(compile_sql(built["folder"], engine(name))["kaireon_fe__candidates"])
        assert "creative_draw" in sql, name
        sql = re.sub(r"\{\{ ref\('([A-Za-z0-9_]+)'\) \}\}", r"ref__\1", sql)
        tree = sqlglot.parse_one(sql, read=engine(name).sqlglot)
        assert isinstance(tree, sqlglot.exp.Select), name
