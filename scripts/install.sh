#!/usr/bin/env bash
# Install kaireon-sql and its dependencies into ./.venv (idempotent). EXTRAS=test adds pytest/hypothesis.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check uv
# dbt-core 1.12 pulls dbt-core-experimental-parser, whose source build needs the internet: take the wheel.
# --compile-bytecode: uv skips .pyc files by default, and then every `kaireon` and `dbt` process
# compiles sqlglot, dbt and friends from source again (about 2 s a command).
.venv/bin/python -m uv pip install --quiet --compile-bytecode --python .venv/bin/python \
  --only-binary dbt-core-experimental-parser -e ".${EXTRAS:+[$EXTRAS]}"
