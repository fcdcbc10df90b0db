"""A loaded config: every object by kind, with lookup of references by id, name or key."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..errors import ConfigError, Location
from .base import ConfigObject
from .catalog import (
    Category, Channel, Creative, InteractionHistory, Offer, Placement, Schema, Segment, SubCategory,
)
from .flows import DecisionFlow
from .lifecycle import Lifecycle, Orders
from .models import AlgorithmModel, ArbitrationProfile, BehavioralMetric
from .policies import ContactPolicy
from .rules import QualificationRule

# Top-level key in a config file -> object class. Order is the order of reference resolution.
KINDS: dict[str, type[ConfigObject]] = {
    "schemas": Schema,
    "categories": Category,
    "subCategories": SubCategory,
    "channels": Channel,
    "placements": Placement,
    "offers": Offer,
    "creatives": Creative,
    "segments": Segment,
    "behavioralMetrics": BehavioralMetric,
    "algorithmModels": AlgorithmModel,
    "arbitrationProfiles": ArbitrationProfile,
    "qualificationRules": QualificationRule,
    "contactPolicies": ContactPolicy,
    "decisionFlows": DecisionFlow,
}

# Singular nouns for messages.
NOUNS = {
    "schemas": "schema", "categories": "category", "subCategories": "sub-category", "channels": "channel",
    "placements": "placement", "offers": "offer", "creatives": "creative", "segments": "segment",
    "behavioralMetrics": "behavioral metric", "algorithmModels": "algorithm model",
    "arbitrationProfiles": "arbitration profile", "qualificationRules": "qualification rule",
    "contactPolicies": "contact policy", "decisionFlows": "Decision Flow",
}

# The single top-level mappings (S2) other than interactionHistory -> Project attribute, each declared at most once.
SINGLES: dict[str, tuple[str, type]] = {"orders": ("orders", Orders), "lifecycle": ("lifecycle", Lifecycle)}

T = TypeVar("T", bound=ConfigObject)


@dataclass
class Project:
    """Every config object of a folder, validated, with references checked."""

    root: Path
    objects: dict[str, list[ConfigObject]] = field(default_factory=lambda: {k: [] for k in KINDS})
    interaction_history: InteractionHistory = field(default_factory=InteractionHistory)
    orders: Orders | None = None  # S3/S9: None when no file declares `orders` (no orders models are built)
    lifecycle: Lifecycle | None = None  # S9 thresholds as declared; `stages` gives the defaults without one
    files: list[Path] = field(default_factory=list)
    single_locations: dict[str, Location] = field(default_factory=dict)  # SINGLES key -> where it is declared
    # kind -> (object count when built, name -> first object with it): find() in constant time, not a
    # scan of every object per reference (500 rules naming 500 offers were 250,000 comparisons).
    _names: dict[str, tuple[int, dict[str, ConfigObject]]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def stages(self) -> Lifecycle:
        """The lifecycle thresholds (S9): the declared `lifecycle` mapping, else the defaults."""
        return self.lifecycle if self.lifecycle is not None else Lifecycle()

    def all(self, kind: str) -> list:
        return self.objects[kind]

    @property
    def schemas(self) -> list[Schema]:
        return self.objects["schemas"]  # type: ignore[return-value]

    @property
    def offers(self) -> list[Offer]:
        return self.objects["offers"]  # type: ignore[return-value]

    @property
    def flows(self) -> list[DecisionFlow]:
        return self.objects["decisionFlows"]  # type: ignore[return-value]

    @property
    def rules(self) -> list[QualificationRule]:
        return self.objects["qualificationRules"]  # type: ignore[return-value]

    @property
    def policies(self) -> list[ContactPolicy]:
        return self.objects["contactPolicies"]  # type: ignore[return-value]

    def find(self, kind: str, ref: str) -> ConfigObject | None:
        objects = self.objects[kind]
        built = self._names.get(kind)
        if built is None or built[0] != len(objects):
            names: dict[str, ConfigObject] = {}
            for obj in objects:
                for name in obj.names():
                    names.setdefault(name, obj)
            built = self._names[kind] = (len(objects), names)
        return built[1].get(ref) if isinstance(ref, str) else None

    def lookup(self, kind: str, ref: str, where: Location) -> ConfigObject:
        """The object `ref` names, or a ConfigError listing what exists."""
        found = self.find(kind, ref)
        if found is None:
            known = sorted({obj.ref for obj in self.objects[kind]})
            listing = ", ".join(repr(k) for k in known[:20]) or "none are defined"
            raise ConfigError(where, f"unknown {NOUNS[kind]} {ref!r}; expected one of: {listing}")
        return found

    def category_of(self, offer: Offer) -> Category | None:
        return self.find("categories", offer.category_id) if offer.category_id else None  # type: ignore[return-value]

    def sub_category_of(self, offer: Offer) -> SubCategory | None:
        return self.find("subCategories", offer.sub_category_id) if offer.sub_category_id else None  # type: ignore[return-value]
