"""Compile work grows about linearly with config size (issue 10). No timing: the work is counted.

The configs are bench/compile_scale.py's (offers; offer-scoped qualification rules; offer-scoped
contact policies). For sizes n, 2n, 4n the test counts the sqlglot nodes created while compiling and
rendering (every copy of a tree creates its nodes again, so quadratic copying shows) and the bytes
of SQL written. Growth from 2n to 4n must be about twice the growth from n to 2n (4x is quadratic).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
import sqlglot.expressions.core as core

from kaireon_sql.compiler import compile_project
from kaireon_sql.config import load_project
from kaireon_sql.dialect import engine
from kaireon_sql.writer import model_files

_spec = importlib.util.spec_from_file_location(
    "compile_scale", Path(__file__).resolve().parents[1] / "bench" / "compile_scale.py")
compile_scale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compile_scale)


def _work(tmp_path: Path, monkeypatch, series: str, size: int, engine_name: str) -> tuple[int, int]:
    kwargs = {"offers": size} if series == "offers" else {"offers": size, series: size}
    folder = tmp_path / f"{series}{size}{engine_name}"
    folder.mkdir()
    (folder / "config.yml").write_text(yaml.safe_dump(compile_scale.config(**kwargs)), encoding="utf-8")
    project = load_project(folder)
    created = [0]
    init = core.Expression.__init__

    def counting(self, *args, **kwargs):
        created[0] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(core.Expression, "__init__", counting)
    eng = engine(engine_name)
    files = model_files(compile_project(project), eng, "decisioning/")
    monkeypatch.setattr(core.Expression, "__init__", init)
    return created[0], sum(len(text.encode()) for text in files.values())


@pytest.mark.parametrize("series,n", [("rules", 25), ("policies", 25), ("offers", 250)])
@pytest.mark.parametrize("engine_name", ["duckdb", "postgres"])
def test_compile_work_grows_linearly(tmp_path, monkeypatch, series, n, engine_name):
    w1, w2, w4 = (_work(tmp_path, monkeypatch, series, size, engine_name) for size in (n, 2 * n, 4 * n))
    for what, (a, b, c) in (("sqlglot nodes created", (w1[0], w2[0], w4[0])), ("SQL bytes", (w1[1], w2[1], w4[1]))):
        first, second = b - a, c - b
        assert first > 0 and second / first < 2.5, (
            f"{series}: {what} {a:,} / {b:,} / {c:,} for {n} / {2 * n} / {4 * n}: grows faster than linearly")


def test_many_offer_scoped_policies_compile_and_render(tmp_path, monkeypatch):
    # 300 quotas in one flow nested an AND 300 deep: sqlglot's generator hit Python's recursion limit.
    nodes, size = _work(tmp_path, monkeypatch, "policies", 300, "duckdb")
    assert size > 0
