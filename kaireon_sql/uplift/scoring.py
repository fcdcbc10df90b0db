"""A fitted uplift model as one SELECT over a feature relation (sqlglot tree, any engine).

  SELECT <keep>, p_with_offer, p_without_offer, uplift, segment, top_features FROM <relation>

built as five nested SELECTs so no sub-expression is written twice:
  encoded      z_j = (x - mean) / scale per encoded column (a NULL, NaN or +-inf number -> 0; text -> indicators)
  linear       the heads' linear predictors (a forest's: its tree sums, trees.ensemble_sql), and one
               contribution per source feature
  probability  sigmoid of the clamped predictors (a forest's sums as they are); |contribution| rounded
  explained    uplift; each feature's 'name:+0.12' text and its rank among the features
  scored       segment; the top k texts joined by ', '

Each step mirrors `UpliftModel.predict` operation for operation (same order of additions, the same
clamp, the same rounding), so the SQL gives the Python model's doubles to within rounding noise.
"""
from __future__ import annotations

from sqlglot import exp

from ..dialect import cast_text, finite_or_null, relation
from .dataset import UpliftDataError
from ..trees import ensemble_sql
from .encoding import EncodedColumn
from .forest import TreeHead
from .logistic import ETA_LIMIT, LinearHead
from .model import UpliftModel
from .segments import SEGMENTS, SHOWN_MAX

OUTPUT_COLUMNS = ("p_with_offer", "p_without_offer", "uplift", "segment", "top_features")
_PREFIX = "kaireon_uplift_"


def _num(value: float) -> exp.Expression:
    """A double literal that round-trips exactly (repr), typed DOUBLE on every engine."""
    return exp.cast(exp.Literal.number(repr(float(value))), "DOUBLE")


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _text(value: str) -> exp.Expression:
    return exp.Literal.string(value)


def _concat(*parts: exp.Expression) -> exp.Expression:
    out = parts[0]
    for part in parts[1:]:
        out = exp.DPipe(this=out, expression=part, safe=True)
    return out


def _clamp(value: exp.Expression, low: float, high: float) -> exp.Expression:
    return (exp.case().when(exp.GT(this=value, expression=_num(high)), _num(high))
            .when(exp.LT(this=value, expression=_num(low)), _num(low)).else_(value.copy()))


def _sigmoid(eta: exp.Expression) -> exp.Expression:
    neg = exp.Neg(this=exp.paren(_clamp(eta, -ETA_LIMIT, ETA_LIMIT)))
    return exp.Div(this=_num(1.0), expression=exp.paren(exp.Add(this=_num(1.0), expression=exp.Exp(this=neg))))


def _raw(column: EncodedColumn) -> exp.Expression:
    x = _col(column.source)
    if column.kind == "level":
        same = exp.EQ(this=cast_text(x), expression=_text(column.level))
        return exp.case().when(same, _num(1.0)).else_(_num(0.0))
    if column.kind == "boolean":
        return exp.case().when(x, _num(1.0)).when(exp.not_(x.copy()), _num(0.0)).else_(exp.null())
    number = finite_or_null(exp.cast(x, "DOUBLE"))  # NaN and +-inf are missing values, as NULL is
    if column.transform == "log1p":  # NULL outside the domain (then encoded 0), as in Python
        inside = exp.GT(this=number, expression=_num(-1.0))
        return exp.case().when(inside, exp.Ln(this=exp.Add(this=_num(1.0), expression=number.copy()))).else_(exp.null())
    return number


def _encoded(column: EncodedColumn) -> exp.Expression:
    centred = exp.Sub(this=_raw(column), expression=_num(column.mean))
    z = exp.Div(this=exp.paren(centred), expression=_num(column.scale))
    return exp.func("COALESCE", z, _num(0.0))


def _linear(head: LinearHead | TreeHead, z_names: list[str]) -> exp.Expression:
    """A linear head's predictor, or a tree head's probability (its trees summed in order, trees.py)."""
    if isinstance(head, TreeHead):
        return ensemble_sql(head.trees, [_col(name) for name in z_names])
    out: exp.Expression = _num(head.intercept)
    for c, name in zip(head.coef, z_names):
        out = exp.Add(this=out, expression=exp.Mul(this=_num(c), expression=_col(name)))
    return out


