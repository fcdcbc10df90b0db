"""Render-time bodies of the number nodes for one engine: the formula engine's double arithmetic,
identical on every engine (README "Formulas (S5)"). dialect/render.py calls them with lowered operands.

A formula number is a finite double or NULL. Numeric inputs that are NaN or +-inf read as NULL
(`finite_or_null`); + - * / give the IEEE-754 double result (round to nearest even, gradual
underflow), NULL when it overflows; `%` is C's fmod, exactly; engines that raise on overflow or
underflow (PostgreSQL) get the same values from guards that never evaluate a raising operation.
"""
from __future__ import annotations

import hashlib
import math

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from .engines import Engine
from .relations import RELATION_TRANSFORMS


def grouped(e: exp.Expression) -> exp.Expression:
    """`e` in parentheses when it is an operator, so it stays one operand."""
    return exp.paren(e, copy=False) if isinstance(e, (exp.Binary, exp.Unary)) and not isinstance(e, exp.Paren) else e


MAX_DOUBLE = 1.7976931348623157e308


def _dbl(value: float) -> exp.Expression:
    """A DOUBLE literal that parses back to exactly `value` (finite)."""
    if value < 0 or (value == 0 and math.copysign(1.0, value) < 0):
        return exp.Neg(this=_dbl(-value))
    return exp.cast(exp.Literal.number(repr(float(value))), "double")


def known_number(e: exp.Expression) -> float | None:
    """The value of a DOUBLE literal as built by `_dbl` / the formula compiler (CAST(<number> AS DOUBLE),
    maybe negated), else None. Guards use it to decide at compile time what a literal operand needs, so
    that no raising operation on constants is left for an engine's planner to fold."""
    sign = 1.0
    while isinstance(e, (exp.Neg, exp.Paren)):
        if isinstance(e, exp.Neg):
            sign = -sign
        e = e.this
    if isinstance(e, exp.Cast) and isinstance(e.this, exp.Literal) and not e.this.is_string:
        try:
            return sign * float(e.this.this)
        except ValueError:
            return None
    return None


def _is_qualifier(node: exp.Expression) -> bool:
    return isinstance(node, exp.Identifier) and node.arg_key == "table" and isinstance(node.parent, exp.Column)


def _size(e: exp.Expression) -> int:
    """Nodes of `e` up to 41, a column's table qualifier not counted (see _key_sql)."""
    n = 0
    for node in e.walk():
        if _is_qualifier(node):
            continue
        n += 1
        if n > 40:
            break
    return n


def _unqualified_column_sql(gen, e: exp.Column) -> str:
    if e.args.get("table") is None:
        return gen.column_sql(e)
    return ".".join(gen.sql(part) for part in (e.args.get("catalog"), e.args.get("db"), e.this) if part)


_base = type(Dialect.get_or_raise(None))
_KEY_DIALECT = type("KaireonKey", (_base,), {"Generator": type("Generator", (_base.generator_class,), {
    "TRANSFORMS": {**_base.generator_class.TRANSFORMS, **RELATION_TRANSFORMS,  # a run attribute's subquery
                   exp.Column: _unqualified_column_sql}})})()


def _key_sql(v: exp.Expression) -> str:
    """The default SQL of `v` with columns' table qualifiers left out: a formula compiles with unqualified
    columns and stages qualify them afterwards (candidates.qualify_columns), so a bound value's name and
    size are those of the formula as compiled, whatever table its columns are read from later."""
    return _KEY_DIALECT.generate(v)


def let(values: list[exp.Expression], body, eng: Engine) -> exp.Expression:
    """`body(refs)` where each of `values` is computed once and read through `refs[i]` as often as needed.

    Small values (columns, literals, a cast) are simply repeated; others are bound by the engine's
    construct (`Engine.let`), so generated SQL grows linearly with the formula, whatever the nesting.
    A bound value is named after a digest of its SQL: deterministic, and two scopes only share a name
    when they bind the same value.
    """
    refs: list[exp.Expression] = []
    bound: dict[str, exp.Expression] = {}
    for v in values:
        if _size(v) <= 40:
            refs.append(v)
            continue
        name = "_k" + hashlib.md5(_key_sql(v).encode()).hexdigest()[:10]
        if eng.unquoted_case == "upper":  # the alias is written quoted, the reference (a Var) is not
            name = name.upper()
        bound.setdefault(name, v)
        # a Var, not a Column: code that collects or qualifies a model's columns leaves it alone
        refs.append(exp.var(name))
    out = body(refs)
    if not bound:
        return out
    if eng.let in ("subquery", "fenced_subquery"):
        inner = exp.select(*[exp.alias_(v, name) for name, v in bound.items()])
        if eng.let == "fenced_subquery":  # OFFSET 0: PostgreSQL does not inline (and so re-evaluate) the values
            inner = inner.offset(0)
        return exp.Subquery(this=exp.select(out).from_(inner.subquery("_l")))
    for name, v in reversed(list(bound.items())):
        lam = exp.Lambda(this=out, expressions=[exp.to_identifier(name)])
        fn = "LIST_TRANSFORM" if eng.let == "list_lambda" else "TRANSFORM"
        out = exp.Bracket(this=exp.func(fn, exp.Array(expressions=[v]), lam), expressions=[exp.Literal.number(0)])
    return out


