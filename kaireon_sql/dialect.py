"""Every engine difference in one place: a capability table plus a few small SQL builders.

Compiled models are sqlglot trees; `render` turns one into the SQL text of a dbt model for an
engine, with relations written as `{{ ref(...) }}` / `{{ source(...) }}` so dbt keeps lineage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SOURCE = re.compile(r"""^source\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)$""")


class DbtRef(exp.Expression):
    """A dbt model or seed, rendered as {{ ref('name') }}."""

    arg_types = {"this": True}


class DbtSource(exp.Expression):
    """A dbt source table, rendered as {{ source('source', 'table') }}."""

    arg_types = {"this": True, "table": True}


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


@dataclass(frozen=True)
class Engine:
    """What differs between engines, as data. `sqlglot` names the sqlglot dialect."""

    name: str
    sqlglot: str
    text_type: str = "VARCHAR"
    double_type: str = "DOUBLE"
    # how a hex string of 8 chars becomes an integer
    hex_to_int: str = "cast_0x"  # cast_0x | bit32 | conv
    # how a UTC timestamp becomes local wall-clock time
    local_time: str = "at_time_zone"  # at_time_zone | from_utc


ENGINES: dict[str, Engine] = {
    "duckdb": Engine("duckdb", "duckdb"),
    "postgres": Engine("postgres", "postgres", double_type="DOUBLE PRECISION", hex_to_int="bit32"),
    "spark": Engine("spark", "spark", text_type="STRING", hex_to_int="conv", local_time="from_utc"),
    "databricks": Engine("databricks", "databricks", text_type="STRING", hex_to_int="conv", local_time="from_utc"),
    "snowflake": Engine("snowflake", "snowflake"),
    "bigquery": Engine("bigquery", "bigquery", text_type="STRING", double_type="FLOAT64"),
    "trino": Engine("trino", "trino"),
}


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; expected one of {', '.join(ENGINES)}") from None


@lru_cache(maxsize=None)
def _dialect(name: str) -> Dialect:
    base = type(Dialect.get_or_raise(name))
    generator = type(
        "Generator",
        (base.Generator,),
        {"TRANSFORMS": {**base.Generator.TRANSFORMS, DbtRef: _ref_sql, DbtSource: _source_sql}},
    )
    return type(f"Kaireon{base.__name__}", (base,), {"Generator": generator})()


def render(expression: exp.Expression, eng: Engine, pretty: bool = True) -> str:
    """SQL text of `expression` for an engine, identifiers quoted, relations as dbt Jinja calls."""
    return _dialect(eng.sqlglot).generate(expression, pretty=pretty, identify=True)


def parse(sql: str, eng: Engine) -> exp.Expression:
    return sqlglot.parse_one(sql, read=eng.sqlglot)


# ---- small builders for constructs whose SQL differs by engine ------------------------------

def cast_text(e: exp.Expression, eng: Engine) -> exp.Expression:
    return exp.cast(e, eng.text_type)


def cast_double(e: exp.Expression, eng: Engine) -> exp.Expression:
    return exp.cast(e, eng.double_type)


def hex8_to_int(hex_text: exp.Expression, eng: Engine) -> exp.Expression:
    """Integer value of an 8-character hex string (0 .. 2^32-1), exactly, on every engine."""
    if eng.hex_to_int == "bit32":
        bits = exp.cast(exp.DPipe(this=exp.Literal.string("x"), expression=hex_text), exp.DataType.build("BIT(32)", dialect="postgres"))
        return exp.cast(bits, "BIGINT")
    if eng.hex_to_int == "conv":
        return exp.cast(exp.func("conv", hex_text, exp.Literal.number(16), exp.Literal.number(10)), "BIGINT")
    return exp.cast(exp.DPipe(this=exp.Literal.string("0x"), expression=hex_text), "BIGINT")


def md5_bucket(text: exp.Expression, modulo: int, eng: Engine) -> exp.Expression:
    """int(md5(text)[:8], 16) % modulo, as in S5's holdout assignment."""
    prefix = exp.Substring(this=exp.MD5(this=text), start=exp.Literal.number(1), length=exp.Literal.number(8))
    return exp.Mod(this=exp.paren(hex8_to_int(prefix, eng)), expression=exp.Literal.number(modulo))


def local_time(utc_ts: exp.Expression, zone: exp.Expression, eng: Engine) -> exp.Expression:
    """Wall-clock time in `zone` of a naive UTC timestamp (DST-correct)."""
    if eng.local_time == "from_utc":
        return exp.func("from_utc_timestamp", utc_ts, zone)
    as_utc = exp.AtTimeZone(this=utc_ts, zone=exp.Literal.string("UTC"))
    return exp.AtTimeZone(this=as_utc, zone=zone)


def hour_of(ts: exp.Expression) -> exp.Expression:
    return exp.cast(exp.Extract(this=exp.var("HOUR"), expression=ts), "INT")


def iso_day_of_week(ts: exp.Expression) -> exp.Expression:
    """1 = Monday .. 7 = Sunday."""
    return exp.DayOfWeekIso(this=ts)


def truncate(ts: exp.Expression, unit: str) -> exp.Expression:
    """Calendar period start (UTC): unit is DAY, WEEK (ISO, Monday) or MONTH."""
    return exp.TimestampTrunc(this=ts, unit=exp.var(unit))


def minus_seconds(ts: exp.Expression, seconds: float) -> exp.Expression:
    value = int(seconds) if float(seconds).is_integer() else seconds
    return exp.Sub(this=ts, expression=exp.Interval(this=exp.Literal.string(str(value)), unit=exp.var("SECOND")))


def regex_match(value: exp.Expression, pattern: exp.Expression) -> exp.Expression:
    return exp.RegexpLike(this=value, expression=pattern)


def json_object(pairs: list[tuple[str, exp.Expression]], eng: Engine) -> exp.Expression:
    """JSON object text with keys in the given order."""
    if not pairs:
        return exp.Literal.string("{}")
    obj = exp.JSONObject(
        expressions=[exp.JSONKeyValue(this=exp.Literal.string(k), expression=v) for k, v in pairs]
    )
    return cast_text(obj, eng)
