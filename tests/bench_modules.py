"""Import a benchmark's modules (bench/<folder>/*.py) by their bare names, as the benchmark's own scripts do,
without one benchmark's `sim` or `reference` shadowing another's: bench/learning and bench/intelligence both
have a sim.py, and a pytest worker imports both test modules into one process (sys.modules is shared)."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"
SHARED_NAMES = ("sim", "reference", "arms", "world", "policies", "gbm_quality")


def bench_modules(folder: str, *names: str) -> tuple[ModuleType, ...]:
    """The named modules of bench/<folder>, freshly imported from that folder."""
    path = str(BENCH / folder)
    for name in SHARED_NAMES:
        module = sys.modules.get(name)
        if module is not None and Path(getattr(module, "__file__", "") or "").parent != Path(path):
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if p != path]
    sys.path.insert(0, path)
    return tuple(importlib.import_module(name) for name in names)
