"""Read a folder of YAML/JSON config files into a validated Project."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError, ConfigErrors, Location
from .base import TYPE_TAG, label_of
from .catalog import InteractionHistory
from .flows import NODE_CONFIGS, RuleGroup
from .policies import POLICY_CONFIGS
from .project import KINDS, Project
from .resolve import check_references
from .rules import RULE_CONFIGS

RuleGroup.model_rebuild()

SUFFIXES = (".yml", ".yaml", ".json")
TOP_LEVEL = tuple(KINDS) + ("interactionHistory",)
_TAGS = set(NODE_CONFIGS) | set(RULE_CONFIGS) | set(POLICY_CONFIGS)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def config_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(str(folder), "config folder not found; expected a folder of .yml/.yaml/.json files")
    files = sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(str(folder), "no .yml, .yaml or .json files in the config folder")
    return files


def read_file(path: Path, shown: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_StrictLoader)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, f"cannot parse file: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(shown, f"expected a mapping with keys among {', '.join(TOP_LEVEL)}, got {type(data).__name__}")
    unknown = [k for k in data if k not in TOP_LEVEL]
    if unknown:
        raise ConfigError(shown, f"unknown top-level key {unknown[0]!r}; expected one of {', '.join(TOP_LEVEL)}")
    return data


def _field_path(loc: tuple) -> str:
    """pydantic's error location as a user-facing path, without internal union tags."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in _TAGS and i > 0 and loc[i - 1] == "config":
            continue
        if part in ("RuleGroup", "RuleLeaf") or part == TYPE_TAG:
            continue
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        else:
            parts.append(str(part))
    return ".".join(parts)


def _describe(err: dict) -> str:
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err["type"] == "extra_forbidden":
        return "unknown field (check the spelling; fields are camelCase as in KaireonAI payloads)"
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
        return "config does not match the object's type"
    if "input" in err and not isinstance(err["input"], (dict, list)):
        return f"{msg}; got {err['input']!r}"
    return msg


def validation_errors(exc: ValidationError, where: Location) -> list[ConfigError]:
    errors = exc.errors()
    # When the type itself is wrong, errors about its config only add noise.
    typed = {e["loc"][0] for e in errors if e["loc"] and e["loc"][0] in ("type", "ruleType")}
    out = []
    for err in errors:
        loc = err["loc"]
        if typed and loc and loc[0] == "config":
            continue
        out.append(ConfigError(where.at(_field_path(loc)), _describe(err)))
    return out


def load_project(folder: str | Path, display_root: str | Path | None = None) -> Project:
    """Load and validate every config file of `folder`; raise ConfigErrors listing every problem."""
    folder = Path(folder)
    base = Path(display_root) if display_root is not None else Path.cwd()
    project = Project(root=folder)
    errors: list[ConfigError] = []
    for path in config_files(folder):
        try:
            shown = str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            shown = str(path)
        project.files.append(path)
        try:
            data = read_file(path, shown)
        except ConfigError as exc:
            errors.append(exc)
            continue
        for key, raw in data.items():
            if key == "interactionHistory":
                try:
                    project.interaction_history = InteractionHistory.model_validate(raw)
                except ValidationError as exc:
                    errors.extend(validation_errors(exc, Location(shown, "interactionHistory")))
                continue
            if not isinstance(raw, list):
                errors.append(ConfigError(Location(shown, key), f"expected a list of objects, got {type(raw).__name__}"))
                continue
            for index, item in enumerate(raw):
                where = Location(shown, key, index, label_of(item))
                if not isinstance(item, dict):
                    errors.append(ConfigError(where, f"expected an object (mapping), got {type(item).__name__}"))
                    continue
                try:
                    obj = KINDS[key].model_validate(item)
                except ValidationError as exc:
                    errors.extend(validation_errors(exc, where))
                    continue
                obj._location = where
                project.objects[key].append(obj)
    if not errors:
        errors.extend(check_references(project))
    if errors:
        raise ConfigErrors(errors)
    return project
