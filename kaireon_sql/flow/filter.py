"""Filter nodes: drop candidates by field conditions (the 13 operators)."""
from __future__ import annotations

import re

from sqlglot import exp

from ..config.flows import FilterConfig
from ..errors import ConfigError
from .checks import Check, text
from .conditions import COMPARISONS, describe, predicate
from .context import FlowContext, col
from .formulas import compile_formula, offer_value, resolver


def _field(ctx: FlowContext, name: str, where) -> tuple[exp.Expression, str]:
    if name == "channel":
        return col("channel"), "text"
    found = None
    if name.startswith("customer."):
        enriched = ctx.fields.get(name[len("customer."):])
        found = (col(enriched.column), enriched.field.kind) if enriched else None
    elif name.startswith("offer."):
        value = offer_value(ctx, name[len("offer."):])
        found = (value.sql, value.type) if value else None
    if found is None:
        raise ConfigError(where, f"unknown field {name!r}; expected channel, customer.<field> or offer.<field>")
    return found


OFFER_REFERENCE = re.compile(r"\s*offer\.[A-Za-z_][A-Za-z0-9_]*\s*")


def filter_checks(ctx: FlowContext, node) -> list[Check]:
    cfg: FilterConfig = node.config
    label = node.label or node.id
    tests, texts, keys = [], [], []
    for i, cond in enumerate(cfg.conditions):
        where = ctx.node_location(node.id, f"config.conditions[{i}]")
        attr, kind = _field(ctx, cond.field, where.at("field"))
        if cond.value_formula is not None:
            sql, out_kind = compile_formula(cond.value_formula, where.at("valueFormula"), resolver(ctx))
            if out_kind != kind and not (kind == "number" and out_kind == "number"):
                raise ConfigError(where.at("valueFormula"), f"formula gives a {out_kind} but {cond.field} is {kind}")
            if cond.operator not in COMPARISONS:
                raise ConfigError(where.at("operator"), f"'valueFormula' works with {', '.join(COMPARISONS)}, not {cond.operator!r}")
            value = exp.cast(attr, "DOUBLE") if kind == "number" else attr
            test = exp.func("COALESCE", COMPARISONS[cond.operator](this=value, expression=sql), exp.false())
            if (cfg.mode == "all" and cond.operator == "eq" and cond.field.startswith("customer.")
                    and OFFER_REFERENCE.fullmatch(cond.value_formula)):
                keys.append((value, sql))  # customer.X eq offer.Y: a join key (S6)
            texts.append(f"{cond.field} {cond.operator} ({cond.value_formula})")
        else:
            test = predicate(attr, kind, cond.operator, cond.value, "fail", where.at("value"))
            texts.append(describe(cond.field, cond.operator, cond.value))
        tests.append(test)
    passes = exp.and_(*tests) if cfg.mode == "all" else exp.or_(*tests)
    joined = (" and " if cfg.mode == "all" else " or ").join(texts)
    return [Check("filter", label, exp.not_(passes), text(f"Filter '{label}': {joined} not met"), keys)]
