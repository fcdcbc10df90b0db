"""What differs between engines, as data: one Engine per engine, every flag with its reason.

Only the render step (dialect/render.py) reads these flags; compiled trees never hold an Engine.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import KaireonError


@dataclass(frozen=True)
class Engine:
    """What differs between engines, as data. `sqlglot` names the sqlglot dialect.

    DuckDB, PostgreSQL and Spark are executed by the tests, Snowflake through fakesnow (an emulator on DuckDB);
    Databricks, BigQuery and
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
    # seconds since 1970 of a naive UTC timestamp, fractions kept: EPOCH(ts) | EXTRACT(EPOCH FROM ts) (numeric)
    # | from the wall-clock fields (Spark's TIMESTAMP_NTZ casts to no number; converting it to TIMESTAMP would read
    # it in the session zone) | DATE_PART(EPOCH_MICROSECOND, ts) / 1e6 (Snowflake's EPOCH_SECOND is whole)
    # | UNIX_MICROS(TIMESTAMP(ts)) / 1e6 (BigQuery DATETIME) | TO_UNIXTIME(ts) (Trino)
    epoch: str = "epoch"  # epoch | extract | fields | micros_part | unix_micros | to_unixtime
    # UTF-8 text of a hex string (run attributes reach SQL only as hex, macros/run_attributes.sql):
    # DECODE(UNHEX(h)) (DuckDB) | CONVERT_FROM(DECODE(h, 'hex'), 'UTF8') (PostgreSQL) | DECODE(UNHEX(h), 'UTF-8')
    # (Spark) | HEX_DECODE_STRING(h) (Snowflake) | SAFE_CONVERT_BYTES_TO_STRING(FROM_HEX(h)) (BigQuery)
    # | FROM_UTF8(FROM_HEX(h)) (Trino)
    hex_text: str = "decode_unhex"  # decode_unhex | convert_from | decode_utf8 | hex_decode_string | bytes | from_utf8
    # a timestamp plus n minutes, n read per row: sqlglot's DateAdd (ts + INTERVAL (n) MINUTE, DATEADD, ...) |
    # TIMESTAMPADD(MINUTE, n, ts) (Spark, whose DATE_ADD adds days)
    add_minutes: str = "date_add"  # date_add | timestampadd


ENGINES: dict[str, Engine] = {
    "duckdb": Engine("duckdb", "duckdb", zone_list="table_function", let="list_lambda"),
    # no `%` for double precision (exact fmod from the IEEE bits); float8 overflow and underflow to zero raise
    "postgres": Engine("postgres", "postgres", double_type="DOUBLE PRECISION", hex_to_int="bit32", iso_dow="extract",
                       double_mod="bits", double_raises=True, let="fenced_subquery", zone_list="catalog_view",
                       text_holds_nul=False, unquoted_case="lower", epoch="extract", hex_text="convert_from"),
    "spark": Engine("spark", "spark", text_type="STRING", hex_to_int="conv", local_time="from_utc",
                    iso_dow="sunday_first", regex_end="\\z", zone_list="try_reflect", double_text="java",
                    let="array_lambda", floor_bigint=True, trunc_double=False, epoch="fields", hex_text="decode_utf8",
                    add_minutes="timestampadd"),
    # transpiled only
    "databricks": Engine("databricks", "databricks", text_type="STRING", hex_to_int="conv", local_time="from_utc",
                         iso_dow="sunday_first", regex_end="\\z", zone_list="try_reflect", double_text="java",
                         let="array_lambda", floor_bigint=True, trunc_double=False, epoch="fields", hex_text="decode_utf8",
                    add_minutes="timestampadd"),
    # transpiled only: TO_NUMBER(x, 'XXXXXXXX') reads hex; CONVERT_TIMEZONE(src, dst, ntz); DATE_TRUNC('WEEK')
    # follows the WEEK_START parameter, DAYOFWEEKISO does not; no inline regex flags: REGEXP_INSTR's 's' parameter
    "snowflake": Engine("snowflake", "snowflake", hex_to_int="to_number", local_time="convert_timezone",
                        iso_week_unit=None, regex="instr", regex_prefix="", unquoted_case="upper", epoch="micros_part",
                        hex_text="hex_decode_string"),
    # transpiled only: MD5 returns BYTES (sqlglot adds TO_HEX); CAST('0x..' AS INT64) reads hex; naive
    # timestamps are DATETIME; EXTRACT(DAYOFWEEK) is 1 = Sunday; MOD takes no FLOAT64; LEAST is NULL on any NULL
    "bigquery": Engine("bigquery", "bigquery", text_type="STRING", double_type="FLOAT64", local_time="datetime",
                       iso_dow="sunday_first", iso_week_unit="ISOWEEK", datetime_trunc=True, interval_number=True,
                       double_mod="trunc", chr_function="code_points", least_skips_null=False, epoch="unix_micros",
                       hex_text="bytes"),
    # transpiled only: MD5 on varbinary, FROM_BASE(x, 16); AT TIME ZONE on a naive timestamp would read it in
    # the session zone, so it is tagged UTC first; DAY_OF_WEEK and DATE_TRUNC('week') are ISO; regexes in
    # Joni's Java syntax; LEAST is NULL on any NULL
    "trino": Engine("trino", "trino", md5="varbinary", hex_to_int="from_base", local_time="with_timezone",
                    regex_end="\\z", least_skips_null=False, unquoted_case="lower", epoch="to_unixtime",
                    hex_text="from_utf8"),
}


class UnknownEngine(KaireonError, ValueError):
    """--engine (or a profile's adapter type) names no engine of ENGINES."""


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise UnknownEngine(f"unknown engine {name!r}; expected one of {', '.join(ENGINES)}") from None
