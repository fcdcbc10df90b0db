"""Interaction history (S3): the typed staging model every policy, rule and metric reads, and the
daily interaction summary (seed 001's Respond API "interaction summaries")."""
from __future__ import annotations

from sqlglot import exp

from ..config.project import Project
from ..dialect import cast_double, cast_text, relation
from ..plan.context import col
from ..plan.context import RUN_PARAMS
from ..plan.context import HISTORY_MODEL

# S3 columns and their types; one `impression` row is one contact.
COLUMNS = {
    "customer_id": "text", "offer_id": "text", "channel": "text", "outcome": "text",
    "occurred_at": "timestamp", "value": "double", "creative_id": "text", "decision_flow_key": "text",
}


def _typed(name: str, kind: str) -> exp.Expression:
    source = col(name, "h")
    if kind == "text":
        return cast_text(source)
    if kind == "double":
        return cast_double(source)
    return exp.cast(source, "TIMESTAMP")


def staging_model(project: Project) -> exp.Select:
    """The configured interaction-history relation with S3's columns, typed the same on every engine."""
    return exp.select(*[exp.alias_(_typed(n, k), n, quoted=True) for n, k in COLUMNS.items()]).from_(
        relation(project.interaction_history.relation).as_("h"))


SUMMARY_MODEL = "kaireon_interaction_summary_daily"
SUMMARY_KEYS = ("customer_id", "offer_id", "channel", "outcome", "interaction_date")
SUMMARY_DESCRIPTION = (
    "Interaction summaries: one row per customer x offer x channel x outcome x day (UTC date of "
    "occurred_at), over interaction history up to as_of (later rows are ignored)."
)
SUMMARY_COLUMNS = {
    "customer_id": "Customer key.",
    "offer_id": "Offer id as recorded in the interaction history.",
    "channel": "Channel of the interactions.",
    "outcome": "Outcome: impression, click, convert, dismiss or a custom type.",
    "interaction_date": "UTC calendar date of occurred_at.",
    "interactions": "Number of interactions (one impression = one contact).",
    "total_value": "Sum of `value` (NULL when no interaction of the group has a value).",
    "first_at": "Earliest occurred_at (UTC) of the group.",
    "last_at": "Latest occurred_at (UTC) of the group.",
}


def summary_model() -> exp.Select:
    """Daily counts, value and first/last timestamps per customer x offer x channel x outcome."""
    keys = [col(k, "h") for k in SUMMARY_KEYS[:-1]]
    day = exp.cast(col("occurred_at", "h"), "DATE")
    return (
        exp.select(*keys, exp.alias_(day, "interaction_date", quoted=True))
        .select(
            exp.alias_(exp.Count(this=exp.Star()), "interactions", quoted=True),
            exp.alias_(exp.Sum(this=col("value", "h")), "total_value", quoted=True),
            exp.alias_(exp.Min(this=col("occurred_at", "h")), "first_at", quoted=True),
            exp.alias_(exp.Max(this=col("occurred_at", "h")), "last_at", quoted=True),
        )
        .from_(relation(HISTORY_MODEL).as_("h"))
        .join(relation(RUN_PARAMS).as_("p"), join_type="cross")
        .where(exp.LTE(this=col("occurred_at", "h"), expression=col("as_of", "p")))
        .group_by(*keys, day)
    )


__all__ = ["COLUMNS", "SUMMARY_MODEL", "staging_model", "summary_model"]
