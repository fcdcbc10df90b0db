"""Every formula of a config parsed and type-checked before any SQL is built, used or not (S5).

A flow compiles a formula only when something reaches it: a segment a rule names, the computed
custom fields of a flow with a compute node, an override of a category one of its offers has. This
pass checks them all, so a broken formula anywhere is refused at `kaireon validate`:

- segments' `formula` and categories' / sub-categories' computed custom fields, against what any
  flow could give them: `customer.<field>` of every declared schema, `offer.<field>` (the offer
  columns and static custom fields), `metrics.<metric>`, and (custom fields) the other custom
  fields of the owning category by bare name;
- each flow's score `expression`, filter `valueFormula`, set_properties `formula` and compute
  `extras` / `overrides`, against the customer fields the flow's enrich node loads, as the flow
  compiles them.

Only the parser and the type checker run: identifiers resolve to a type and a placeholder, no
engine and no SQL. Messages are the ones the flow's compilation gives for the same formula.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from ..config.catalog import CustomField
from ..config.flows import ComputeConfig, DecisionFlow, EnrichConfig, FilterConfig, ScoreConfig, SetPropertiesConfig
from ..config.project import Project
from ..errors import ConfigError, Location
from .context import ATTRIBUTES_PREFIX, OFFER_COLUMNS
from .formulas import READABLE_DIMENSIONS, attribute_text, check_output_type
from .lifecycle import FEATURE, NO_ORDERS, STAGES
from .offers import static_fields
from ..formula import Field, FormulaError, Resolver, parse_formula

Kinds = Mapping[str, str]  # identifier (without its namespace) -> formula type


class _Unreadable(Exception):
    """An identifier naming something a formula cannot read; reported at the formula's location."""


def _field(kind: str) -> Field:
    """A field for type checking only: its type, and NULL where the SQL that reads it would be."""
    return Field(kind, exp.null())


@dataclass
class Scope:
    """What a formula may read: customer fields, offer fields, metrics, and bare names."""

    project: Project
    customer: Kinds
    offer: Kinds
    bare: Callable[[str], Field | None] | None = None

    def with_bare(self, bare: Callable[[str], Field | None] | None) -> "Scope":
        return Scope(self.project, self.customer, self.offer, bare)


def _metric(project: Project, ref: str) -> Field:
    """`metrics.<id or name>`, as the flow reads it (plan/formulas.py metric_number)."""
    metric = project.find("behavioralMetrics", ref)
    if metric is None:
        known = ", ".join(repr(m.ref) for m in project.all("behavioralMetrics")[:20]) or "none are defined"
        raise _Unreadable(f"'metrics.{ref}' names no behavioral metric; expected one of: {known}")
    other = [d for d in metric.dimensions if d not in READABLE_DIMENSIONS]
    if other:
        raise _Unreadable(f"'metrics.{ref}': metric {metric.name!r} has dimension(s) {', '.join(other)}, which a "
                          "candidate row cannot pick; formulas read metrics with no dimension or the 'offer' dimension")
    return _field("number")


def resolver(scope: Scope) -> Resolver:
    """Identifier -> Field (type only) in `scope`: the namespaces of the flow's resolver."""

    def resolve(ident: str) -> Field | None:
        if ident == f"customer.{FEATURE}" and not any(s.field(FEATURE) for s in scope.project.schemas):  # S9
            if scope.project.orders is None:
                raise _Unreadable(NO_ORDERS)
            return Field("text", exp.null(), STAGES)
        for prefix, kinds in (("customer.", scope.customer), ("offer.", scope.offer)):
            if ident.startswith(prefix):
                kind = kinds.get(ident[len(prefix):])
                return None if kind is None else _field(kind)
        if ident.startswith("metrics."):
            return _metric(scope.project, ident[len("metrics."):])
        if ident.startswith(ATTRIBUTES_PREFIX):
            return attribute_text(ident[len(ATTRIBUTES_PREFIX):])
        if "." not in ident and scope.bare is not None:
            return scope.bare(ident)
        return None

    return resolve


def check_formula(text: str, where: Location, scope: Scope) -> str:
    """The formula's type ('number' or 'text'), or a ConfigError at `where` (the flow's message)."""
    try:
        return parse_formula(text).check(resolver(scope))
    except (FormulaError, _Unreadable) as exc:
        raise ConfigError(where, f"formula {text!r}: {exc}") from None


# ---- what formulas can read ------------------------------------------------------------------------

def declared_customer_fields(project: Project) -> dict[str, str]:
    """`customer.<field>` of every declared schema (the first schema declaring a name gives its type)."""
    out: dict[str, str] = {}
    for schema in project.schemas:
        for f in schema.fields:
            out.setdefault(f.name, f.kind)
    return out


def offer_fields(project: Project) -> dict[str, str]:
    """`offer.<field>`: the offer columns and the static custom fields of every category."""
    out = {name: kind for name, (_, kind) in OFFER_COLUMNS.items()}
    out.update(static_fields(project))
    return out


