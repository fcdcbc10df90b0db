"""Builders of engine-neutral SQL for constructs whose SQL differs by engine.

Each returns a tree of plain sqlglot nodes and dialect/nodes.py nodes; what it becomes on an engine
is decided when the tree is rendered (dialect/render.py). No builder takes an engine.
"""
from __future__ import annotations

from sqlglot import exp

from .. import regex
from . import nodes
from .numbers import MAX_DOUBLE, finite_or_null, known_number

__all__ = ["MAX_DOUBLE", "arithmetic", "cast_double", "cast_text", "char_of", "checked_zone", "column_type", "data_type", "extreme",
           "finite_or_null", "fmod", "grouped", "hex8_to_int", "hour_of", "integral", "iso_day_of_week", "json_object",
           "json_string", "json_value", "known_number", "known_zone", "local_time", "md5_bucket", "md5_hex",
           "minus_seconds", "minute_of", "plus_minutes", "optional_relation", "regex_match", "round_digits", "round_half_away", "truncate"]


def data_type(name: str) -> exp.DataType:
    """A type of the engine: an Engine attribute ('text_type', 'double_type') or a type name read in the
    engine's own dialect (e.g. 'TIMESTAMP', which is not the same type on every engine)."""
    return nodes.EngineType(this=exp.var(name))


def column_type(name: str) -> exp.DataType:
    """A column type of the BI contract: an Engine attribute ('text_type', 'double_type') or a sqlglot type name
    as sqlglot means it (TIMESTAMP: a timestamp without time zone, BigQuery's DATETIME), written per engine."""
    return data_type(name) if name.endswith("_type") else exp.DataType.build(name)


def cast_text(e: exp.Expression) -> exp.Expression:
    return nodes.CastText(this=e)


def cast_double(e: exp.Expression) -> exp.Expression:
    return nodes.CastDouble(this=e)


def hex8_to_int(hex_text: exp.Expression) -> exp.Expression:
    """Integer value of an 8-character hex string (0 .. 2^32-1), exactly, on every engine."""
    return nodes.HexToInt(this=hex_text)


def hex_text(hex_string: exp.Expression) -> exp.Expression:
    """The UTF-8 text whose bytes the hex string spells."""
    return nodes.HexText(this=hex_string)


def run_attribute(name: str) -> exp.Expression:
    """The run attribute `name` (text, NULL when absent): the dbt var `attributes`, through a macro."""
    return nodes.RunAttribute(this=exp.Literal.string(name))


def md5_hex(text: exp.Expression) -> exp.Expression:
    """md5 of the UTF-8 bytes of `text` as 32 lowercase hex characters."""
    return nodes.Md5Hex(this=text)


def md5_bucket(text: exp.Expression, modulo: int) -> exp.Expression:
    """int(md5(text)[:8], 16) % modulo, as in S5's holdout assignment."""
    prefix = exp.Substring(this=md5_hex(text), start=exp.Literal.number(1), length=exp.Literal.number(8))
    return exp.Mod(this=exp.paren(hex8_to_int(prefix)), expression=exp.Literal.number(modulo))


def grouped(e: exp.Expression) -> exp.Expression:
    """`e` in parentheses when it is (or, for a neutral node, renders as) an operator: it stays one operand."""
    if isinstance(e, nodes.Neutral):
        return nodes.Grouped(this=e)
    return exp.paren(e, copy=False) if isinstance(e, (exp.Binary, exp.Unary)) and not isinstance(e, exp.Paren) else e


def local_time(utc_ts: exp.Expression, zone: exp.Expression) -> exp.Expression:
    """Wall-clock time in `zone` of a naive UTC timestamp (DST-correct)."""
    return nodes.LocalTime(this=utc_ts, zone=zone)


def known_zone(zone: exp.Expression, listed: bool = True) -> exp.Expression:
    """TRUE when `zone` can be converted to: in the compiler's list (timezones.ZONES; `listed=False` for a
    config zone already checked against it) and in the engine's own list where it has one. NULL zone: NULL."""
    return nodes.KnownZone(this=zone, listed=exp.Boolean(this=listed))


def checked_zone(zone: exp.Expression, listed: bool = True) -> exp.Expression:
    """`zone` when known_zone, else NULL: converting with it never fails, an unknown zone gives NULL times."""
    return exp.case().when(known_zone(zone, listed), zone.copy())


def hour_of(ts: exp.Expression) -> exp.Expression:
    return exp.cast(exp.Extract(this=exp.var("HOUR"), expression=ts), "INT")


def minute_of(ts: exp.Expression) -> exp.Expression:
    return exp.cast(exp.Extract(this=exp.var("MINUTE"), expression=ts), "INT")


def plus_minutes(ts: exp.Expression, minutes: exp.Expression) -> exp.Expression:
    """A naive timestamp plus `minutes` (an integer expression, read per row)."""
    return nodes.AddMinutes(this=ts, expression=exp.paren(minutes) if isinstance(minutes, exp.Binary) else minutes)


def iso_day_of_week(ts: exp.Expression) -> exp.Expression:
    """1 = Monday .. 7 = Sunday."""
    return nodes.IsoDayOfWeek(this=ts)


