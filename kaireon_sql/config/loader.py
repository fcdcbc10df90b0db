"""Read a folder of YAML/JSON config files into a validated Project."""
from __future__ import annotations

import difflib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, ConfigErrors, Location
from .base import TYPE_TAG, FieldError, label_of
from .catalog import InteractionHistory
from .flows import NODE_CONFIGS, RuleGroup, RuleLeaf
from .policies import POLICY_CONFIGS
from .project import KINDS, Project
from .resolve import check_references
from .rules import RULE_CONFIGS

RuleGroup.model_rebuild()

SUFFIXES = (".yml", ".yaml", ".json")
# Files kaireon writes that may sit in the config folder and are not config.
ARTIFACT_FORMATS = ("kaireon-uplift-model",)
TOP_LEVEL = tuple(KINDS) + ("interactionHistory",)
_TAGS = set(NODE_CONFIGS) | set(RULE_CONFIGS) | set(POLICY_CONFIGS)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


# libyaml's scanner, where PyYAML has it, reads a config of a thousand offers in a tenth of the
# time; a file it refuses is read again by the pure-Python loader, whose messages name the problem.
class _FastStrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same, on libyaml."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (a key may appear only once in a mapping)", key_node.start_mark
            )
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_FastStrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FastStrictLoader)
    except yaml.YAMLError:
        return yaml.load(text, Loader=_StrictLoader)  # raises again, with PyYAML's wording


def config_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(str(folder), "config folder not found; expected a folder of .yml/.yaml/.json files")
    files = sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(str(folder), "no .yml, .yaml or .json files in the config folder")
    return files


def _parse_problem(exc: Exception) -> str:
    """A YAML/JSON parse error as 'line L, column C: problem', without parser internals."""
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or "syntax error"
        if exc.context:
            ctx_mark = exc.context_mark
            started = f" (started at line {ctx_mark.line + 1}, column {ctx_mark.column + 1})" if ctx_mark else ""
            problem = f"{problem}, {exc.context}{started}"
        return f"invalid YAML{where}: {problem}"
    if isinstance(exc, UnicodeDecodeError):
        return f"the file is not UTF-8 text (byte {exc.start}: {exc.reason})"
    return f"cannot parse file: {exc}"


def read_file(path: Path, shown: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else _load_yaml(text)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, _parse_problem(exc)) from None
    if isinstance(data, dict) and data.get("format") in ARTIFACT_FORMATS:
        return {}  # a fitted model file (`kaireon uplift fit --out`) kept beside the config
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(shown, f"expected a mapping with keys among {', '.join(TOP_LEVEL)}, got {_type_name(data)}")
    unknown = [k for k in data if k not in TOP_LEVEL]
    if unknown:
        raise ConfigError(shown, f"unknown top-level key {unknown[0]!r}{_did_you_mean(unknown[0], TOP_LEVEL)}; "
                                 f"expected one of {', '.join(TOP_LEVEL)}")
    return data


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def _did_you_mean(word: Any, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_TAG_CLASSES: dict[str, type] = {**NODE_CONFIGS, **RULE_CONFIGS, **POLICY_CONFIGS}


def _unwrap(annotation: Any) -> Any:
    """The model class inside Optional[...] / list[...] / Annotated[...], or None for a union of models."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (list, tuple, set):
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            models = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
            if len(models) != 1:
                return None
            annotation = models[0]
        else:
            return annotation


def _model_at(root: type, loc: tuple) -> type | None:
    """The pydantic model class found at a pydantic error location, best effort."""
    current: Any = root
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        if part in ("RuleGroup", "RuleLeaf"):
            current = {"RuleGroup": RuleGroup, "RuleLeaf": RuleLeaf}[part]
            continue
        if part in _TAG_CLASSES and i > 0 and loc[i - 1] == "config":
            current = _TAG_CLASSES[part]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _fields_of(model: type) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items() if n != "kaireon_type"]


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


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_SCALARS = {
    "float_parsing": "a number", "float_type": "a number", "int_parsing": "a whole number",
    "int_type": "a whole number", "int_from_float": "a whole number", "bool_parsing": "true or false",
    "bool_type": "true or false", "string_type": "a string", "list_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping (object)", "model_attributes_type": "a mapping (object)",
    "finite_number": "a finite number",
}


def _describe(err: dict, root: type) -> str:
    kind, loc, ctx = err["type"], err["loc"], err.get("ctx") or {}
    got = err.get("input")
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        key = loc[-1] if loc else "?"
        if model is None:
            return "unknown field (check the spelling; fields are camelCase as in KaireonAI payloads)"
        allowed = _fields_of(model)
        return f"unknown field{_did_you_mean(key, allowed)}; expected one of: {', '.join(allowed)}"
    if kind == "missing":
        return "required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return "config does not match the object's type"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}, got {got!r}{_did_you_mean(got, _literal_choices(ctx))}"
    if kind in _BOUNDS:
        bound = next(iter(v for k, v in ctx.items() if k in ("gt", "ge", "lt", "le")), "?")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"expected a number {_BOUNDS[kind]} {bound}, got {got!r}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"expected {word} {n} item(s), got {ctx.get('actual_length', len(got) if isinstance(got, (list, str)) else '?')}"
    if kind in _SCALARS:
        return f"expected {_SCALARS[kind]}, got {_type_name(got)} {got!r}" if not isinstance(got, (dict, list)) \
            else f"expected {_SCALARS[kind]}, got {_type_name(got)}"
    msg = err["msg"]
    if kind == "value_error":
        return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
    if "input" in err and not isinstance(got, (dict, list)):
        return f"{msg}; got {got!r}"
    return msg


def _literal_choices(ctx: dict) -> list[str]:
    return re.findall(r"'([^']*)'", str(ctx.get("expected", "")))


def validation_errors(exc: ValidationError, where: Location, root: type = BaseModel) -> list[ConfigError]:
    errors = exc.errors()
    # When the type itself is wrong, errors about its config only add noise.
    typed = [e["loc"][:-1] for e in errors if e["loc"] and e["loc"][-1] in ("type", "ruleType")]
    out = []
    for err in errors:
        loc = tuple(err["loc"])
        if any(loc[:len(p) + 1] == (*p, "config") for p in typed):
            continue
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, FieldError):
            loc = loc + tuple(error.field.split("."))
        out.append(ConfigError(where.at(_field_path(loc)), _describe(err, root)))
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
                    errors.extend(validation_errors(exc, Location(shown, "interactionHistory"), InteractionHistory))
                continue
            if not isinstance(raw, list):
                errors.append(ConfigError(Location(shown, key), f"expected a list of objects, got {_type_name(raw)}"))
                continue
            for index, item in enumerate(raw):
                where = Location(shown, key, index, label_of(item))
                if not isinstance(item, dict):
                    errors.append(ConfigError(where, f"expected an object (mapping), got {_type_name(item)}"))
                    continue
                try:
                    obj = KINDS[key].model_validate(item)
                except ValidationError as exc:
                    errors.extend(validation_errors(exc, where, KINDS[key]))
                    continue
                obj._location = where
                project.objects[key].append(obj)
    if not errors:
        errors.extend(check_references(project))
    if errors:
        raise ConfigErrors(errors)
    return project
