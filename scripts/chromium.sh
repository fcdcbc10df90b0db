#!/usr/bin/env bash
# Debian's `chromium` for the report's headless-browser test (tests/test_report.py): installed with apt
# when missing and run as root. Elsewhere (no apt, not root) it prints a note and the test skips, unless
# KAIREON_REQUIRE_CHROMIUM=1 (CI: scripts/test.sh sets it under .ci/run), when a missing browser fails.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  command -v chromium >/dev/null 2>&1 && exit 0
fi
if [ "${KAIREON_REQUIRE_CHROMIUM:-}" = 1 ]; then
  echo "scripts/chromium.sh: chromium is missing and cannot be installed here (needs root and apt-get)" >&2
  exit 1
fi
echo "scripts/chromium.sh: note: chromium not installed (needs root and apt-get); the browser test will skip" >&2
