"""Every engine difference in one place: a capability table plus a few small SQL builders.

Compiled models are sqlglot trees; `render` turns one into the SQL text of a dbt model for an
engine, with relations written as `{{ ref(...) }}` / `{{ source(...) }}` so dbt keeps lineage.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from . import regex
from .errors import KaireonError, shown
from .timezones import ZONES

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: "$" would admit a final newline
_SOURCE = re.compile(r"""^source\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\Z""")


class DbtRef(exp.Expression):
    """A dbt model or seed, rendered as {{ ref('name') }}."""

    arg_types = {"this": True}


class DbtSource(exp.Expression):
    """A dbt source table, rendered as {{ source('source', 'table') }}."""

    arg_types = {"this": True, "table": True}


class DbtThis(exp.Expression):
    """The relation of the model being built, rendered as {{ this }} (incremental models read it)."""

    arg_types: dict = {}


class DbtIncrementalOnly(exp.Expression):
    """A condition that holds only when dbt builds incrementally; TRUE on a full build.

    Rendered as {% if is_incremental() %}<condition>{% else %}TRUE{% endif %}, so an incremental
    model stays one SQL tree whose guard (e.g. "run not yet logged") reads {{ this }} only when
    the relation exists.
    """

    arg_types = {"this": True}


def this_relation() -> exp.Table:
    return exp.Table(this=DbtThis())


def relation(name: str) -> exp.Table:
    """A table expression for a relation spec: a model/seed name or source('src', 'table')."""
    match = _SOURCE.match(name)
    if match:
        return exp.Table(this=DbtSource(this=match.group(1), table=match.group(2)))
    if not _NAME.match(name):
        raise ValueError(f"not a dbt relation name: {name!r}")
    return exp.Table(this=DbtRef(this=name))


def _ref_sql(_gen, e: DbtRef) -> str:
    return "{{ ref('%s') }}" % e.name


def _source_sql(_gen, e: DbtSource) -> str:
    return "{{ source('%s', '%s') }}" % (e.name, e.args["table"])


def _this_sql(_gen, _e: DbtThis) -> str:
    return "{{ this }}"


def _incremental_only_sql(gen, e: DbtIncrementalOnly) -> str:
    return "{%% if is_incremental() %%}%s{%% else %%}%s{%% endif %%}" % (gen.sql(e.this), gen.sql(exp.true()))


_JINJA_OPEN = re.compile(r"\{(?=[{%#])")


def jinja_safe_parts(text: str) -> list[str]:
    """`text` cut after every '{' that starts a Jinja delimiter ({{, {%, {#), so no part contains one."""
    parts, start = [], 0
    for match in _JINJA_OPEN.finditer(text):
        parts.append(text[start:match.end()])
        start = match.end()
    parts.append(text[start:])
    return parts


def jinja_text(text: str) -> str:
    """`text` for a place dbt renders with Jinja as text (yml descriptions, SQL comments): every '{'
    that opens a delimiter ({{, {%, {#) is written as {{ '{' }}, which Jinja renders back to '{'.

    A carriage return, which Jinja would turn into a newline, is written as {{ '\\r' }}. One rendering
    pass gives `text` exactly; nothing in it runs. Text without a delimiter or \\r is unchanged.
    """
    return _JINJA_OPEN.sub("{{ '{' }}", text).replace("\r", "{{ '\\r' }}")


def _identifier_sql(gen, e: exp.Identifier) -> str:
    """Identifiers as the engine quotes them; one that would open a Jinja tag in the model file is refused.

    Config names are checked at validate time (config/catalog.py: check_identifier, check_column,
    check_relation); this is the last line, so no path that forgets a check writes `{{` into a model.
    """
    name = e.this if isinstance(e.this, str) else ""
    if _JINJA_OPEN.search(name) or _UNSAFE_NAME_CHAR.search(name):
        raise KaireonError(f"refusing to write the identifier {shown(name, 80)} into a dbt model: it holds a Jinja "
                           "delimiter ({{, {%, {#) or a control character (see docs/security.md)")
    return gen.identifier_sql(e)


# control characters (C0, DEL, C1), and line/paragraph separators: never in a name kaireon writes
_UNSAFE_NAME_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _literal_sql(gen, e: exp.Literal) -> str:
    """String literals that contain a Jinja delimiter are written as a concatenation of parts.

    dbt renders model files with Jinja, so `'{{ x }}'` in a model would be evaluated by dbt; as
    `('{' || '{ x }}')` the file holds no delimiter and the value is the same on every engine.
    Only literals holding `{{`, `{%`, `{#` or a carriage return change; every other literal is written as before.
    """
    if e.is_string and "\r" in (e.this or ""):
        # Jinja turns every \r and \r\n of a template into \n: a carriage return is written as CHR(13)
        pieces: list[exp.Expression] = []
        for i, segment in enumerate(e.this.split("\r")):
            if i:
                pieces.append(exp.Chr(expressions=[exp.Literal.number(13)]))
            if segment:
                pieces.extend(exp.Literal.string(p) for p in jinja_safe_parts(segment))
        return gen.sql(_balanced_concat(pieces))
    if e.is_string and _JINJA_OPEN.search(e.this or ""):
        return gen.sql(_balanced_concat([exp.Literal.string(p) for p in jinja_safe_parts(e.this)]))
    return gen.literal_sql(e)


def _balanced_concat(pieces: list[exp.Expression]) -> exp.Expression:
    """('a' || 'b') || ('c' || 'd'): nesting grows with log(parts), within engines' expression-depth limits."""
    if len(pieces) == 1:
        return pieces[0]
    mid = len(pieces) // 2
    return exp.Paren(this=exp.DPipe(this=_balanced_concat(pieces[:mid]), expression=_balanced_concat(pieces[mid:]),
                                    safe=True))


@dataclass(frozen=True)
class Engine:
    """What differs between engines, as data. `sqlglot` names the sqlglot dialect.

    DuckDB, PostgreSQL and Spark are executed by the tests; Databricks, Snowflake, BigQuery and
    Trino are only transpiled (golden SQL parsed back by sqlglot), their flags follow each
    engine's documentation.
    """

    name: str
    sqlglot: str
    text_type: str = "VARCHAR"
    double_type: str = "DOUBLE"
    # md5 of text as 32 lowercase hex chars: MD5(text) | Trino's MD5 takes and returns varbinary
    md5: str = "text"  # text | varbinary
    # how a hex string of 8 chars becomes an integer
    hex_to_int: str = "cast_0x"  # cast_0x | bit32 | conv | to_number | from_base
    # how a naive UTC timestamp becomes local wall-clock time
    local_time: str = "at_time_zone"  # at_time_zone | from_utc | convert_timezone | datetime | with_timezone
    # ISO day of week (1 = Monday): sqlglot's function | EXTRACT(ISODOW) | from DAYOFWEEK (1 = Sunday)
    iso_dow: str = "function"  # function | extract | sunday_first
    # calendar-week unit that starts on Monday (ISO) for TIMESTAMP_TRUNC / DATE_TRUNC; None: the
    # engine's WEEK depends on a session setting, so the week start is computed from the ISO day
    iso_week_unit: str | None = "WEEK"
    # naive timestamps are BigQuery DATETIMEs, truncated by DATETIME_TRUNC (TIMESTAMP_TRUNC wants a TIMESTAMP)
    datetime_trunc: bool = False
    # INTERVAL literal: '86400' SECOND (string) | 86400 SECOND (number; BigQuery wants an INT64)
    interval_number: bool = False
    # remainder of doubles: the `%` operator (C fmod) | exact fmod from the IEEE bits and NUMERIC integers
    # (PostgreSQL: no float8 `%`) | a - b * TRUNC(a / b) (BigQuery, transpiled only: not exact fmod)
    double_mod: str = "operator"  # operator | bits | trunc
    # double arithmetic that overflows (or, PostgreSQL, underflows to zero) raises instead of giving +-inf / 0,
    # so formulas guard every + - * / before computing it
    double_raises: bool = False
    # how a formula names a value it reads several times: LIST_TRANSFORM([v], LAMBDA k: ...)[1] (DuckDB) |
    # TRANSFORM(ARRAY(v), k -> ...)[0] (Spark) | a scalar subquery (SELECT ... FROM (SELECT v AS k)), with
    # OFFSET 0 where the planner would otherwise inline v into every reference (PostgreSQL)
    let: str = "subquery"  # list_lambda | array_lambda | subquery | fenced_subquery
    # FLOOR/CEIL of a DOUBLE return a BIGINT (Spark), so integral parts are taken only below 2^52
    floor_bigint: bool = False
    # TRUNC(double) exists (Spark's TRUNC truncates dates only)
    trunc_double: bool = True
    # LEAST/GREATEST skip NULL arguments (NULL only when all are); BigQuery and Trino return NULL on any NULL
    least_skips_null: bool = True
    # regex test as a partial match: the engine's REGEXP_LIKE/RLIKE/~ | REGEXP_INSTR(x, p) > 0 (Snowflake's
    # REGEXP_LIKE and RLIKE match the whole string)
    regex: str = "like"  # like | instr
    # regex rules are written in one dialect (kaireon_sql/regex.py) and translated per engine: `regex_prefix`
    # makes '.' match newlines, `regex_end` is the anchor at the very end of the text (java.util.regex's `$`
    # also matches before a final line terminator, `\z` does not)
    regex_prefix: str = "(?s)"
    regex_end: str = "$"
    # the engine's own list of zone names, read before converting a zone from data (converting an unknown
    # zone is an error of the whole query on every engine): a table function | a catalog view | java.time
    # asked through try_reflect (NULL when ZoneId.of throws) | none (the compiler's list only)
    zone_list: str = "none"  # table_function | catalog_view | try_reflect | none
    # text of a double for JSON: CAST | through a DECIMAL where CAST is Java's Double.toString (see _double_text)
    double_text: str = "cast"  # cast | java
    # text values may hold U+0000 (PostgreSQL's cannot: CHR(0) is an error there)
    text_holds_nul: bool = True
    # the character of a code point: CHR(n) | CODE_POINTS_TO_STRING([n]) (BigQuery)
    chr_function: str = "chr"  # chr | code_points
    # what an unquoted name means: the generated SQL quotes every name (lower case), so where unquoted names
    # fold to upper case (Snowflake: customer_id is CUSTOMER_ID, not "customer_id") the macros quote through
    # adapter.quote and the properties file marks every column `quote: true` (writer.py). DuckDB, Spark,
    # Databricks and BigQuery match names case-insensitively; PostgreSQL and Trino fold to lower case.
    unquoted_case: str = "insensitive"  # insensitive | lower | upper


ENGINES: dict[str, Engine] = {
    "duckdb": Engine("duckdb", "duckdb", zone_list="table_function", let="list_lambda"),
    # no `%` for double precision (exact fmod from the IEEE bits); float8 overflow and underflow to zero raise
    "postgres": Engine("postgres", "postgres", double_type="DOUBLE PRECISION", hex_to_int="bit32", iso_dow="extract",
                       double_mod="bits", double_raises=True, let="fenced_subquery", zone_list="catalog_view",
                       text_holds_nul=False, unquoted_case="lower"),
    "spark": Engine("spark", "spark", text_type="STRING", hex_to_int="conv", local_time="from_utc",
                    iso_dow="sunday_first", regex_end="\\z", zone_list="try_reflect", double_text="java",
                    let="array_lambda", floor_bigint=True, trunc_double=False),
    # transpiled only
    "databricks": Engine("databricks", "databricks", text_type="STRING", hex_to_int="conv", local_time="from_utc",
                         iso_dow="sunday_first", regex_end="\\z", zone_list="try_reflect", double_text="java",
                         let="array_lambda", floor_bigint=True, trunc_double=False),
    # transpiled only: TO_NUMBER(x, 'XXXXXXXX') reads hex; CONVERT_TIMEZONE(src, dst, ntz); DATE_TRUNC('WEEK')
    # follows the WEEK_START parameter, DAYOFWEEKISO does not; no inline regex flags: REGEXP_INSTR's 's' parameter
    "snowflake": Engine("snowflake", "snowflake", hex_to_int="to_number", local_time="convert_timezone",
                        iso_week_unit=None, regex="instr", regex_prefix="", unquoted_case="upper"),
    # transpiled only: MD5 returns BYTES (sqlglot adds TO_HEX); CAST('0x..' AS INT64) reads hex; naive
    # timestamps are DATETIME; EXTRACT(DAYOFWEEK) is 1 = Sunday; MOD takes no FLOAT64; LEAST is NULL on any NULL
    "bigquery": Engine("bigquery", "bigquery", text_type="STRING", double_type="FLOAT64", local_time="datetime",
                       iso_dow="sunday_first", iso_week_unit="ISOWEEK", datetime_trunc=True, interval_number=True,
                       double_mod="trunc", chr_function="code_points", least_skips_null=False),
    # transpiled only: MD5 on varbinary, FROM_BASE(x, 16); AT TIME ZONE on a naive timestamp would read it in
    # the session zone, so it is tagged UTC first; DAY_OF_WEEK and DATE_TRUNC('week') are ISO; regexes in
    # Joni's Java syntax; LEAST is NULL on any NULL
    "trino": Engine("trino", "trino", md5="varbinary", hex_to_int="from_base", local_time="with_timezone",
                    regex_end="\\z", least_skips_null=False, unquoted_case="lower"),
}


class UnknownEngine(KaireonError, ValueError):
    """--engine (or a profile's adapter type) names no engine of ENGINES."""


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise UnknownEngine(f"unknown engine {name!r}; expected one of {', '.join(ENGINES)}") from None


def _regexp_instr_sql(gen, e: exp.RegexpLike) -> str:
    """A partial regex match where REGEXP_LIKE matches the whole string (Snowflake); 's': '.' matches newlines."""
    one = exp.Literal.number(1)
    found = exp.func("REGEXP_INSTR", e.this, e.expression, one, one.copy(), exp.Literal.number(0),
                     exp.Literal.string("s"))
    return gen.sql(exp.GT(this=found, expression=exp.Literal.number(0)))


class RegexMatch(exp.Expression, exp.Func):
    """A search for a pattern of the regex dialect (kaireon_sql/regex.py); written per engine at render time."""

    arg_types = {"this": True, "expression": True}


def _regex_match_sql(eng: "Engine"):
    def sql(gen, e: RegexMatch) -> str:
        pattern = regex.translate(e.expression.this, eng.regex_prefix, eng.regex_end)
        return gen.sql(exp.RegexpLike(this=e.this, expression=exp.Literal.string(pattern)))
    return sql


def _interval_number_sql(gen, e: exp.Interval) -> str:
    """INTERVAL 86400 SECOND: BigQuery's single-unit interval takes an INT64, not a string."""
    amount, unit = e.this, e.unit
    if isinstance(amount, exp.Literal) and amount.is_string and unit is not None and unit.name.upper() == "SECOND":
        seconds = float(amount.this)
        amount, unit = ((exp.Literal.number(int(seconds)), unit) if seconds.is_integer()
                        else (exp.Literal.number(round(seconds * 1_000_000)), exp.var("MICROSECOND")))
    return "INTERVAL %s %s" % (gen.sql(amount), gen.sql(unit))


# generation differences by Engine flag, as sqlglot TRANSFORMS
_FLAG_TRANSFORMS = {
    ("regex", "instr"): {exp.RegexpLike: _regexp_instr_sql},
    ("interval_number", True): {exp.Interval: _interval_number_sql},
}


@lru_cache(maxsize=None)
def _dialect(eng: Engine) -> Dialect:
    base = type(Dialect.get_or_raise(eng.sqlglot))
    transforms = {**base.Generator.TRANSFORMS, DbtRef: _ref_sql, DbtSource: _source_sql, DbtThis: _this_sql,
                  DbtIncrementalOnly: _incremental_only_sql, exp.Literal: _literal_sql,
                  exp.Identifier: _identifier_sql, RegexMatch: _regex_match_sql(eng)}
    for (flag, value), extra in _FLAG_TRANSFORMS.items():
        if getattr(eng, flag) == value:
            transforms.update(extra)
    generator = type("Generator", (base.Generator,), {"TRANSFORMS": transforms})
    return type(f"Kaireon{base.__name__}", (base,), {"Generator": generator})()


def render(expression: exp.Expression, eng: Engine, pretty: bool = True) -> str:
    """SQL text of `expression` for an engine, identifiers quoted, relations as dbt Jinja calls."""
    return _dialect(eng).generate(expression, pretty=pretty, identify=True)


def parse(sql: str, eng: Engine) -> exp.Expression:
    return sqlglot.parse_one(sql, read=eng.sqlglot)


# ---- small builders for constructs whose SQL differs by engine ------------------------------

def data_type(name: str, eng: Engine) -> exp.DataType:
    """A type name of the engine (e.g. BigQuery's FLOAT64), parsed in that engine's dialect."""
    return exp.DataType.build(name, dialect=eng.sqlglot)


def cast_text(e: exp.Expression, eng: Engine) -> exp.Expression:
    return exp.cast(e, data_type(eng.text_type, eng))


def cast_double(e: exp.Expression, eng: Engine) -> exp.Expression:
    return exp.cast(e, data_type(eng.double_type, eng))


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


def md5_bucket(text: exp.Expression, modulo: int, eng: Engine) -> exp.Expression:
    """int(md5(text)[:8], 16) % modulo, as in S5's holdout assignment."""
    prefix = exp.Substring(this=md5_hex(text, eng), start=exp.Literal.number(1), length=exp.Literal.number(8))
    return exp.Mod(this=exp.paren(hex8_to_int(prefix, eng)), expression=exp.Literal.number(modulo))


def _grouped(e: exp.Expression) -> exp.Expression:
    """`e` in parentheses when it is an operator, so it stays one operand."""
    return exp.paren(e, copy=False) if isinstance(e, (exp.Binary, exp.Unary)) and not isinstance(e, exp.Paren) else e


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


def checked_zone(zone: exp.Expression, eng: Engine, listed: bool = True) -> exp.Expression:
    """`zone` when known_zone, else NULL: converting with it never fails, an unknown zone gives NULL times."""
    return exp.case().when(known_zone(zone, eng, listed), zone.copy())


def hour_of(ts: exp.Expression) -> exp.Expression:
    return exp.cast(exp.Extract(this=exp.var("HOUR"), expression=ts), "INT")


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


def minus_seconds(ts: exp.Expression, seconds: float) -> exp.Expression:
    value = int(seconds) if float(seconds).is_integer() else seconds
    return exp.Sub(this=ts, expression=exp.Interval(this=exp.Literal.string(str(value)), unit=exp.var("SECOND")))


def regex_match(value: exp.Expression, pattern: str) -> exp.Expression:
    """TRUE when `pattern` (the regex dialect; raises regex.RegexError outside it) matches somewhere in `value`."""
    regex.parse(pattern)
    return RegexMatch(this=value, expression=exp.Literal.string(pattern))


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
    return exp.case().when(exp.Is(this=value, expression=exp.null()), null).else_(json_string(value, eng))


def json_object(pairs: list[tuple[str, str, exp.Expression]], eng: Engine) -> exp.Expression:
    """JSON object text of (key, kind, value) in the given order, built portably so that every engine
    writes the same text (engines' JSON functions differ in spacing and number formatting)."""
    if not pairs:
        return exp.Literal.string("{}")
    out: exp.Expression | None = None
    for i, (key, kind, value) in enumerate(pairs):
        prefix = ("{" if i == 0 else ",") + json.dumps(key, ensure_ascii=False) + ":"
        part = exp.DPipe(this=exp.Literal.string(prefix), expression=json_value(value, kind, eng), safe=False)
        out = part if out is None else exp.DPipe(this=out, expression=part, safe=False)
    return exp.DPipe(this=out, expression=exp.Literal.string("}"), safe=False)


# ---- numbers: the formula engine's double arithmetic, identical on every engine (README "Formulas (S5)") ----
#
# A formula number is a finite double or NULL. Numeric inputs that are NaN or +-inf read as NULL
# (`finite_or_null`); + - * / give the IEEE-754 double result (round to nearest even, gradual
# underflow), NULL when it overflows; `%` is C's fmod, exactly; engines that raise on overflow or
# underflow (PostgreSQL) get the same values from guards that never evaluate a raising operation.

MAX_DOUBLE = 1.7976931348623157e308


def _dbl(value: float) -> exp.Expression:
    """A DOUBLE literal that parses back to exactly `value` (finite)."""
    if value < 0 or (value == 0 and math.copysign(1.0, value) < 0):
        return exp.Neg(this=_dbl(-value))
    return exp.cast(exp.Literal.number(repr(float(value))), "double")


def known_number(e: exp.Expression) -> float | None:
    """The value of a DOUBLE literal as built by `_dbl` / the formula compiler (CAST(<number> AS DOUBLE),
    maybe negated), else None. Guards use it to decide at compile time what a literal operand needs, so
    that no raising operation on constants is left for an engine's planner to fold."""
    sign = 1.0
    while isinstance(e, (exp.Neg, exp.Paren)):
        if isinstance(e, exp.Neg):
            sign = -sign
        e = e.this
    if isinstance(e, exp.Cast) and isinstance(e.this, exp.Literal) and not e.this.is_string:
        try:
            return sign * float(e.this.this)
        except ValueError:
            return None
    return None


def _size(e: exp.Expression) -> int:
    n = 0
    for _ in e.walk():
        n += 1
        if n > 40:
            break
    return n


def let(values: list[exp.Expression], body, eng: Engine) -> exp.Expression:
    """`body(refs)` where each of `values` is computed once and read through `refs[i]` as often as needed.

    Small values (columns, literals, a cast) are simply repeated; others are bound by the engine's
    construct (`Engine.let`), so generated SQL grows linearly with the formula, whatever the nesting.
    A bound value is named after a digest of its SQL: deterministic, and two scopes only share a name
    when they bind the same value.
    """
    refs: list[exp.Expression] = []
    bound: dict[str, exp.Expression] = {}
    for v in values:
        if _size(v) <= 40:
            refs.append(v)
            continue
        name = "_k" + hashlib.md5(v.sql().encode()).hexdigest()[:10]
        bound.setdefault(name, v)
        # a Var, not a Column: code that collects or qualifies a model's columns leaves it alone
        refs.append(exp.var(name))
    out = body(refs)
    if not bound:
        return out
    if eng.let in ("subquery", "fenced_subquery"):
        inner = exp.select(*[exp.alias_(v, name) for name, v in bound.items()])
        if eng.let == "fenced_subquery":  # OFFSET 0: PostgreSQL does not inline (and so re-evaluate) the values
            inner = inner.offset(0)
        return exp.Subquery(this=exp.select(out).from_(inner.subquery("_l")))
    for name, v in reversed(list(bound.items())):
        lam = exp.Lambda(this=out, expressions=[exp.to_identifier(name)])
        fn = "LIST_TRANSFORM" if eng.let == "list_lambda" else "TRANSFORM"
        out = exp.Bracket(this=exp.func(fn, exp.Array(expressions=[v]), lam), expressions=[exp.Literal.number(0)])
    return out


def finite_or_null(x: exp.Expression) -> exp.Expression:
    """`x` when it is a finite number, else NULL (NaN and +-inf are missing values).

    ABS(x) <= MAX_DOUBLE is false for NaN whether the engine orders NaN above every number (DuckDB,
    PostgreSQL, Spark, Snowflake) or compares it unordered (IEEE: BigQuery, Trino), and false for +-inf.
    """
    test = exp.LTE(this=exp.Abs(this=x.copy()), expression=_dbl(MAX_DOUBLE))
    return exp.Case(ifs=[exp.If(this=test, true=x)])


def _case(branches: list[tuple[object, exp.Expression | None]]) -> exp.Expression:
    """CASE over (condition, value) pairs; a condition may be a Python bool (decided at compile time).
    A value None is NULL. The first True condition ends the CASE (it becomes the ELSE)."""
    ifs: list[exp.If] = []
    default: exp.Expression | None = None
    for cond, value in branches:
        if cond is False:
            continue
        value = value if value is not None else exp.cast(exp.null(), "double")
        if cond is True:
            default = value
            break
        ifs.append(exp.If(this=cond, true=value))
    if not ifs:
        return default if default is not None else exp.cast(exp.null(), "double")
    case = exp.Case(ifs=ifs)
    if default is not None:
        case.set("default", default)
    return case


def _cmp_abs(x: exp.Expression, cls: type, bound: float) -> object:
    """ABS(x) <op> bound, or the Python bool when x is a literal."""
    value = known_number(x)
    if value is not None:
        ops = {exp.LT: float.__lt__, exp.LTE: float.__le__, exp.GTE: float.__ge__, exp.GT: float.__gt__}
        return ops[cls](abs(value), bound)
    return cls(this=exp.Abs(this=x.copy()), expression=_dbl(bound))


def _and(*conds: object) -> object:
    if any(c is False for c in conds):
        return False
    rest = [c for c in conds if c is not True]
    return True if not rest else exp.and_(*[exp.paren(c) for c in rest])


def _op(cls: type, a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return cls(this=_grouped(a.copy()), expression=_grouped(b.copy()))


def _mul(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return _op(exp.Mul, a, b)


def _keep_finite(result: exp.Expression, eng: Engine) -> exp.Expression:
    """An IEEE result (maybe +-inf, never NaN: the operands are finite) as itself, or NULL when infinite."""
    return let([result], lambda r: finite_or_null(r[0]), eng)


def _no_overflow(op: str, a: exp.Expression, b: exp.Expression) -> bool:
    """True when the literal operand alone rules out overflow (no guard needed on non-raising engines)."""
    ka, kb = known_number(a), known_number(b)
    if op in ("+", "-"):
        return (ka is not None and abs(ka) < 1) or (kb is not None and abs(kb) < 1)
    if op == "*":
        return (ka is not None and abs(ka) <= 1) or (kb is not None and abs(kb) <= 1)
    return kb is not None and abs(kb) >= 1  # '/'


def arithmetic(op: str, a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """a <op> b for finite-or-NULL doubles (b non-zero for '/'): the IEEE result, NULL when it overflows."""
    cls = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "/": exp.Div}[op]
    if not eng.double_raises:
        plain = _op(cls, a, b)
        return plain if _no_overflow(op, a, b) else _keep_finite(plain, eng)
    guard = {"+": _guard_add, "-": _guard_add, "*": _guard_mul, "/": _guard_div}[op]
    return let([a, b], lambda r: guard(op, r[0], r[1], eng), eng)


def _p2(k: int) -> exp.Expression:
    return _dbl(math.ldexp(1.0, k))


def _guard_add(op: str, a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """a + b / a - b without raising: an operand below 1 cannot overflow the sum; otherwise halves are exact,
    and the sum overflows iff the rounded half-sum reaches 2^1023."""
    cls = exp.Add if op == "+" else exp.Sub
    plain = _op(cls, a, b)
    half = exp.Abs(this=_op(cls, _mul(a, _dbl(0.5)), _mul(b, _dbl(0.5))))
    return _case([(_cmp_abs(a, exp.LT, 1.0), plain), (_cmp_abs(b, exp.LT, 1.0), plain.copy()),
                  (exp.LT(this=half, expression=_p2(1023)), plain.copy()), (True, None)])


def _guard_mul(op: str, a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """a * b without raising.

    Both above 1: overflow iff (a 2^-512)(b 2^-512), both scalings exact, rounds to 1 or more. Both at
    most 1: PostgreSQL raises when the product rounds to zero, i.e. iff |ab| <= 2^-1075; decided exactly
    below (`_zero_product`), the product is 0 then.
    """
    plain = _mul(a, b)
    scaled = exp.Abs(this=_mul(_mul(a, _p2(-512)), _mul(b, _p2(-512))))
    both_small = _and(_cmp_abs(a, exp.LTE, 1.0), _cmp_abs(b, exp.LTE, 1.0))
    return _case([
        (both_small, _small_product(a, b, eng)),
        (_cmp_abs(a, exp.LTE, 1.0), plain),
        (_cmp_abs(b, exp.LTE, 1.0), plain.copy()),
        (exp.LT(this=scaled, expression=_dbl(1.0)), plain.copy()),
        (True, None),
    ])


def _small_product(a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """a * b for |a|, |b| <= 1 on an engine that raises when a product rounds to zero (PostgreSQL).

    Factors both at least 2^-537 give at least 2^-1074: computed. Otherwise, with a = Ma 2^ea and b = Mb 2^eb
    from the IEEE bits, the product rounds to zero iff Ma Mb <= 2^(-1075 - ea - eb) (ties go to the even
    zero), an exact NUMERIC integer comparison; the result is then 0.
    """
    plain = _mul(a, b)
    big = _and(_cmp_abs(a, exp.GTE, 2.0 ** -537), _cmp_abs(b, exp.GTE, 2.0 ** -537))
    if big is True:
        return plain

    def zero(r: list[exp.Expression]) -> exp.Expression:
        ma, ea = _mantissa_exponent(r[0])
        mb, eb = _mantissa_exponent(r[1])
        k = exp.Sub(this=exp.Sub(this=exp.Literal.number(-1075), expression=exp.paren(ea)), expression=exp.paren(eb))
        numeric = exp.DataType.build("DECIMAL")
        product = exp.Mul(this=exp.cast(ma, numeric), expression=exp.cast(mb, numeric))
        power = exp.Pow(this=exp.cast(exp.Literal.number(2), numeric), expression=exp.paren(k.copy()))
        return exp.case().when(exp.LT(this=k, expression=exp.Literal.number(0)), exp.false()).else_(
            exp.LTE(this=product, expression=power))

    test = let([_double_bits(a.copy()), _double_bits(b.copy())], zero, eng)
    return _case([(big, plain), (test, _dbl(0.0)), (True, plain.copy())])


def _mantissa_exponent(bits: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    """(M, e) with value = M 2^e, M an integer below 2^53, from the IEEE bits of a finite double (sign dropped)."""
    biased = exp.BitwiseAnd(this=exp.paren(exp.BitwiseRightShift(this=bits.copy(), expression=exp.Literal.number(52))),
                            expression=exp.Literal.number(2047))
    frac = exp.BitwiseAnd(this=bits.copy(), expression=exp.Literal.number(4503599627370495))
    hidden = exp.case().when(exp.GT(this=biased, expression=exp.Literal.number(0)),
                             exp.Literal.number(4503599627370496)).else_(exp.Literal.number(0))
    mantissa = exp.Add(this=exp.paren(frac), expression=hidden)
    expo = exp.Sub(this=exp.Greatest(this=biased.copy(), expressions=[exp.Literal.number(1)]),
                   expression=exp.Literal.number(1075))
    return mantissa, expo


def _guard_div(op: str, a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """a / b (b non-zero) without raising; each branch's scalings are exact and cannot raise themselves.

    Every branch states the bounds its operations rely on, so that with a literal operand the branches it
    cannot take are dropped at compile time (PostgreSQL's planner folds constant operations in any branch).
    """
    plain = _op(exp.Div, a, b)
    b_big = _cmp_abs(b, exp.GTE, 1.0)
    # |b| >= 1: no overflow; zero iff |a| 2^1075 <= |b| (only possible for |a| < 2^-51)
    zero = exp.LTE(this=_mul(_mul(exp.Abs(this=a.copy()), _p2(538)), _p2(537)), expression=exp.Abs(this=b.copy()))
    # |b| < 1: no zero; overflow iff the rounded quotient at a scale where it is normal reaches the threshold
    mid = exp.Abs(this=_op(exp.Div, a, _mul(b, _p2(500))))
    high = exp.Abs(this=_op(exp.Div, _mul(_mul(a, _p2(-550)), _p2(-550)), b))
    return _case([
        (_and(b_big, _cmp_abs(a, exp.GTE, 2.0 ** -51)), plain),
        (_and(b_big, _cmp_abs(a, exp.LT, 2.0 ** -51)), _case([(zero, _dbl(0.0)), (True, plain.copy())])),
        (b_big, plain.copy()),  # only reached by NULLs
        (_cmp_abs(a, exp.LTE, 2.0 ** -100), plain.copy()),
        (_cmp_abs(a, exp.LT, 2.0 ** 78), _case([(exp.LT(this=mid, expression=_p2(524)), plain.copy()), (True, None)])),
        (exp.LT(this=high, expression=_p2(-76)), plain.copy()),
        (True, None),
    ])


def _double_bits(x: exp.Expression) -> exp.Expression:
    """PostgreSQL: the IEEE-754 bits of a float8 as a BIGINT (FLOAT8SEND gives them big-endian)."""
    hex_text = exp.DPipe(this=exp.Literal.string("x"),
                         expression=exp.func("ENCODE", exp.func("FLOAT8SEND", x), exp.Literal.string("hex")))
    return exp.cast(exp.cast(hex_text, exp.DataType.build("BIT(64)", dialect="postgres")), "BIGINT")


def fmod(a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """Remainder of doubles with the sign of the dividend: C's fmod (Python's math.fmod), exactly.

    DuckDB's and Spark's `%` on doubles is fmod. PostgreSQL has no float8 `%`, and its float8 -> numeric
    cast keeps 15 digits; there, with a = Ma 2^ea and b = Mb 2^eb read from the IEEE bits (FLOAT8SEND),
    fmod = sign(a) * ((Ma * 2^(ea - eb)) mod Mb) * 2^eb in exact NUMERIC integer arithmetic (|a| >= |b|;
    else fmod = a); the integer remainder is below 2^53 and the final scaling by a power of two is exact.
    """
    if eng.double_mod == "operator":
        return exp.Mod(this=_grouped(a), expression=_grouped(b))
    if eng.double_mod == "trunc":  # transpiled only (BigQuery): not exact fmod for large quotients
        a, b = _grouped(a), _grouped(b)
        quotient = exp.func("TRUNC", exp.Div(this=a.copy(), expression=b.copy()))
        return exp.Sub(this=a, expression=exp.Mul(this=b, expression=quotient))

    def exact(r: list[exp.Expression]) -> exp.Expression:
        x, y, bx, by = r
        mx, ex = _mantissa_exponent(bx)
        my, ey = _mantissa_exponent(by)
        numeric = exp.DataType.build("DECIMAL")
        shifted = exp.Mul(this=exp.cast(mx, numeric),
                          expression=exp.Pow(this=exp.cast(exp.Literal.number(2), numeric), expression=exp.paren(
                              exp.Sub(this=exp.paren(ex), expression=exp.paren(ey.copy())))))
        rem = exp.Mod(this=shifted, expression=exp.cast(my, numeric))
        scale = exp.Pow(this=_dbl(2.0), expression=exp.paren(ey))
        value = exp.Mul(this=exp.Mul(this=exp.Sign(this=x), expression=exp.cast(exp.cast(exp.paren(rem), "BIGINT"), "double")),
                        expression=scale)
        return exp.case().when(exp.LT(this=exp.Abs(this=x.copy()), expression=exp.Abs(this=y)), x.copy()).else_(value)

    return let([a, b], lambda r: let([r[0], r[1], _double_bits(r[0].copy()), _double_bits(r[1].copy())], exact, eng), eng)


def integral(x: exp.Expression, fn: str, eng: Engine) -> exp.Expression:
    """FLOOR / CEIL / TRUNC of a finite double, as a double on every engine.

    Doubles of magnitude 2^52 or more are integers already; below that Spark's BIGINT FLOOR/CEIL is exact.
    """
    if fn == "trunc" and not eng.trunc_double:
        return let([x], lambda r: exp.case().when(exp.LT(this=r[0], expression=_dbl(0.0)), integral(r[0], "ceil", eng))
                   .else_(integral(r[0].copy(), "floor", eng)), eng)
    cls = {"floor": exp.Floor, "ceil": exp.Ceil, "trunc": exp.Trunc}[fn]
    if not eng.floor_bigint or fn == "trunc":
        return cls(this=x)
    return let([x], lambda r: exp.case().when(exp.GTE(this=exp.Abs(this=r[0]), expression=_p2(52)), r[0].copy())
               .else_(exp.cast(cls(this=r[0].copy()), "double")), eng)


def round_half_away(x: exp.Expression, eng: Engine) -> exp.Expression:
    """x rounded to an integer, halves away from zero, exactly: t = trunc(x); t + sign(x) when |x - t| >= 0.5.

    x - t is exact for every double, so round(0.49999999999999994) = 0 and round(2.5) = 3."""
    def body(r: list[exp.Expression]) -> exp.Expression:
        v, t = r
        frac = exp.Abs(this=exp.Sub(this=v, expression=t))
        return exp.case().when(exp.GTE(this=frac, expression=_dbl(0.5)),
                               exp.Add(this=t.copy(), expression=exp.Sign(this=v.copy()))).else_(t.copy())

    return let([x], lambda r: let([r[0], integral(r[0].copy(), "trunc", eng)], body, eng), eng)


def round_digits(x: exp.Expression, n: int, eng: Engine) -> exp.Expression:
    """round(x, n): for n > 0, round_half_away(x * 10^n) / 10^n, x itself when |x| >= 2^52 (an integer);
    for n < 0, round_half_away(x / 10^-n) * 10^-n (NULL if that overflows), 0 when |x| < 2^-1000.
    Each step is one correctly rounded double operation, so every engine and the evaluator agree."""
    if n == 0:
        return round_half_away(x, eng)
    scale = _dbl(10.0 ** abs(n))

    def body(r: list[exp.Expression]) -> exp.Expression:
        v = r[0]
        if n > 0:
            rounded = exp.Div(this=exp.paren(round_half_away(exp.Mul(this=v, expression=scale), eng)),
                              expression=scale.copy())
            return exp.case().when(exp.GTE(this=exp.Abs(this=v.copy()), expression=_p2(52)), v.copy()).else_(rounded)
        whole = round_half_away(exp.Div(this=v, expression=scale), eng)
        rounded = arithmetic("*", whole, scale.copy(), eng)
        return exp.case().when(exp.LT(this=exp.Abs(this=v.copy()), expression=_p2(-1000)), _dbl(0.0)).else_(rounded)

    return let([x], body, eng)


def extreme(xs: list[exp.Expression], largest: bool, eng: Engine) -> exp.Expression:
    """GREATEST / LEAST skipping NULL arguments (NULL only when all are), linear in the argument count.

    Where LEAST/GREATEST return NULL on any NULL argument (BigQuery, Trino), each argument falls back
    to the first non-NULL one: COALESCE(x_i, COALESCE(x_1, .., x_n)).
    """
    cls = exp.Greatest if largest else exp.Least
    if len(xs) == 1:
        return xs[0]
    if eng.least_skips_null:
        return cls(this=xs[0], expressions=xs[1:], ignore_nulls=True)

    def body(r: list[exp.Expression]) -> exp.Expression:
        first = exp.Coalesce(this=r[0].copy(), expressions=[x.copy() for x in r[1:]])
        return let([first], lambda f: cls(this=exp.Coalesce(this=r[0].copy(), expressions=[f[0].copy()]), expressions=[
            exp.Coalesce(this=x.copy(), expressions=[f[0].copy()]) for x in r[1:]], ignore_nulls=True), eng)

    return let(xs, body, eng)
