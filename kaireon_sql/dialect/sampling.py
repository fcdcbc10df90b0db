"""TEMPORARY stand-in for the `beta` branch's dialect/sampling.py (same signatures): replaced by it at merge."""
from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from .builders import cast_double, cast_text, hex8_to_int, md5_hex

TWO_32 = 4294967296


def hash_key(parts: Sequence[exp.Expression]) -> exp.Expression:
    texts = [p.copy() if isinstance(p, exp.Literal) and p.is_string
             else exp.Coalesce(this=cast_text(p.copy()), expressions=[exp.Literal.string("")]) for p in parts]
    out = texts[0]
    for item in texts[1:]:
        out = exp.DPipe(this=exp.DPipe(this=out, expression=exp.Literal.string(":"), safe=False),
                        expression=item, safe=False)
    return out


def hash_uniform(parts: Sequence[exp.Expression]) -> exp.Expression:
    """int(md5(p0 || ':' || p1 || ...)[:8], 16) / 4294967296, in [0, 1)."""
    part = exp.Substring(this=md5_hex(hash_key(parts)), start=exp.Literal.number(1), length=exp.Literal.number(8))
    return exp.Div(this=cast_double(hex8_to_int(part)), expression=cast_double(exp.Literal.number(TWO_32)))


def beta_draw(alpha: exp.Expression, beta: exp.Expression, parts: Sequence[exp.Expression]) -> exp.Expression:
    raise NotImplementedError("beta_draw lands with the beta branch")