def finite_or_null(x: exp.Expression) -> exp.Expression:
    """`x` when it is a finite number, else NULL (NaN and +-inf are missing values).

    ABS(x) <= MAX_DOUBLE is false for NaN whether the engine orders NaN above every number (DuckDB,
    PostgreSQL, Spark, Snowflake) or compares it unordered (IEEE: BigQuery, Trino), and false for +-inf.
    """
    test = exp.LTE(this=exp.Abs(this=x.copy()), expression=_dbl(MAX_DOUBLE))
    return exp.Case(ifs=[exp.If(this=test, true=x)])


def _case(branches: list[tuple[object, exp.Expression | None]]) -> exp.Expression:
    """CASE over (condition, value) pairs; a condition may be a Python bool (decided at compile time).
    A value None is NULL. The first True condition ends the CASE (it becomes the ELSE)."""
    ifs: list[exp.If] = []
    default: exp.Expression | None = None
    for cond, value in branches:
        if cond is False:
            continue
        value = value if value is not None else exp.cast(exp.null(), "double")
        if cond is True:
            default = value
            break
        ifs.append(exp.If(this=cond, true=value))
    if not ifs:
        return default if default is not None else exp.cast(exp.null(), "double")
    case = exp.Case(ifs=ifs)
    if default is not None:
        case.set("default", default)
    return case


def _cmp_abs(x: exp.Expression, cls: type, bound: float) -> object:
    """ABS(x) <op> bound, or the Python bool when x is a literal."""
    value = known_number(x)
    if value is not None:
        ops = {exp.LT: float.__lt__, exp.LTE: float.__le__, exp.GTE: float.__ge__, exp.GT: float.__gt__}
        return ops[cls](abs(value), bound)
    return cls(this=exp.Abs(this=x.copy()), expression=_dbl(bound))


def _and(*conds: object) -> object:
    if any(c is False for c in conds):
        return False
    rest = [c for c in conds if c is not True]
    return True if not rest else exp.and_(*[exp.paren(c) for c in rest])


