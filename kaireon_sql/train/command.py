"""The `kaireon train` command: read the training rows through dbt, fit (seeded), write the model file."""
from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .. import runner
from ..cli import _load, _project
from ..dialect import engine
from ..errors import DbtRunError, KaireonError
from ..plan.trained import GBM, NCF, feature_kind, feature_names, model_file
from . import dataset, ncf


def _write(path: Path, data: dict) -> None:
    """Atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kaireon-train-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def _read(project, eng, query) -> list[dict]:
    try:
        return runner.query(project, query, eng)
    except DbtRunError as exc:
        raise KaireonError(f"{exc}; has `kaireon run` built the models this reads?") from None


def train_gbm(project, eng, model, config, as_of: datetime, seed: int) -> tuple[dict, str]:
    from . import gbm  # lazy: scikit-learn loads for gradient_boosted models only

    positives, window = dataset.settings(model)
    names = feature_names(model)
    kinds = [feature_kind(config, n, model.location.at("config.features")) for n in names]
    log = _read(project, eng, dataset.feature_log_query(model))
    history = _read(project, eng, dataset.history_query(positives))
    rows = dataset.join_features(model, dataset.labelled_impressions(history, positives, window, as_of), log, as_of)
    if not rows.rows:
        raise dataset.TrainingDataError(
            f"model {model.ref!r}: no training rows: {len(log)} logged decision(s), {rows.unlogged} impression(s) "
            "without a logged decision before them; run flows that load its features (they fill "
            "the feature log) and record their impressions and outcomes first")
    features = [gbm.encoder(n, k, [r[j] for r in rows.rows]) for j, (n, k) in enumerate(zip(names, kinds))]
    try:
        clf = gbm.fit(features, rows.rows, rows.labels, model.config, seed)
    except ValueError as exc:
        raise dataset.TrainingDataError(f"model {model.ref!r}: {exc}") from None
    trained = {"as_of": as_of.isoformat() + "Z", "seed": seed, "rows": len(rows.rows), "positives": sum(rows.labels),
               "unlogged_impressions": rows.unlogged}
    data = gbm.model_file(clf, features, model.ref, trained)
    return data, f"{len(rows.rows)} rows ({sum(rows.labels)} positive), {len(data['trees'])} trees"


def train_ncf(project, eng, model, as_of: datetime, seed: int) -> tuple[dict, str]:
    positives, window = dataset.settings(model)
    history = _read(project, eng, dataset.history_query(positives))
    cells = [(i.customer_id, i.offer_id, i.label) for i in dataset.labelled_impressions(history, positives, window, as_of)]
    if not cells:
        raise dataset.TrainingDataError(f"model {model.ref!r}: no impressions up to {as_of.isoformat()}Z to learn from")
    factors = ncf.fit(cells, model.config, seed)
    trained = {"as_of": as_of.isoformat() + "Z", "seed": seed, "rows": len(cells), "positives": sum(c[2] for c in cells)}
    return ncf.model_file(factors, model.ref, trained), (
        f"{len(cells)} impressions, {len(factors['customers'])} customers x {len(factors['offers'])} offers, "
        f"{factors['factors']} factors")


def train(args) -> int:
    project = _project(args)
    config = _load(args, project)
    model = config.find("algorithmModels", args.model_id)
    if model is None or model.model_type not in (GBM, NCF):
        known = [m.ref for m in config.all("algorithmModels") if m.model_type in (GBM, NCF)]
        raise KaireonError(f"no gradient_boosted or neural_cf model {args.model_id!r}; expected one of: {known or 'none'}")
    eng = engine(project.engine_name() if args.engine is None else args.engine)
    as_of = runner.parse_as_of(args.as_of) if args.as_of else datetime.now(timezone.utc)
    as_of = as_of.astimezone(timezone.utc).replace(tzinfo=None) if as_of.tzinfo else as_of
    if model.model_type == GBM:
        data, what = train_gbm(project, eng, model, config, as_of, args.seed)
    else:
        data, what = train_ncf(project, eng, model, as_of, args.seed)
    path, given, _ = model_file(config, model)
    _write(path, data)
    print(f"trained {model.model_type} model {model.ref!r} on {what}; wrote {given} (seed {args.seed})")
    return 0
