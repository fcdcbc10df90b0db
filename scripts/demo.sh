#!/usr/bin/env bash
# Install, then run the winback demo (seed 000) on DuckDB at 2026-11-20 15:00 UTC (10:00 in New York).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/kaireon run --as-of 2026-11-20T15:00:00Z --quiet-dbt "$@"
