"""Python reference evaluator, computing exactly what the compiled SQL computes.

Runtime values: number -> finite float | None, boolean -> True | False | None (Kleene),
text -> str | None, timestamp -> datetime | None. A NaN or +-inf input reads as None; + - * /
give the IEEE double result, None when it overflows (S5, README "Formulas").
"""
from __future__ import annotations

import math
import operator
from datetime import datetime
from typing import Any, Mapping

from .functions import FUNCTIONS, NUMERIC
from .nodes import Binary, Bool, Call, Ident, Node, Num, Str, Ternary, Unary
from .types import Typed

_CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def finite(x: float) -> float | None:
    """x when finite, else None: formula numbers are finite doubles or NULL."""
    return x if math.isfinite(x) else None


class Evaluator:
    def __init__(self, typed: Typed, values: Mapping[str, Any], as_of: datetime):
        self.typed, self.values, self.as_of = typed, values, as_of

    def num(self, node: Node) -> float | None:
        v = self.value(node)
        if self.typed.type(node) == "boolean":
            return None if v is None else (1.0 if v else 0.0)
        return v

    def pred(self, node: Node) -> bool | None:
        v = self.value(node)
        if self.typed.type(node) == "boolean":
            return v
        return None if v is None else v != 0

    def value(self, node: Node) -> Any:
        t = self.typed.type(node)
        if isinstance(node, Num):
            return float(node.value)
        if isinstance(node, (Str, Bool)):
            return node.value
        if isinstance(node, Ident):
            raw = self.values.get(node.name)
            if raw is None:
                return None
            if t == "number":
                return finite(float(raw))
            if t == "boolean":
                return bool(raw)
            return raw
        if isinstance(node, Unary):
            if node.op == "-":
                x = self.num(node.operand)
                return None if x is None else -x
            p = self.pred(node.operand)
            return None if p is None else not p
        if isinstance(node, Binary):
            return self._binary(node, t)
        if isinstance(node, Ternary):
            branch = self.num if t == "number" else self.value
            return branch(node.then) if self.pred(node.cond) is True else branch(node.else_)
        if isinstance(node, Call):
            spec = FUNCTIONS[node.name]
            vals = [
                self.pred(a) if i in spec.cond_args else (self.num(a) if self.typed.type(a) in NUMERIC else self.value(a))
                for i, a in enumerate(node.args)
            ]
            return spec.py(vals, node.args, self.as_of)
        raise TypeError(node)

    def _binary(self, node: Binary, t: str) -> Any:
        op = node.op
        if op in ("&&", "||"):
            return (_and if op == "&&" else _or)(self.pred(node.left), self.pred(node.right))
        side = self.num if self.typed.type(node.left) in NUMERIC else self.value
        a, b = side(node.left), side(node.right)
        if a is None or b is None:
            return None
        if op in _CMP:
            return _CMP[op](a, b)
        if op == "+" and isinstance(a, str):
            return a + b  # texts concatenate
        if op == "+":
            return finite(a + b)
        if op == "-":
            return finite(a - b)
        if op == "*":
            return finite(a * b)
        if b == 0:
            return None
        if op == "/":
            try:
                return finite(a / b)
            except OverflowError:
                return None
        return math.fmod(a, b)


def evaluate_node(node: Node, typed: Typed, values: Mapping[str, Any], as_of: datetime) -> Any:
    ev = Evaluator(typed, values, as_of)
    return ev.num(node) if typed.type(node) in NUMERIC else ev.value(node)
