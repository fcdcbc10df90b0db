"""One dbt model as the compiler lists it (compiler.py BUILD_ORDER; engines' builders in learning.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp


@dataclass
class Model:
    """One dbt model: its SQL (a sqlglot tree, or Jinja text for macro-backed models) and properties."""

    name: str
    sql: exp.Expression | str
    description: str
    columns: dict[str, dict] = field(default_factory=dict)  # name -> {description, data_tests}
    tests: list[dict] = field(default_factory=list)
    materialized: str = "table"
    config: dict = field(default_factory=dict)  # further dbt config, e.g. incremental_strategy


def not_null(*names: str, **described: str) -> dict[str, dict]:
    return {n: {"description": described.get(n, ""), "data_tests": ["not_null"]} for n in names}


def unique(*columns: str) -> dict:
    return {"kaireon_sql.unique_combination": {"arguments": {"columns": list(columns)}}}
