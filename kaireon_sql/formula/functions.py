"""Function table plus the small SQL helpers shared with the compiler.

Each function is data: arity, a type rule, an SQL builder and a Python implementation.
Adding a function = one ``FunctionSpec`` entry (the SQL builder and the Python impl must
compute the same thing, bit for bit).

Value conventions (types.py): 'number' (SQL DOUBLE / Python float), 'boolean' (SQL
predicate / Python True, False or None), 'text', 'timestamp' (only inside days_since/coalesce).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Sequence

from sqlglot import exp

from ..dialect import Neutral, extreme, grouped, integral, round_digits as round_digits_sql
from .errors import error
from .nodes import Node, Num, Unary

NUMERIC = ("number", "boolean")


# ---------------------------------------------------------------- SQL helpers
def num_literal(value: float) -> exp.Expression:
    """``CAST(<lit> AS DOUBLE)`` whose literal parses back to exactly ``value``.

    Short decimals (<= 15 significant digits) stay readable ('0.1'); longer ones use
    scientific notation, which engines parse straight to a correctly rounded double
    (a long DECIMAL literal could be rounded twice on its way to DOUBLE).
    """
    value = float(value)
    if value < 0 or (value == 0 and math.copysign(1.0, value) < 0):
        return exp.Neg(this=num_literal(-value))
    r = repr(value)
    d = Decimal(r)
    if "e" not in r and len(d.as_tuple().digits) <= 15:
        text = r[:-2] if r.endswith(".0") else r
    else:
        text = "{:E}".format(d)
    return exp.cast(exp.Literal.number(text), "double")


def paren(e: exp.Expression) -> exp.Expression:
    """Parenthesise operator nodes so the rendered SQL keeps the tree's grouping (an engine-neutral node is
    parenthesised at render time when it is written as an operator)."""
    if isinstance(e, Neutral):
        return grouped(e)
    if isinstance(e, (exp.Binary, exp.Unary)) and not isinstance(e, exp.Paren):
        return exp.Paren(this=e)
    return e


def bool_to_num(pred: exp.Expression) -> exp.Expression:
    """Predicate -> 1.0 / 0.0 / NULL (unknown); the predicate is written once (no growth when nested)."""
    return exp.cast(exp.cast(pred, "INT"), "double")


def num_to_bool(num: exp.Expression) -> exp.Expression:
    """Number -> predicate (non-zero is true, NULL is unknown)."""
    return exp.NEQ(this=paren(num), expression=exp.Literal.number(0))


class Arg:
    """One compiled call argument, as handed to a FunctionSpec.sql builder."""

    def __init__(self, node: Node, type_: str, compiler: Any):
        self.node, self.type, self._c = node, type_, compiler

    def num(self) -> exp.Expression:
        return self._c.num(self.node)

    def pred(self) -> exp.Expression:
        return self._c.pred(self.node)

    def value(self) -> exp.Expression:
        """SQL in the argument's own type (booleans as numbers)."""
        return self._c.num(self.node) if self.type in NUMERIC else self._c.value(self.node)


# ---------------------------------------------------------------- Python helpers
def py_num(v: Any) -> float | None:
    if v is None:
        return None
    return float(v)  # bool -> 1.0 / 0.0


def py_sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


# ---------------------------------------------------------------- type rules
def _kind(t: str) -> str:
    return "number" if t == "boolean" else t


def _need(types: Sequence[str], nodes: Sequence[Node], fname: str, allowed: tuple[str, ...], what: str) -> None:
    for i, (t, n) in enumerate(zip(types, nodes)):
        if t not in allowed:
            raise error(f"{fname}() expects {what} for argument {i + 1}, got {_kind(t)}", n.pos)


def _same(types: Sequence[str], nodes: Sequence[Node], fname: str, allowed: tuple[str, ...]) -> str:
    first = _kind(types[0])
    for i, (t, n) in enumerate(zip(types, nodes)):
        if _kind(t) not in allowed:
            raise error(f"{fname}() cannot take a {_kind(t)} argument (argument {i + 1})", n.pos)
        if _kind(t) != first:
            raise error(
                f"{fname}() arguments must all have the same type: argument 1 is {first}, argument {i + 1} is {_kind(t)}",
                n.pos,
            )
    return first


