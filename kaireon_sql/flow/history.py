"""Interaction history (S3): the typed staging model every policy, rule and metric reads."""
from __future__ import annotations

from sqlglot import exp

from ..config.project import Project
from ..dialect import Engine, cast_double, cast_text, relation
from .context import col
from .features import HISTORY_MODEL

# S3 columns and their types; one `impression` row is one contact.
COLUMNS = {
    "customer_id": "text", "offer_id": "text", "channel": "text", "outcome": "text",
    "occurred_at": "timestamp", "value": "double", "creative_id": "text", "decision_flow_key": "text",
}


def staging_model(project: Project, eng: Engine) -> exp.Select:
    """The configured interaction-history relation with S3's columns, typed the same on every engine."""
    def typed(name: str, kind: str) -> exp.Expression:
        source = col(name, "h")
        if kind == "text":
            return cast_text(source, eng)
        if kind == "double":
            return cast_double(source, eng)
        return exp.cast(source, "TIMESTAMP")

    return exp.select(*[exp.alias_(typed(n, k), n, quoted=True) for n, k in COLUMNS.items()]).from_(
        relation(project.interaction_history.relation).as_("h"))


__all__ = ["COLUMNS", "HISTORY_MODEL", "staging_model"]
