"""Config lookups of one flow: its nodes, channels, customer fields, offers, provenance and model names."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property

from sqlglot import exp

from ..config.catalog import Channel, Schema, SchemaField
from ..config.fields import strip_metadata
from ..config.flows import (
    DecisionFlow, EnrichConfig, InventoryConfig, NodeConfig, QualifyConfig, ScoreConfig,
)
from ..config.project import Project
from ..errors import ConfigError, Location

RUN_PARAMS = "kaireon_run_params"  # the run's as_of, run_id and channel (one row)
ATTRIBUTES_PREFIX = "attributes."
HISTORY_MODEL = "kaireon_stg_interactions"  # typed interaction history (S3)
# S8 attribution: one row per impression (occurred_at <= as_of) with its attributed positive outcome
ATTRIBUTION_MODEL = "kaireon_attribution"
CUSTOMER_PREFIX = "cust__"
OFFER_FIELD_PREFIX = "offer__"

# offer.<name> in formulas and filters -> column of kaireon_offers, with its type
OFFER_COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("offer_id", "text"),
    "name": ("offer_name", "text"),
    "key": ("offer_key", "text"),
    "status": ("offer_status", "text"),
    "category": ("category_label", "text"),
    "categoryId": ("category_id", "text"),
    "categoryName": ("category_name", "text"),
    "subCategoryId": ("sub_category_id", "text"),
    "priority": ("priority", "number"),
    "businessValue": ("business_value", "number"),
    "revenueValue": ("revenue_value", "number"),
    "margin": ("margin", "number"),
    "cost": ("cost", "number"),
    "mandatory": ("mandatory", "boolean"),
}


def model_slug(key: str) -> str:
    """A flow key as a model-name fragment: lowercase letters, digits and underscores."""
    slug = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")
    if len(slug) > 32:  # model names stay within file-name and PostgreSQL's 63-character limits
        slug = slug[:23].rstrip("_") + "_" + hashlib.md5(key.encode("utf-8")).hexdigest()[:8]
    return slug or "flow"


def flow_model(slug: str, part: str) -> str:
    """The name of one of a flow's models (`part`: customers, candidates, decisions, ...) from its slug."""
    return f"kaireon_{slug}__{part}"


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


_DOUBLE = exp.DataType.build("DOUBLE")


def lit(value) -> exp.Expression:
    """A literal for a config value: strings always as escaped SQL string literals."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, float):  # never a DECIMAL (S5); the type is built once, copied per literal
        return exp.Cast(this=exp.Literal.number(repr(value)), to=_DOUBLE.copy())
    if isinstance(value, int):
        return exp.Literal.number(str(value))
    return exp.Literal.string(str(value))


@dataclass(frozen=True)
class EnrichedField:
    """A customer field the flow loads, and its column in the flow's customer model."""

    schema: Schema
    field: SchemaField
    lookup_key: str

    @property
    def column(self) -> str:
        return CUSTOMER_PREFIX + self.field.name


