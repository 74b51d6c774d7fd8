#!/bin/sh
# One pw-loadgen run against a fresh controller, as in docs/PERFORMANCE.md:
#
#   scripts/loadgen-run.sh BIN_DIR RUN_DIR [pw-loadgen arguments…]
#
# BIN_DIR holds release builds of patchwarden and pw-loadgen (`cargo build --release -p pw-bench
# -p patchwarden -p pw-loadgen`); RUN_DIR is emptied and gets the controller's data directory,
# its log (server.log), the load generator's output (loadgen.log) and figures (figures.json).
# The controller gets the built-in snapshot's feeds (OSV, KEV, EPSS from ../shared/data or
# $PW_DATA) and listens on 127.0.0.1:${PW_PORT:-18421}; SQLite in RUN_DIR unless
# $PW_DATABASE_URL names another database (a PostgreSQL database must exist and be empty).
# $PW_FLEET names a fleet document (TOML) applied before the agents start: the scheduler then
# resolves every host's group each pass, as in a fleet with groups (docs/fleet.md).
set -eu
umask 077
[ $# -ge 2 ] || { echo "usage: $0 BIN_DIR RUN_DIR [pw-loadgen arguments…]" >&2; exit 2; }
bin=$(cd "$1" && pwd); dir=$2; shift 2
data=${PW_DATA:-$(cd "$(dirname "$0")/../../shared/data" && pwd)}
port=${PW_PORT:-18421}
rm -rf "$dir"; mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
url=${PW_DATABASE_URL:-sqlite://$dir/patchwarden.db}
# Every agent holds a socket in the load generator and in the controller.
ulimit -n "$(ulimit -Hn)"
"$bin/patchwarden" operators --data-dir "$dir" --database "$url" add lg --role admin \
  > "$dir/admin.token"
"$bin/patchwarden" feeds --database "$url" import "$data/osv-debian12-changelogs.jsonl.gz" \
  "$data/kev.json.gz" "$data/epss-sample.csv.gz" > "$dir/feeds.log"
"$bin/patchwarden" server --data-dir "$dir" --database "$url" --listen "127.0.0.1:$port" \
  > "$dir/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT INT TERM
tries=0
until grep -q "controller listening" "$dir/server.log" 2>/dev/null; do
  tries=$((tries + 1))
  [ "$tries" -le 300 ] || { echo "the controller did not start: $dir/server.log" >&2; exit 1; }
  kill -0 "$server" 2>/dev/null || { echo "the controller exited: $dir/server.log" >&2; exit 1; }
  sleep 0.1
done
if [ -n "${PW_FLEET:-}" ]; then
  "$bin/patchwarden" fleet apply "$PW_FLEET" --server "https://127.0.0.1:$port" \
    --token-file "$dir/admin.token" --ca-cert "$dir/ca/ca.pem" > "$dir/fleet.log"
fi
"$bin/pw-loadgen" --server "127.0.0.1:$port" --ca "$dir/ca/ca.pem" \
  --token-file "$dir/admin.token" --controller-pid "$server" --patchwarden "$bin/patchwarden" \
  --database "$url" --data-dir "$data" --json "$dir/figures.json" "$@" 2>&1 | tee "$dir/loadgen.log"