def _hundredths_text(scaled: exp.Expression, contribution: exp.Expression) -> exp.Expression:
    """'+0.12' from scaled = FLOOR(|c| * 100 + 0.5), as segments.signed_hundredths."""
    whole = exp.Floor(this=exp.Div(this=scaled, expression=_num(100.0)))
    frac = exp.Sub(this=scaled.copy(), expression=exp.Mul(this=_num(100.0), expression=whole.copy()))
    negative = exp.and_(exp.LT(this=contribution, expression=_num(0.0)), exp.GT(this=scaled.copy(), expression=_num(0.0)))
    sign = exp.case().when(negative, _text("-")).else_(_text("+"))
    pad = exp.case().when(exp.LT(this=frac.copy(), expression=_num(10.0)), _text("0")).else_(_text(""))
    return _concat(sign, cast_text(exp.cast(whole, "BIGINT")), _text("."), pad,
                   cast_text(exp.cast(frac, "BIGINT")))


def model_sql(model: UpliftModel, source: str | exp.Expression, keep: tuple[str, ...] = ("customer_id",)
              ) -> exp.Select:
    """The scoring SELECT of `model` over `source` (a dbt relation name / source('s', 't'), or a
    sqlglot FROM item), passing the `keep` columns through. `source` must have the model's feature
    columns (`model.features`)."""
    table = relation(source) if isinstance(source, str) else source
    clash = [k for k in keep if k in OUTPUT_COLUMNS or k.startswith(_PREFIX)]
    if clash:
        raise UpliftDataError(f"kept column(s) {clash} collide with the scoring output columns")
    kept = [_col(k) for k in keep]
    z = [f"{_PREFIX}z{j}" for j in range(len(model.encoding.columns))]
    features = model.features

    encoded = exp.select(*kept, *(exp.alias_(_encoded(c), n, quoted=True)
                                  for c, n in zip(model.encoding.columns, z))).from_(exp.alias_(table, "features", table=True))

    # linear predictors, and per-feature contributions summed in encoding order
    linear_cols = [exp.alias_(_linear(model.with_offer, z), f"{_PREFIX}eta_with", quoted=True),
                   exp.alias_(_linear(model.without_offer, z), f"{_PREFIX}eta_without", quoted=True)]
    if model.uplift_head is not None:
        linear_cols.append(exp.alias_(_linear(model.uplift_head, z), f"{_PREFIX}eta_uplift", quoted=True))
    sums: dict[str, exp.Expression] = {}
    for col, c, name in zip(model.encoding.columns, model.explain.coef, z):
        term = exp.Mul(this=_num(c), expression=_col(name))
        sums[col.source] = exp.Add(this=sums[col.source], expression=term) if col.source in sums else term
    contrib = [f"{_PREFIX}c{f}" for f in range(len(features))]
    linear_cols += [exp.alias_(sums[f], n, quoted=True) for f, n in zip(features, contrib)]
    linear = _sub(kept, linear_cols, encoded, "encoded")

    scaled = [f"{_PREFIX}s{f}" for f in range(len(features))]
    prob_cols = [exp.alias_(_probability(model.with_offer, _col(f"{_PREFIX}eta_with")), "p_with_offer", quoted=True),
                 exp.alias_(_probability(model.without_offer, _col(f"{_PREFIX}eta_without")), "p_without_offer",
                            quoted=True)]
    if model.uplift_kind == "linear":
        prob_cols.append(exp.alias_(_clamp(_col(f"{_PREFIX}eta_uplift"), -1.0, 1.0), f"{_PREFIX}u", quoted=True))
    elif model.uplift_kind == "class_transformation":
        doubled = exp.Mul(this=_num(2.0), expression=_sigmoid(_col(f"{_PREFIX}eta_uplift")))
        prob_cols.append(exp.alias_(exp.Sub(this=doubled, expression=_num(1.0)), f"{_PREFIX}u", quoted=True))
    for c, s in zip(contrib, scaled):
        half_up = exp.Add(this=exp.Mul(this=exp.Abs(this=_col(c)), expression=_num(100.0)), expression=_num(0.5))
        # capped as segments.signed_hundredths (SHOWN_MAX is whole, so capping before FLOOR is the same), so
        # neither Spark's BIGINT FLOOR nor the casts of the text can overflow
        rounded = exp.case().when(exp.GT(this=half_up, expression=_num(SHOWN_MAX)), _num(SHOWN_MAX)).else_(
            exp.Floor(this=half_up.copy()))
        prob_cols += [_col(c), exp.alias_(rounded, s, quoted=True)]
    probability = _sub(kept, prob_cols, linear, "linear")

    if model.uplift_kind == "difference":
        uplift = exp.Sub(this=_col("p_with_offer"), expression=_col("p_without_offer"))
    else:
        uplift = _col(f"{_PREFIX}u")
    items = [f"{_PREFIX}t{f}" for f in range(len(features))]
    ranks = [f"{_PREFIX}r{f}" for f in range(len(features))]
    explained_cols = [_col("p_with_offer"), _col("p_without_offer"), exp.alias_(uplift, "uplift", quoted=True)]
    for f, name in enumerate(features):
        text = _concat(_text(name + ":"), _hundredths_text(_col(scaled[f]), _col(contrib[f])))
        explained_cols += [exp.alias_(text, items[f], quoted=True), exp.alias_(_rank(f, contrib), ranks[f], quoted=True)]
    explained = _sub(kept, explained_cols, probability, "probability")

    positions = []
    for p in range(min(model.top_k, len(features))):
        case = exp.case()
        for item, rank in zip(items, ranks):
            case = case.when(exp.EQ(this=_col(rank), expression=exp.Literal.number(p)), _col(item))
        positions.append(case)
    top = _concat(*[x for i, pos in enumerate(positions) for x in ((_text(", "), pos) if i else (pos,))]) \
        if positions else _text("")
    th = model.thresholds
    u, p_with, p_without = _col("uplift"), _col("p_with_offer"), _col("p_without_offer")
    low = exp.LT(this=u.copy(), expression=_num(th.exclude_uplift))
    segment = (exp.case()
               .when(exp.GTE(this=u.copy(), expression=_num(th.target_uplift)), _text(SEGMENTS[0]))
               .when(exp.LT(this=u.copy(), expression=_num(0.0)), _text(SEGMENTS[1]))
               .when(exp.and_(low.copy(), exp.GTE(this=p_without.copy(), expression=_num(th.sure_thing_p_without))),
                     _text(SEGMENTS[2]))
               .when(exp.and_(low.copy(), exp.LT(this=p_with.copy(), expression=_num(th.lost_cause_p_with))),
                     _text(SEGMENTS[3]))
               .else_(_text(SEGMENTS[4])))
    scored_cols = [p_with, p_without, u, exp.alias_(segment, "segment", quoted=True),
                   exp.alias_(top, "top_features", quoted=True)]
    return _sub(kept, scored_cols, explained, "explained")


