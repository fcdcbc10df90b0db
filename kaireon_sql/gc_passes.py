"""Fewer passes of Python's cyclic garbage collector while large structures are built."""
from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Python's cyclic GC with a larger first threshold while config is read or SQL trees are built
    or rendered.

    Building a large project's trees allocates millions of short-lived objects; at the default
    threshold (700) the collector ran so often over the growing heap that compile time grew with
    about the square of the config (bench/compile_scale.py). The previous thresholds come back after.
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)
