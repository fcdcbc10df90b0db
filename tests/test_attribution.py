"""kaireon_attribution (S8) equals an independent Python attribution of the same rows, on every engine."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from backends import ENGINE_NAMES, open_backend, run_models_on
from cross_engine import table_rows
from harness import HISTORY_COLUMNS, Table, write_config

from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine, render
from kaireon_sql.errors import ConfigErrors
from kaireon_sql.plan.context import ATTRIBUTION_MODEL, HISTORY_MODEL
from kaireon_sql.sql.attribution import attribution_sql
from kaireon_sql.sql.history import staging_model

AS_OF = datetime(2026, 11, 20, 15, 0, 0)
DAY = timedelta(days=1)
SEC = timedelta(seconds=1)


def _h(customer, offer, outcome, at, channel="email", value=None, creative=None, flow=None):
    return (customer, offer, channel, outcome, at, value, creative, flow)


HISTORY = [
    # window edge: a click exactly 7 days after the impression is attributed ...
    _h("edge_in", "o1", "impression", AS_OF - 10 * DAY), _h("edge_in", "o1", "click", AS_OF - 3 * DAY),
    # ... one second more is not
    _h("edge_out", "o1", "impression", AS_OF - 10 * DAY - SEC), _h("edge_out", "o1", "click", AS_OF - 3 * DAY),
    # two impressions before one positive: the latest gets it
    _h("two_imp", "o1", "impression", AS_OF - 5 * DAY), _h("two_imp", "o1", "impression", AS_OF - 4 * DAY),
    _h("two_imp", "o1", "convert", AS_OF - 2 * DAY, value=12.5),
    # two positives after one impression: the first is kept
    _h("two_pos", "o1", "impression", AS_OF - 5 * DAY), _h("two_pos", "o1", "click", AS_OF - 4 * DAY),
    _h("two_pos", "o1", "convert", AS_OF - 3 * DAY, value=20.0),
    # a positive on another channel is not attributed; one without a channel is
    _h("other_ch", "o1", "impression", AS_OF - 5 * DAY), _h("other_ch", "o1", "click", AS_OF - 4 * DAY, channel="sms"),
    _h("other_ch", "o2", "impression", AS_OF - 5 * DAY), _h("other_ch", "o2", "click", AS_OF - 4 * DAY, channel=None),
    # rows after as_of are ignored (impressions and positives)
    _h("late", "o1", "impression", AS_OF - 2 * DAY), _h("late", "o1", "click", AS_OF + SEC),
    _h("late", "o2", "impression", AS_OF + SEC),
    # a dismiss is not positive; another offer's click is not this offer's; same-time impressions tie by channel
    _h("mixed", "o1", "impression", AS_OF - 3 * DAY, creative="cr1", flow="f"), _h("mixed", "o1", "dismiss", AS_OF - 2 * DAY),
    _h("mixed", "o2", "click", AS_OF - 2 * DAY),
    _h("tie", "o1", "impression", AS_OF - 3 * DAY, channel="email"), _h("tie", "o1", "impression", AS_OF - 3 * DAY, channel="sms"),
    _h("tie", "o1", "click", AS_OF - 2 * DAY, channel=None),
    # the positive at the impression's own timestamp counts
    _h("same_t", "o1", "impression", AS_OF - DAY), _h("same_t", "o1", "click", AS_OF - DAY, value=1.0),
]
# past decisions (interactionHistory.decisionLog): the latest at or before the impression, same channel
DECISIONS = [
    ("two_imp", "o1", "email", AS_OF - 6 * DAY, "r1", "m1"),
    ("two_imp", "o1", "email", AS_OF - 4 * DAY - timedelta(hours=1), "r2", "m2"),
    ("two_imp", "o1", "sms", AS_OF - 4 * DAY - SEC, "r3", "m3"),
    ("two_pos", "o1", "email", AS_OF - 5 * DAY, "r4", None),
    ("edge_in", "o1", "email", AS_OF - 9 * DAY, "r5", "m5"),  # after the impression: not behind it
]
DECISION_COLUMNS = {"customer_id": "VARCHAR", "offer_id": "VARCHAR", "channel": "VARCHAR", "as_of": "TIMESTAMP",
                    "run_id": "VARCHAR", "model_id": "VARCHAR"}


def _none_first(v):
    return (v is not None, v if v is not None else "")


def reference(history, decisions, positives=("click", "convert"), window_days=7.0) -> list[dict]:
    """S8's attribution, written directly: each positive to its latest impression in the window, first one kept."""
    window = timedelta(days=window_days)
    rows = [dict(zip(HISTORY_COLUMNS, r)) for r in history]
    imps = [r for r in rows if r["outcome"] == "impression" and r["occurred_at"] <= AS_OF]
    imps.sort(key=lambda r: (r["occurred_at"], *[_none_first(r[c]) for c in ("channel", "creative_id", "decision_flow_key")]))
    pos = [r for r in rows if r["outcome"] in positives and r["occurred_at"] <= AS_OF]
    pos.sort(key=lambda r: (r["occurred_at"], r["outcome"], _none_first(r["channel"]),
                            (r["value"] is not None, r["value"] or 0)))
    kept: dict[int, dict] = {}
    for q in pos:
        found = [k for k, i in enumerate(imps) if i["customer_id"] == q["customer_id"] and i["offer_id"] == q["offer_id"]
                 and (q["channel"] is None or i["channel"] == q["channel"])
                 and q["occurred_at"] - window <= i["occurred_at"] <= q["occurred_at"]]
        if found:
            kept.setdefault(max(found), q)  # imps are in time order: the last found is the latest
    out = []
    for k, i in enumerate(imps):
        q = kept.get(k)
        behind = [d for d in decisions if d[:3] == (i["customer_id"], i["offer_id"], i["channel"]) and d[3] <= i["occurred_at"]]
        behind.sort(key=lambda d: (d[3], d[4], _none_first(d[5])))
        out.append({"customer_id": i["customer_id"], "offer_id": i["offer_id"], "channel": i["channel"],
                    "creative_id": i["creative_id"], "decision_flow_key": i["decision_flow_key"],
                    "impression_at": i["occurred_at"], "positive": int(q is not None),
                    "positive_outcome": q["outcome"] if q else None, "positive_at": q["occurred_at"] if q else None,
                    "value": q["value"] if q else None,
                    "run_id": behind[-1][4] if behind else None, "model_id": behind[-1][5] if behind else None})
    return out


