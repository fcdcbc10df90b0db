"""The scorecard engine (S8): baseScore plus weighted terms over the candidate row, clipped to [0, 1].

A term is `weight * value` of its field (customer.x or offer.x, a number, compiled through the flow's
formula resolver), or with `bins`, `weight * points` of the first bin [min, max) holding the value (a
missing bound is open; a value in no bin scores 0). A NULL value contributes 0; a sum beyond the
largest double is NULL, which scores as the prior (PROPENSITY_PRIOR). Nothing is joined: the
score is computed on the candidate row (the customer `c` and offer `o` columns).
"""
from __future__ import annotations

from sqlglot import exp

from ..config.models import ScorecardBin, ScorecardConfig, ScorecardWeight
from ..dialect import arithmetic
from ..errors import ConfigError
from .context import CUSTOMER_PREFIX, OFFER_COLUMNS, OFFER_FIELD_PREFIX, lit
from .engine import EngineInput, EngineScore
from .formulas import compile_formula, resolver

_OFFER_COLUMNS = {column for column, _ in OFFER_COLUMNS.values()}


def _on_candidate_row(value: exp.Expression) -> exp.Expression:
    """Customer and offer columns qualified by `c` and `o` (other models' joins may hold an offer_id)."""
    for column in list(value.find_all(exp.Column)):
        if column.table:
            continue
        if column.name.startswith(CUSTOMER_PREFIX):
            column.set("table", exp.to_identifier("c", quoted=True))
        elif column.name in _OFFER_COLUMNS or column.name.startswith(OFFER_FIELD_PREFIX):
            column.set("table", exp.to_identifier("o", quoted=True))
    return value


def _in_bin(value: exp.Expression, b: ScorecardBin) -> exp.Expression:
    parts = []
    if b.min is not None:
        parts.append(exp.GTE(this=value.copy(), expression=lit(float(b.min))))
    if b.max is not None:
        parts.append(exp.LT(this=value.copy(), expression=lit(float(b.max))))
    return exp.and_(*parts) if parts else exp.not_(exp.Is(this=value.copy(), expression=exp.null()))


def _term(inp: EngineInput, i: int, weight: ScorecardWeight) -> exp.Expression:
    where = inp.model.location.at(f"config.weights[{i}].field")
    value, kind = compile_formula(weight.field, where, resolver(inp.ctx))
    if kind != "number":
        raise ConfigError(where, f"a scorecard field must be a number; {weight.field!r} is {kind}")
    value = _on_candidate_row(value)
    if weight.bins:
        case = exp.case()
        for b in weight.bins:
            case = case.when(_in_bin(value, b), lit(float(b.points)), copy=False)
        value = case.else_(lit(0.0), copy=False)
    return exp.func("COALESCE", arithmetic("*", lit(float(weight.weight)), value), lit(0.0))


def _clip01(value: exp.Expression) -> exp.Expression:
    return (exp.case().when(exp.LT(this=value, expression=lit(0.0)), lit(0.0))
            .when(exp.GT(this=value.copy(), expression=lit(1.0)), lit(1.0)).else_(value.copy()))


def scorecard_engine(inp: EngineInput) -> EngineScore:
    settings: ScorecardConfig = inp.model.settings  # type: ignore[assignment]
    total: exp.Expression = lit(float(settings.base_score))
    for i, weight in enumerate(settings.weights):
        total = arithmetic("+", total, _term(inp, i, weight))  # NULL (the prior) if it overflows
    return EngineScore((), _clip01(total))
