"""Errors users see. Every message names the file, the object, the field and what was expected."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a config value lives: file, object (kind, index, label) and field path."""

    file: str
    kind: str = ""
    index: int | None = None
    label: str = ""
    field: str = ""

    def at(self, field: str) -> "Location":
        joined = f"{self.field}.{field}" if self.field and field else (field or self.field)
        return Location(self.file, self.kind, self.index, self.label, joined)

    def __str__(self) -> str:
        parts = [self.file]
        if self.kind:
            obj = self.kind if self.index is None else f"{self.kind}[{self.index}]"
            if self.label:
                obj += f" {self.label!r}"
            parts.append(obj)
        if self.field:
            parts.append(f"field '{self.field}'")
        return ": ".join(parts)


class KaireonError(Exception):
    """Base class for errors reported to users with a non-zero exit."""


class ConfigError(KaireonError):
    """Invalid decisioning config, refused before any SQL is written."""

    def __init__(self, location: Location | str, message: str):
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message}")


class ConfigErrors(KaireonError):
    """Several config errors at once, so a user fixes them in one pass."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        lines = [f"{len(errors)} config error(s):"] + [f"  - {e}" for e in errors]
        super().__init__("\n".join(lines))


class UnsupportedFeature(ConfigError):
    """Config that validates but whose behaviour this version does not compile yet."""


class DbtRunError(KaireonError):
    """dbt reported a failure."""