def _key(r):
    return tuple(str(r[c]) for c in ("customer_id", "offer_id", "channel", "impression_at"))


def _same(got: list[dict], want: list[dict]) -> None:
    got, want = sorted(got, key=_key), sorted(want, key=_key)
    assert [_key(r) for r in got] == [_key(r) for r in want]
    for g, w in zip(got, want):
        for c, v in w.items():
            if isinstance(v, float):
                assert math.isclose(g[c], v), (c, g, w)
            else:
                assert g[c] == v, (c, g, w)


def _attribution_rows(tmp_path, name: str, history_cfg: dict, decisions) -> list[dict]:
    project = load_project(write_config(tmp_path / "decisioning", {"interactionHistory": history_cfg}))
    eng = engine(name)
    models = {HISTORY_MODEL: render(staging_model(project), eng),
              ATTRIBUTION_MODEL: render(attribution_sql(project.interaction_history), eng)}
    tables = {"history": Table(HISTORY_COLUMNS, HISTORY)}
    if decisions is not None:
        tables["past_decisions"] = Table(DECISION_COLUMNS, decisions)
    backend = open_backend(name)
    try:
        run_models_on(backend, models, tables, as_of=str(AS_OF))
        return table_rows(backend, ATTRIBUTION_MODEL)
    finally:
        backend.close()


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_attribution_equals_python(tmp_path, name):
    cfg = {"relation": "history", "decisionLog": {"relation": "past_decisions"}}
    _same(_attribution_rows(tmp_path, name, cfg, DECISIONS), reference(HISTORY, DECISIONS))


def test_attribution_settings_and_no_decision_log(tmp_path):
    """positiveOutcomes and attributionWindowDays; without a logged decision run_id and model_id are NULL."""
    cfg = {"relation": "history", "positiveOutcomes": ["convert"], "attributionWindowDays": 2.5}
    got = _attribution_rows(tmp_path, "duckdb", cfg, None)
    want = reference(HISTORY, [], positives=("convert",), window_days=2.5)
    assert sum(r["positive"] for r in want) == 2  # the converts of two_imp and two_pos, 2 days after
    _same(got, want)


@pytest.mark.parametrize("cfg, field", [
    ({"positiveOutcomes": ["impression"]}, "positiveOutcomes[0]"),
    ({"positiveOutcomes": ["clik"]}, "positiveOutcomes[0]"),
    ({"positiveOutcomes": []}, "positiveOutcomes"),
    ({"attributionWindowDays": 0}, "attributionWindowDays"),
    ({"decisionLog": {"relation": "x; drop"}}, "decisionLog.relation"),
])
def test_bad_attribution_settings_are_refused(tmp_path, cfg, field):
    with pytest.raises(ConfigErrors) as info:
        load_project(write_config(tmp_path / "decisioning", {"interactionHistory": {"relation": "history", **cfg}}))
    assert "interactionHistory" in str(info.value) and field in str(info.value), str(info.value)
