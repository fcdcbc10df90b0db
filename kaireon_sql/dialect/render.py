"""One engine-neutral tree, rendered per engine: lower the neutral nodes, then generate SQL text.

RENDERS is the per-engine render table, as data like sqlglot's Generator TRANSFORMS: for each node
of dialect/nodes.py, the function that lowers it (operands already lowered) for an Engine, reading
only the Engine's flags. `lower` applies it bottom-up to a copy of the tree, once per node (linear in
the tree's size), so the compiled tree is never changed and serves every engine. Generation then adds
the dbt relations, the text-safety transforms and the flag transforms below.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from . import nodes as n
from . import numbers, text_sql
from .builders import column_type
from .engines import ENGINES, Engine
from .relations import RELATION_TRANSFORMS, DbtOptionalRelation, DbtRunAttribute
from .text import identifier_sql, literal_sql


def _type_name(node: n.EngineType, eng: Engine) -> str:
    name = node.text("this")
    return getattr(eng, name) if name.endswith("_type") else name


def _json_value(node: n.JsonValue, eng: Engine) -> exp.Expression:
    kind = node.text("kind")
    if kind not in ("number", "boolean", "text", "json"):
        raise ValueError(f"not a JSON value kind: {kind!r}")
    return text_sql.json_value(node.this, kind, eng)


def _arithmetic(node: n.Arithmetic, eng: Engine) -> exp.Expression:
    return numbers.arithmetic(node.text("op"), node.this, node.expression, eng)


def _optional_relation(node: n.OptionalRelation, eng: Engine) -> exp.Expression:
    """The column types (EngineTypes, lowered already) as the engine's type names."""
    types = [exp.Literal.string(d.args["kind"].sql(dialect=eng.sqlglot)) for d in node.expressions]
    names = [exp.Literal.string(d.name) for d in node.expressions]
    return DbtOptionalRelation(this=node.this, columns=names, types=types)


def _bind(node: n.Bind, eng: Engine) -> exp.Expression:
    """The body with its values computed once: one lambda over a one-element array (several values as a
    struct, whose fields cost nothing to read) on the lambda engines, else a scalar subquery naming each
    value (fenced: OFFSET 0)."""
    name, values, body = node.text("name"), node.expressions, node.this
    refs = {f"{name}_{i}": i for i in range(len(values))}
    if eng.let in ("list_lambda", "array_lambda"):
        def ref(v: exp.Expression) -> exp.Expression:
            if not (isinstance(v, exp.Var) and v.name in refs):
                return v
            if len(values) == 1:
                return exp.var(name)
            return exp.Dot(this=exp.to_identifier(name), expression=exp.to_identifier(f"v{refs[v.name]}"))
        bound = values[0] if len(values) == 1 else exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.to_identifier(f"v{i}"), expression=v) for i, v in enumerate(values)])
        lam = exp.Lambda(this=body.transform(ref, copy=False), expressions=[exp.to_identifier(name)])
        fn = "LIST_TRANSFORM" if eng.let == "list_lambda" else "TRANSFORM"
        return exp.Bracket(this=exp.func(fn, exp.Array(expressions=[bound]), lam), expressions=[exp.Literal.number(0)])
    upper = eng.unquoted_case == "upper"  # the alias is written quoted, the reference (a Var) is not
    inner = exp.select(*[exp.alias_(v, ref.upper() if upper else ref) for ref, v in zip(refs, values)])
    if eng.let == "fenced_subquery":  # OFFSET 0: PostgreSQL does not inline (and so re-evaluate) the values
        inner = inner.offset(0)
    return exp.Subquery(this=exp.select(body).from_(inner.subquery("_l")))


def _run_attribute(node: n.RunAttribute, eng: Engine) -> exp.Expression:
    """The attribute's hex (written by the macro at dbt time: inert, only [0-9a-f]) as text."""
    return text_sql.hex_text(DbtRunAttribute(this=node.name), eng)


# node class -> how it is written for an engine (its operands lowered already)
RENDERS: dict[type, Callable[[exp.Expression, Engine], exp.Expression]] = {
    n.CastText: lambda e, eng: text_sql.cast_text(e.this, eng),
    n.CastDouble: lambda e, eng: text_sql.cast_double(e.this, eng),
    n.EngineType: lambda e, eng: text_sql.data_type(_type_name(e, eng), eng),
    n.HexToInt: lambda e, eng: text_sql.hex8_to_int(e.this, eng),
    n.Md5Hex: lambda e, eng: text_sql.md5_hex(e.this, eng),
    n.HexText: lambda e, eng: text_sql.hex_text(e.this, eng),
    n.RunAttribute: _run_attribute,
    n.LocalTime: lambda e, eng: text_sql.local_time(e.this, e.args["zone"], eng),
    n.KnownZone: lambda e, eng: text_sql.known_zone(e.this, eng, e.args["listed"].this),
    n.IsoDayOfWeek: lambda e, eng: text_sql.iso_day_of_week(e.this, eng),
    n.TruncateCalendar: lambda e, eng: text_sql.truncate(e.this, e.text("unit"), eng),
    n.AddMinutes: lambda e, eng: text_sql.add_minutes(e.this, e.expression, eng),
    n.CharOf: lambda e, eng: text_sql.char_of(int(e.this.this), eng),
    n.JsonString: lambda e, eng: text_sql.json_string(e.this, eng),
    n.JsonValue: _json_value,
    n.JsonObject: lambda e, eng: text_sql.json_object([k.this for k in e.args["keys"]], e.expressions),
    n.JsonArrayAgg: lambda e, eng: text_sql.json_array_agg(e.this, e.args["order"]),
    n.Arithmetic: _arithmetic,
    n.Fmod: lambda e, eng: numbers.fmod(e.this, e.expression, eng),
    n.Integral: lambda e, eng: numbers.integral(e.this, e.text("fn"), eng),
    n.RoundHalfAway: lambda e, eng: numbers.round_half_away(e.this, eng),
    n.RoundDigits: lambda e, eng: numbers.round_digits(e.this, int(e.text("digits")), eng),
    n.Extreme: lambda e, eng: numbers.extreme(e.expressions, e.args["largest"].this, eng),
    n.RegexMatch: lambda e, eng: text_sql.regex_like(e.this, e.expression.this, eng),
    n.Grouped: lambda e, eng: numbers.grouped(e.this),
    n.OptionalRelation: _optional_relation,
    n.Bind: _bind,
    n.EpochSeconds: lambda e, eng: text_sql.epoch_seconds(e.this, eng),
}