@dataclass
class FlowContext:
    project: Project
    flow: DecisionFlow
    slug: str = field(init=False)
    # The flow's feature registry (plan.features.Features), set once by plan.flow.build_plan: stages
    # that read `metrics.x` in a formula register through it while the plan is built.
    features: object = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.slug = model_slug(self.flow.key)

    # ---- the flow's definition -------------------------------------------------------------
    @property
    def definition(self):
        return self.flow.definition

    @property
    def definition_key(self) -> str:
        return "config" if self.flow.config is not None else "draftConfig"

    def node_location(self, node_id: str, field_name: str = "") -> Location:
        index = next(i for i, n in enumerate(self.definition.nodes) if n.id == node_id)
        path = f"{self.definition_key}.nodes[{index}]" + (f".{field_name}" if field_name else "")
        return self.flow.location.at(path)

    @cached_property
    def ordered_nodes(self):
        """Nodes in execution order: phase, then position, then order in the file."""
        indexed = list(enumerate(self.definition.nodes))
        indexed.sort(key=lambda p: (p[1].phase or 1, p[1].position if p[1].position is not None else p[0], p[0]))
        return [n for _, n in indexed]

    def nodes_of(self, config_type: type[NodeConfig]):
        return [n for n in self.ordered_nodes if isinstance(n.config, config_type)]

    def single(self, config_type: type[NodeConfig], required: bool = False):
        nodes = self.nodes_of(config_type)
        if len(nodes) > 1:
            raise ConfigError(self.node_location(nodes[1].id), f"a flow takes at most one {nodes[1].type!r} node")
        if required and not nodes:
            raise ConfigError(self.flow.location.at(f"{self.definition_key}.nodes"),
                              f"a flow needs a {config_type.model_fields['kaireon_type'].default!r} node")
        return nodes[0] if nodes else None

    @property
    def inventory(self) -> InventoryConfig:
        node = self.single(InventoryConfig)
        return node.config if node else InventoryConfig()

    @property
    def qualify_node(self):
        return self.single(QualifyConfig)

    @property
    def score(self) -> ScoreConfig:
        node = self.single(ScoreConfig)
        return node.config if node else ScoreConfig(method="priority")

    @property
    def experiment(self):
        return self.definition.flow_config.experiment

    @property
    def holdout_percent(self) -> float:
        return self.experiment.holdout_percent if self.experiment.enabled else 0.0

    @property
    def salt(self) -> str:
        return self.experiment.salt if self.experiment.salt is not None else self.flow.key

    # ---- channels ----------------------------------------------------------------------------
    @cached_property
    def channels(self) -> list[str] | None:
        """The flow's channels, or None when the run's `channel` var decides."""
        configured = self.definition.flow_config.channel
        if configured is None:
            return None
        names = [configured] if isinstance(configured, str) else list(configured)
        where = self.flow.location.at(f"{self.definition_key}.flowConfig.channel")
        if self.definition.flow_config.routes:  # S9: `channel: auto` routes among `channels`
            names = list(self.definition.flow_config.channels)
            where = self.flow.location.at(f"{self.definition_key}.flowConfig.channels")
        if self.project.all("channels") or self.definition.flow_config.routes:  # auto routes among declared channels
            return [self.project.lookup("channels", n, where).ref for n in names]
        return names

    def channel_object(self, name: str) -> Channel | None:
        return self.project.find("channels", name)  # type: ignore[return-value]

    # ---- customer fields -----------------------------------------------------------------------
    @cached_property
    def sources(self) -> list[tuple[Schema, EnrichConfig]]:
        node = self.single(EnrichConfig, required=True)
        out = []
        for i, src in enumerate(node.config.sources):
            schema = self.project.lookup("schemas", src.schema_id, self.node_location(node.id, f"config.sources[{i}].schemaId"))
            out.append((schema, src))
        return out

    @cached_property
    def customer_key(self) -> tuple[Schema, SchemaField]:
        schema, src = self.sources[0]
        key = schema.field(src.lookup_key)
        if key is None:
            node = self.single(EnrichConfig)
            raise ConfigError(self.node_location(node.id, "config.sources[0].lookupKey"),
                              f"schema {schema.name!r} has no field {src.lookup_key!r}")
        return schema, key

    @cached_property
    def fields(self) -> dict[str, EnrichedField]:
        """Customer fields the flow loads, by name: listed fields, consent fields and the key."""
        node = self.single(EnrichConfig)
        out: dict[str, EnrichedField] = {}
        for i, (schema, src) in enumerate(self.sources):
            wanted = src.fields or [f.name for f in schema.fields]
            wanted = list(dict.fromkeys(wanted + [f.name for f in schema.fields if f.name.lower().startswith("consent")]))
            for j, name in enumerate(wanted):
                f = schema.field(name)
                if f is None:
                    raise ConfigError(
                        self.node_location(node.id, f"config.sources[{i}].fields[{j}]"),
                        f"schema {schema.name!r} has no field {name!r}; expected one of: "
                        + ", ".join(x.name for x in schema.fields),
                    )
                if name == src.lookup_key or name in out:
                    continue
                out[name] = EnrichedField(schema, f, src.lookup_key)
        return out

    def customer_field(self, ident: str, where: Location) -> EnrichedField:
        name = ident[len("customer."):] if ident.startswith("customer.") else ident
        found = self.fields.get(name)
        if found is None:
            declared = any(s.field(name) for s in self.project.schemas)
            hint = " (declared in a schema, but this flow's enrich node does not load it)" if declared else ""
            raise ConfigError(where, f"unknown customer attribute {ident!r}{hint}; the flow loads: "
                              + ", ".join(f"customer.{n}" for n in self.fields))
        return found

    # ---- offers ----------------------------------------------------------------------------
    @cached_property
    def offer_custom_fields(self) -> dict[str, str]:
        """Static (non-computed) custom fields of all categories: name -> type."""
        out: dict[str, str] = {}
        for kind in ("categories", "subCategories"):
            for cat in self.project.all(kind):
                for cf in cat.custom_fields:
                    if cf.type != "computed":
                        out.setdefault(cf.name, cf.value_kind)
        return out

    # ---- provenance --------------------------------------------------------------------------
    @cached_property
    def config_hash(self) -> str:
        """Hash of everything this flow's decisions depend on in config."""
        def dump(obj):  # metadata never changes a decision (S10): it is not part of the hash
            return strip_metadata(obj.model_dump(mode="json", by_alias=True, exclude_defaults=True), obj)

        payload = {
            kind: [dump(o) for o in objs]
            for kind, objs in self.project.objects.items() if kind != "decisionFlows"
        }
        payload["flow"] = dump(self.flow)
        experiment = payload["flow"].get(self.definition_key, {}).get("flowConfig", {}).get("experiment", {})
        for name in self.experiment.ANALYSIS_FIELDS:  # analysis settings change no decision
            experiment.pop(name, None)
        payload["interactionHistory"] = dump(self.project.interaction_history)
        if self.project.orders is not None:  # S9: the orders and the stage thresholds in force
            payload["orders"], payload["lifecycle"] = dump(self.project.orders), dump(self.project.stages)
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    # ---- model names ---------------------------------------------------------------------------
    def model(self, part: str) -> str:
        return flow_model(self.slug, part)
