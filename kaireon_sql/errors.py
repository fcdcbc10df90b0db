"""Errors users see. Every message names the file, the object, the field and what was expected."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Values echoed in messages are cut to a prefix (a 100k-character name must not fill the terminal).
ECHO_LIMIT = 120
MESSAGE_LIMIT = 2000
# A quoted value far longer than ECHO_LIMIT, unless already clipped (followed by "…"): a backstop for
# echo sites that do not go through shown(). The threshold is well above the prose a message may hold
# between two apostrophes ("channel 'push' has no ... expected the channel's ..."), which must stay whole.
QUOTED_BACKSTOP = 400
_QUOTED = re.compile(r"(?:'(?:[^'\\\n]|\\.){%d,}'|\"(?:[^\"\\\n]|\\.){%d,}\")(?!…)" % (QUOTED_BACKSTOP, QUOTED_BACKSTOP))


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` itself when short, else its first `limit` characters, an ellipsis and its length."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def shown(value: Any, limit: int = ECHO_LIMIT) -> str:
    """repr() of a value for a message, a long one cut to a prefix: 'abc…' (100,000 characters)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def clip_message(message: str) -> str:
    """Any quoted value longer than ECHO_LIMIT cut to a prefix, then the whole message to MESSAGE_LIMIT."""
    message = _QUOTED.sub(lambda m: f"{m.group(0)[:ECHO_LIMIT]}{m.group(0)[0]}… ({len(m.group(0)) - 2:,} characters)",
                          message)
    if len(message) > MESSAGE_LIMIT:
        cut = len(message) - MESSAGE_LIMIT
        message = f"{message[:MESSAGE_LIMIT - 500]} …({cut:,} characters left out)… {message[-500:]}"
    return message


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
                obj += f" {shown(self.label)}"
            parts.append(obj)
        if self.field:
            parts.append(f"field '{clip(self.field, 2 * ECHO_LIMIT)}'")
        return ": ".join(parts)


class KaireonError(Exception):
    """Base class for errors reported to users with a non-zero exit."""


class ConfigError(KaireonError):
    """Invalid decisioning config, refused before any SQL is written."""

    def __init__(self, location: Location | str, message: str):
        self.location = location
        self.message = clip_message(message)
        super().__init__(f"{clip(str(location), MESSAGE_LIMIT // 2) if isinstance(location, str) else location}: "
                         f"{self.message}")


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
