"""dbt relations in a tree: {{ ref() }}, {{ source() }}, {{ this }} and is_incremental() guards."""
from __future__ import annotations

import re

from sqlglot import exp

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: "$" would admit a final newline
_SOURCE = re.compile(r"""^source\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\Z""")


class DbtRef(exp.Expression):
    """A dbt model or seed, rendered as {{ ref('name') }}."""

    arg_types = {"this": True}


class DbtSource(exp.Expression):
    """A dbt source table, rendered as {{ source('source', 'table') }}."""

    arg_types = {"this": True, "table": True}


class DbtThis(exp.Expression):
    """The relation of the model being built, rendered as {{ this }} (incremental models read it)."""

    arg_types: dict = {}


class DbtIncrementalOnly(exp.Expression):
    """A condition that holds only when dbt builds incrementally; TRUE on a full build.

    Rendered as {% if is_incremental() %}<condition>{% else %}TRUE{% endif %}, so an incremental
    model stays one SQL tree whose guard (e.g. "run not yet logged") reads {{ this }} only when
    the relation exists.
    """

    arg_types = {"this": True}


class DbtIncrementalElse(exp.Expression):
    """SQL that differs between an incremental build and a full one: `this` when dbt builds
    incrementally, `expression` on a first build or --full-refresh.

    Rendered as {% if is_incremental() %}<this>{% else %}<expression>{% endif %}; e.g. a model's own
    earlier rows, {{ this }}, read only when the relation exists (and not on --full-refresh), and a
    typed subquery of no rows otherwise (incremental_this).
    """

    arg_types = {"this": True, "expression": True}


class DbtOptionalRelation(exp.Expression):
    """dialect/nodes.OptionalRelation lowered for one engine: `types` are the engine's type names.

    Rendered as {{ kaireon_sql.optional_relation('name', ['column', ...], ['TYPE', ...]) }}
    (macros/optional_relation.sql): a subquery of the relation, or of no rows before its first build.
    """

    arg_types = {"this": True, "columns": True, "types": True}


def this_relation() -> exp.Table:
    return exp.Table(this=DbtThis())


def incremental_this(empty: exp.Select) -> exp.Table:
    """{{ this }} on an incremental build, else the subquery `empty` (the model's columns, no rows)."""
    return exp.Table(this=DbtIncrementalElse(this=DbtThis(), expression=exp.paren(empty, copy=False)))


def relation(name: str) -> exp.Table:
    """A table expression for a relation spec: a model/seed name or source('src', 'table')."""
    match = _SOURCE.match(name)
    if match:
        return exp.Table(this=DbtSource(this=match.group(1), table=match.group(2)))
    if not _NAME.match(name):
        raise ValueError(f"not a dbt relation name: {name!r}")
    return exp.Table(this=DbtRef(this=name))


def _ref_sql(_gen, e: DbtRef) -> str:
    return "{{ ref('%s') }}" % e.name


def _source_sql(_gen, e: DbtSource) -> str:
    return "{{ source('%s', '%s') }}" % (e.name, e.args["table"])


def _this_sql(_gen, _e: DbtThis) -> str:
    return "{{ this }}"


def _incremental_only_sql(gen, e: DbtIncrementalOnly) -> str:
    return "{%% if is_incremental() %%}%s{%% else %%}%s{%% endif %%}" % (gen.sql(e.this), gen.sql(exp.true()))



def _incremental_else_sql(gen, e: DbtIncrementalElse) -> str:
    return "{%% if is_incremental() %%}%s{%% else %%}%s{%% endif %%}" % (gen.sql(e.this), gen.sql(e.expression))


_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_ (),]*\Z")


def _jinja_list(values: list[str], pattern: re.Pattern) -> str:
    for v in values:
        if not pattern.match(v):
            raise ValueError(f"not a name or type for an optional relation: {v!r}")
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


class DbtRunAttribute(exp.Expression):
    """The hex of the run attribute `this` (a name), as the macro writes it: {{ kaireon_sql.run_attribute('x') }}
    renders '<lowercase hex of its UTF-8 text>' or a typed NULL (macros/run_attributes.sql)."""

    arg_types = {"this": True}


_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}\Z")


def _run_attribute_sql(_gen, e: DbtRunAttribute) -> str:
    if not _ATTRIBUTE.match(e.name):
        raise ValueError(f"not a run attribute name: {e.name!r}")
    return "{{ kaireon_sql.run_attribute('%s') }}" % e.name


def _optional_sql(_gen, e: DbtOptionalRelation) -> str:
    columns = _jinja_list([c.this for c in e.args["columns"]], _NAME)
    types = _jinja_list([t.this for t in e.args["types"]], _TYPE)
    return "{{ kaireon_sql.optional_relation(%s, %s, %s) }}" % (_jinja_list([e.name], _NAME)[1:-1], columns, types)


# how the generator writes these nodes, on every engine
RELATION_TRANSFORMS = {DbtRef: _ref_sql, DbtSource: _source_sql, DbtThis: _this_sql,
                       DbtIncrementalOnly: _incremental_only_sql, DbtIncrementalElse: _incremental_else_sql,
                       DbtOptionalRelation: _optional_sql, DbtRunAttribute: _run_attribute_sql}
