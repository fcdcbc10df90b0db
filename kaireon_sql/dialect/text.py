"""Text safety of generated model files: Jinja delimiters and control characters never reach dbt.

`jinja_text` for yml and comments; the identifier and literal transforms are installed in every
engine's generator (dialect/render.py), so no path that forgets a check writes `{{` into a model.
"""
from __future__ import annotations

import re

from sqlglot import exp

from ..errors import KaireonError, shown

_JINJA_OPEN = re.compile(r"\{(?=[{%#])")


def jinja_safe_parts(text: str) -> list[str]:
    """`text` cut after every '{' that starts a Jinja delimiter ({{, {%, {#), so no part contains one."""
    parts, start = [], 0
    for match in _JINJA_OPEN.finditer(text):
        parts.append(text[start:match.end()])
        start = match.end()
    parts.append(text[start:])
    return parts


def jinja_text(text: str) -> str:
    """`text` for a place dbt renders with Jinja as text (yml descriptions, SQL comments): every '{'
    that opens a delimiter ({{, {%, {#) is written as {{ '{' }}, which Jinja renders back to '{'.

    A carriage return, which Jinja would turn into a newline, is written as {{ '\\r' }}. One rendering
    pass gives `text` exactly; nothing in it runs. Text without a delimiter or \\r is unchanged.
    """
    return _JINJA_OPEN.sub("{{ '{' }}", text).replace("\r", "{{ '\\r' }}")


def identifier_sql(gen, e: exp.Identifier) -> str:
    """Identifiers as the engine quotes them; one that would open a Jinja tag in the model file is refused.

    Config names are checked at validate time (config/catalog.py: check_identifier, check_column,
    check_relation); this is the last line, so no path that forgets a check writes `{{` into a model.
    """
    name = e.this if isinstance(e.this, str) else ""
    if _JINJA_OPEN.search(name) or _UNSAFE_NAME_CHAR.search(name):
        raise KaireonError(f"refusing to write the identifier {shown(name, 80)} into a dbt model: it holds a Jinja "
                           "delimiter ({{, {%, {#) or a control character (see docs/security.md)")
    return gen.identifier_sql(e)


# control characters (C0, DEL, C1), and line/paragraph separators: never in a name kaireon writes
_UNSAFE_NAME_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def literal_sql(gen, e: exp.Literal) -> str:
    """String literals that contain a Jinja delimiter are written as a concatenation of parts.

    dbt renders model files with Jinja, so `'{{ x }}'` in a model would be evaluated by dbt; as
    `('{' || '{ x }}')` the file holds no delimiter and the value is the same on every engine.
    Only literals holding `{{`, `{%`, `{#` or a carriage return change; every other literal is written as before.
    """
    if e.is_string and "\r" in (e.this or ""):
        # Jinja turns every \r and \r\n of a template into \n: a carriage return is written as CHR(13)
        pieces: list[exp.Expression] = []
        for i, segment in enumerate(e.this.split("\r")):
            if i:
                pieces.append(exp.Chr(expressions=[exp.Literal.number(13)]))
            if segment:
                pieces.extend(exp.Literal.string(p) for p in jinja_safe_parts(segment))
        return gen.sql(_balanced_concat(pieces))
    if e.is_string and _JINJA_OPEN.search(e.this or ""):
        return gen.sql(_balanced_concat([exp.Literal.string(p) for p in jinja_safe_parts(e.this)]))
    return gen.literal_sql(e)


def _balanced_concat(pieces: list[exp.Expression]) -> exp.Expression:
    """('a' || 'b') || ('c' || 'd'): nesting grows with log(parts), within engines' expression-depth limits."""
    if len(pieces) == 1:
        return pieces[0]
    mid = len(pieces) // 2
    return exp.Paren(this=exp.DPipe(this=_balanced_concat(pieces[:mid]), expression=_balanced_concat(pieces[mid:]),
                                    safe=True))