def _op(cls: type, a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return cls(this=grouped(a.copy()), expression=grouped(b.copy()))


def _mul(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return _op(exp.Mul, a, b)


def _keep_finite(result: exp.Expression, eng: Engine) -> exp.Expression:
    """An IEEE result (maybe +-inf, never NaN: the operands are finite) as itself, or NULL when infinite."""
    return let([result], lambda r: finite_or_null(r[0]), eng)


def _no_overflow(op: str, a: exp.Expression, b: exp.Expression) -> bool:
    """True when the literal operand alone rules out overflow (no guard needed on non-raising engines)."""
    ka, kb = known_number(a), known_number(b)
    if op in ("+", "-"):
        return (ka is not None and abs(ka) < 1) or (kb is not None and abs(kb) < 1)
    if op == "*":
        return (ka is not None and abs(ka) <= 1) or (kb is not None and abs(kb) <= 1)
    return kb is not None and abs(kb) >= 1  # '/'


def arithmetic(op: str, a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """a <op> b for finite-or-NULL doubles (b non-zero for '/'): the IEEE result, NULL when it overflows."""
    cls = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "/": exp.Div}[op]
    if not eng.double_raises:
        plain = _op(cls, a, b)
        return plain if _no_overflow(op, a, b) else _keep_finite(plain, eng)
    guard = {"+": _guard_add, "-": _guard_add, "*": _guard_mul, "/": _guard_div}[op]
    return let([a, b], lambda r: guard(op, r[0], r[1], eng), eng)


def _p2(k: int) -> exp.Expression:
    return _dbl(math.ldexp(1.0, k))


def _guard_add(op: str, a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """a + b / a - b without raising: an operand below 1 cannot overflow the sum; otherwise halves are exact,
    and the sum overflows iff the rounded half-sum reaches 2^1023."""
    cls = exp.Add if op == "+" else exp.Sub
    plain = _op(cls, a, b)
    half = exp.Abs(this=_op(cls, _mul(a, _dbl(0.5)), _mul(b, _dbl(0.5))))
    return _case([(_cmp_abs(a, exp.LT, 1.0), plain), (_cmp_abs(b, exp.LT, 1.0), plain.copy()),
                  (exp.LT(this=half, expression=_p2(1023)), plain.copy()), (True, None)])


def _guard_mul(op: str, a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """a * b without raising.

    Both above 1: overflow iff (a 2^-512)(b 2^-512), both scalings exact, rounds to 1 or more. Both at
    most 1: PostgreSQL raises when the product rounds to zero, i.e. iff |ab| <= 2^-1075; decided exactly
    below (`_zero_product`), the product is 0 then.
    """
    plain = _mul(a, b)
    scaled = exp.Abs(this=_mul(_mul(a, _p2(-512)), _mul(b, _p2(-512))))
    both_small = _and(_cmp_abs(a, exp.LTE, 1.0), _cmp_abs(b, exp.LTE, 1.0))
    return _case([
        (both_small, _small_product(a, b, eng)),
        (_cmp_abs(a, exp.LTE, 1.0), plain),
        (_cmp_abs(b, exp.LTE, 1.0), plain.copy()),
        (exp.LT(this=scaled, expression=_dbl(1.0)), plain.copy()),
        (True, None),
    ])


def _small_product(a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """a * b for |a|, |b| <= 1 on an engine that raises when a product rounds to zero (PostgreSQL).

    Factors both at least 2^-537 give at least 2^-1074: computed. Otherwise, with a = Ma 2^ea and b = Mb 2^eb
    from the IEEE bits, the product rounds to zero iff Ma Mb <= 2^(-1075 - ea - eb) (ties go to the even
    zero), an exact NUMERIC integer comparison; the result is then 0.
    """
    plain = _mul(a, b)
    big = _and(_cmp_abs(a, exp.GTE, 2.0 ** -537), _cmp_abs(b, exp.GTE, 2.0 ** -537))
    if big is True:
        return plain

    def zero(r: list[exp.Expression]) -> exp.Expression:
        ma, ea = _mantissa_exponent(r[0])
        mb, eb = _mantissa_exponent(r[1])
        k = exp.Sub(this=exp.Sub(this=exp.Literal.number(-1075), expression=exp.paren(ea)), expression=exp.paren(eb))
        numeric = exp.DataType.build("DECIMAL")
        product = exp.Mul(this=exp.cast(ma, numeric), expression=exp.cast(mb, numeric))
        power = exp.Pow(this=exp.cast(exp.Literal.number(2), numeric), expression=exp.paren(k.copy()))
        return exp.case().when(exp.LT(this=k, expression=exp.Literal.number(0)), exp.false()).else_(
            exp.LTE(this=product, expression=power))

    test = let([_double_bits(a.copy()), _double_bits(b.copy())], zero, eng)
    return _case([(big, plain), (test, _dbl(0.0)), (True, plain.copy())])


def _mantissa_exponent(bits: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    """(M, e) with value = M 2^e, M an integer below 2^53, from the IEEE bits of a finite double (sign dropped)."""
    biased = exp.BitwiseAnd(this=exp.paren(exp.BitwiseRightShift(this=bits.copy(), expression=exp.Literal.number(52))),
                            expression=exp.Literal.number(2047))
    frac = exp.BitwiseAnd(this=bits.copy(), expression=exp.Literal.number(4503599627370495))
    hidden = exp.case().when(exp.GT(this=biased, expression=exp.Literal.number(0)),
                             exp.Literal.number(4503599627370496)).else_(exp.Literal.number(0))
    mantissa = exp.Add(this=exp.paren(frac), expression=hidden)
    expo = exp.Sub(this=exp.Greatest(this=biased.copy(), expressions=[exp.Literal.number(1)]),
                   expression=exp.Literal.number(1075))
    return mantissa, expo


def _guard_div(op: str, a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """a / b (b non-zero) without raising; each branch's scalings are exact and cannot raise themselves.

    Every branch states the bounds its operations rely on, so that with a literal operand the branches it
    cannot take are dropped at compile time (PostgreSQL's planner folds constant operations in any branch).
    """
    plain = _op(exp.Div, a, b)
    b_big = _cmp_abs(b, exp.GTE, 1.0)
    # |b| >= 1: no overflow; zero iff |a| 2^1075 <= |b| (only possible for |a| < 2^-51)
    zero = exp.LTE(this=_mul(_mul(exp.Abs(this=a.copy()), _p2(538)), _p2(537)), expression=exp.Abs(this=b.copy()))
    # |b| < 1: no zero; overflow iff the rounded quotient at a scale where it is normal reaches the threshold
    mid = exp.Abs(this=_op(exp.Div, a, _mul(b, _p2(500))))
    high = exp.Abs(this=_op(exp.Div, _mul(_mul(a, _p2(-550)), _p2(-550)), b))
    return _case([
        (_and(b_big, _cmp_abs(a, exp.GTE, 2.0 ** -51)), plain),
        (_and(b_big, _cmp_abs(a, exp.LT, 2.0 ** -51)), _case([(zero, _dbl(0.0)), (True, plain.copy())])),
        (b_big, plain.copy()),  # only reached by NULLs
        (_cmp_abs(a, exp.LTE, 2.0 ** -100), plain.copy()),
        (_cmp_abs(a, exp.LT, 2.0 ** 78), _case([(exp.LT(this=mid, expression=_p2(524)), plain.copy()), (True, None)])),
        (exp.LT(this=high, expression=_p2(-76)), plain.copy()),
        (True, None),
    ])


def _double_bits(x: exp.Expression) -> exp.Expression:
    """PostgreSQL: the IEEE-754 bits of a float8 as a BIGINT (FLOAT8SEND gives them big-endian)."""
    hex_text = exp.DPipe(this=exp.Literal.string("x"),
                         expression=exp.func("ENCODE", exp.func("FLOAT8SEND", x), exp.Literal.string("hex")))
    return exp.cast(exp.cast(hex_text, exp.DataType.build("BIT(64)", dialect="postgres")), "BIGINT")


def fmod(a: exp.Expression, b: exp.Expression, eng: Engine) -> exp.Expression:
    """Remainder of doubles with the sign of the dividend: C's fmod (Python's math.fmod), exactly.

    DuckDB's and Spark's `%` on doubles is fmod. PostgreSQL has no float8 `%`, and its float8 -> numeric
    cast keeps 15 digits; there, with a = Ma 2^ea and b = Mb 2^eb read from the IEEE bits (FLOAT8SEND),
    fmod = sign(a) * ((Ma * 2^(ea - eb)) mod Mb) * 2^eb in exact NUMERIC integer arithmetic (|a| >= |b|;
    else fmod = a); the integer remainder is below 2^53 and the final scaling by a power of two is exact.
    """
    if eng.double_mod == "operator":
        return exp.Mod(this=grouped(a), expression=grouped(b))
    if eng.double_mod == "trunc":  # transpiled only (BigQuery): not exact fmod for large quotients
        a, b = grouped(a), grouped(b)
        quotient = exp.func("TRUNC", exp.Div(this=a.copy(), expression=b.copy()))
        return exp.Sub(this=a, expression=exp.Mul(this=b, expression=quotient))

    def exact(r: list[exp.Expression]) -> exp.Expression:
        x, y, bx, by = r
        mx, ex = _mantissa_exponent(bx)
        my, ey = _mantissa_exponent(by)
        numeric = exp.DataType.build("DECIMAL")
        shifted = exp.Mul(this=exp.cast(mx, numeric),
                          expression=exp.Pow(this=exp.cast(exp.Literal.number(2), numeric), expression=exp.paren(
                              exp.Sub(this=exp.paren(ex), expression=exp.paren(ey.copy())))))
        rem = exp.Mod(this=shifted, expression=exp.cast(my, numeric))
        scale = exp.Pow(this=_dbl(2.0), expression=exp.paren(ey))
        value = exp.Mul(this=exp.Mul(this=exp.Sign(this=x), expression=exp.cast(exp.cast(exp.paren(rem), "BIGINT"), "double")),
                        expression=scale)
        return exp.case().when(exp.LT(this=exp.Abs(this=x.copy()), expression=exp.Abs(this=y)), x.copy()).else_(value)

    return let([a, b], lambda r: let([r[0], r[1], _double_bits(r[0].copy()), _double_bits(r[1].copy())], exact, eng), eng)


def integral(x: exp.Expression, fn: str, eng: Engine) -> exp.Expression:
    """FLOOR / CEIL / TRUNC of a finite double, as a double on every engine.

    Doubles of magnitude 2^52 or more are integers already; below that Spark's BIGINT FLOOR/CEIL is exact.
    """
    if fn == "trunc" and not eng.trunc_double:
        return let([x], lambda r: exp.case().when(exp.LT(this=r[0], expression=_dbl(0.0)), integral(r[0], "ceil", eng))
                   .else_(integral(r[0].copy(), "floor", eng)), eng)
    cls = {"floor": exp.Floor, "ceil": exp.Ceil, "trunc": exp.Trunc}[fn]
    if not eng.floor_bigint or fn == "trunc":
        return cls(this=x)
    return let([x], lambda r: exp.case().when(exp.GTE(this=exp.Abs(this=r[0]), expression=_p2(52)), r[0].copy())
               .else_(exp.cast(cls(this=r[0].copy()), "double")), eng)


def round_half_away(x: exp.Expression, eng: Engine) -> exp.Expression:
    """x rounded to an integer, halves away from zero, exactly: t = trunc(x); t + sign(x) when |x - t| >= 0.5.

    x - t is exact for every double, so round(0.49999999999999994) = 0 and round(2.5) = 3."""
    def body(r: list[exp.Expression]) -> exp.Expression:
        v, t = r
        frac = exp.Abs(this=exp.Sub(this=v, expression=t))
        return exp.case().when(exp.GTE(this=frac, expression=_dbl(0.5)),
                               exp.Add(this=t.copy(), expression=exp.Sign(this=v.copy()))).else_(t.copy())

    return let([x], lambda r: let([r[0], integral(r[0].copy(), "trunc", eng)], body, eng), eng)


def round_digits(x: exp.Expression, n: int, eng: Engine) -> exp.Expression:
    """round(x, n): for n > 0, round_half_away(x * 10^n) / 10^n, x itself when |x| >= 2^52 (an integer);
    for n < 0, round_half_away(x / 10^-n) * 10^-n (NULL if that overflows), 0 when |x| < 2^-1000.
    Each step is one correctly rounded double operation, so every engine and the evaluator agree."""
    if n == 0:
        return round_half_away(x, eng)
    scale = _dbl(10.0 ** abs(n))

    def body(r: list[exp.Expression]) -> exp.Expression:
        v = r[0]
        if n > 0:
            rounded = exp.Div(this=exp.paren(round_half_away(exp.Mul(this=v, expression=scale), eng)),
                              expression=scale.copy())
            return exp.case().when(exp.GTE(this=exp.Abs(this=v.copy()), expression=_p2(52)), v.copy()).else_(rounded)
        whole = round_half_away(exp.Div(this=v, expression=scale), eng)
        rounded = arithmetic("*", whole, scale.copy(), eng)
        return exp.case().when(exp.LT(this=exp.Abs(this=v.copy()), expression=_p2(-1000)), _dbl(0.0)).else_(rounded)

    return let([x], body, eng)


def extreme(xs: list[exp.Expression], largest: bool, eng: Engine) -> exp.Expression:
    """GREATEST / LEAST skipping NULL arguments (NULL only when all are), linear in the argument count.

    Where LEAST/GREATEST return NULL on any NULL argument (BigQuery, Trino), each argument falls back
    to the first non-NULL one: COALESCE(x_i, COALESCE(x_1, .., x_n)).
    """
    cls = exp.Greatest if largest else exp.Least
    if len(xs) == 1:
        return xs[0]
    if eng.least_skips_null:
        return cls(this=xs[0], expressions=xs[1:], ignore_nulls=True)

    def body(r: list[exp.Expression]) -> exp.Expression:
        first = exp.Coalesce(this=r[0].copy(), expressions=[x.copy() for x in r[1:]])
        return let([first], lambda f: cls(this=exp.Coalesce(this=r[0].copy(), expressions=[f[0].copy()]), expressions=[
            exp.Coalesce(this=x.copy(), expressions=[f[0].copy()]) for x in r[1:]], ignore_nulls=True), eng)

    return let(xs, body, eng)
