#!/usr/bin/env bash
# Install with test extras, then run the whole suite (unit, property-based, golden SQL, dbt builds).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test bash scripts/install.sh
exec .venv/bin/python -m pytest "$@"
