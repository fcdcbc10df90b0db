"""Compute and set_properties nodes: the personalization JSON of each decision, compiled at plan time."""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.catalog import CustomField
from ..config.flows import ComputeConfig, SetPropertiesConfig
from ..dialect import columns_read, json_object
from ..errors import ConfigError
from ..formula import Field
from .context import OFFER_FIELD_PREFIX, FlowContext, col, lit
from .formulas import check_output_type, compile_formula, resolver
from .transforms import transformed, unknown_field


class _CategoryFields:
    """Resolves bare names to the category's other custom fields, computing formulas on demand."""

    def __init__(self, ctx: FlowContext, owners, overrides: dict[str, list]):
        self.ctx = ctx
        self.fields: dict[str, tuple[CustomField, object]] = {}
        for owner in owners:
            for cf in owner.custom_fields:
                self.fields[cf.name] = (cf, owner)
        self.overrides = overrides
        self.done: dict[str, Field] = {}
        self.stack: list[str] = []

    def get(self, name: str) -> Field | None:
        if name in self.done:
            return self.done[name]
        if name not in self.fields:
            return None
        cf, owner = self.fields[name]
        if cf.type != "computed":
            kind = cf.value_kind
            sql = col(OFFER_FIELD_PREFIX + name)
            return Field(kind, exp.cast(sql, "DOUBLE") if kind == "number" else sql)
        if name in self.stack:
            raise ConfigError(owner.location.at("customFields"), "computed fields refer to each other in a cycle: "
                              + " -> ".join(self.stack + [name]))
        self.stack.append(name)
        index = owner.custom_fields.index(cf)
        sql, kind = compile_formula(cf.formula, owner.location.at(f"customFields[{index}].formula"),
                                    resolver(self.ctx, self))
        if kind != cf.output_type:
            raise ConfigError(owner.location.at(f"customFields[{index}].outputType"),
                              f"formula gives a {kind} but outputType is {cf.output_type!r}")
        for where, override, offer_ref in self.overrides.get(name, []):
            o_sql, o_kind = compile_formula(override, where, resolver(self.ctx, self))
            if o_kind != kind:
                raise ConfigError(where, f"override gives a {o_kind} but {name!r} is a {kind}")
            sql = o_sql if offer_ref is None else exp.case().when(
                exp.EQ(this=col("offer_id"), expression=lit(offer_ref)), o_sql).else_(sql)
        self.stack.pop()
        self.done[name] = Field(kind, sql)
        return self.done[name]

    def computed(self) -> list[tuple[str, Field]]:
        return [(name, self.get(name)) for name, (cf, _) in self.fields.items() if cf.type == "computed"]


@dataclass(frozen=True)
class PersonalizePlan:
    """The personalization JSON text of a decision (over candidate-model columns) and the columns it reads."""

    expression: exp.Expression
    columns: tuple[str, ...]


def plan_personalize(ctx: FlowContext, extra: tuple[tuple[str, Field], ...] = ()) -> PersonalizePlan:
    """Compile every computed field, extra and property the flow's decisions carry (S5 type checks); `extra`
    pairs (the discount learner's discount_pct) come last. The columns are the candidate row's (unqualified:
    a scalar subquery's own columns are not)."""
    expression = _personalization(ctx, extra)
    columns = tuple(dict.fromkeys(c.name for c in columns_read(expression) if not c.table))
    return PersonalizePlan(expression, columns)


def _compute_node(ctx: FlowContext):
    """The flow's compute node (at most one), refusing what this version does not compile."""
    computes = ctx.nodes_of(ComputeConfig)
    if len(computes) > 1:
        raise ConfigError(ctx.node_location(computes[1].id), "a flow takes at most one 'compute' node")
    compute = computes[0] if computes else None
    if compute is not None:
        names = {cf.name for kind in ("categories", "subCategories") for owner in ctx.project.all(kind)
                 for cf in owner.custom_fields if cf.type == "computed"} | {e.name for e in compute.config.extras}
        for transform, where in _transforms(ctx, compute):
            problem = unknown_field(transform, names, where)
            if problem is not None:
                raise problem
    return compute


def _transforms(ctx: FlowContext, compute) -> list[tuple[object, object]]:
    """(transform, its location) of the compute node, in order."""
    if compute is None:
        return []
    return [(t, ctx.node_location(compute.id, f"config.transforms[{i}]"))
            for i, t in enumerate(compute.config.transforms)]


