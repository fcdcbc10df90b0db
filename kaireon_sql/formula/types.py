"""Type checker: resolves identifiers and infers a type for every node.

Internal types: 'number', 'boolean' (results of comparisons/logic, boolean fields and
true/false; they act as 1/0 wherever a number is expected), 'text', 'timestamp' (only
usable inside days_since() and coalesce()).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from sqlglot import exp

from .errors import error
from .functions import FUNCTIONS, NUMERIC
from .nodes import Binary, Bool, Call, Ident, Node, Num, Str, Ternary, Unary

FIELD_TYPES = ("number", "text", "boolean", "timestamp")
ARITH = ("+", "-", "*", "/", "%")
COMPARE = ("==", "!=", "<", "<=", ">", ">=")
LOGIC = ("&&", "||")


@dataclass(frozen=True)
class Field:
    """How an identifier reads: its type and the SQL expression that reads it."""

    type: str  # 'number' | 'text' | 'boolean' | 'timestamp'
    sql: exp.Expression
    values: tuple[str, ...] | None = None  # a text field's only values (a lifecycle stage): comparing with another text literal is an error


Resolver = Callable[[str], Optional[Field]]

IDENT_HINT = "expected customer.<field>, offer.<field>, attributes.<name> or a custom field of this category"


def _kind(t: str) -> str:
    return "number" if t == "boolean" else t


@dataclass
class Typed:
    """Result of checking: node types by id(node) and resolved fields by name."""

    types: dict[int, str] = field(default_factory=dict)
    fields: dict[str, Field] = field(default_factory=dict)
    root: Optional[Node] = None

    def type(self, node: Node) -> str:
        return self.types[id(node)]


class _Checker:
    def __init__(self, resolver: Resolver):
        self.resolver = resolver
        self.out = Typed()

    def infer(self, node: Node) -> str:
        t = self._infer(node)
        self.out.types[id(node)] = t
        return t

    def _numeric(self, node: Node, what: str) -> None:
        t = self.infer(node)
        if t == "timestamp":
            raise error("a timestamp can only be used inside days_since() or coalesce()", node.pos)
        if t not in NUMERIC:
            raise error(f"{what} expects a number, got {t}", node.pos)

    def _known_value(self, ident: Node, other: Node) -> None:
        """A text literal compared with a field of a closed set of values must be one of them."""
        f = self.out.fields.get(ident.name) if isinstance(ident, Ident) else None
        if f is not None and f.values is not None and isinstance(other, Str) and other.value not in f.values:
            raise error(f"'{ident.name}' is never {other.value!r}", other.pos, "expected one of: " + ", ".join(f.values))

    def _infer(self, node: Node) -> str:
        if isinstance(node, Num):
            return "number"
        if isinstance(node, Str):
            return "text"
        if isinstance(node, Bool):
            return "boolean"
        if isinstance(node, Ident):
            f = self.out.fields.get(node.name) or self.resolver(node.name)
            if f is None:
                raise error(f"unknown identifier '{node.name}'", node.pos, IDENT_HINT)
            if f.type not in FIELD_TYPES:
                raise error(f"identifier '{node.name}' has unsupported type '{f.type}'", node.pos)
            self.out.fields[node.name] = f
            return f.type
        if isinstance(node, Unary):
            self._numeric(node.operand, f"operator '{node.op}'")
            return "number" if node.op == "-" else "boolean"
        if isinstance(node, Binary):
            if node.op in LOGIC:
                self._numeric(node.left, f"operator '{node.op}'")
                self._numeric(node.right, f"operator '{node.op}'")
                return "boolean"
            lt, rt = _kind(self.infer(node.left)), _kind(self.infer(node.right))
            for side, t in ((node.left, lt), (node.right, rt)):
                if t == "timestamp":
                    raise error("a timestamp can only be used inside days_since() or coalesce()", side.pos)
            if node.op in ARITH:
                if lt == rt == "number":
                    return "number"
                if node.op == "+" and lt == rt == "text":
                    return "text"
                hint = "use concat() to join text" if node.op == "+" else None
                raise error(f"operator '{node.op}' expects two numbers{' or two texts' if node.op == '+' else ''}, got {lt} and {rt}", node.pos, hint)
            if lt != rt:
                raise error(f"operator '{node.op}' expects two numbers or two texts, got {lt} and {rt}", node.pos)
            self._known_value(node.left, node.right)
            self._known_value(node.right, node.left)
            return "boolean"
        if isinstance(node, Ternary):
            self._numeric(node.cond, "the ternary condition")
            tt, et = _kind(self.infer(node.then)), _kind(self.infer(node.else_))
            for side, t in ((node.then, tt), (node.else_, et)):
                if t not in ("number", "text"):
                    raise error(f"ternary branches must be numbers or texts, got {t}", side.pos)
            if tt != et:
                raise error(f"ternary branches must have the same type, got {tt} and {et}", node.pos)
            return tt
        if isinstance(node, Call):
            spec = FUNCTIONS.get(node.name)
            if spec is None:
                raise error(f"unknown function '{node.name}'", node.pos, "known: " + ", ".join(sorted(FUNCTIONS)))
            n = len(node.args)
            if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
                if spec.max_args is None:
                    want = f"at least {spec.min_args}"
                elif spec.min_args == spec.max_args:
                    want = f"exactly {spec.min_args}"
                else:
                    want = f"{spec.min_args} to {spec.max_args}"
                raise error(f"{node.name}() takes {want} argument{'s' if want != 'exactly 1' else ''}, got {n}", node.pos)
            types = [self.infer(a) for a in node.args]
            return spec.result(types, node.args)
        raise TypeError(node)


def check_node(node: Node, resolver: Resolver) -> Typed:
    """Type-check a tree; raises FormulaError. The root must be number/boolean/text."""
    c = _Checker(resolver)
    c.out.root = node
    t = c.infer(node)
    if t == "timestamp":
        raise error("a formula must produce a number or text, not a timestamp", node.pos, "use days_since()")
    return c.out


def result_type(typed: Typed, node: Node) -> str:
    """'number' or 'text' (booleans are reported as numbers)."""
    return _kind(typed.type(node))
