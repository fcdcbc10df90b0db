"""The 13 comparison operators shared by attribute rules and filter nodes, as SQL predicates."""
from __future__ import annotations

from typing import Any

from sqlglot import exp

from ..dialect import regex_match
from ..errors import ConfigError, Location
from ..regex import RegexError
from ..regex import describe as refusal
from .context import lit

SYMBOLS = {"eq": "=", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
COMPARISONS = {"eq": exp.EQ, "neq": exp.NEQ, "gt": exp.GT, "gte": exp.GTE, "lt": exp.LT, "lte": exp.LTE}


def _operand(value: Any, kind: str, where: Location) -> exp.Expression:
    """A config value as a literal of the attribute's type, or a precise error."""
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(where, f"expected a number for a numeric attribute, got {value!r}")
        return lit(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ConfigError(where, f"expected true or false for a boolean attribute, got {value!r}")
        return lit(value)
    if kind == "text":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(where, f"expected a string for a text attribute, got {value!r}")
        return lit(str(value))
    raise ConfigError(where, f"attributes of type {kind!r} cannot be compared; use a formula with days_since()")


def compare(attr: exp.Expression, kind: str, operator: str, value: Any, where: Location) -> exp.Expression:
    """The comparison itself, for a non-NULL attribute (NULL handling is `predicate`'s job)."""
    if operator in COMPARISONS:
        if kind == "boolean" and operator not in ("eq", "neq"):
            raise ConfigError(where, f"operator {operator!r} does not apply to a boolean attribute; use eq or neq")
        return COMPARISONS[operator](this=attr, expression=_operand(value, kind, where))
    if operator in ("in", "not_in"):
        items = [_operand(v, kind, where) for v in value]
        test = exp.In(this=attr, expressions=items)
        return test if operator == "in" else exp.not_(test)
    if operator in ("contains", "starts_with", "regex"):
        if kind != "text":
            raise ConfigError(where, f"operator {operator!r} needs a text attribute, not a {kind} one")
        pattern = exp.Literal.string(value)
        if operator == "contains":
            return exp.GT(this=exp.StrPosition(this=attr, substr=pattern), expression=exp.Literal.number(0))
        if operator == "starts_with":
            return exp.StartsWith(this=attr, expression=pattern)
        try:
            return regex_match(attr, value)
        except RegexError as exc:
            raise ConfigError(where, refusal(value, exc)) from None
    raise ConfigError(where, f"unknown operator {operator!r}")


def predicate(attr: exp.Expression, kind: str, operator: str, value: Any, missing: str, where: Location) -> exp.Expression:
    """TRUE when the condition holds, FALSE otherwise; never NULL.

    A NULL attribute fails unless `missing` is 'pass' (S5); exists/not_exists test NULL itself.
    """
    if operator == "exists":
        return exp.not_(exp.Is(this=attr, expression=exp.null()))
    if operator == "not_exists":
        return exp.Is(this=attr, expression=exp.null())
    test = compare(attr, kind, operator, value, where)
    return (
        exp.case()
        .when(exp.Is(this=attr, expression=exp.null()), exp.true() if missing == "pass" else exp.false())
        .else_(test)
    )


def describe(subject: str, operator: str, value: Any) -> str:
    """Human text of a condition, e.g. `customer.daysSinceLastPurchase >= 90`."""
    if operator == "exists":
        return f"{subject} must be present"
    if operator == "not_exists":
        return f"{subject} must be absent"
    if isinstance(value, list):
        shown = "[" + ", ".join(_show(v) for v in value) + "]"
    else:
        shown = _show(value)
    words = {"in": "in", "not_in": "not in", "contains": "contains", "starts_with": "starts with", "regex": "matches"}
    return f"{subject} {SYMBOLS.get(operator) or words[operator]} {shown}"


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v) if isinstance(v, (int, float)) else repr(v)
