"""Every engine difference in one place: engine facts, engine-neutral nodes, and their rendering.

Compiled models are engine-neutral sqlglot trees: the builders (builders.py) return custom nodes
(nodes.py) for every construct whose SQL differs by engine. `render` lowers them for one engine with
the per-engine render table (render.py: RENDERS, reading the flags of engines.py) and turns the tree
into the SQL text of a dbt model, with relations written as `{{ ref(...) }}` / `{{ source(...) }}` so
dbt keeps lineage. text.py keeps Jinja delimiters and control characters out of model files.
"""
from __future__ import annotations

from .builders import (MAX_DOUBLE, arithmetic, cast_double, cast_text, char_of, checked_zone, column_type, data_type, extreme,
                       finite_or_null, fmod, grouped, hex8_to_int, hex_text, hour_of, integral, iso_day_of_week,
                       json_array_agg, json_object, json_string, json_value, known_number, known_zone, local_time,
                       md5_bucket, md5_hex, minus_seconds, minute_of, optional_relation, plus_minutes, regex_match, round_digits, round_half_away,
                       run_attribute, seconds_between, truncate)
from .engines import ENGINES, Engine, UnknownEngine, engine
from .nodes import NODES, Neutral, RegexMatch, RunAttribute
from .relations import DbtIncrementalOnly, DbtRef, DbtSource, DbtThis, incremental_this, relation, this_relation
from .render import RENDERS, columns_read, lower, parse, render, type_sql
from .sampling import beta_draw, beta_draw_reference, bind, gamma_draw, hash_uniform, uniforms, with_uniforms
from .text import jinja_safe_parts, jinja_text

__all__ = [
    "ENGINES", "MAX_DOUBLE", "NODES", "RENDERS", "DbtIncrementalOnly", "DbtRef", "DbtSource", "DbtThis", "Engine",
    "Neutral", "RegexMatch", "RunAttribute", "UnknownEngine", "arithmetic", "beta_draw", "bind", "beta_draw_reference", "cast_double", "cast_text", "char_of", "checked_zone", "column_type", "columns_read",
    "data_type", "engine", "extreme", "finite_or_null", "fmod", "gamma_draw", "grouped", "hash_uniform", "hex8_to_int", "hex_text", "hour_of", "incremental_this", "integral",
    "iso_day_of_week", "jinja_safe_parts", "jinja_text", "json_array_agg", "json_object", "json_string", "json_value", "known_number",
    "known_zone", "local_time", "lower", "md5_bucket", "md5_hex", "minus_seconds", "minute_of", "optional_relation", "parse", "plus_minutes", "regex_match", "relation",
    "render", "round_digits", "round_half_away", "run_attribute", "seconds_between", "this_relation", "truncate", "type_sql", "uniforms",
    "with_uniforms",
]
