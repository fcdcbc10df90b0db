"""Compile a checked formula tree to a sqlglot expression (never via string formatting).

Numbers compile to DOUBLE expressions, 'boolean' nodes to SQL predicates (three-valued
logic), which become 1.0 / 0.0 / NULL where a number is needed.
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import ENGINES, Engine, fmod
from .functions import FUNCTIONS, NUMERIC, Arg, bool_to_num, num_literal, num_to_bool, paren
from .nodes import Binary, Bool, Call, Ident, Node, Num, Str, Ternary, Unary
from .types import Typed

_ARITH = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}
_COMPARE = {"==": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}


class Compiler:
    def __init__(self, typed: Typed, as_of: exp.Expression, engine: Engine):
        self.typed, self.as_of, self.engine = typed, as_of, engine

    def num(self, node: Node) -> exp.Expression:
        """Numeric SQL (DOUBLE); booleans become 1.0 / 0.0 / NULL."""
        if self.typed.type(node) == "boolean":
            return bool_to_num(self.value(node))
        return self.value(node)

    def pred(self, node: Node) -> exp.Expression:
        """Predicate SQL; numbers are true when non-zero, unknown when NULL."""
        if self.typed.type(node) == "boolean":
            return self.value(node)
        return num_to_bool(self.value(node))

    def value(self, node: Node) -> exp.Expression:
        """SQL in the node's own type."""
        t = self.typed.type(node)
        if isinstance(node, Num):
            return num_literal(node.value)
        if isinstance(node, Str):
            return exp.Literal.string(node.value)
        if isinstance(node, Bool):
            return exp.true() if node.value else exp.false()
        if isinstance(node, Ident):
            sql = self.typed.fields[node.name].sql.copy()
            return exp.cast(sql, "double") if t == "number" else sql
        if isinstance(node, Unary):
            if node.op == "-":
                return exp.Neg(this=paren(self.num(node.operand)))
            return exp.not_(paren(self.pred(node.operand)))
        if isinstance(node, Binary):
            return self._binary(node, t)
        if isinstance(node, Ternary):
            branch = self.num if t == "number" else self.value
            return exp.Case().when(self.pred(node.cond), branch(node.then)).else_(branch(node.else_))
        if isinstance(node, Call):
            spec = FUNCTIONS[node.name]
            args = [Arg(a, self.typed.type(a), self) for a in node.args]
            return spec.sql(args, self.as_of)
        raise TypeError(node)

    def _binary(self, node: Binary, t: str) -> exp.Expression:
        op = node.op
        if op in ("&&", "||"):
            cls = exp.And if op == "&&" else exp.Or
            return cls(this=paren(self.pred(node.left)), expression=paren(self.pred(node.right)))
        numeric = self.typed.type(node.left) in NUMERIC
        side = self.num if numeric else self.value
        left, right = paren(side(node.left)), paren(side(node.right))
        if op in _COMPARE:
            return _COMPARE[op](this=left, expression=right)
        if op == "+" and t == "text":
            return exp.DPipe(this=left, expression=right)
        if op in _ARITH:
            return _ARITH[op](this=left, expression=right)
        # '/' and '%': a zero divisor gives NULL on every engine
        safe = exp.Nullif(this=right, expression=exp.Literal.number(0))
        if op == "/":
            return exp.Div(this=left, expression=safe)
        return fmod(left, safe, self.engine)  # sign of the dividend, as Python's math.fmod


def compile_node(node: Node, typed: Typed, as_of: exp.Expression, engine: Engine | None = None) -> exp.Expression:
    """The root as a number (DOUBLE) or text SQL expression, for `engine` (default DuckDB)."""
    c = Compiler(typed, as_of, engine or ENGINES["duckdb"])
    return c.num(node) if typed.type(node) in NUMERIC else c.value(node)