def _overrides(ctx: FlowContext, compute) -> dict[str, list]:
    """field -> [(location, formula, offer id or None)] of the compute node's overrides."""
    overrides: dict[str, list] = {}
    if compute is None:
        return overrides
    for i, ov in enumerate(compute.config.overrides):
        where = ctx.node_location(compute.id, f"config.overrides[{i}]")
        offer_ref = ctx.project.lookup("offers", ov.offer_id, where.at("offerId")).ref if ov.offer_id else None
        overrides.setdefault(ov.field, []).append((where.at("formula"), ov.formula, offer_ref))
    return overrides


def _properties(ctx: FlowContext) -> list[tuple[str, Field]]:
    properties: list[tuple[str, Field]] = []
    for node in ctx.nodes_of(SetPropertiesConfig):
        for i, prop in enumerate(node.config.properties):
            if prop.formula is not None:
                sql, kind = compile_formula(prop.formula, ctx.node_location(node.id, f"config.properties[{i}].formula"),
                                            resolver(ctx))
            else:
                sql, kind = lit(prop.value), _kind_of(prop.value)
            properties.append((prop.name, Field(kind, sql)))
    return properties


def _pairs_for(ctx: FlowContext, compute, overrides, properties, owners) -> list[tuple[str, str, exp.Expression]]:
    """(name, type, value) of the personalization of offers whose custom fields `owners` hold."""
    fields = _CategoryFields(ctx, owners, overrides)
    computed = fields.computed() if compute is not None else []
    local_extras = []
    if compute is not None:
        for i, extra in enumerate(compute.config.extras):
            sql, kind = compile_formula(extra.formula, ctx.node_location(compute.id, f"config.extras[{i}].formula"),
                                        resolver(ctx, fields))
            check_output_type(kind, extra.output_type, ctx.node_location(compute.id, f"config.extras[{i}].outputType"))
            local_extras.append((extra.name, Field(kind, sql)))
    merged = dict(computed)
    merged.update(dict(local_extras))
    merged = transformed(merged, _transforms(ctx, compute))
    merged.update(dict(properties))
    return [(name, f.type, f.sql) for name, f in merged.items()]


def _personalization(ctx: FlowContext, extra: tuple[tuple[str, Field], ...] = ()) -> exp.Expression:
    """JSON object text: computed fields of the offer's category, compute extras, properties, then `extra`."""
    compute = _compute_node(ctx)
    overrides = _overrides(ctx, compute)
    properties = _properties(ctx) + list(extra)
    groups = _owner_groups(ctx)
    # Offers without a category get the fields of no category. Only compiled when such offers exist:
    # an extra reading a category field by bare name is valid when every offer has that category.
    uncategorised = any(not owners for owners, _ in groups) or not groups
    default = json_object(_pairs_for(ctx, compute, overrides, properties, [])) if uncategorised \
        else json_object([])
    # Categories whose fields compile to the same SQL share one branch (ten categories declaring the
    # same computed field are one formula, not ten); keyed by the tree (repr: a dbt ref has no generic SQL).
    branches: dict[str, tuple[exp.Expression, list[str]]] = {}
    for owners, offer_ids in groups:
        if not owners:
            continue
        value = json_object(_pairs_for(ctx, compute, overrides, properties, owners))
        branches.setdefault(repr(value), (value, []))[1].extend(offer_ids)
    return _by_offer(default, branches)


def _by_offer(default: exp.Expression, branches: dict[str, tuple[exp.Expression, list[str]]]) -> exp.Expression:
    if not branches:
        return default
    case = exp.case()
    for value, offer_ids in branches.values():
        if repr(value) == repr(default):
            continue  # the ELSE gives the same
        case = case.when(exp.In(this=col("offer_id"), expressions=[lit(i) for i in offer_ids]), value,
                         copy=False)  # not the whole CASE again for every branch
    return case.else_(default) if case.args.get("ifs") else default


def _kind_of(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else "text"


def _owner_groups(ctx: FlowContext):
    """Offers grouped by (category, sub-category): the owners of their custom fields."""
    groups: dict[tuple, list[str]] = {}
    owners: dict[tuple, list] = {}
    for offer in ctx.project.offers:
        cat, sub = ctx.project.category_of(offer), ctx.project.sub_category_of(offer)
        key = (cat.ref if cat else None, sub.ref if sub else None)
        owners[key] = [o for o in (cat, sub) if o is not None]
        groups.setdefault(key, []).append(offer.ref)
    return [(owners[k], ids) for k, ids in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))]