def flow_customer_fields(project: Project, flow: DecisionFlow) -> dict[str, str] | None:
    """The customer fields the flow's enrich node loads (plan/context.py fields), or None when the
    enrich node is missing or broken (the flow's compilation reports that)."""
    enriches = [n for n in flow.definition.nodes if isinstance(n.config, EnrichConfig)]
    if len(enriches) != 1:
        return None
    out: dict[str, str] = {}
    for src in enriches[0].config.sources:
        schema = project.find("schemas", src.schema_id)
        if schema is None:
            return None
        wanted = src.fields or [f.name for f in schema.fields]
        wanted = list(dict.fromkeys(wanted + [f.name for f in schema.fields if f.name.lower().startswith("consent")]))
        for name in wanted:
            f = schema.field(name)
            if f is None:
                return None
            if name != src.lookup_key:
                out.setdefault(name, f.kind)
    return out


# ---- categories' custom fields -------------------------------------------------------------------

@dataclass
class OwnerFields:
    """Bare names in formulas of an offer's category and sub-category: their custom fields, a computed
    one typed by checking its formula (plan/personalize.py _CategoryFields)."""

    scope: Scope
    owners: list
    fields: dict[str, tuple[CustomField, object]] = field(default_factory=dict)
    done: dict[str, Field] = field(default_factory=dict)
    stack: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for owner in self.owners:
            for cf in owner.custom_fields:
                self.fields[cf.name] = (cf, owner)

    def get(self, name: str) -> Field | None:
        if name in self.done:
            return self.done[name]
        if name not in self.fields:
            return None
        cf, owner = self.fields[name]
        if cf.type != "computed":
            return _field(cf.value_kind)
        if name in self.stack:
            raise ConfigError(owner.location.at("customFields"), "computed fields refer to each other in a cycle: "
                              + " -> ".join(self.stack + [name]))
        self.stack.append(name)
        index = owner.custom_fields.index(cf)
        try:
            kind = check_formula(cf.formula, owner.location.at(f"customFields[{index}].formula"),
                                 self.scope.with_bare(self.get))
            if kind != cf.output_type:
                raise ConfigError(owner.location.at(f"customFields[{index}].outputType"),
                                  f"formula gives a {kind} but outputType is {cf.output_type!r}")
        except ConfigError:
            self.done[name] = _field(cf.value_kind)  # reported once; formulas reading it go on with its type
            raise
        finally:
            self.stack.pop()
        self.done[name] = _field(kind)
        return self.done[name]

    def computed(self) -> list[str]:
        return [name for name, (cf, _) in self.fields.items() if cf.type == "computed"]


def owner_sets(project: Project) -> list[list]:
    """Every (category, sub-category) pairing a custom field formula can be read in: each category
    alone, each sub-category under its category, and the pairings of the offers."""
    pairs: list[tuple] = [(cat, None) for cat in project.all("categories")]
    for sub in project.all("subCategories"):
        pairs.append((project.find("categories", sub.category_id), sub))
    pairs += [(project.category_of(o), project.sub_category_of(o)) for o in project.offers]
    seen: dict[tuple, list] = {}
    for cat, sub in pairs:
        key = (id(cat), id(sub))
        if key not in seen:
            seen[key] = [o for o in (cat, sub) if o is not None]
    return list(seen.values())


# ---- collecting errors ---------------------------------------------------------------------------

class Errors:
    """ConfigErrors collected once each (several owner sets or scopes can find the same one)."""

    def __init__(self) -> None:
        self.found: dict[str, ConfigError] = {}

    def run(self, check: Callable[[], object]) -> None:
        try:
            check()
        except ConfigError as exc:
            self.found.setdefault(str(exc), exc)

    def first(self, checks: Iterable[Callable[[], object]]) -> None:
        """Accept when any check passes (a formula fine for some flow's scope), else keep the first error."""
        error = None
        for check in checks:
            try:
                check()
                return
            except ConfigError as exc:
                error = error or exc
        if error is not None:
            self.found.setdefault(str(error), error)


def project_scopes(project: Project) -> list[Scope]:
    """The declared fields first, then each flow's own: a project-level formula is fine when it checks
    in one of them (two schemas may give one field name different types)."""
    offers = offer_fields(project)
    scopes = [Scope(project, declared_customer_fields(project), offers)]
    for flow in project.flows:
        loaded = flow_customer_fields(project, flow)
        if loaded is not None:
            scopes.append(Scope(project, loaded, offers))
    return scopes


def _segment_errors(project: Project, scopes: list[Scope], errors: Errors) -> None:
    for seg in project.all("segments"):
        if seg.formula is not None:
            where = seg.location.at("formula")
            errors.first([lambda s=s: check_formula(seg.formula, where, s) for s in scopes])


def _custom_field_errors(project: Project, scopes: list[Scope], errors: Errors) -> None:
    for owners in owner_sets(project):
        per_scope = [OwnerFields(s, owners) for s in scopes]
        for name in per_scope[0].computed():
            errors.first([lambda fields=fields: fields.get(name) for fields in per_scope])


# ---- formulas of a flow --------------------------------------------------------------------------

