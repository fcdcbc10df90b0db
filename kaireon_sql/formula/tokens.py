"""Tokenizer: text -> list of Token(kind, value, pos)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import error

# kinds: num, str, ident, op, eof
OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "%", "<", ">", "!", "?", ":", "(", ")", ",")

_NUM = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "t": "\t"}


@dataclass(frozen=True)
class Token:
    kind: str
    value: object
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split a formula into tokens; raises FormulaError on bad characters/strings."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUM.match(text, i)
            assert m
            if m.end() < n and (text[m.end()].isalnum() or text[m.end()] in "_."):
                raise error(f"malformed number '{text[i:m.end() + 1]}'", i)
            value = float(m.group())
            if not math.isfinite(value):
                raise error(f"number literal '{m.group()}' out of range", i)
            out.append(Token("num", (value, m.group()), i))
            i = m.end()
            continue
        if c.isalpha() or c == "_":
            m = _IDENT.match(text, i)
            assert m
            if m.end() < n and text[m.end()] == ".":
                raise error("expected a name after '.'", m.end() + 1)
            out.append(Token("ident", m.group(), i))
            i = m.end()
            continue
        if c in "'\"":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise error("unterminated string literal", i, f"expected closing {c}")
                ch = text[j]
                if ch == "\\":
                    if j + 1 >= n:
                        raise error("unterminated string literal", i, f"expected closing {c}")
                    esc = text[j + 1]
                    if esc not in _ESCAPES:
                        raise error(f"unknown escape '\\{esc}'", j, "known: \\' \\\" \\\\ \\n \\t")
                    buf.append(_ESCAPES[esc])
                    j += 2
                    continue
                if ch == c:
                    break
                buf.append(ch)
                j += 1
            out.append(Token("str", "".join(buf), i))
            i = j + 1
            continue
        for op in OPERATORS:
            if text.startswith(op, i):
                out.append(Token("op", op, i))
                i += len(op)
                break
        else:
            hint = "use '==' for equality" if c == "=" else ("use '&&' / '||'" if c in "&|" else None)
            raise error(f"unexpected character {c!r}", i, hint)
    out.append(Token("eof", None, n))
    return out
