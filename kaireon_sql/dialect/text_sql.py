"""Render-time bodies of the text, time and hash nodes for one engine (dialect/render.py calls them).

Each takes already-lowered operands and an Engine and returns plain sqlglot: what the SQL of that
construct is on that engine. Nothing outside the dialect package calls these.
"""
from __future__ import annotations

import json

from sqlglot import exp

from .. import regex
from ..timezones import ZONES
from .engines import Engine
from .numbers import grouped as _grouped


def data_type(name: str, eng: Engine) -> exp.DataType:
    """A type name of the engine (e.g. BigQuery's FLOAT64), parsed in that engine's dialect."""
    return exp.DataType.build(name, dialect=eng.sqlglot)


def cast_text(e: exp.Expression, eng: Engine) -> exp.Expression:
    return exp.cast(e, data_type(eng.text_type, eng))


def cast_double(e: exp.Expression, eng: Engine) -> exp.Expression:
    return exp.cast(e, data_type(eng.double_type, eng))


def epoch_seconds(ts: exp.Expression, eng: Engine) -> exp.Expression:
    """Seconds since 1970 of a naive UTC timestamp, as a double with its fractions (Engine.epoch)."""
    double = data_type(eng.double_type, eng)
    million = exp.Literal.number(1000000)
    if eng.epoch == "extract":
        value: exp.Expression = exp.Extract(this=exp.var("EPOCH"), expression=ts)
    elif eng.epoch == "fields":  # the wall-clock fields of a TIMESTAMP_NTZ: no session time zone involved
        days = exp.Anonymous(this="DATEDIFF", expressions=[exp.cast(ts, "DATE"),
                                                           exp.cast(exp.Literal.string("1970-01-01"), "DATE")])
        value = exp.Add(this=exp.Add(this=exp.Add(
            this=exp.Mul(this=days, expression=exp.Literal.number(86400)),
            expression=exp.Mul(this=exp.Anonymous(this="HOUR", expressions=[ts.copy()]), expression=exp.Literal.number(3600))),
            expression=exp.Mul(this=exp.Anonymous(this="MINUTE", expressions=[ts.copy()]), expression=exp.Literal.number(60))),
            expression=exp.cast(exp.Extract(this=exp.var("SECOND"), expression=ts.copy()), double))
    elif eng.epoch == "micros_part":
        value = exp.Div(this=exp.func("DATE_PART", exp.var("EPOCH_MICROSECOND"), ts), expression=million)
    elif eng.epoch == "unix_micros":
        value = exp.Div(this=exp.func("UNIX_MICROS", exp.func("TIMESTAMP", ts)), expression=million)
    elif eng.epoch == "to_unixtime":
        value = exp.func("TO_UNIXTIME", ts)
    else:
        value = exp.func("EPOCH", ts)
    return exp.cast(value, double.copy())


def hex8_to_int(hex_text: exp.Expression, eng: Engine) -> exp.Expression:
    """Integer value of an 8-character hex string (0 .. 2^32-1), exactly, on every engine."""
    if eng.hex_to_int == "bit32":
        bits = exp.cast(exp.DPipe(this=exp.Literal.string("x"), expression=hex_text), exp.DataType.build("BIT(32)", dialect="postgres"))
        return exp.cast(bits, "BIGINT")
    if eng.hex_to_int == "conv":
        return exp.cast(exp.func("conv", hex_text, exp.Literal.number(16), exp.Literal.number(10)), "BIGINT")
    if eng.hex_to_int == "to_number":  # Snowflake format model: one X per hex digit
        return exp.func("TO_NUMBER", hex_text, exp.Literal.string("XXXXXXXX"))
    if eng.hex_to_int == "from_base":  # Trino
        return exp.func("FROM_BASE", hex_text, exp.Literal.number(16))
    return exp.cast(exp.DPipe(this=exp.Literal.string("0x"), expression=hex_text), "BIGINT")


def md5_hex(text: exp.Expression, eng: Engine) -> exp.Expression:
    """md5 of the UTF-8 bytes of `text` as 32 lowercase hex characters."""
    if eng.md5 == "varbinary":  # sqlglot writes Trino's MD5 as LOWER(TO_HEX(MD5(...)))
        return exp.MD5(this=exp.func("TO_UTF8", text))
    return exp.MD5(this=text)