def round_digits(nodes: Sequence[Node]) -> int:
    """The literal digit count of round(x, n); 0 when omitted."""
    if len(nodes) < 2:
        return 0
    n = nodes[1]
    neg = isinstance(n, Unary) and n.op == "-" and isinstance(n.operand, Num)
    lit = n.operand if neg else n
    if not isinstance(lit, Num) or lit.value != int(lit.value) or abs(lit.value) > 15:
        raise error("round() expects an integer literal between -15 and 15 as argument 2", n.pos)
    return -int(lit.value) if neg else int(lit.value)


# ---------------------------------------------------------------- round
def py_round_half_away(x: float) -> float:
    """Nearest integer, halves away from zero, exactly (dialect.round_half_away)."""
    if abs(x) >= 2.0 ** 52:
        return x
    t = float(math.trunc(x))
    return t + py_sign(x) if abs(x - t) >= 0.5 else t


def _round_sql(args: list[Arg], as_of: exp.Expression) -> exp.Expression:
    return round_digits_sql(args[0].num(), round_digits([a.node for a in args]))


def _round_py(vals: list[Any], nodes: Sequence[Node], as_of: datetime) -> float | None:
    """round(x, n) as dialect.round_digits: each step one correctly rounded double operation."""
    x = py_num(vals[0])
    if x is None:
        return None
    n = round_digits(nodes)
    if n == 0:
        return py_round_half_away(x)
    scale = 10.0 ** abs(n)
    if n > 0:
        return x if abs(x) >= 2.0 ** 52 else py_round_half_away(x * scale) / scale
    if abs(x) < 2.0 ** -1000:
        return 0.0
    out = py_round_half_away(x / scale) * scale
    return out if math.isfinite(out) else None


# ---------------------------------------------------------------- min / max
def _extreme_sql(largest: bool) -> Callable[[list[Arg], exp.Expression], exp.Expression]:
    def build(args: list[Arg], as_of: exp.Expression) -> exp.Expression:
        # NULL arguments are skipped (NULL only when all are); linear in the argument count
        return extreme([a.num() for a in args], largest)

    return build


def _extreme_py(pick: Callable) -> Callable:
    def impl(vals: list[Any], nodes: Sequence[Node], as_of: datetime) -> float | None:
        xs = [py_num(v) for v in vals if v is not None]
        return pick(xs) if xs else None

    return impl


# ---------------------------------------------------------------- simple numeric unary
def _unary_num(sql_fn: Callable[[exp.Expression], exp.Expression], fn: Callable[[float], float]) -> tuple[Callable, Callable]:
    def sql(args: list[Arg], as_of: exp.Expression) -> exp.Expression:
        return sql_fn(args[0].num())

    def py(vals: list[Any], nodes: Sequence[Node], as_of: datetime) -> float | None:
        x = py_num(vals[0])
        return None if x is None else float(fn(x))

    return sql, py


# ---------------------------------------------------------------- coalesce / if / concat / days_since
def _coalesce_sql(args: list[Arg], as_of: exp.Expression) -> exp.Expression:
    xs = [a.value() for a in args]
    return xs[0] if len(xs) == 1 else exp.Coalesce(this=xs[0], expressions=xs[1:])


def _coalesce_py(vals: list[Any], nodes: Sequence[Node], as_of: datetime) -> Any:
    return next((v for v in vals if v is not None), None)


def _if_sql(args: list[Arg], as_of: exp.Expression) -> exp.Expression:
    return exp.Case().when(args[0].pred(), args[1].value()).else_(args[2].value())


def _if_py(vals: list[Any], nodes: Sequence[Node], as_of: datetime) -> Any:
    # vals[0] is already a truth value (True/False/None), see evaluate.py
    return vals[1] if vals[0] is True else vals[2]