def _node_where(flow: DecisionFlow, index: int, path: str) -> Location:
    key = "config" if flow.config is not None else "draftConfig"
    return flow.location.at(f"{key}.nodes[{index}].{path}")


def _score(text: str, where: Location, scope: Scope) -> None:
    if check_formula(text, where, scope) != "number":
        raise ConfigError(where, "a score expression must give a number, not text")


def _filter_value(cond, where: Location, scope: Scope) -> None:
    """A filter's `valueFormula`: its type must be the field's (plan/narrowing.py)."""
    name = cond.field
    kind = "text" if name == "channel" else None
    for prefix, kinds in (("customer.", scope.customer), ("offer.", scope.offer)):
        if name.startswith(prefix):
            kind = kinds.get(name[len(prefix):])
    out_kind = check_formula(cond.value_formula, where.at("valueFormula"), scope)
    if kind is not None and out_kind != kind:  # an unknown field is the flow's error (at 'field')
        raise ConfigError(where.at("valueFormula"), f"formula gives a {out_kind} but {name} is {kind}")


def flow_groups(project: Project) -> list[list]:
    """The owner sets a flow's compute extras are compiled in (plan/personalize.py): the offers'
    (category, sub-category) pairings, the empty one for offers with neither, or alone without offers."""
    groups: dict[tuple, list] = {}
    for offer in project.offers:
        owners = [o for o in (project.category_of(offer), project.sub_category_of(offer)) if o is not None]
        groups.setdefault(tuple(id(o) for o in owners), owners)
    if not project.offers:
        groups[()] = []
    return list(groups.values())


def _override(ov, where: Location, scope: Scope, owner_lists: list[list]) -> None:
    """A compute override: a formula of the computed field's type, in each owner set declaring it."""
    declaring = 0
    for owners in owner_lists:
        fields = OwnerFields(scope, owners)
        found = fields.fields.get(ov.field)
        if found is None or found[0].type != "computed":
            continue
        declaring += 1
        kind = found[0].value_kind
        o_kind = check_formula(ov.formula, where.at("formula"), scope.with_bare(fields.get))
        if o_kind != kind:
            raise ConfigError(where.at("formula"), f"override gives a {o_kind} but {ov.field!r} is a {kind}")
    if not declaring:
        names = sorted({cf.name for owners in owner_lists for o in owners for cf in o.custom_fields
                        if cf.type == "computed"})
        listing = ", ".join(repr(n) for n in names) or "none are declared"
        raise ConfigError(where.at("field"), f"override of {ov.field!r}: no computed custom field of that name in the "
                                             f"categories it applies to, so it would be ignored; expected one of: {listing}")


def _compute(project: Project, cfg: ComputeConfig, where: Callable[[str], Location], scope: Scope,
             errors: Errors) -> None:
    groups = flow_groups(project)
    for i, extra in enumerate(cfg.extras):
        for owners in groups:
            errors.run(lambda: check_output_type(
                check_formula(extra.formula, where(f"config.extras[{i}].formula"),
                              scope.with_bare(OwnerFields(scope, owners).get)),
                extra.output_type, where(f"config.extras[{i}].outputType")))
    for i, ov in enumerate(cfg.overrides):
        offer = project.find("offers", ov.offer_id) if ov.offer_id else None
        if ov.offer_id and offer is None:
            continue  # an unknown offer is reported by the reference checks
        owner_lists = owner_sets(project) if offer is None else [
            [o for o in (project.category_of(offer), project.sub_category_of(offer)) if o is not None]]
        errors.run(lambda: _override(ov, where(f"config.overrides[{i}]"), scope, owner_lists))


def _flow_errors(project: Project, flow: DecisionFlow, errors: Errors) -> None:
    loaded = flow_customer_fields(project, flow)
    scope = Scope(project, declared_customer_fields(project) if loaded is None else loaded, offer_fields(project))
    for index, node in enumerate(flow.definition.nodes):
        cfg = node.config

        def where(path: str, index: int = index) -> Location:
            return _node_where(flow, index, path)

        if isinstance(cfg, ScoreConfig) and cfg.expression is not None:
            errors.run(lambda: _score(cfg.expression, where("config.expression"), scope))
        elif isinstance(cfg, FilterConfig):
            for i, cond in enumerate(cfg.conditions):
                if cond.value_formula is not None:
                    errors.run(lambda: _filter_value(cond, where(f"config.conditions[{i}]"), scope))
        elif isinstance(cfg, SetPropertiesConfig):
            for i, prop in enumerate(cfg.properties):
                if prop.formula is not None:
                    errors.run(lambda: check_formula(prop.formula, where(f"config.properties[{i}].formula"), scope))
        elif isinstance(cfg, ComputeConfig):
            _compute(project, cfg, where, scope, errors)


def formula_errors(project: Project) -> list[ConfigError]:
    """Every formula of the project parsed and type-checked; one ConfigError per problem found."""
    errors = Errors()
    scopes = project_scopes(project)
    _segment_errors(project, scopes, errors)
    _custom_field_errors(project, scopes, errors)
    for flow in project.flows:
        _flow_errors(project, flow, errors)
    return list(errors.found.values())