def hex_text(hex_string: exp.Expression, eng: Engine) -> exp.Expression:
    """The UTF-8 text whose bytes the hex string spells (Engine.hex_text)."""
    def call(name: str, *args: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this=name, expressions=list(args))

    if eng.hex_text == "convert_from":
        return call("CONVERT_FROM", call("DECODE", hex_string, exp.Literal.string("hex")), exp.Literal.string("UTF8"))
    if eng.hex_text == "decode_utf8":
        return call("DECODE", call("UNHEX", hex_string), exp.Literal.string("UTF-8"))
    if eng.hex_text == "hex_decode_string":
        return call("HEX_DECODE_STRING", hex_string)
    if eng.hex_text == "bytes":
        return call("SAFE_CONVERT_BYTES_TO_STRING", call("FROM_HEX", hex_string))
    if eng.hex_text == "from_utf8":
        return call("FROM_UTF8", call("FROM_HEX", hex_string))
    return call("DECODE", call("UNHEX", hex_string))


def local_time(utc_ts: exp.Expression, zone: exp.Expression, eng: Engine) -> exp.Expression:
    """Wall-clock time in `zone` of a naive UTC timestamp (DST-correct)."""
    if eng.local_time == "from_utc":
        return exp.func("from_utc_timestamp", utc_ts, zone)
    if eng.local_time == "convert_timezone":  # Snowflake: CONVERT_TIMEZONE(source_tz, target_tz, ntz) -> ntz
        return exp.func("CONVERT_TIMEZONE", exp.Literal.string("UTC"), zone, utc_ts)
    if eng.local_time == "datetime":  # BigQuery: TIMESTAMP(datetime) reads UTC; DATETIME(ts, zone) is local
        return exp.func("DATETIME", exp.func("TIMESTAMP", utc_ts), zone)
    if eng.local_time == "with_timezone":  # Trino: tag as UTC, convert, drop the zone (keeps the wall clock)
        tagged = exp.func("WITH_TIMEZONE", utc_ts, exp.Literal.string("UTC"))
        return exp.cast(exp.func("AT_TIMEZONE", tagged, zone), "TIMESTAMP")
    as_utc = exp.AtTimeZone(this=utc_ts, zone=exp.Literal.string("UTC"))
    return exp.AtTimeZone(this=as_utc, zone=zone)


def known_zone(zone: exp.Expression, eng: Engine, listed: bool = True) -> exp.Expression:
    """TRUE when `zone` can be converted to: in the compiler's list (timezones.ZONES; `listed=False` for a
    config zone already checked against it) and in the engine's own list where it has one. NULL zone: NULL."""
    checks: list[exp.Expression] = []
    if listed:
        checks.append(exp.In(this=zone.copy(), expressions=[exp.Literal.string(z) for z in sorted(ZONES)]))
    if eng.zone_list in ("table_function", "catalog_view"):
        names = (exp.Table(this=exp.Anonymous(this="pg_timezone_names")) if eng.zone_list == "table_function"
                 else exp.table_("pg_timezone_names", db="pg_catalog"))
        checks.append(zone.copy().isin(query=exp.select(exp.column("name")).from_(names)))
    elif eng.zone_list == "try_reflect":
        found = exp.func("try_reflect", exp.Literal.string("java.time.ZoneId"), exp.Literal.string("of"), zone.copy())
        checks.append(exp.not_(exp.Is(this=found, expression=exp.null())))
    return exp.and_(*checks) if checks else exp.not_(exp.Is(this=zone.copy(), expression=exp.null()))


def iso_day_of_week(ts: exp.Expression, eng: Engine) -> exp.Expression:
    """1 = Monday .. 7 = Sunday.

    Postgres has no DAYOFWEEK_ISO function, and sqlglot writes Spark's as (DAYOFWEEK(x) % 7) + 1,
    which is off by two (Spark's DAYOFWEEK is 1 = Sunday); both are built explicitly here.
    """
    if eng.iso_dow == "extract":
        return exp.cast(exp.Extract(this=exp.var("ISODOW"), expression=ts), "INT")
    if eng.iso_dow == "sunday_first":
        shifted = exp.Mod(this=exp.paren(exp.Add(this=exp.DayOfWeek(this=ts), expression=exp.Literal.number(5))),
                          expression=exp.Literal.number(7))
        return exp.paren(exp.Add(this=exp.paren(shifted), expression=exp.Literal.number(1)))
    return exp.DayOfWeekIso(this=ts)


def truncate(ts: exp.Expression, unit: str, eng: Engine) -> exp.Expression:
    """Calendar period start (UTC): unit is DAY, WEEK (ISO, Monday) or MONTH."""
    if unit == "WEEK" and eng.iso_week_unit is None:
        day = truncate(ts, "DAY", eng)
        back = exp.Sub(this=exp.Literal.number(1), expression=iso_day_of_week(ts.copy(), eng))
        return exp.DateAdd(this=day, expression=back, unit=exp.var("DAY"))
    if unit == "WEEK":
        unit = eng.iso_week_unit
    if eng.datetime_trunc:
        return exp.DatetimeTrunc(this=ts, unit=exp.var(unit))
    return exp.TimestampTrunc(this=ts, unit=exp.var(unit))