def _probability(head: LinearHead | TreeHead, predictor: exp.Expression) -> exp.Expression:
    """sigmoid of a linear head's predictor; a tree head's column is already the probability."""
    return predictor if isinstance(head, TreeHead) else _sigmoid(predictor)


def _sub(kept, columns, inner: exp.Select, alias: str) -> exp.Select:
    source = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
    return exp.select(*[k.copy() for k in kept], *columns).from_(source)


def _rank(f: int, contrib: list[str]) -> exp.Expression:
    """How many features come before feature f: larger |contribution|, or equal and listed earlier."""
    if len(contrib) == 1:
        return exp.Literal.number(0)
    mine = exp.Abs(this=_col(contrib[f]))
    total: exp.Expression | None = None
    for g, other in enumerate(contrib):
        if g == f:
            continue
        theirs = exp.Abs(this=_col(other))
        before = exp.GTE(this=theirs, expression=mine.copy()) if g < f else exp.GT(this=theirs, expression=mine.copy())
        term = exp.case().when(before, exp.Literal.number(1)).else_(exp.Literal.number(0))
        total = term if total is None else exp.Add(this=total, expression=term)
    return total


def required_columns(model: UpliftModel) -> list[str]:
    """The feature columns the scoring SELECT reads from its source relation."""
    return list(model.features)


def check_columns(model: UpliftModel, available: list[str], where: str = "the feature relation") -> None:
    """An error naming the model's features that `available` lacks (scoring-time check)."""
    missing = [f for f in model.features if f not in available]
    if missing:
        raise UpliftDataError(f"{where} lacks feature column(s) {', '.join(map(repr, missing))} that the model "
                              f"was fitted on; it has: {', '.join(available)}")
