"""Formulas in a flow: what `customer.x`, `offer.x`, `metrics.x` and bare names mean, and errors with locations."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlglot import exp

from ..errors import ConfigError, Location
from ..formula import Field, FormulaError, parse_formula
from .metrics import counts_as_zero
from ..config.base import IDENTIFIER
from ..dialect import run_attribute
from .context import ATTRIBUTES_PREFIX, OFFER_COLUMNS, OFFER_FIELD_PREFIX, FlowContext, col
from .lifecycle import NO_ORDERS, STAGES, lifecycle_stage, reads_stage

# Metric dimensions a candidate row can pick a value of (a customer x offer x channel row has no
# creative or outcome to pick one by).
READABLE_DIMENSIONS = ("offer",)


class _Unreadable(Exception):
    """An identifier that names something a formula cannot read; reported at the formula's location."""


def customer_value(ctx: FlowContext, name: str) -> Field | None:
    enriched = ctx.fields.get(name)
    if enriched is None and reads_stage(ctx, name):  # S9: the stage, from the orders
        if ctx.project.orders is None:
            raise _Unreadable(NO_ORDERS)
        return Field("text", lifecycle_stage(ctx.features), STAGES)
    if enriched is None:
        return None
    kind = enriched.field.kind
    sql = col(enriched.column)
    return Field(kind, exp.cast(sql, "DOUBLE") if kind == "number" else sql)


def offer_value(ctx: FlowContext, name: str) -> Field | None:
    if name in OFFER_COLUMNS:
        column, kind = OFFER_COLUMNS[name]
    elif name in ctx.offer_custom_fields:
        column, kind = OFFER_FIELD_PREFIX + name, ctx.offer_custom_fields[name]
    else:
        return None
    sql = col(column)
    return Field(kind, exp.cast(sql, "DOUBLE") if kind == "number" else sql)


def metric_number(ctx: FlowContext, ref: str) -> Field:
    """`metrics.<id or name>`: the behavioral metric for the candidate's customer (and offer), joined by the flow."""
    metric = ctx.project.find("behavioralMetrics", ref)
    if metric is None:
        known = ", ".join(repr(m.ref) for m in ctx.project.all("behavioralMetrics")[:20]) or "none are defined"
        raise _Unreadable(f"'metrics.{ref}' names no behavioral metric; expected one of: {known}")
    other = [d for d in metric.dimensions if d not in READABLE_DIMENSIONS]
    if other:
        raise _Unreadable(f"'metrics.{ref}': metric {metric.name!r} has dimension(s) {', '.join(other)}, which a "
                          "candidate row cannot pick; formulas read metrics with no dimension or the 'offer' dimension")
    value = ctx.features.metric(metric)
    if counts_as_zero(metric):
        value = exp.func("COALESCE", value, exp.Literal.number(0))
    return Field("number", exp.cast(value, "DOUBLE"))


def attribute_text(name: str) -> Field | None:
    """`attributes.<name>`: the run attribute (the dbt var `attributes`), as text; NULL when the run has none
    of that name. The value reaches SQL only as hex (macros/run_attributes.sql), decoded by the engine."""
    if not IDENTIFIER.match(name) or len(name) > 63:
        return None
    return Field("text", run_attribute(name))


def resolver(ctx: FlowContext, bare: Mapping[str, Field] | None = None) -> Callable[[str], Field | None]:
    """Identifier -> Field for formulas evaluated on a candidate row."""

    def resolve(ident: str) -> Field | None:
        if ident.startswith("customer."):
            return customer_value(ctx, ident[len("customer."):])
        if ident.startswith("offer."):
            return offer_value(ctx, ident[len("offer."):])
        if ident.startswith("metrics."):
            return metric_number(ctx, ident[len("metrics."):])
        if ident.startswith(ATTRIBUTES_PREFIX):
            return attribute_text(ident[len(ATTRIBUTES_PREFIX):])
        if "." not in ident and bare is not None:
            return bare.get(ident)
        return None

    return resolve


def compile_formula(text: str, where: Location, resolve: Callable[[str], Field | None]) -> tuple[exp.Expression, str]:
    """(engine-neutral SQL, output type) of a formula, or a ConfigError at `where` naming the column."""
    try:
        formula = parse_formula(text)
        kind = formula.check(resolve)
        return formula.to_sql(resolve, col("as_of")), kind
    except (FormulaError, _Unreadable) as exc:
        raise ConfigError(where, f"formula {text!r}: {exc}") from None


def check_output_type(kind: str, declared: str | None, where: Location) -> str:
    """A formula's type against its declared `outputType` (none declared: any type)."""
    if declared is not None and kind != declared:
        raise ConfigError(where, f"formula gives a {kind} but outputType is {declared!r}")
    return kind