_REFERENCE = ENGINES["duckdb"]


def lower(expression: exp.Expression, eng: Engine) -> exp.Expression:
    """A copy of `expression` with every neutral node written for `eng` (plain sqlglot only).

    Nodes are visited children first (reversed pre-order), so each render function sees lowered
    operands and its result is final: every node is lowered once.
    """
    root = expression.copy()
    for node in reversed(list(root.dfs())):
        render_node = RENDERS.get(type(node))
        if render_node is None:
            continue
        lowered = render_node(node, eng)
        if node is root:
            root = lowered
        else:
            node.replace(lowered)
    return root


def columns_read(expression: exp.Expression) -> list[exp.Column]:
    """The columns `expression` reads, breadth-first over its rendering (the order a model lists them in).

    Lowering puts the operands of a neutral node at depths that do not depend on the engine where these
    columns first appear, so the reference rendering (DuckDB's) gives every engine's order."""
    return list(lower(expression, _REFERENCE).find_all(exp.Column))


def _regexp_instr_sql(gen, e: exp.RegexpLike) -> str:
    """A partial regex match where REGEXP_LIKE matches the whole string (Snowflake); 's': '.' matches newlines."""
    one = exp.Literal.number(1)
    found = exp.func("REGEXP_INSTR", e.this, e.expression, one, one.copy(), exp.Literal.number(0),
                     exp.Literal.string("s"))
    return gen.sql(exp.GT(this=found, expression=exp.Literal.number(0)))


def _interval_number_sql(gen, e: exp.Interval) -> str:
    """INTERVAL 86400 SECOND: BigQuery's single-unit interval takes an INT64, not a string."""
    amount, unit = e.this, e.unit
    if isinstance(amount, exp.Literal) and amount.is_string and unit is not None and unit.name.upper() == "SECOND":
        seconds = float(amount.this)
        amount, unit = ((exp.Literal.number(int(seconds)), unit) if seconds.is_integer()
                        else (exp.Literal.number(round(seconds * 1_000_000)), exp.var("MICROSECOND")))
    return "INTERVAL %s %s" % (gen.sql(amount), gen.sql(unit))


def _not_lowered_sql(_gen, e: exp.Expression) -> str:
    raise TypeError(f"{type(e).__name__} is an engine-neutral node: render() lowers it before generating SQL")


# generation differences by Engine flag, as sqlglot TRANSFORMS
_FLAG_TRANSFORMS = {
    ("regex", "instr"): {exp.RegexpLike: _regexp_instr_sql},
    ("interval_number", True): {exp.Interval: _interval_number_sql},
}


@lru_cache(maxsize=None)
def _dialect(eng: Engine) -> Dialect:
    base = type(Dialect.get_or_raise(eng.sqlglot))
    transforms = {**base.Generator.TRANSFORMS, **RELATION_TRANSFORMS, exp.Literal: literal_sql,
                  exp.Identifier: identifier_sql, **{cls: _not_lowered_sql for cls in n.NODES}}
    for (flag, value), extra in _FLAG_TRANSFORMS.items():
        if getattr(eng, flag) == value:
            transforms.update(extra)
    generator = type("Generator", (base.Generator,), {"TRANSFORMS": transforms})
    return type(f"Kaireon{base.__name__}", (base,), {"Generator": generator})()


def render(expression: exp.Expression, eng: Engine, pretty: bool = True) -> str:
    """SQL text of `expression` for an engine, identifiers quoted, relations as dbt Jinja calls.

    The tree is engine-neutral and left unchanged: its neutral nodes are lowered on a copy."""
    return _dialect(eng).generate(lower(expression, eng), pretty=pretty, identify=True)


def type_sql(name: str, eng: Engine) -> str:
    """A type of builders.column_type (e.g. 'text_type', 'BIGINT') as `eng` spells it: a column's `data_type` in
    a properties file (dbt model contracts), the same type a model's CAST to column_type(name) gives."""
    return lower(column_type(name), eng).sql(dialect=eng.sqlglot)


def parse(sql: str, eng: Engine) -> exp.Expression:
    return sqlglot.parse_one(sql, read=eng.sqlglot)
