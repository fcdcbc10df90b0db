"""Compile a checked formula tree to a sqlglot expression (never via string formatting).

Numbers compile to DOUBLE expressions, 'boolean' nodes to SQL predicates (three-valued
logic), which become 1.0 / 0.0 / NULL where a number is needed.
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import arithmetic, finite_or_null, fmod, known_number
from .evaluate import Evaluator
from .functions import FUNCTIONS, NUMERIC, Arg, bool_to_num, num_literal, num_to_bool, paren
from .nodes import Binary, Bool, Call, Ident, Node, Num, Str, Ternary, Unary, children
from .types import Typed

_COMPARE = {"==": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}


class Compiler:
    def __init__(self, typed: Typed, as_of: exp.Expression):
        self.typed, self.as_of = typed, as_of
        self.constant = _constant_nodes(typed.root) if typed.root is not None else set()
        self.evaluator = Evaluator(typed, {}, None)

    def folded(self, node: Node) -> exp.Expression | None:
        """A subtree without identifiers, computed here by the evaluator (the same semantics), as a literal:
        no engine's planner then folds a constant operation the guards keep from running (S5)."""
        if id(node) not in self.constant or isinstance(node, (Num, Str, Bool)):
            return None
        t = self.typed.type(node)
        if t == "boolean":
            v = self.evaluator.pred(node)
            return exp.null() if v is None else (exp.true() if v else exp.false())
        if t in NUMERIC:
            v = self.evaluator.num(node)
            return exp.cast(exp.null(), "double") if v is None else num_literal(v)
        v = self.evaluator.value(node)
        return exp.cast(exp.null(), "text") if v is None else exp.Literal.string(v)

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
        folded = self.folded(node)
        if folded is not None:
            return folded
        if isinstance(node, Num):
            return num_literal(node.value)
        if isinstance(node, Str):
            return exp.Literal.string(node.value)
        if isinstance(node, Bool):
            return exp.true() if node.value else exp.false()
        if isinstance(node, Ident):
            sql = self.typed.fields[node.name].sql.copy()
            # a NaN or +-inf input is missing (NULL), like in rules (S5)
            return finite_or_null(exp.cast(sql, "double")) if t == "number" else sql
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
        if op in ("+", "-", "*"):
            return arithmetic(op, left, right)  # NULL when the result overflows
        # '/' and '%': a zero divisor gives NULL on every engine
        divisor = known_number(right)
        safe = right if divisor not in (None, 0.0) else exp.Nullif(this=right, expression=exp.Literal.number(0))
        if op == "/":
            return arithmetic("/", left, safe)
        return fmod(left, safe)  # sign of the dividend, exactly Python's math.fmod


def _constant_nodes(root: Node) -> set[int]:
    """ids of the nodes whose subtree reads no identifier (computed without recursion)."""
    order, stack = [], [root]
    while stack:
        n = stack.pop()
        order.append(n)
        stack.extend(children(n))
    constant: set[int] = set()
    for n in reversed(order):  # children before parents
        if not isinstance(n, Ident) and all(id(c) in constant for c in children(n)):
            constant.add(id(n))
    return constant


def compile_node(node: Node, typed: Typed, as_of: exp.Expression) -> exp.Expression:
    """The root as a number (DOUBLE) or text SQL expression, engine-neutral (dialect.render writes it per engine)."""
    c = Compiler(typed, as_of)
    return c.num(node) if typed.type(node) in NUMERIC else c.value(node)