def add_minutes(ts: exp.Expression, minutes: exp.Expression, eng: Engine) -> exp.Expression:
    """A naive timestamp plus an integer number of minutes read per row (Engine.add_minutes)."""
    unit = exp.var("MINUTE")
    if eng.add_minutes == "timestampadd":  # sqlglot writes Spark's DateAdd as DATE_ADD(ts, n): days
        return exp.Anonymous(this="TIMESTAMPADD", expressions=[unit, minutes, ts])
    if eng.datetime_trunc:  # BigQuery: naive timestamps are DATETIMEs
        return exp.DatetimeAdd(this=ts, expression=minutes, unit=unit)
    return exp.DateAdd(this=ts, expression=minutes, unit=unit)

# JSON string escapes of RFC 8259: the two that must be escaped, then every control character (short
# forms where JSON has one), as Python's json.dumps writes them; every other character is kept as is
_JSON_ESCAPES = [("\\", "\\\\"), ('"', '\\"')] + [
    (chr(c), {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(c, "\\u%04x" % c)) for c in range(32)]


def char_of(code: int, eng: Engine) -> exp.Expression:
    """The one-character text of a code point (control characters never appear raw in generated SQL)."""
    if eng.chr_function == "code_points":  # BigQuery has no CHR
        return exp.func("CODE_POINTS_TO_STRING", exp.Array(expressions=[exp.Literal.number(code)]))
    return exp.Chr(expressions=[exp.Literal.number(code)])


def _json_escaped(value: exp.Expression, eng: Engine) -> exp.Expression:
    """`value` with the JSON string escapes applied (NULL stays NULL).

    Escaping distributes over concatenation and COALESCE, so text known at compile time is escaped here
    and only the parts read from data get the chain of REPLACE calls (which nests ~30 deep).
    """
    if isinstance(value, exp.Literal) and value.is_string:
        return exp.Literal.string(json.dumps(value.this, ensure_ascii=False)[1:-1])
    if isinstance(value, exp.Paren):
        return exp.paren(_json_escaped(value.this, eng), copy=False)
    if isinstance(value, exp.DPipe):
        return exp.DPipe(this=_json_escaped(value.this, eng), expression=_json_escaped(value.expression, eng),
                         safe=value.args.get("safe"))
    if isinstance(value, exp.Coalesce):
        return exp.Coalesce(this=_json_escaped(value.this, eng),
                            expressions=[_json_escaped(e, eng) for e in value.expressions])
    basic = value
    for raw, replacement in _JSON_ESCAPES[:2]:
        basic = exp.func("REPLACE", basic, exp.Literal.string(raw), exp.Literal.string(replacement))
    full = basic.copy()
    first = 0 if eng.text_holds_nul else 1
    for raw, replacement in _JSON_ESCAPES[2 + first:]:
        full = exp.func("REPLACE", full, char_of(ord(raw), eng), exp.Literal.string(replacement))
    # the 32 REPLACE calls cost ~15x the two: taken only by text holding a control character
    controls = exp.DPipe(this=exp.DPipe(this=exp.DPipe(this=exp.DPipe(
        this=exp.Literal.string("["), expression=char_of(first, eng), safe=False), expression=exp.Literal.string("-"),
        safe=False), expression=char_of(31, eng), safe=False), expression=exp.Literal.string("]"), safe=False)
    return exp.case().when(exp.RegexpLike(this=value.copy(), expression=exp.paren(controls)), full).else_(basic)


def json_string(value: exp.Expression, eng: Engine) -> exp.Expression:
    """`value` as the text of a JSON string: quoted, `\\` and `"` escaped, and U+0000-U+001F escaped
    (U+0000 only where text can hold it), byte for byte what json.dumps(ensure_ascii=False) writes."""
    return exp.DPipe(this=exp.DPipe(this=exp.Literal.string('"'), expression=_json_escaped(value.copy(), eng),
                                    safe=False), expression=exp.Literal.string('"'), safe=False)


def _double_text(value: exp.Expression, eng: Engine) -> exp.Expression:
    """Text of a double that is not a whole number, below 1e18."""
    if eng.double_text == "java":
        # Java's Double.toString writes 1.23456785E7 from 1e7 and 1.5E-4 below 1e-3; through a DECIMAL (which Spark
        # builds from those same digits) it is 12345678.5 and 0.00015, as DuckDB and PostgreSQL write them
        plain = exp.GTE(this=exp.Abs(this=value.copy()), expression=exp.Literal.number("1e-4"))
        digits = cast_text(exp.cast(value.copy(), exp.DataType.build("DECIMAL(38, 22)")), eng)
        trimmed = exp.RegexpReplace(this=digits, expression=exp.Literal.string("0+$"),
                                    replacement=exp.Literal.string(""))
        return exp.case().when(plain, trimmed).else_(cast_text(value, eng))
    return cast_text(value, eng)


def json_value(value: exp.Expression, kind: str, eng: Engine) -> exp.Expression:
    """JSON text of one value (RFC 8259): null, true/false, numbers, escaped strings.

    Numbers: NULL, NaN and the infinities are null (JSON has no non-finite numbers); whole numbers below
    1e18 are written as integers; others as the engine's shortest double text, which every executed engine
    writes alike for 1e-4 <= |x| < 1e15 (outside, the same value may be spelled 1e-05 or 1.0E-5).
    """
    null = exp.Literal.string("null")
    if kind == "boolean":
        return exp.case().when(value, exp.Literal.string("true")).when(exp.not_(value), exp.Literal.string("false")).else_(null)
    if kind == "number":
        # x * 0 is 0 for a finite x and NaN for NaN and the infinities, on IEEE and NaN-ordering engines alike;
        # |x| < 1e18 is decided before FLOOR(x), which is a BIGINT on Spark and overflows beyond
        finite = exp.EQ(this=exp.Mul(this=_grouped(value.copy()), expression=exp.Literal.number(0)),
                        expression=exp.Literal.number(0))
        large = exp.not_(exp.LT(this=exp.Abs(this=value.copy()), expression=exp.Literal.number("1e18")))
        whole = exp.EQ(this=value.copy(), expression=exp.Floor(this=value.copy()))
        text = (exp.case().when(exp.not_(finite), exp.null())
                .when(large, cast_text(value.copy(), eng))
                .when(whole, cast_text(exp.cast(value.copy(), "BIGINT"), eng))
                .else_(_double_text(value, eng)))
        return exp.func("COALESCE", text, null)  # NULL x: every branch above is NULL
    if kind == "json":  # JSON text already (a personalization object): kept as is
        return exp.func("COALESCE", value, null)
    return exp.case().when(exp.Is(this=value, expression=exp.null()), null).else_(json_string(value, eng))


def json_object(keys: list[str], texts: list[exp.Expression]) -> exp.Expression:
    """JSON object text of keys paired with JSON value texts (json_value) in the given order, built
    portably so that every engine writes the same text (engines' JSON functions differ in spacing and
    number formatting)."""
    if not keys:
        return exp.Literal.string("{}")
    out: exp.Expression | None = None
    for i, (key, text) in enumerate(zip(keys, texts)):
        prefix = ("{" if i == 0 else ",") + json.dumps(key, ensure_ascii=False) + ":"
        part = exp.DPipe(this=exp.Literal.string(prefix), expression=text, safe=False)
        out = part if out is None else exp.DPipe(this=out, expression=part, safe=False)
    return exp.DPipe(this=out, expression=exp.Literal.string("}"), safe=False)


def json_array_agg(texts: exp.Expression, order: exp.Expression) -> exp.Expression:
    """JSON array text of a group's JSON value texts in ascending `order`: the ordered string aggregate,
    which sqlglot writes per dialect (STRING_AGG(x, ',' ORDER BY k), LISTAGG(x, ',') WITHIN GROUP (ORDER BY
    k), ...); the key is never NULL, so no NULLS FIRST/LAST is written."""
    ordered = exp.Order(this=texts, expressions=[exp.Ordered(this=order)])
    joined = exp.GroupConcat(this=ordered, separator=exp.Literal.string(","))
    inner = exp.func("COALESCE", joined, exp.Literal.string(""))
    return exp.DPipe(this=exp.DPipe(this=exp.Literal.string("["), expression=inner, safe=False),
                     expression=exp.Literal.string("]"), safe=False)


def regex_like(value: exp.Expression, pattern: str, eng: Engine) -> exp.Expression:
    """REGEXP_LIKE of a regex-dialect pattern translated for the engine (Snowflake's is written as
    REGEXP_INSTR by the generator: dialect/render.py)."""
    translated = regex.translate(pattern, eng.regex_prefix, eng.regex_end)
    return exp.RegexpLike(this=value, expression=exp.Literal.string(translated))
