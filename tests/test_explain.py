"""`kaireon explain`'s assembly and notes (kaireon_sql/explain.py) over rows shaped as its query returns them,
and the query's SQL (the customer id a literal, on every engine); the dbt runs are tests/test_explain_dbt.py."""
import hashlib

import pytest
from sqlglot import exp

from kaireon_sql import explain
from kaireon_sql.dialect import engine, render

RUN = "f@2026-11-20T15:00:00Z"


def _settings(**kw) -> explain.FlowSettings:
    base = dict(key="f", slug="f", traced=False, trace_rate=0.0, rejections="all", rejection_rate=0.1, withholds=True)
    return explain.FlowSettings(**{**base, **kw})


def _row(kind: str, **values) -> dict:
    return {**dict.fromkeys(explain.FIELDS), "kind": kind, "flow": "f", "run_id": RUN, **values}


def _base(customer="c1", group="treatment") -> list[dict]:
    return [_row("funnel", as_of="2026-11-20 15:00:00"),
            _row("assignment", experiment_group=group, bucket=42)]


def test_fates_from_the_tables_without_a_trace():
    rows = _base() + [
        _row("decided", offer_id="o1", channel="email", rank=1, score=0.9, decision_id="d1"),
        _row("candidate", run_id=None, offer_id="o1", channel="email", score=0.9, rank=1),
        _row("candidate", run_id=None, offer_id="o2", channel="email", score=0.5, rank=2),  # ranked out
        _row("candidate", run_id=None, offer_id="o3", channel="email", score=0.7, rank=None, reject_code="4"),
        _row("rejected", offer_id="o4", channel="email", stage="qualification", rule_name="r", reason="why"),
    ]
    [story] = explain.stories(rows, [_settings()], "c1", None)
    fates = {(c.offer_id, c.fate) for c in story.candidates}
    assert fates == {("o1", "decided"), ("o2", "ranked_out"), ("o3", "rejected"), ("o4", "rejected")}
    assert [c.offer_id for c in story.candidates] == ["o1", "o2", "o3", "o4"]  # decided, ranked out, rejected
    o3 = next(c for c in story.candidates if c.offer_id == "o3")
    assert o3.reason is None and o3.score == 0.7
    assert (story.experiment_group, story.bucket) == ("treatment", 42)
    assert any("no includeTrace" in n for n in story.notes)
    assert any("without a reason" in n for n in story.notes)
    assert "REJECTED by a contact policy" in "\n".join(explain.lines("c1", [story]))


def test_rejections_none_is_said_plainly():
    rows = _base() + [_row("decided", offer_id="o1", channel="email", rank=1)]
    [story] = explain.stories(rows, [_settings(rejections="none")], "c1", None)
    assert any(n.startswith("rejections are not recorded for this flow (rejections.volume: none)") for n in story.notes)


def _sampled(customer: str, rate: float) -> bool:
    return int(hashlib.md5(f"rejections:{customer}".encode()).hexdigest()[:8], 16) % 10000 < round(rate * 10000)


def test_sampled_rejections_name_the_customer_outside_the_share():
    outside = next(f"c{i}" for i in range(1000) if not _sampled(f"c{i}", 0.1))
    inside = next(f"c{i}" for i in range(1000) if _sampled(f"c{i}", 0.1))
    for customer, noted in ((outside, True), (inside, False)):
        rows = _base() + [_row("decided", offer_id="o1", channel="email", rank=1)]
        [story] = explain.stories(rows, [_settings(rejections="sampled")], customer, None)
        assert any("outside the sampled share" in n for n in story.notes) is noted, customer


def test_a_traced_customer_outside_the_sample_rate_is_noted():
    rows = _base() + [_row("decided", offer_id="o1", channel="email", rank=1)]
    [story] = explain.stories(rows, [_settings(traced=True, trace_rate=0.05)], "c1", None)
    assert not story.traced and any("decisionTraceSampleRate 0.05" in n for n in story.notes)


def test_unknown_customer_and_run():
    rows = [_row("funnel", as_of="x")]
    with pytest.raises(explain.ExplainError, match="unknown customer 'c9'"):
        explain.stories(rows, [_settings()], "c9", None)
    with pytest.raises(explain.ExplainError, match=r"no run 'r0' of flow f in the warehouse; runs: f@2026"):
        explain.stories(rows, [_settings()], "c9", "r0")


def test_unmarked_keeps_text_as_text():
    row = explain.unmarked({"offer_id": "~00123", "channel": "~true", "score": 0.5, "reason": None})
    assert row == {"offer_id": "00123", "channel": "true", "score": 0.5, "reason": None}


@pytest.mark.parametrize("name", ["duckdb", "postgres", "spark", "snowflake"])
def test_the_customer_id_is_one_string_literal(name):
    hostile = "x' or '1'='1 {{ log('p') }} \\"
    tree = explain.explain_query(hostile, [("f", "f")], True)
    literals = [lit.this for lit in tree.find_all(exp.Literal) if lit.is_string and "or" in lit.this]
    assert literals and all(v == hostile for v in literals)
    sql = render(tree, engine(name), pretty=False)
    assert "{{ log" not in sql and "' or '1'='1" not in sql
