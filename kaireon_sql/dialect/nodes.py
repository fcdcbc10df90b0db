"""Engine-neutral expression nodes: one small sqlglot node per construct whose SQL differs by engine.

Compiled models hold these nodes; dialect/render.py lowers each one for an engine at render time
(RENDERS), so one tree serves every engine. Options are sqlglot leaves (Var, Literal, Boolean), so a
tree's default `.sql()` (used as a deduplication key while compiling) names every option, and copies,
walks and comparisons see them. None of them holds an Engine.
"""
from __future__ import annotations

from sqlglot import exp


class Neutral:
    """Marker of the engine-neutral nodes; every subclass has a render entry for every engine."""


class CastText(exp.Expression, exp.Func, Neutral):
    """CAST(this AS <the engine's text type>)."""

    arg_types = {"this": True}


class CastDouble(exp.Expression, exp.Func, Neutral):
    """CAST(this AS <the engine's double type>)."""

    arg_types = {"this": True}


class EngineType(exp.DataType, Neutral):
    """A type named by an Engine attribute ('text_type', 'double_type') or a type name read in the
    engine's own dialect (BigQuery's TIMESTAMP is not DuckDB's); `this` is a Var of that name."""

    arg_types = {"this": True}


class HexToInt(exp.Expression, exp.Func, Neutral):
    """The integer value of an 8-character hex string (0 .. 2^32-1), exactly."""

    arg_types = {"this": True}


class Md5Hex(exp.Expression, exp.Func, Neutral):
    """md5 of the UTF-8 bytes of text as 32 lowercase hex characters."""

    arg_types = {"this": True}


class HexText(exp.Expression, exp.Func, Neutral):
    """The UTF-8 text whose bytes the hex string `this` spells (lowercase hex; run attributes)."""

    arg_types = {"this": True}


class RunAttribute(exp.Expression, exp.Func, Neutral):
    """The run attribute named `this` (a string Literal), as text; NULL when the run has no such attribute.
    Its value is written by a macro at dbt time as a hex literal (only [0-9a-f]), decoded here (hex_text)."""

    arg_types = {"this": True}


class LocalTime(exp.Expression, exp.Func, Neutral):
    """Wall-clock time in `zone` of a naive UTC timestamp `this` (DST-correct)."""

    arg_types = {"this": True, "zone": True}


class KnownZone(exp.Expression, exp.Func, Neutral):
    """TRUE when the zone `this` can be converted to; `listed` (Boolean): also check timezones.ZONES."""

    arg_types = {"this": True, "listed": True}


class IsoDayOfWeek(exp.Expression, exp.Func, Neutral):
    """ISO day of week of a timestamp: 1 = Monday .. 7 = Sunday."""

    arg_types = {"this": True}


class TruncateCalendar(exp.Expression, exp.Func, Neutral):
    """Start of the calendar period (UTC) holding `this`; `unit` (Var): DAY, WEEK (ISO, Monday) or MONTH."""

    arg_types = {"this": True, "unit": True}


class AddMinutes(exp.Expression, exp.Func, Neutral):
    """The naive timestamp `this` plus `expression` minutes (an integer expression, read per row)."""

    arg_types = {"this": True, "expression": True}


class CharOf(exp.Expression, exp.Func, Neutral):
    """The one-character text of the code point `this` (a number Literal)."""

    arg_types = {"this": True}


class JsonString(exp.Expression, exp.Func, Neutral):
    """Text as the text of a JSON string, byte for byte what json.dumps(ensure_ascii=False) writes."""

    arg_types = {"this": True}


class JsonValue(exp.Expression, exp.Func, Neutral):
    """JSON text of one value; `kind` (Var): number, boolean, text, or json (JSON text kept as is, NULL: null)."""

    arg_types = {"this": True, "kind": True}


class JsonArrayAgg(exp.Expression, exp.Func, Neutral):
    """Aggregate: JSON array text of the group's JSON value texts `this`, in ascending `order` (a key that
    is never NULL and unique in the group), `[` and `]` around them, comma-separated, no spaces."""

    arg_types = {"this": True, "order": True}


class JsonObject(exp.Expression, exp.Func, Neutral):
    """JSON object text: `keys` (string Literals) paired in order with `expressions` (JsonValue nodes)."""

    arg_types = {"keys": True, "expressions": True}


class Arithmetic(exp.Expression, exp.Func, Neutral):
    """this <op> expression on finite-or-NULL doubles: the IEEE result, NULL when it overflows; `op` a Var."""

    arg_types = {"this": True, "expression": True, "op": True}


class Fmod(exp.Expression, exp.Func, Neutral):
    """Remainder of doubles with the sign of the dividend: C's fmod, exactly."""

    arg_types = {"this": True, "expression": True}


class Integral(exp.Expression, exp.Func, Neutral):
    """FLOOR / CEIL / TRUNC (`fn`, a Var) of a finite double, as a double."""

    arg_types = {"this": True, "fn": True}


class RoundHalfAway(exp.Expression, exp.Func, Neutral):
    """A double rounded to an integer, halves away from zero, exactly."""

    arg_types = {"this": True}


class RoundDigits(exp.Expression, exp.Func, Neutral):
    """round(this, digits) (digits: a Var of the integer), one correctly rounded double operation a step."""

    arg_types = {"this": True, "digits": True}


class Extreme(exp.Expression, exp.Func, Neutral):
    """GREATEST (`largest` TRUE) / LEAST of `expressions`, skipping NULLs (NULL only when all are)."""

    arg_types = {"expressions": True, "largest": True}
    is_var_len_args = True


class RegexMatch(exp.Expression, exp.Func, Neutral):
    """A search for a pattern of the regex dialect (kaireon_sql/regex.py), translated per engine."""

    arg_types = {"this": True, "expression": True}


class EpochSeconds(exp.Expression, exp.Func, Neutral):
    """Seconds since 1970-01-01 of a naive UTC timestamp, as a double (fractions of a second kept)."""

    arg_types = {"this": True}


class Grouped(exp.Expression, exp.Func, Neutral):
    """`this` in parentheses when, lowered for the engine, it is an operator (so it stays one operand)."""

    arg_types = {"this": True}


class OptionalRelation(exp.Expression, Neutral):
    """A relation of this dbt project read WITHOUT ref() as earlier builds left it (no dependency, so no
    cycle), with the typed columns `expressions` (ColumnDefs of EngineTypes): a column the relation lacks
    reads NULL, and a relation not built yet reads as no rows. `this`: the model name (a Literal)."""

    arg_types = {"this": True, "expressions": True}


class Bind(exp.Expression, exp.Func, Neutral):
    """`this` (the body) with each of `expressions` computed once: the body reads value i as the Var
    `<name>_<i>` (`name` a Var). The values are of one type (doubles, or a single text)."""

    arg_types = {"this": True, "expressions": True, "name": True}


NODES: tuple[type, ...] = tuple(c for c in list(globals().values())
                                if isinstance(c, type) and issubclass(c, Neutral) and c is not Neutral)
