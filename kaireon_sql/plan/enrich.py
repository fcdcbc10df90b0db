"""The enrich node, planned: the relations the customers model reads, how they join, and the fields it loads.

The first source holds the customer key (aliased `s0`); every other source is left-joined on its
`lookupKey` field (aliased `s1`, `s2`, ... in source order). Every reference is resolved here, while the
plan is built: a lookup key that names no field of its schema is a ConfigError at its config path.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config.catalog import Schema, SchemaField
from ..config.flows import EnrichConfig
from ..errors import ConfigError
from .context import FlowContext


@dataclass(frozen=True)
class EnrichSource:
    """A source the customers model reads: its relation, alias, and the column matched to the customer key."""

    relation: str
    alias: str  # s0 (the key source), s1, ...
    key_column: str  # source column of its lookup key (of the key source: the customer key)


@dataclass(frozen=True)
class EnrichColumn:
    """A loaded customer field: its customers-model column, and where its value is read."""

    column: str  # cust__<name>
    source_column: str
    alias: str  # alias of the source it is read from
    number: bool  # numbers read NaN and +-inf as missing (S5)


@dataclass(frozen=True)
class EnrichPlan:
    key: EnrichSource  # the source holding the customer key
    joins: tuple[EnrichSource, ...]  # the other sources, left-joined on their key column
    fields: tuple[EnrichColumn, ...]  # in load order (FlowContext.fields)


def _lookup(ctx: FlowContext, index: int, schema: Schema, lookup_key: str) -> SchemaField:
    """The field a secondary source's `lookupKey` names, or a ConfigError at its config path."""
    found = schema.field(lookup_key)
    if found is None:
        node = ctx.single(EnrichConfig)
        raise ConfigError(ctx.node_location(node.id, f"config.sources[{index}].lookupKey"),
                          f"schema {schema.name!r} has no field {lookup_key!r}; expected one of: "
                          + ", ".join(f.name for f in schema.fields))
    return found


def plan_enrich(ctx: FlowContext) -> EnrichPlan:
    """The enrich node's sources and fields (the key source's key resolved by FlowContext.customer_key)."""
    key_schema, key_field = ctx.customer_key
    aliases = {key_schema.name: "s0"}
    joins = []
    for i, (schema, src) in enumerate(ctx.sources[1:], start=1):
        aliases[schema.name] = f"s{i}"
        lookup = _lookup(ctx, i, schema, src.lookup_key)
        joins.append(EnrichSource(schema.relation_name, f"s{i}", lookup.source_column))
    fields = tuple(EnrichColumn(f.column, f.field.source_column, aliases[f.schema.name], f.field.kind == "number")
                   for f in ctx.fields.values())
    return EnrichPlan(EnrichSource(key_schema.relation_name, "s0", key_field.source_column), tuple(joins), fields)
