"""Read a folder of YAML/JSON config files into a validated Project."""
from __future__ import annotations

import difflib
import json
import math
import re
import stat
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, ConfigErrors, Location
from ..errors import shown as echo
from ..gc_passes import fewer_gc_passes
from .base import TYPE_TAG, FieldError, label_of
from .catalog import InteractionHistory
from .flows import DEFINITION_TAGS, NODE_CONFIGS, FixedStageFlow, FlowDefinition, RuleGroup, RuleLeaf
from .transforms import TRANSFORMS

from .policies import POLICY_CONFIGS
from .models import MODEL_CONFIGS, UNTYPED
from .project import KINDS, SINGLES, Project
from .resolve import check_references
from .rules import RULE_CONFIGS

RuleGroup.model_rebuild()

SUFFIXES = (".yml", ".yaml", ".json")
# Files kaireon writes that may sit in the config folder and are not config.
ARTIFACT_FORMATS = ("kaireon-uplift-model", "kaireon-gradient-boosted-model", "kaireon-neural-cf-model")  # plan/trained.py FILE_FORMATS
TOP_LEVEL = tuple(KINDS) + ("interactionHistory",) + tuple(SINGLES)
_TAGS = set(NODE_CONFIGS) | set(RULE_CONFIGS) | set(POLICY_CONFIGS) | set(MODEL_CONFIGS) | {UNTYPED}

# Limits on what a config file may be, so that no file can make validation crash or hang.
MAX_FILE_BYTES = 64 * 1024 * 1024  # a 20,000-offer catalogue is about 5 MB
MAX_DEPTH = 64  # nested mappings/lists; the deepest real config (a rule group tree) is far shallower
ALIAS_BUDGET = 100_000  # values that YAML aliases (*name) may add to a file in all, counted expanded
INT_RANGE = (-(2 ** 63), 2 ** 63 - 1)  # integers must fit a 64-bit BIGINT on every engine
PROBLEMS_PER_FILE = 50  # value problems reported per file before "and N more"


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
        if isinstance(key, (list, dict, set)):  # unhashable: refused here, as value_problems refuses other keys
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be text, got {_type_name(key)}", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (a key may appear only once in a mapping)", key_node.start_mark
            )
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


def _int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    except ValueError:  # Python refuses to convert more than 4,300 digits
        raise yaml.constructor.ConstructorError(
            None, None, f"integer of {len(node.value):,} characters is too large", node.start_mark) from None


for _loader in (_StrictLoader, _FastStrictLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
    _loader.add_constructor("tag:yaml.org,2002:int", _int)


class _Refused(Exception):
    """A structural limit exceeded while reading a file: the message and the line it was found on."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message, self.line = message, line

    def text(self) -> str:
        return f"{self.message} (line {self.line})" if self.line is not None else self.message


def _check_yaml_events(text: str, loader: type) -> None:
    """Refuse nesting deeper than MAX_DEPTH and aliases that expand past ALIAS_BUDGET, reading parser
    events only: no object is built, so a billion-laughs file is refused in the time it takes to read.

    Each anchor's expanded size (values, counting its own aliases expanded) is kept; every alias adds
    its anchor's size to the running total, which may not exceed ALIAS_BUDGET. An alias inside its own
    anchor's collection (`&a [*a]`) would build a value that contains itself, and is refused.
    """
    sizes: dict[str, int | None] = {}  # None while the anchor's collection is open
    stack: list[list] = []  # [anchor, expanded size] per open mapping/sequence
    expanded = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            n = sizes.get(event.anchor, 1)  # an undefined alias is the loader's to report
            if n is None:
                raise _Refused(f"a YAML alias refers to the value it is in (*{echo(event.anchor)[1:-1]} inside "
                               f"&{echo(event.anchor)[1:-1]}); a value cannot contain itself",
                               event.start_mark.line + 1)
            expanded += n
            if expanded > ALIAS_BUDGET:
                raise _Refused(f"YAML aliases expand to more than {ALIAS_BUDGET:,} values (at alias "
                               f"*{echo(event.anchor)[1:-1]}); write the values out instead of nesting aliases",
                               event.start_mark.line + 1)
            if stack:
                stack[-1][1] += n
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            if stack:
                stack[-1][1] += 1
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels of mappings and lists",
                               event.start_mark.line + 1)
            stack.append([event.anchor, 1])
            if event.anchor:
                sizes[event.anchor] = None  # open: an alias to it now is recursive
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, n = stack.pop()
            if anchor:
                sizes[anchor] = n
            if stack:
                stack[-1][1] += n


def _load_yaml(text: str) -> Any:
    try:
        _check_yaml_events(text, _FastStrictLoader)
        return yaml.load(text, Loader=_FastStrictLoader)
    except yaml.YAMLError:
        # Again on the pure-Python parser, whose messages are PyYAML's wording (and which has no
        # nesting limit of its own: libyaml refuses 1,000 levels with a message naming none of ours).
        _check_yaml_events(text, _StrictLoader)
        return yaml.load(text, Loader=_StrictLoader)


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_json_depth(text: str) -> None:
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        token = m.group(0)
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels of objects and arrays",
                               text.count("\n", 0, m.start()) + 1)
        elif token in "]}":
            depth -= 1


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(f"duplicate key {echo(key)} in a JSON object (a key may appear only once)")
        seen[key] = value
    return seen


def _load_json(text: str) -> Any:
    _check_json_depth(text)
    return json.loads(text, object_pairs_hook=_json_object)


def config_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(str(folder), "config folder not found; expected a folder of .yml/.yaml/.json files")
    # A folder named x.yml is a folder (its files are read); anything else named x.yml (a broken or
    # looping link, a pipe) is kept, so that read_file reports it instead of skipping it silently.
    files = sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and not p.is_dir())
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


def _read_text(path: Path, shown: str) -> str:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(shown, "not a regular file (a pipe, socket or device); expected a YAML or JSON file")
        size = info.st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(shown, f"the file is {size:,} bytes; config files may be at most "
                                     f"{MAX_FILE_BYTES:,} bytes (split it into several files)")
        raw = path.read_bytes()
    except OSError as exc:
        why = "a symbolic link that points nowhere or to itself" if path.is_symlink() else (exc.strerror or str(exc))
        raise ConfigError(shown, f"cannot read the file: {why}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(shown, _parse_problem(exc)) from None
    return text[1:] if text.startswith("\ufeff") else text  # a byte order mark is not content


def read_file(path: Path, shown: str) -> dict:
    text = _read_text(path, shown)
    try:
        data = _load_json(text) if path.suffix == ".json" else _load_yaml(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(shown, _parse_problem(exc)) from None
    except _Refused as exc:
        raise ConfigError(shown, exc.text()) from None
    except RecursionError:  # a last resort: the limits above should refuse such a file first
        raise ConfigError(shown, f"nested too deeply to read; at most {MAX_DEPTH} levels are allowed") from None
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


def _surrogate(text: str) -> str | None:
    """Where `text` holds a lone surrogate (from a \\ud800 escape), which no UTF-8 output can carry."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"a lone surrogate (U+{ord(text[exc.start]):04X}) at position {exc.start}; "
                "escapes \\ud800 to \\udfff must come in valid pairs")
    return None


