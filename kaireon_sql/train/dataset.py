"""Training rows of a trained model, read from the warehouse through dbt (runner.query, `dbt show`).

Labels follow S8 attribution: a positive outcome row (`config.positiveOutcomes`, default click and
convert) is attributed to the latest impression of the same customer and offer (and channel, when the
positive row has one) within `config.attributionWindowDays` (default 7) before it; an impression is a
positive training row iff a positive is attributed to it. Only rows with occurred_at <= as_of are read.

A gradient_boosted model's features are those of its feature log (`kaireon_model__<id>__feature_log`),
the values when the decision was made: an impression takes the log row of the latest decision for the
same customer and offer made at or before it (as_of <= occurred_at). Impressions with no logged
decision are left out (counted in `Dataset.unlogged`). Today's customer table is never read.

The attribution runs here, in Python, over the two relations read through dbt; when the project's
`kaireon_attribution` model (plan/context.py ATTRIBUTION_MODEL) lands, `labelled_impressions` is the
one function to replace by a read of it.
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlglot import exp

from ..config.models import AlgorithmModel
from ..dialect import relation
from ..errors import KaireonError
from ..plan.context import HISTORY_MODEL, col, lit
from ..plan.models import model_relation
from ..plan.trained import FEATURE_LOG, feature_names, log_column

DEFAULT_POSITIVES = ("click", "convert")
DEFAULT_WINDOW_DAYS = 7.0


class TrainingDataError(KaireonError):
    """No usable training rows (nothing logged yet, one class only, ...)."""


def utc(value) -> datetime:
    """A timestamp as read back through dbt, as a naive UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def settings(model: AlgorithmModel) -> tuple[tuple[str, ...], timedelta]:
    """(positive outcomes, attribution window) of the model's config, checked."""
    positives = model.config.get("positiveOutcomes", list(DEFAULT_POSITIVES))
    if not isinstance(positives, list) or not positives or not all(isinstance(p, str) and p for p in positives):
        raise TrainingDataError(f"{model.location.at('config.positiveOutcomes')}: expected a non-empty list of outcome names")
    days = model.config.get("attributionWindowDays", DEFAULT_WINDOW_DAYS)
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not days > 0:
        raise TrainingDataError(f"{model.location.at('config.attributionWindowDays')}: expected a number of days > 0")
    return tuple(positives), timedelta(days=float(days))


@dataclass
class Impression:
    customer_id: str
    offer_id: str
    channel: str | None
    occurred_at: datetime
    label: int = 0


def labelled_impressions(history: list[dict], positives: tuple[str, ...], window: timedelta,
                         as_of: datetime) -> list[Impression]:
    """Impressions (occurred_at <= as_of) with label 1 iff a positive outcome is attributed to them (S8)."""
    by_pair: dict[tuple[str, str], list[Impression]] = defaultdict(list)
    outcomes = []
    for row in history:
        at = utc(row["occurred_at"])
        if at > as_of:
            continue
        key = (str(row["customer_id"]), str(row["offer_id"]))
        if row["outcome"] == "impression":
            by_pair[key].append(Impression(key[0], key[1], row["channel"], at))
        elif row["outcome"] in positives:
            outcomes.append((key, row["channel"], at))
    for imps in by_pair.values():
        imps.sort(key=lambda i: (i.occurred_at, i.channel or ""))
    for key, channel, at in outcomes:
        latest = None
        for imp in by_pair.get(key, ()):  # the latest impression at or before the outcome
            if imp.occurred_at > at:
                break
            if channel is None or imp.channel == channel:
                latest = imp
        if latest is not None and at - latest.occurred_at <= window:
            latest.label = 1
    return [i for imps in by_pair.values() for i in imps]


def history_query(positives: tuple[str, ...]) -> exp.Select:
    outcomes = [lit("impression"), *[lit(p) for p in positives]]
    return (exp.select(*[col(c) for c in ("customer_id", "offer_id", "channel", "outcome", "occurred_at")])
            .from_(relation(HISTORY_MODEL)).where(exp.In(this=col("outcome"), expressions=outcomes)))


def feature_log_query(model: AlgorithmModel) -> exp.Select:
    columns = ["customer_id", "offer_id", "as_of", *[log_column(n) for n in feature_names(model)]]
    return exp.select(*[col(c) for c in columns]).from_(relation(model_relation(model, FEATURE_LOG)))


@dataclass
class Dataset:
    """Training rows: one feature row (raw values, in config.features order) and label per impression."""

    features: list[str]
    rows: list[list] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    unlogged: int = 0  # impressions without a logged decision before them


def join_features(model: AlgorithmModel, impressions: list[Impression], log: list[dict], as_of: datetime) -> Dataset:
    """Each impression with the features of the latest logged decision of its customer and offer before it."""
    names = feature_names(model)
    columns = [log_column(n) for n in names]
    logged: dict[tuple[str, str], list[tuple[datetime, list]]] = defaultdict(list)
    for row in log:
        at = utc(row["as_of"])
        if at <= as_of:
            logged[(str(row["customer_id"]), str(row["offer_id"]))].append((at, [row[c] for c in columns]))
    for rows in logged.values():
        rows.sort(key=lambda r: r[0])
    data = Dataset(names)
    for imp in impressions:
        rows = logged.get((imp.customer_id, imp.offer_id), [])
        i = bisect.bisect_right([at for at, _ in rows], imp.occurred_at)
        if i == 0:
            data.unlogged += 1
            continue
        data.rows.append(rows[i - 1][1])
        data.labels.append(imp.label)
    return data