def truncate(ts: exp.Expression, unit: str) -> exp.Expression:
    """Calendar period start (UTC): unit is DAY, WEEK (ISO, Monday) or MONTH."""
    return nodes.TruncateCalendar(this=ts, unit=exp.var(unit))


def minus_seconds(ts: exp.Expression, seconds: float) -> exp.Expression:
    value = int(seconds) if float(seconds).is_integer() else seconds
    return exp.Sub(this=ts, expression=exp.Interval(this=exp.Literal.string(str(value)), unit=exp.var("SECOND")))


def epoch_seconds(ts: exp.Expression) -> exp.Expression:
    """Seconds since 1970-01-01 of a naive UTC timestamp, as a double (fractions kept)."""
    return nodes.EpochSeconds(this=ts)


def seconds_between(later: exp.Expression, earlier: exp.Expression) -> exp.Expression:
    """later - earlier in seconds, as a double (NULL when either is NULL)."""
    return exp.Sub(this=epoch_seconds(later), expression=epoch_seconds(earlier))


def regex_match(value: exp.Expression, pattern: str) -> exp.Expression:
    """TRUE when `pattern` (the regex dialect; raises regex.RegexError outside it) matches somewhere in `value`."""
    regex.parse(pattern)
    return nodes.RegexMatch(this=value, expression=exp.Literal.string(pattern))


def char_of(code: int) -> exp.Expression:
    """The one-character text of a code point (control characters never appear raw in generated SQL)."""
    return nodes.CharOf(this=exp.Literal.number(code))


def json_string(value: exp.Expression) -> exp.Expression:
    """`value` as the text of a JSON string: quoted, `\\` and `"` escaped, and U+0000-U+001F escaped
    (U+0000 only where text can hold it), byte for byte what json.dumps(ensure_ascii=False) writes."""
    return nodes.JsonString(this=value)


def json_value(value: exp.Expression, kind: str) -> exp.Expression:
    """JSON text of one value (RFC 8259): null, true/false, numbers, escaped strings (dialect/text_sql.py)."""
    return nodes.JsonValue(this=value, kind=exp.var(kind))


def json_object(pairs: list[tuple[str, str, exp.Expression]]) -> exp.Expression:
    """JSON object text of (key, kind, value) in the given order, built portably so that every engine
    writes the same text (engines' JSON functions differ in spacing and number formatting)."""
    if not pairs:
        return exp.Literal.string("{}")
    return nodes.JsonObject(keys=[exp.Literal.string(key) for key, _, _ in pairs],
                            expressions=[json_value(value, kind) for _, kind, value in pairs])


def json_array_agg(texts: exp.Expression, order: exp.Expression) -> exp.Expression:
    """Aggregate: JSON array text of a group's JSON value texts (json_object, json_value) in ascending `order`
    (never NULL, unique in the group), written the same on every engine."""
    return nodes.JsonArrayAgg(this=texts, order=order)


def arithmetic(op: str, a: exp.Expression, b: exp.Expression) -> exp.Expression:
    """a <op> b for finite-or-NULL doubles (b non-zero for '/'): the IEEE result, NULL when it overflows."""
    if op not in ("+", "-", "*", "/"):
        raise ValueError(f"not an arithmetic operator: {op!r}")
    return nodes.Arithmetic(this=a, expression=b, op=exp.var(op))


def fmod(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    """Remainder of doubles with the sign of the dividend: C's fmod (Python's math.fmod), exactly."""
    return nodes.Fmod(this=a, expression=b)


def integral(x: exp.Expression, fn: str) -> exp.Expression:
    """FLOOR / CEIL / TRUNC ('floor', 'ceil', 'trunc') of a finite double, as a double on every engine."""
    if fn not in ("floor", "ceil", "trunc"):
        raise ValueError(f"not an integral function: {fn!r}")
    return nodes.Integral(this=x, fn=exp.var(fn))


def round_half_away(x: exp.Expression) -> exp.Expression:
    """x rounded to an integer, halves away from zero, exactly."""
    return nodes.RoundHalfAway(this=x)


def round_digits(x: exp.Expression, n: int) -> exp.Expression:
    """round(x, n), each step one correctly rounded double operation (dialect/numbers.py)."""
    return nodes.RoundDigits(this=x, digits=exp.var(str(n)))


def extreme(xs: list[exp.Expression], largest: bool) -> exp.Expression:
    """GREATEST / LEAST skipping NULL arguments (NULL only when all are), linear in the argument count."""
    if len(xs) == 1:
        return xs[0]
    return nodes.Extreme(expressions=xs, largest=exp.Boolean(this=largest))


def optional_relation(name: str, columns: dict[str, str]) -> exp.Table:
    """The dbt model `name` as earlier builds left it (not a ref: no dependency), with `columns`
    (name -> a type of data_type) typed; a missing column reads NULL, a model not built yet no rows."""
    defs = [exp.ColumnDef(this=exp.to_identifier(c), kind=data_type(kind)) for c, kind in columns.items()]
    return exp.Table(this=nodes.OptionalRelation(this=exp.Literal.string(name), expressions=defs))
