"""Shared pydantic base for config objects: camelCase payload names, unknown keys refused."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.alias_generators import to_camel

from ..errors import Location

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: "$" would admit a final newline


class Model(BaseModel):
    """A config value object. Field names are camelCase in files, snake_case in Python."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=False,
        str_strip_whitespace=False,
        # A number written as text ("nan", "-Infinity", "1e400") is coerced to a float after the loader's
        # check of raw values; refuse non-finite results here too (S10: they would compile to garbage).
        allow_inf_nan=False,
    )


class ConfigObject(Model):
    """A top-level object of a kind (offer, rule, flow, ...), referable by id or name."""

    id: str | None = None
    name: str
    description: str | None = None

    _location: Location = PrivateAttr(default=Location("<memory>"))

    @property
    def ref(self) -> str:
        """Canonical id: the user's `id` when given, else the name."""
        return self.id if self.id is not None else self.name

    @property
    def location(self) -> Location:
        return self._location

    def names(self) -> list[str]:
        """Every string other objects may use to refer to this one."""
        return [n for n in (self.id, self.name) if n is not None]


class FieldError(ValueError):
    """A validator's error about one field of the object (a camelCase path), so messages can name it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def label_of(raw: Any) -> str:
    """A short human label for a raw object in error messages."""
    if isinstance(raw, dict):
        for key in ("name", "key", "id"):
            if isinstance(raw.get(key), str):
                return raw[key]
    return ""


def tag_config(data: Any, type_key: str, known: dict[str, Any]) -> Any:
    """Copy an object's type (`ruleType`, `type`) into its `config` so pydantic can pick the config model.

    The tag is stripped again from error paths by the loader, so users see `config.operator`.
    """
    if isinstance(data, dict):
        kind = data.get(type_key)
        known_kind = isinstance(kind, str) and kind in known  # a list or mapping here is not hashable
        config = data.get("config", {} if known_kind else None)
        if known_kind and isinstance(config, dict):
            data = {**data, "config": {**config, TYPE_TAG: kind}}
    return data


TYPE_TAG = "kaireonType"
TYPE_FIELD = "kaireon_type"  # the field TYPE_TAG fills: each config variant's name, its default


def variant(name: str) -> Any:
    """The annotation of a config variant's `kaireon_type`: its name, written once, in its class."""
    return Annotated[Literal[name], Field(default=name, exclude=True)]


def variants(*classes: type[Model]) -> dict[str, Any]:
    """Variant name -> config class, read from each class's `kaireon_type` (in the order given)."""
    return {cls.model_fields[TYPE_FIELD].default: cls for cls in classes}