def _value_problem(value: Any) -> str | None:
    """What is wrong with one scalar of a config file, whatever field it is in; None when nothing."""
    if isinstance(value, str):
        if "\x00" in value:
            return (f"text holds a NUL character (U+0000) at position {value.index(chr(0))}; config text "
                    "may not contain NUL (PostgreSQL cannot store it)")
        surrogate = _surrogate(value)
        if surrogate is not None:
            return f"text is not valid Unicode: {surrogate}"
    elif isinstance(value, float):
        if not math.isfinite(value):
            got = "NaN (not a number)" if math.isnan(value) else ("-" if value < 0 else "") + "infinity"
            return f"expected a finite number, got {got}; NaN and infinities are not allowed in config"
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not INT_RANGE[0] <= value <= INT_RANGE[1]:
            return (f"integer of {len(str(abs(value))):,} digits is out of range; expected a whole number between "
                    f"{INT_RANGE[0]:,} and {INT_RANGE[1]:,}")
    elif isinstance(value, (bytes, set, tuple)):
        tag = {bytes: "binary data (!!binary)", set: "a set (!!set)", tuple: "pairs (!!omap or !!pairs)"}
        return f"expected text, a number, true/false, null, a list or a mapping, got {tag[type(value)]}"
    return None


def value_problems(value: Any) -> typing.Iterator[tuple[tuple, str]]:
    """(path, problem) for every key and scalar under `value` that no config field may hold, in file order.

    Checked before pydantic sees the object, for every field alike: non-text keys, NUL in text (keys
    too), NaN and infinities, integers beyond 64 bits, and YAML-only types. Iterative, so depth is no issue.
    """
    stack: list[tuple[tuple, Any]] = [((), value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, dict):
            children = []
            for k, item in v.items():
                if not isinstance(k, str):
                    yield path, f"a key must be text, got {_type_name(k)}" + (f" {echo(k)}" if k is not None else "")
                elif "\x00" in k:
                    yield path + (k.replace("\x00", "\\x00"),), "a key holds a NUL character (U+0000)"
                elif _surrogate(k) is not None:
                    yield path + (k.encode("utf-8", "backslashreplace").decode("utf-8"),), \
                        f"a key is not valid Unicode: {_surrogate(k)}"
                else:
                    children.append((path + (k,), item))
            stack.extend(reversed(children))
        elif isinstance(v, list):
            stack.extend(reversed([(path + (i,), item) for i, item in enumerate(v)]))
        else:
            problem = _value_problem(v)
            if problem:
                yield path, problem


def _path_text(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _file_value_errors(data: dict, shown: str) -> list[ConfigError]:
    """Every value problem of a file's data as errors naming the object and field, at most PROBLEMS_PER_FILE."""
    errors: list[ConfigError] = []
    for path, problem in value_problems(data):
        if len(errors) == PROBLEMS_PER_FILE:
            errors.append(ConfigError(shown, f"more value problems than the {PROBLEMS_PER_FILE} listed; "
                                             "fix those and validate again"))
            break
        key = path[0] if path else ""
        if key in KINDS and len(path) >= 2 and isinstance(data.get(key), list):
            where = Location(shown, key, path[1], label_of(data[key][path[1]])).at(_path_text(path[2:]))
        elif key:
            where = Location(shown, key).at(_path_text(path[1:]))
        else:
            where = Location(shown)
        errors.append(ConfigError(where, problem))
    return errors


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


TRANSFORM_TAGS = {cls.model_fields["type"].annotation.__args__[0]: cls for cls in TRANSFORMS}


def _model_at(root: type, loc: tuple) -> type | None:
    """The pydantic model class found at a pydantic error location, best effort."""
    current: Any = root
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        if part in ("RuleGroup", "RuleLeaf"):
            current = {"RuleGroup": RuleGroup, "RuleLeaf": RuleLeaf}[part]
            continue
        if part in DEFINITION_TAGS and i > 0 and loc[i - 1] in ("draftConfig", "config"):
            current = FixedStageFlow if part == "v1" else FlowDefinition
            continue
        if part in TRANSFORM_TAGS and i > 1 and loc[i - 2] == "transforms":
            current = TRANSFORM_TAGS[part]
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
        if part in DEFINITION_TAGS and i > 0 and loc[i - 1] in ("draftConfig", "config"):
            continue  # the v1 | v2 definition union's tag
        if part in TRANSFORM_TAGS and i > 1 and loc[i - 2] == "transforms":
            continue  # a compute transform's type
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
        return f"expected one of {ctx.get('expected')}, got {echo(got)}{_did_you_mean(got, _literal_choices(ctx))}"
    if kind in _BOUNDS:
        bound = next(iter(v for k, v in ctx.items() if k in ("gt", "ge", "lt", "le")), "?")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"expected a number {_BOUNDS[kind]} {bound}, got {echo(got)}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"expected {word} {n} item(s), got {ctx.get('actual_length', len(got) if isinstance(got, (list, str)) else '?')}"
    if kind in _SCALARS:
        return f"expected {_SCALARS[kind]}, got {_type_name(got)} {echo(got)}" if not isinstance(got, (dict, list)) \
            else f"expected {_SCALARS[kind]}, got {_type_name(got)}"
    msg = err["msg"]
    if kind == "value_error":
        return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
    if "input" in err and not isinstance(got, (dict, list)):
        return f"{msg}; got {echo(got)}"
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


def _single(project: Project, key: str, raw: Any, shown: str) -> list[ConfigError]:
    """A single mapping (`orders`, `lifecycle`) read into its Project attribute; declared twice is refused."""
    attribute, cls = SINGLES[key]
    if getattr(project, attribute) is not None:
        return [ConfigError(Location(shown, key), f"{key!r} is declared in more than one file; expected one mapping")]
    project.single_locations[key] = Location(shown, key)
    try:
        setattr(project, attribute, cls.model_validate({} if raw is None else raw))
    except ValidationError as exc:
        return validation_errors(exc, Location(shown, key), cls)
    return []


def load_project(folder: str | Path, display_root: str | Path | None = None) -> Project:
    """Load and validate every config file of `folder`; raise ConfigErrors listing every problem."""
    with fewer_gc_passes():  # a 20,000-offer file is a million objects
        return _load_project(folder, display_root)


def _load_project(folder: str | Path, display_root: str | Path | None) -> Project:
    folder = Path(folder)
    base = Path(display_root) if display_root is not None else Path.cwd()
    project = Project(root=folder)
    errors: list[ConfigError] = []
    for path in config_files(folder):
        try:
            # The folder resolved, not the file: a file that is a link loop must still get a name.
            shown = str((path.parent.resolve() / path.name).relative_to(base.resolve()))
        except ValueError:
            shown = str(path)
        project.files.append(path)
        try:
            data = read_file(path, shown)
        except ConfigError as exc:
            errors.append(exc)
            continue
        value_errors = _file_value_errors(data, shown)
        if value_errors:
            errors.extend(value_errors)
            continue
        for key, raw in data.items():
            if key == "interactionHistory":
                try:
                    project.interaction_history = InteractionHistory.model_validate(raw)
                except ValidationError as exc:
                    errors.extend(validation_errors(exc, Location(shown, "interactionHistory"), InteractionHistory))
                continue
            if key in SINGLES:
                errors.extend(_single(project, key, raw, shown))
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
