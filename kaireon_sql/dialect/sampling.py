"""Seeded random draws in SQL, engine-neutral: S7's hash uniforms and exact Beta draws (S8 thompson_bandit).

Every draw is a pure function of text `parts` (e.g. salt, run id, customer id, offer id), so a rerun gives
the same draws and any md5 reproduces them outside the warehouse (`beta_draw_reference` below does, to
the last few bits of a double). docs/sampling.md states the method, its exactness and its cost.

Uniforms. key = p0 || ':' || p1 || ... (each part as text, NULL read as ''); block 0 = md5(key), block m
(m >= 1) = md5(key || ':' || m), each 32 hex characters = four 8-hex slices; uniform i is slice i % 4 of
block i // 4 read as an integer h in 0 .. 2^32-1 and divided by 2^32 (`uniforms`), so uniform 0 is
S7's `hash_uniform(parts)`. The sampler reads each slice as the open uniform (h + 0.5) / 2^32, never 0
or 1, so no logarithm ever sees 0.

Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) by Marsaglia-Tsang (2000), exact rejection
sampling: for shape s >= 1, d = s - 1/3, c = 1 / sqrt(9 d), a standard normal z and a uniform u, the
attempt is accepted iff t = 1 + c z > 0 and ln u < z^2 / 2 + d (1 - v + ln v), v = t^3; the draw is
d v. A shape a < 1 draws Gamma(a + 1) * U^(1/a). Normals come from Box-Muller, two per pair of uniforms.
Block 0 serves the first attempt of both gammas (z_X = r cos(2 pi u1), z_Y = r sin(2 pi u1),
r = sqrt(-2 ln u0); u2 and u3 their acceptance uniforms); X retries from blocks 1-5 and Y from blocks
6-10, two attempts a block (z1 with u2, z2 with u3): ATTEMPTS = 11 attempts a gamma; if all reject
(chance below REJECT_ALL_BOUND = 3.4e-15 per gamma at the worst shape) the gamma is d = s - 1/3.
Block 11 holds the U of a shape below 1 (slice 0 for X, 1 for Y). Most rows (both first attempts
accepted: 90.6% at shapes (1, 1), over 99.9% at (300, 2000)) cost one md5; the others compute both
gammas again with their retries, each retry block's md5 only when the attempts before it rejected.
The ratio is taken in logs, D = ln X - ln Y, as 1 / (1 + e^-D), so no exp overflows or underflows
(|D| is capped at 700) and the draw lies in (0, 1) (capped at the largest double below 1).
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence

from sqlglot import exp

from . import nodes
from .builders import cast_double, cast_text, hex8_to_int, md5_hex

__all__ = ["ATTEMPTS", "REJECT_ALL_BOUND", "beta_draw", "beta_draw_reference", "bind", "gamma_draw",
           "gamma_draw_reference", "hash_key", "hash_uniform", "reference_log_gamma", "uniforms", "with_uniforms"]

TWO_32 = 4294967296
ATTEMPTS = 11  # Marsaglia-Tsang attempts per gamma draw: 1 from block 0, then two per retry block
X_BLOCKS = (1, 2, 3, 4, 5)
Y_BLOCKS = (6, 7, 8, 9, 10)
SMALL_BLOCK = 11  # slice 0: the U^(1/a) of X when a < 1; slice 1: that of Y when b < 1
# chance that all ATTEMPTS attempts reject, per gamma draw, at the worst shape (1; Gamma(a<1) draws shape
# a+1 > 1): the rejection rate at shape 1 is 0.0483322550 (numerical integration), 0.0483322550^11
REJECT_ALL_BOUND = 3.4e-15
TINY_SHAPE = 1e-300  # shapes below are read as this (ln(u)/a stays finite)
MAX_LOG_RATIO = 700.0  # |ln X - ln Y| is capped here: exp(+-700) neither overflows nor underflows
BELOW_ONE = 1.0 - 2.0 ** -53  # the largest double below 1
Expr = exp.Expression


def _d(value: float) -> Expr:
    """A double literal (never an engine's exact NUMERIC: 1/3 must be the double 1/3 everywhere)."""
    if value < 0:
        return exp.Neg(this=_d(-value))
    return cast_double(exp.Literal.number(repr(float(value))))


def _p(e: Expr) -> Expr:
    return exp.paren(e, copy=False) if isinstance(e, (exp.Binary, exp.Unary)) else e


def _op(cls: type, a: Expr, b: Expr) -> Expr:
    return cls(this=_p(a), expression=_p(b))


def _f(name: str, *args: Expr) -> Expr:
    return exp.func(name, *args)


def _copy(e: Expr) -> Expr:
    return e.copy()


# ---- keys, blocks and uniforms ------------------------------------------------------------------------

def hash_key(parts: Sequence[Expr]) -> Expr:
    """p0 || ':' || p1 || ..., each part as text with NULL read as '' (so a draw is never NULL)."""
    texts = [p.copy() if isinstance(p, exp.Literal) and p.is_string
             else exp.Coalesce(this=cast_text(p.copy()), expressions=[exp.Literal.string("")]) for p in parts]
    out = texts[0]
    for item in texts[1:]:
        out = exp.DPipe(this=exp.DPipe(this=out, expression=exp.Literal.string(":"), safe=False),
                        expression=item, safe=False)
    return out


def _block(parts: Sequence[Expr], m: int) -> Expr:
    """md5 hex of block m: md5(key) for m = 0, md5(key || ':' || m) after."""
    key = hash_key(parts)
    if m:
        key = exp.DPipe(this=key, expression=exp.Literal.string(f":{m}"), safe=False)
    return md5_hex(key)


def _slice(hex_text: Expr, j: int) -> Expr:
    """Slice j (0-3) of a 32-hex md5 as a double integer 0 .. 2^32-1."""
    part = exp.Substring(this=hex_text.copy(), start=exp.Literal.number(1 + 8 * j), length=exp.Literal.number(8))
    return cast_double(hex8_to_int(part))


def _open(hex_text: Expr, j: int) -> Expr:
    """(h + 0.5) / 2^32 of slice j: a uniform in (0, 1), exactly representable."""
    return _op(exp.Div, _op(exp.Add, _slice(hex_text, j), _d(0.5)), _d(TWO_32))


def hash_uniform(parts: Sequence[Expr]) -> Expr:
    """S7's hash_uniform: int(md5(p0 || ':' || p1 || ...)[:8], 16) / 4294967296, in [0, 1)."""
    return _op(exp.Div, _slice(_block(parts, 0), 0), _d(TWO_32))


def uniforms(parts: Sequence[Expr], count: int) -> list[Expr]:
    """Uniforms 0 .. count-1 of `parts` in [0, 1) (module docstring), each expression on its own: an engine
    without common-subexpression elimination computes one md5 per expression; `with_uniforms` binds them."""
    return [_op(exp.Div, _slice(_block(parts, i // 4), i % 4), _d(TWO_32)) for i in range(count)]


def bind(values: list[Expr], body: Callable[[list[Expr]], Expr]) -> Expr:
    """body(refs), each of `values` computed once and read through refs[i] (values of one type)."""
    name = "_b" + hashlib.md5("\x00".join(v.sql() for v in values).encode()).hexdigest()[:12]
    refs = [exp.var(f"{name}_{i}") for i in range(len(values))]
    return nodes.Bind(this=body(refs), expressions=values, name=exp.var(name))


def with_uniforms(parts: Sequence[Expr], count: int, body: Callable[[list[Expr]], Expr]) -> Expr:
    """body(refs) over uniforms 0 .. count-1 of `parts` (as `uniforms`), each md5 block computed once."""
    blocks = [_block(parts, m) for m in range((count + 3) // 4)]

    def over_blocks(hexes: list[Expr]) -> Expr:
        values = [_op(exp.Div, _slice(hexes[i // 4], i % 4), _d(TWO_32)) for i in range(count)]
        return bind(values, body)
    return _bind_each(blocks, [], over_blocks)


def _bind_each(values: list[Expr], refs: list[Expr], body: Callable[[list[Expr]], Expr]) -> Expr:
    if not values:
        return body(refs)
    return bind([values[0]], lambda r: _bind_each(values[1:], refs + r, body))


# ---- Gamma by Marsaglia-Tsang ------------------------------------------------------------------------

def _shape_d(a: Expr) -> Expr:
    """d = s - 1/3 of the shape s drawn by Marsaglia-Tsang: a, or a + 1 when a < 1."""
    s = exp.case().when(_op(exp.LT, a, _d(1.0)), _op(exp.Add, a.copy(), _d(1.0))).else_(a.copy())
    return _op(exp.Sub, s, _d(1.0 / 3.0))


def _shape_c(d: Expr) -> Expr:
    return _op(exp.Div, _d(1.0), _f("SQRT", _op(exp.Mul, _d(9.0), d)))


def _polar(hex_text: Expr) -> list[Expr]:
    """[r, theta, ln u2, ln u3] of one block: r = sqrt(-2 ln u0), theta = 2 pi u1 (Box-Muller: z1 = r cos
    theta, z2 = r sin theta are independent standard normals) and the two acceptance log-uniforms."""
    r = _f("SQRT", _op(exp.Mul, _d(-2.0), _f("LN", _open(hex_text, 0))))
    theta = _op(exp.Mul, _d(2.0 * math.pi), _open(hex_text, 1))
    return [r, theta, _f("LN", _open(hex_text, 2)), _f("LN", _open(hex_text, 3))]


def _normal(r: Expr, theta: Expr, k: int) -> Expr:
    return _op(exp.Mul, r.copy(), _f("SIN" if k else "COS", theta.copy()))


def _t(c: Expr, z: Expr) -> Expr:
    """max(1 + c z, 2^-54): 1 + c z is 0 or at least 2^-54 in magnitude, so the cap only replaces t <= 0
    (rejected, see _attempt) and t^3 never underflows."""
    return _largest(_op(exp.Add, _d(1.0), _op(exp.Mul, c.copy(), z.copy())), _d(2.0 ** -54))


def _attempt(d: Expr, z: Expr, t: Expr, log_u: Expr) -> tuple[Expr, Expr]:
    """(accepted?, ln d v = ln d + 3 ln t) of one attempt: accepted iff ln u < z^2/2 + d (1 - v + ln v),
    v = t^3. Marsaglia-Tsang also asks 1 + c z > 0, which needs no term of its own: where 1 + c z <= 0,
    t = 2^-54 and the bound is at most z^2/2 + d (1 + 3 ln 2^-54) <= 22.9 - 74.2 (|z| <= 6.77 and
    ln u >= ln 2^-33 = -22.9 for these uniforms, d >= 2/3), below every ln u: rejected."""
    cube = _op(exp.Mul, _op(exp.Mul, t.copy(), t.copy()), t.copy())
    log_t3 = _op(exp.Mul, _d(3.0), _f("LN", t.copy()))
    bound = _op(exp.Add, _op(exp.Mul, _op(exp.Mul, _d(0.5), z.copy()), z.copy()),
                _op(exp.Mul, d.copy(), _op(exp.Add, _op(exp.Sub, _d(1.0), cube), log_t3)))
    return _op(exp.LT, log_u.copy(), bound), _op(exp.Add, _f("LN", d.copy()), log_t3.copy())


def _normals_and_ts(polar: list[Expr], cs: Sequence[Expr], ks: Sequence[int]) -> list[Expr]:
    """[z_k, t_k for each k] of the attempts `ks` of a block (its `_polar` refs), c of each attempt's shape."""
    r, theta = polar[:2]
    return [v for c, k in zip(cs, ks) for v in (_normal(r, theta, k), _t(c, _normal(r, theta, k)))]


def _largest(x: Expr, y: Expr) -> Expr:
    """GREATEST of two non-NULL doubles (ignore_nulls: written plainly, no NULL test around it)."""
    return exp.Greatest(this=x, expressions=[y], ignore_nulls=True)


def _smallest(x: Expr, y: Expr) -> Expr:
    return exp.Least(this=x, expressions=[y], ignore_nulls=True)


def _shape(x: Expr) -> Expr:
    """The shape as a double, at least TINY_SHAPE."""
    return _largest(cast_double(x.copy()), _d(TINY_SHAPE))


def _positive(*xs: Expr) -> Expr:
    return exp.and_(*[_op(exp.GT, x.copy(), _d(0.0)) for x in xs])


def _attempts(parts: Sequence[Expr], a: Expr, m: int, ks: Sequence[int]) -> Expr:
    """ln of the first accepted of the attempts `ks` of block m (0: z1 with u2, 1: z2 with u3) for shape `a`
    (as `_shape`), NULL when all reject. Three small lambdas or subqueries, one inside the other: the block's
    md5; its polar values with d and c; the normals and t (DuckDB initialises a lambda's whole body for
    every vector it runs, so bodies stay small and the retries are not inside them)."""
    def attempts(p: list[Expr]) -> Expr:
        def body(zt: list[Expr]) -> Expr:
            case = exp.case()
            for i, k in enumerate(ks):
                case = case.when(*_attempt(p[4], zt[2 * i], zt[2 * i + 1], p[2 + k]))
            return case
        return bind(_normals_and_ts(p, [p[5]] * len(ks), ks), body)
    return bind([_block(parts, m)], lambda h: bind([*_polar(h[0]), _shape_d(a), _shape_c(_shape_d(a))], attempts))


def _log_gamma(parts: Sequence[Expr], a: Expr, first: int, blocks: Sequence[int]) -> Expr:
    """ln of a Gamma(max(a, 1)) draw (Gamma(a + 1) when a < 1): the first attempt of block 0 (`first`: 0 for
    X, 1 for Y), then two attempts a block of `blocks`, then ln d. A flat COALESCE, not nested CASEs: a
    block's md5 is computed only when the attempts before it rejected (COALESCE stops at the first non-NULL
    on every engine), and lambdas do not nest (DuckDB binds nested lambdas in time exponential in depth)."""
    tries = [_attempts(parts, a, 0, [first]), *[_attempts(parts, a, m, [0, 1]) for m in blocks]]
    return exp.Coalesce(this=tries[0], expressions=[*tries[1:], _f("LN", _shape_d(a))])


def _small_term(parts: Sequence[Expr], a: Expr, small_slice: int) -> Expr:
    """ln U / a for a shape a < 1 (Gamma(a) = Gamma(a + 1) U^(1/a)), U from block 11; else 0."""
    small = _op(exp.Div, _f("LN", _open(_block(parts, SMALL_BLOCK), small_slice)), a.copy())
    return exp.case().when(_op(exp.LT, a.copy(), _d(1.0)), small).else_(_d(0.0))


def gamma_draw(shape: Expr, parts: Sequence[Expr]) -> Expr:
    """A Gamma(shape, 1) draw seeded by `parts` (the X stream of beta_draw), at least e^-700; NULL when
    shape is NULL or not positive."""
    a = _shape(shape)
    log_x = _op(exp.Add, _log_gamma(parts, a, 0, X_BLOCKS), _small_term(parts, a, 0))
    return exp.case().when(_positive(shape), _f("EXP", _largest(log_x, _d(-MAX_LOG_RATIO))))


def _ratio(diff: Expr) -> Expr:
    """X / (X + Y) from D = ln X - ln Y: 1 / (1 + e^-D) for D >= 0, e^D / (1 + e^D) below; in (0, 1)."""
    e = _f("EXP", exp.Neg(this=_smallest(exp.Abs(this=diff.copy()), _d(MAX_LOG_RATIO))))
    high = _smallest(_op(exp.Div, _d(1.0), _op(exp.Add, _d(1.0), e)), _d(BELOW_ONE))
    low = _op(exp.Div, e.copy(), _op(exp.Add, _d(1.0), e.copy()))
    return exp.case().when(_op(exp.GTE, diff.copy(), _d(0.0)), high).else_(low)


def _fast_difference(parts: Sequence[Expr], a: Expr, b: Expr) -> Expr:
    """ln X - ln Y (without the small-shape terms) when both first attempts accept, else NULL: one md5."""
    def attempts(p: list[Expr]) -> Expr:
        def body(zt: list[Expr]) -> Expr:
            accept_x, log_x = _attempt(p[4], zt[0], zt[1], p[2])
            accept_y, log_y = _attempt(p[6], zt[2], zt[3], p[3])
            return exp.case().when(exp.and_(accept_x, accept_y), _op(exp.Sub, log_x, log_y))
        return bind(_normals_and_ts(p, [p[5], p[7]], [0, 1]), body)

    def values(h: list[Expr]) -> Expr:
        shapes = [_shape_d(a), _shape_c(_shape_d(a)), _shape_d(b), _shape_c(_shape_d(b))]
        return bind([*_polar(h[0]), *shapes], attempts)
    return bind([_block(parts, 0)], values)


def beta_draw(alpha: Expr, beta: Expr, parts: Sequence[Expr]) -> Expr:
    """A Beta(alpha, beta) draw in (0, 1) seeded by `parts` (module docstring); NULL only when alpha or beta
    is NULL or not positive. D = ln X - ln Y is ((gX - gY) + sX) - sY, g the Marsaglia-Tsang log-gammas,
    s the small-shape terms: the first attempts of both from one md5 for most rows; the rows where either
    rejects compute both gammas again with their retries. alpha and beta are read several times:
    pass columns or cheap expressions."""
    a, b = _shape(alpha), _shape(beta)
    slow = _op(exp.Sub, _log_gamma(parts, a, 0, X_BLOCKS), _log_gamma(parts, b, 1, Y_BLOCKS))
    gamma_diff = exp.Coalesce(this=_fast_difference(parts, a, b), expressions=[slow])
    diff = _op(exp.Sub, _op(exp.Add, gamma_diff, _small_term(parts, a, 0)), _small_term(parts, b, 1))
    return exp.case().when(_positive(alpha, beta), bind([diff], lambda r: _ratio(r[0])))


# ---- the Python reference ----------------------------------------------------------------------------

def _ref_key(parts: Sequence[object]) -> str:
    return ":".join("" if p is None else str(p) for p in parts)


def _ref_block(parts: Sequence[object], m: int) -> list[float]:
    """The four open uniforms (h + 0.5) / 2^32 of block m."""
    key = _ref_key(parts) + (f":{m}" if m else "")
    digest = hashlib.md5(key.encode("utf-8")).hexdigest()
    return [(float(int(digest[8 * j:8 * j + 8], 16)) + 0.5) / TWO_32 for j in range(4)]


def _ref_normals(u: list[float]) -> list[float]:
    r = math.sqrt(-2.0 * math.log(u[0]))
    theta = (2.0 * math.pi) * u[1]
    return [r * math.cos(theta), r * math.sin(theta), math.log(u[2]), math.log(u[3])]


def _ref_attempt(d: float, c: float, z: float, log_u: float) -> float | None:
    """ln(d v) of an accepted attempt, None when rejected (same operations, same order as the SQL)."""
    t = max(1.0 + c * z, 2.0 ** -54)
    log_t3 = 3.0 * math.log(t)
    if log_u < (0.5 * z) * z + d * ((1.0 - (t * t) * t) + log_t3):
        return math.log(d) + log_t3
    return None


def reference_log_gamma(parts: Sequence[object], a: float, first: int, blocks: Sequence[int]) -> tuple[float, int]:
    """(ln of the Marsaglia-Tsang draw of `_log_gamma`, attempts used: 1 .. ATTEMPTS, ATTEMPTS + 1 for the
    ln d fallback); `first` is 0 for X, 1 for Y."""
    a = max(float(a), TINY_SHAPE)
    d = ((a + 1.0) if a < 1.0 else a) - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    tries = [_pairs(_ref_normals(_ref_block(parts, 0)))[first]]
    tries += [pair for m in blocks for pair in _pairs(_ref_normals(_ref_block(parts, m)))]
    for n, (z, log_u) in enumerate(tries, start=1):
        value = _ref_attempt(d, c, z, log_u)
        if value is not None:
            return value, n
    return math.log(d), len(tries) + 1


def _pairs(normals: list[float]) -> list[tuple[float, float]]:
    return [(normals[0], normals[2]), (normals[1], normals[3])]


def _ref_small(parts: Sequence[object], a: float, small_slice: int) -> float:
    a = max(float(a), TINY_SHAPE)
    return math.log(_ref_block(parts, SMALL_BLOCK)[small_slice]) / a if a < 1.0 else 0.0


def gamma_draw_reference(shape: float, parts: Sequence[object]) -> float | None:
    """The value `gamma_draw(shape, parts)` gives, computed in Python from the same md5s."""
    if shape is None or not shape > 0:
        return None
    log_x = reference_log_gamma(parts, shape, 0, X_BLOCKS)[0] + _ref_small(parts, shape, 0)
    return math.exp(max(log_x, -MAX_LOG_RATIO))


def beta_draw_reference(alpha: float, beta: float, parts: Sequence[object]) -> float | None:
    """The value `beta_draw(alpha, beta, parts)` gives, computed in Python from the same md5s."""
    if alpha is None or beta is None or not (alpha > 0 and beta > 0):
        return None
    gamma_x, _ = reference_log_gamma(parts, alpha, 0, X_BLOCKS)
    gamma_y, _ = reference_log_gamma(parts, beta, 1, Y_BLOCKS)
    diff = ((gamma_x - gamma_y) + _ref_small(parts, alpha, 0)) - _ref_small(parts, beta, 1)
    e = math.exp(-min(abs(diff), MAX_LOG_RATIO))
    return min(1.0 / (1.0 + e), BELOW_ONE) if diff >= 0.0 else e / (1.0 + e)
