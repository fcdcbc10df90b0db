"""Compute transforms, planned: each transform is a formula tree over the value it rewrites (config/transforms.py).

The tree reads the value as the bare name `value` and is type-checked and compiled by the formula
engine, so S5's rules (round half away from zero, NULL propagation, a NULL condition taking the else
branch) hold on every engine.
"""
from __future__ import annotations

from sqlglot import exp

from ..config.transforms import ClampTransform, DefaultTransform, LookupTransform, RoundTransform
from ..errors import ConfigError, Location
from ..formula import Field, FormulaError
from ..formula.api import Formula
from ..formula.nodes import Binary, Call, Ident, Node, Num, Str, Ternary
from ..dialect import bind
from .context import col

VALUE = Ident("value")


def _scalar(value) -> Node:
    return Str(value) if isinstance(value, str) else Num(float(value))


def _key(key: str, kind: str, where: Location) -> Node:
    """A lookup key as the value's type: a number key must read as a number."""
    if kind != "number":
        return Str(key)
    try:
        return Num(float(key))
    except ValueError:
        raise ConfigError(where, f"key {key!r} is not a number, but the field is a number") from None


def _round(t: RoundTransform, kind: str, where: Location) -> Node:
    return Call("round", (VALUE, Num(float(t.digits))))


def _clamp(t: ClampTransform, kind: str, where: Location) -> Node:
    """min(max(value, min), max): one read of the value (the SQL of a chain of transforms stays small);
    apply_transform keeps a NULL value NULL (min and max skip NULL arguments, S5)."""
    tree: Node = VALUE
    if t.min is not None:
        tree = Call("max", (tree, Num(t.min)))
    if t.max is not None:
        tree = Call("min", (tree, Num(t.max)))
    return tree


def _default(t: DefaultTransform, kind: str, where: Location) -> Node:
    return Call("coalesce", (VALUE, _scalar(t.value)))


def _lookup(t: LookupTransform, kind: str, where: Location) -> Node:
    tree: Node = VALUE if t.default is None else _scalar(t.default)
    for key, mapped in reversed(list(t.mapping.items())):
        tree = Ternary(Binary("==", VALUE, _key(key, kind, where.at(f"mapping.{key}"))), _scalar(mapped), tree)
    return tree


TREES = {RoundTransform: _round, ClampTransform: _clamp, DefaultTransform: _default, LookupTransform: _lookup}


def apply_transform(transform, value: Field, where: Location) -> Field:
    """`value` rewritten by `transform`, or a ConfigError at `where` (the transform) saying why.

    The value is bound once (dialect.bind): a transform reads it several times (round, clamp's NULL
    check, each lookup key), and a chain of transforms would otherwise repeat the SQL of its input."""
    tree = TREES[type(transform)](transform, value.type if value.type != "boolean" else "number", where)
    formula = Formula(f"{transform.type} transform", tree)
    try:
        kind = formula.check({"value": value}.get)
    except FormulaError as exc:
        raise ConfigError(where, f"{transform.type} transform of {transform.field!r} (a {value.type}): "
                                 f"{exc}") from None

    def body(refs: list[exp.Expression]) -> exp.Expression:
        resolve = {"value": Field(value.type, refs[0])}.get
        sql = formula.to_sql(resolve, col("as_of"))
        if isinstance(transform, ClampTransform):  # NULL stays NULL
            sql = exp.case().when(exp.Is(this=refs[0].copy(), expression=exp.null()), exp.null()).else_(sql)
        return sql

    return Field(kind, bind([value.sql], body))


def transformed(pairs: dict[str, Field], transforms: list[tuple[object, Location]]) -> dict[str, Field]:
    """The personalization values with every transform applied, in order, to the fields it names."""
    out = dict(pairs)
    for transform, where in transforms:
        if transform.field in out:
            out[transform.field] = apply_transform(transform, out[transform.field], where)
    return out


def unknown_field(transform, names: set[str], where: Location) -> ConfigError | None:
    """An error when no category's computed field nor extra is called `transform.field`."""
    if transform.field in names:
        return None
    known = ", ".join(sorted(names)[:20]) or "none"
    return ConfigError(where.at("field"), f"transform names {transform.field!r}, which is no computed field of the "
                                          f"offers' categories nor an extra of this compute node; expected one of: "
                                          f"{known}")

