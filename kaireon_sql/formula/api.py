"""Public entry points: parse_formula() and Formula."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlglot import exp

from .evaluate import evaluate_node
from .nodes import Ident, Node, children
from .parser import parse
from .sql import compile_node
from .types import Field, Resolver, check_node, result_type


class Formula:
    """A parsed formula. Cheap to keep; checking/compiling needs a resolver."""

    def __init__(self, text: str, tree: Node):
        self.text = text
        self.tree = tree

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"

    def identifiers(self) -> list[str]:
        """Identifiers in order of first appearance."""
        seen: dict[str, None] = {}
        stack = [self.tree]
        while stack:
            n = stack.pop()
            if isinstance(n, Ident):
                seen.setdefault(n.name)
            stack.extend(reversed(children(n)))
        return list(seen)

    def check(self, resolver: Resolver) -> str:
        """Type-check; returns 'number' or 'text'. Raises FormulaError."""
        return result_type(check_node(self.tree, resolver), self.tree)

    def to_sql(self, resolver: Resolver, as_of: exp.Expression) -> exp.Expression:
        """Check, then compile to an engine-neutral sqlglot expression (DOUBLE or text); dialect.render writes it."""
        typed = check_node(self.tree, resolver)
        return compile_node(self.tree, typed, as_of)

    def evaluate(self, values: Mapping[str, Any], types: Mapping[str, str], as_of: datetime) -> float | str | None:
        """Reference evaluation of one row; ``types`` maps identifier -> field type."""

        def resolver(name: str) -> Field | None:
            t = types.get(name)
            return None if t is None else Field(t, exp.column(name))

        typed = check_node(self.tree, resolver)
        return evaluate_node(self.tree, typed, values, as_of)


def parse_formula(text: str) -> Formula:
    """Parse formula text; raises FormulaError (with position) on syntax errors."""
    return Formula(text, parse(text))