def _concat_sql(args: list[Arg], as_of: exp.Expression) -> exp.Expression:
    parts = [exp.Coalesce(this=a.value(), expressions=[exp.Literal.string("")]) for a in args]
    out = parts[0]
    for p in parts[1:]:
        out = exp.DPipe(this=out, expression=p)
    return out


def _concat_py(vals: list[Any], nodes: Sequence[Node], as_of: datetime) -> str:
    return "".join("" if v is None else v for v in vals)


def _days_since_sql(args: list[Arg], as_of: exp.Expression) -> exp.Expression:
    diff = exp.DateDiff(
        this=exp.cast(as_of.copy(), "date"),
        expression=exp.cast(args[0].value(), "date"),
        unit=exp.var("DAY"),
    )
    return exp.cast(diff, "double")


def _days_since_py(vals: list[Any], nodes: Sequence[Node], as_of: datetime) -> float | None:
    t = vals[0]
    return None if t is None else float((as_of.date() - t.date()).days)


# ---------------------------------------------------------------- the table
@dataclass(frozen=True)
class FunctionSpec:
    name: str
    min_args: int
    max_args: int | None  # None: variadic
    result: Callable[[Sequence[str], Sequence[Node]], str]  # arg types, arg nodes -> result type
    sql: Callable[[list[Arg], exp.Expression], exp.Expression]  # args, as_of -> SQL
    py: Callable[[list[Any], Sequence[Node], datetime], Any]  # values, arg nodes, as_of -> value
    cond_args: tuple[int, ...] = ()  # arguments evaluated as truth values (Python side)


def _numbers(name: str) -> Callable[[Sequence[str], Sequence[Node]], str]:
    def rule(types: Sequence[str], nodes: Sequence[Node]) -> str:
        _need(types, nodes, name, NUMERIC, "a number")
        return "number"

    return rule


def _round_rule(types: Sequence[str], nodes: Sequence[Node]) -> str:
    _need(types[:1], nodes[:1], "round", NUMERIC, "a number")
    round_digits(nodes)
    return "number"


def _if_rule(types: Sequence[str], nodes: Sequence[Node]) -> str:
    _need(types[:1], nodes[:1], "if", NUMERIC, "a number or boolean condition")
    return _same(types[1:], nodes[1:], "if", ("number", "text"))


def _coalesce_rule(types: Sequence[str], nodes: Sequence[Node]) -> str:
    return _same(types, nodes, "coalesce", ("number", "text", "timestamp"))


def _concat_rule(types: Sequence[str], nodes: Sequence[Node]) -> str:
    _need(types, nodes, "concat", ("text",), "text (numbers have no portable text form)")
    return "text"


def _days_since_rule(types: Sequence[str], nodes: Sequence[Node]) -> str:
    _need(types, nodes, "days_since", ("timestamp",), "a timestamp")
    return "number"


_abs = _unary_num(lambda x: exp.Abs(this=x), abs)
_floor = _unary_num(lambda x: integral(x, "floor"), math.floor)
_ceil = _unary_num(lambda x: integral(x, "ceil"), math.ceil)

FUNCTIONS: dict[str, FunctionSpec] = {
    f.name: f
    for f in [
        FunctionSpec("abs", 1, 1, _numbers("abs"), *_abs),
        FunctionSpec("ceil", 1, 1, _numbers("ceil"), *_ceil),
        FunctionSpec("floor", 1, 1, _numbers("floor"), *_floor),
        FunctionSpec("round", 1, 2, _round_rule, _round_sql, _round_py),
        FunctionSpec("min", 1, None, _numbers("min"), _extreme_sql(False), _extreme_py(min)),
        FunctionSpec("max", 1, None, _numbers("max"), _extreme_sql(True), _extreme_py(max)),
        FunctionSpec("coalesce", 1, None, _coalesce_rule, _coalesce_sql, _coalesce_py),
        FunctionSpec("if", 3, 3, _if_rule, _if_sql, _if_py, cond_args=(0,)),
        FunctionSpec("concat", 1, None, _concat_rule, _concat_sql, _concat_py),
        FunctionSpec("days_since", 1, 1, _days_since_rule, _days_since_sql, _days_since_py),
    ]
}
