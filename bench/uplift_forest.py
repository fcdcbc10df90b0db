"""The uplift random forest (`kaireon uplift fit --learner forest`) against causalml's
UpliftRandomForestClassifier and the project's logistic learners, on the Hillstrom e-mail data
(training half), Womens E-Mail (treated) vs No E-Mail (control), outcome `visit`.

    uv pip install --python .venv/bin/python causalml scikit-learn    # benchmark only
    .venv/bin/python bench/uplift_forest.py [--data ../shared/data/hillstrom/hillstrom_train.csv] [--quick]

Every learner sees the same 5 stratified folds (sklearn StratifiedKFold on treatment x outcome,
shuffle, random_state 0: the folds of bench/uplift_hillstrom.py) and the same 7 features; the
forests get the same encoded matrix (text one-hot, numbers standardised: trees do not care). Score:
the project's Qini coefficient (kaireon_sql.uplift.metrics.qini_auc_score) on each held-out fold.
Prints one line per learner and fold, then a Markdown table of the means.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kaireon_sql.uplift import UpliftDataWarning, load_table  # noqa: E402
from kaireon_sql.uplift.dataset import table_from_arrays  # noqa: E402
from kaireon_sql.uplift.encoding import fit_encoding  # noqa: E402
from kaireon_sql.uplift.forest import ForestParams  # noqa: E402
from kaireon_sql.uplift.learners import fit_uplift  # noqa: E402
from kaireon_sql.uplift.metrics import qini_auc_score  # noqa: E402

FEATURES = ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "hillstrom" / "hillstrom_train.csv"
# The forest as documented in docs/uplift.md (`--trees 200 --depth 6 --min-leaf 800 --max-features 8`).
FOREST = ForestParams(n_trees=200, max_depth=6, min_leaf=800, max_features=8)


def load(path: Path):
    table = load_table(str(path), columns=FEATURES + ["segment", "visit"])
    table = table.rows(np.isin(table.columns["segment"], ["Womens E-Mail", "No E-Mail"]))
    t = (table.columns["segment"] == "Womens E-Mail").astype(int)
    return {f: table.columns[f] for f in FEATURES}, t, table.columns["visit"].astype(int)


def folds(t, y, k=5, seed=0):
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(t)), 2 * t + y))


def ours(learner, forest=None):
    def run(train, t, y, test):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UpliftDataWarning)
            model = fit_uplift(table_from_arrays({**train, "t": t, "y": y}), "t", "y", FEATURES, learner, seed=0,
                               forest=forest)
        return model.uplift(table_from_arrays(test))
    return run


def causalml_forest(**options):
    def run(train, t, y, test):
        from causalml.inference.tree import UpliftRandomForestClassifier

        enc = fit_encoding(table_from_arrays(train), FEATURES, log_skewed=False)
        x_train, x_test = enc.matrix(table_from_arrays(train)), enc.matrix(table_from_arrays(test))
        arm = np.where(t == 1, "treatment", "control")
        model = UpliftRandomForestClassifier(control_name="control", evaluationFunction="KL", random_state=0,
                                             n_jobs=1, **options)
        model.fit(x_train, treatment=arm, y=y)
        return np.asarray(model.predict(x_test)).ravel()
    return run


def learners(quick: bool):
    out = {
        "kaireon forest (KL, 200 trees, depth 6, min leaf 800, 8 of 12 columns per node, honest)": ours("forest", FOREST),
        "kaireon T (logistic)": ours("t"),
        "kaireon S + interactions (logistic)": ours("s"),
        "kaireon X (logistic + ridge)": ours("x"),
        "kaireon CT (logistic)": ours("ct"),
    }
    try:
        import causalml  # noqa: F401
    except ImportError:
        print("causalml is not installed: its forest is left out", file=sys.stderr)
        return out
    out["causalml UpliftRandomForestClassifier (KL, defaults: 10 trees, depth 5, min leaf 100)"] = causalml_forest()
    if not quick:
        # our forest's settings (causalml's min_samples_leaf counts both arms; min_samples_treatment is per arm)
        same = dict(n_estimators=200, max_depth=6, min_samples_leaf=1600, min_samples_treatment=800, max_features=8)
        out["causalml UpliftRandomForestClassifier (KL, 200 trees, depth 6, min leaf 800 per arm, max_features 8)"] = \
            causalml_forest(**same)
        out["causalml UpliftRandomForestClassifier (KL, as above, honest)"] = causalml_forest(**same, honesty=True)
    return out


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else "?"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return f"nproc {os.cpu_count()}, {cpu}, RAM {mem:.1f} GiB, Python {platform.python_version()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--quick", action="store_true", help="causalml with its defaults only")
    args = ap.parse_args()
    cols, t, y = load(Path(args.data))
    splits = folds(t, y)
    print(f"# bench/uplift_forest.py, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"command: {' '.join([Path(sys.executable).name] + sys.argv)}")
    print(f"machine: {machine()}")
    print(f"data: {args.data}, {len(t)} rows ({int(t.sum())} treated, {int(len(t) - t.sum())} control), outcome visit")
    results = {}
    for name, run in learners(args.quick).items():
        scores, seconds = [], []
        for k, (train, test) in enumerate(splits):
            started = time.perf_counter()
            u = run({f: v[train] for f, v in cols.items()}, t[train], y[train], {f: v[test] for f, v in cols.items()})
            seconds.append(time.perf_counter() - started)
            scores.append(qini_auc_score(y[test], u, t[test]))
            print(f"{name} | fold {k} | Qini {scores[-1]:.4f} | {seconds[-1]:.1f} s", flush=True)
        results[name] = (scores, seconds)
    print("\n| learner | Qini per fold | mean Qini | fit + predict (s, mean) |\n|---|---|---|---|")
    for name, (scores, seconds) in results.items():
        print(f"| {name} | {' '.join(f'{s:.4f}' for s in scores)} | {np.mean(scores):.4f} | {np.mean(seconds):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
