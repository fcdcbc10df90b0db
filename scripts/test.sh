#!/usr/bin/env bash
# Install with test extras and run the whole suite on DuckDB, PostgreSQL and Spark, and the Snowflake
# rendering through fakesnow: unit, property-based, golden SQL, scenario tests (each compared across
# engines), dbt builds.
#   KAIREON_ENGINES=duckdb bash scripts/test.sh    DuckDB only (no PostgreSQL server, no Spark, no fakesnow)
# PostgreSQL: a throwaway cluster on 127.0.0.1 (scripts/postgres.sh; installs Debian's postgresql
# as root when missing). Spark: pyspark in local mode on the machine's Java 17.
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINES=${KAIREON_ENGINES:-duckdb,postgres,spark,fakesnow}
EXTRAS=test
case ",$ENGINES," in *,postgres,*|*,spark,*) EXTRAS=test,engines ;; esac
EXTRAS=$EXTRAS bash scripts/install.sh
if [[ ",$ENGINES," == *,fakesnow,* ]]; then
  # fakesnow pins its own sqlglot: its own environment (tests/fakesnow-requirements.txt), made with uv
  [ -x .venv-fakesnow/bin/python ] || .venv/bin/python -m uv venv --quiet --python .venv/bin/python .venv-fakesnow
  .venv/bin/python -m uv pip install --quiet --python .venv-fakesnow/bin/python -r tests/fakesnow-requirements.txt
fi
bash scripts/chromium.sh  # Debian's chromium for tests/test_report.py (installed as root; a note and a skip elsewhere)
export DBT_SEND_ANONYMOUS_USAGE_STATS=false SPARK_LOCAL_IP=127.0.0.1
export KAIREON_REQUIRE_ENGINES=$ENGINES
export KAIREON_CROSS_ENGINE=$(echo "$ENGINES" | tr ',' '\n' | grep -v '^duckdb$\|^fakesnow$' | paste -sd, -)
if [[ ",$ENGINES," == *,postgres,* ]]; then
  bash scripts/postgres.sh start
  trap 'bash scripts/postgres.sh stop' EXIT
fi
# --dist loadfile: a module runs on one worker, so its module-scoped dbt builds (one per engine) run once
.venv/bin/python -m pytest -n 2 --dist loadfile "$@"
