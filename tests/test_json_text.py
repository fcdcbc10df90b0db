"""Personalization JSON is valid JSON (RFC 8259) and byte-identical across engines.

Non-finite numbers are null; U+0000-U+001F are escaped as json.dumps escapes them; every other
character (U+2028, quotes after escaping, emoji, accents) is kept. Checked with json.loads and
against json.dumps on DuckDB, PostgreSQL and Spark, and through a flow's personalization column.
"""
from __future__ import annotations

import json
import math

import pytest
from sqlglot import exp

from backends import ENGINE_NAMES, open_backend, run_models_on
from harness import (compile_sql, customers_table, flow, history_table, rows, run_models, schema, standard_nodes,
                     write_config)
from kaireon_sql.dialect import engine, json_object, render

CONTROLS = "".join(chr(c) for c in range(1, 32))
TEXTS = [CONTROLS, "\x7f", "line\u2028sep\u2029para", 'say "hi" \\ back\\slash', "😀 👩‍👩‍👧 kundé_ß_東京", "",
         "\\u0041 is not A", "tab\tnew\nline\rcr", "'; --", "{{ x }}", None]
# numbers whose text is the same on every engine (whole below 1e18, or 1e-4 <= |x| < 1e15)
PORTABLE = [0.0, -0.0, 3.0, -7.0, 0.5, 0.1, 123456.789, 12345678.5, -98765432.125, 0.00015, 0.001, 1e14,
            1e17, -999999999999999.9, 2.0 ** 53, None]
NON_FINITE = [math.nan, math.inf, -math.inf]
OTHER = [1e-5, 1.5e-7, 5e-324, 1e20, 1.7976931348623157e308, 1e15 + 0.5]  # valid JSON, spelling may differ


def _row_values():
    out = []
    for i in range(max(len(TEXTS), len(PORTABLE) + len(NON_FINITE) + len(OTHER))):
        numbers = PORTABLE + NON_FINITE + OTHER
        out.append((i, numbers[i] if i < len(numbers) else None, TEXTS[i] if i < len(TEXTS) else None))
    return out


def _python(n, s) -> str:
    number = None if n is None or not math.isfinite(n) else (int(n) if n == int(n) and abs(n) < 1e18 else n)
    return json.dumps({"n": number, "s": s}, ensure_ascii=False, separators=(",", ":"))


# ---- through a flow: NaN data and control characters in personalization ----------------------------

def _flow_config() -> dict:
    return {
        "schemas": [schema()], "interactionHistory": {"relation": "history"},
        "offers": [{"id": "o1", "name": "O1", "priority": 50}],
        "decisionFlows": [flow(standard_nodes(top_n=1, score={"method": "priority"}) + [
            {"id": "props", "type": "set_properties", "config": {"properties": [
                {"name": "spend", "formula": "customer.revenue * 2"},
                {"name": "note", "formula": "concat(customer.category, '!')"},
                {"name": "label", "value": "tab\there \"q\" \\ \x02"}]}}])],  # escaped when compiled
    }


NOTES = {"c1": (math.nan, "a\x01b\x1fc\r\n"), "c2": (math.inf, "line\u2028sep\u2029"), "c3": (12345678.25, None),
         "c4": (None, "\x0b\x0c\x08"), "c5": (-math.inf, "\"quoted\" \\ 😀")}


def _tables():
    customers = [(c, 100, 5, revenue, note, "UTC", True, True) for c, (revenue, note) in NOTES.items()]
    return {"customers": customers_table(customers), "history": history_table([])}


def _expected() -> dict[str, dict]:
    out = {}
    for cid, (revenue, note) in NOTES.items():
        spend = None if revenue is None or not math.isfinite(revenue) else revenue * 2
        out[cid] = {"spend": spend, "note": (note or "") + "!", "label": 'tab\there "q" \\ \x02'}
    return out


def test_flow_personalization_is_json_with_nan_and_control_characters(tmp_path):
    config_dir = write_config(tmp_path / "decisioning", _flow_config())
    con = run_models(compile_sql(config_dir), _tables())
    got = {r["customer_id"]: r["personalization"] for r in rows(con, "select * from kaireon_decisions")}
    assert {c: json.loads(t) for c, t in got.items()} == _expected()
    assert all(ord(c) >= 32 for t in got.values() for c in t)


@pytest.mark.parametrize("name", [e for e in ENGINE_NAMES if e != "duckdb"])
def test_flow_personalization_bytes_are_the_same_on_every_engine(tmp_path, name):
    config_dir = write_config(tmp_path / "decisioning", _flow_config())
    texts = {}
    for eng_name in ("duckdb", name):
        backend = open_backend(eng_name)
        try:
            run_models_on(backend, compile_sql(config_dir, engine(eng_name)), _tables())
            texts[eng_name] = {r["customer_id"]: r["personalization"]
                               for r in backend.query("SELECT customer_id, personalization FROM kaireon_decisions")}
        finally:
            backend.close()
    assert texts[name] == texts["duckdb"]
    assert {c: json.loads(t) for c, t in texts[name].items()} == _expected()


# ---- the builder on each engine (opened after the flows: one Spark backend at a time) -------------

@pytest.fixture(scope="module", params=ENGINE_NAMES)
def db(request):
    backend = open_backend(request.param)
    backend.create_table("json_in", {"id": "INTEGER", "n": "DOUBLE", "s": "VARCHAR"}, _row_values())
    yield backend
    backend.close()


def _texts(db) -> list[str]:
    obj = json_object([("n", "number", exp.column("n")), ("s", "text", exp.column("s"))])
    select = exp.select(exp.column("id"), exp.alias_(obj, "j", quoted=True)).from_("json_in").order_by("id")
    return [r["j"] for r in db.query(render(select, db.engine, pretty=False))]


def test_json_is_valid_and_equals_json_dumps(db):
    got = _texts(db)
    for (i, n, s), text in zip(_row_values(), got):
        parsed = json.loads(text)  # strict: raw control characters and NaN/Infinity would raise
        assert parsed["s"] == s, (db.name, i)
        if n is None or not math.isfinite(n):
            assert parsed["n"] is None, (db.name, n, text)
        else:
            assert float(parsed["n"]) == n, (db.name, n, text)
        if n in OTHER:
            continue
        assert text == _python(n, s), (db.name, i)
    assert all(ord(c) >= 32 for t in got for c in t)


def test_control_characters_never_appear_raw_in_the_sql():
    from kaireon_sql.dialect import ENGINES

    for eng in ENGINES.values():
        sql = render(json_object([("s", "text", exp.column("s"))]), eng, pretty=False)
        assert all(ord(c) >= 32 for c in sql), eng.name


def test_number_of_an_expression_keeps_its_operands_grouped(db):
    """x - x (the finiteness test) on an expression such as a + 1 must not read as a + 1 - a + 1."""
    value = exp.Add(this=exp.column("n"), expression=exp.Literal.number(1))
    select = exp.select(exp.column("id"), exp.alias_(json_object([("v", "number", value)]), "j", quoted=True))
    got = db.query(render(select.from_("json_in").where(exp.column("id").eq(2)), db.engine, pretty=False))
    assert [r["j"] for r in got] == ['{"v":4}']  # n = 3.0 in row 2


def test_nul_is_escaped_where_text_can_hold_it():
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'a' || chr(0) || 'b' AS s")
    sql = render(exp.select(exp.alias_(json_object([("s", "text", exp.column("s"))]), "j",
                                       quoted=True)).from_("t"), engine("duckdb"), pretty=False)
    assert con.execute(sql).fetchall() == [('{"s":"a\\u0000b"}',)]
