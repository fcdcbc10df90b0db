#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the cross-engine tests.
#   bash scripts/postgres.sh start   installs Debian's postgresql if needed (as root), starts a cluster
#   bash scripts/postgres.sh stop    stops it and removes its data
# Connection: host 127.0.0.1, port $KAIREON_PG_PORT (default 54329), user/password kaireon, db kaireon.
set -euo pipefail
PORT=${KAIREON_PG_PORT:-54329}
DATA=${KAIREON_PG_DATA:-/tmp/kaireon-pg-$PORT}
bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

case "${1:-}" in
  start)
    if [ -z "$(bin_dir)" ]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    fi
    BIN=$(bin_dir)
    as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    rm -rf "$DATA" && mkdir -p "$DATA" && { [ "$(id -u)" != 0 ] || chown postgres "$DATA"; }
    as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
    as_pg "$BIN/pg_ctl" -D "$DATA" -w -l "$DATA/server.log" \
      -o "-h 127.0.0.1 -p $PORT -k $DATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
    as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "create role kaireon login superuser password 'kaireon'"
    as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "create database kaireon owner kaireon"
    echo "postgres listening on 127.0.0.1:$PORT"
    ;;
  stop)
    BIN=$(bin_dir)
    if [ -n "$BIN" ] && [ -d "$DATA" ]; then
      if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null || true
      else "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null || true; fi
    fi
    rm -rf "$DATA"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
