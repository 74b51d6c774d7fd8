#!/usr/bin/env bash
# The API fuzzer (docs/robustness.md, "The API fuzzer"): Schemathesis reads the OpenAPI document
# of a real controller (`patchwarden up --no-plan-changes`, loopback port, temporary data
# directory) and sends it generated requests (examples, coverage, fuzzing and stateful phases,
# following the document's links) as an admin. Fails on any 5xx, any status, content type or response body the document does not
# declare, a panic in the controller's log, or a controller that no longer answers its admin.
#
# Usage: scripts/api-fuzz.sh
#   API_FUZZ_EXAMPLES  test cases per operation and phase (default 25)
#   API_FUZZ_SECONDS   the whole Schemathesis run is killed (and fails) after this (default 600)
#   API_FUZZ_SEED      a seed, to repeat a run that failed (Schemathesis prints its seed)
#   API_FUZZ_REPORT    where to keep the JUnit and HAR reports (default: removed with the run)
#   API_FUZZ_CHECKS    the Schemathesis checks (default: no 5xx, and status, content type and
#                      response body as documented)
#   PATCHWARDEN_BIN    the binary to test (default $CARGO_TARGET_DIR or target, then
#                      debug/patchwarden; built if missing)
#   SCHEMATHESIS_VENV  where scripts/install-test-deps.sh installed Schemathesis
#   API_FUZZ_SCHEMA    a document file to use instead of the one the controller serves (to try an
#                      edit of crates/pw-server/openapi.json without building again)
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${API_FUZZ_EXAMPLES:-25}"
seconds="${API_FUZZ_SECONDS:-600}"
checks="${API_FUZZ_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance}"
venv="${SCHEMATHESIS_VENV:-/var/cache/patchwarden-testbed/schemathesis-venv}"
bin="${PATCHWARDEN_BIN:-${CARGO_TARGET_DIR:-target}/debug/patchwarden}"
schemathesis="$venv/bin/schemathesis"
if [ ! -x "$schemathesis" ]; then
    echo "error: $schemathesis is missing; run scripts/install-test-deps.sh" >&2
    exit 1
fi
if [ ! -x "$bin" ]; then
    cargo build -p patchwarden --bin patchwarden --locked
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Two admins: the fuzzer's and a second one. The fuzzer revokes operators whose names it reads
# from responses; scripts/api_fuzz_hooks.py turns a revocation of its own operator into one of
# the second admin, and the controller refuses to revoke the last active admin.
data="$work/data"
fuzz_admin="api-fuzz-admin"
token="$("$bin" operators add "$fuzz_admin" --role admin --data-dir "$data")"
second_admin="api-fuzz-second-admin"
"$bin" operators add "$second_admin" --role admin --data-dir "$data" >/dev/null

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# `up` rather than `server`: this machine's agent enrolls, so hosts, findings, evidence, plans and
# rollouts have real data behind them. --no-plan-changes: the agent refuses every change command,
# even the rollout of an approved plan (the fuzzer approves plans); nothing is installed here.
RUST_LOG=warn "$bin" up --no-plan-changes --listen "127.0.0.1:$port" --data-dir "$data" \
    >"$work/server.log" 2>&1 &
server_pid=$!
# Bounded wait for the first answer (curl retries refused connections for at most 30 s).
if ! curl -fsS -o /dev/null --retry 60 --retry-connrefused --retry-delay 1 --retry-max-time 30 \
    "$base/api/v1/openapi.json"; then
    echo "error: the controller did not answer on $base within 30 s:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
# Bounded wait for the agent's first inventory (plans are built from it).
for _ in $(seq 1 120); do
    curl -fsS "$base/metrics" | grep -q '^patchwarden_agent_inventory_reports_total [1-9]' && break
    sleep 1
done
curl -fsS "$base/metrics" | grep -q '^patchwarden_agent_inventory_reports_total [1-9]' ||
    echo "warning: no inventory from this machine's agent after 120 s; fuzzing without one" >&2

# A fleet document whose group `web-staging` (the name in the document's example plan) holds
# every host, so that plans can be built.
curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/toml' \
    --data-binary @- "$base/api/v1/fleet" <<'TOML'
[groups.web-staging]
environment = "staging"
owners = ["api-fuzz@example.com"]
windows = [{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "23h" }]

[groups.web-staging.members]
hostnames = ["*"]
TOML

report="$(realpath -m "${API_FUZZ_REPORT:-$work/report}")"
location=("$base/api/v1/openapi.json")
[ -n "${API_FUZZ_SCHEMA:-}" ] && location=("$(realpath "$API_FUZZ_SCHEMA")" --url "$base")
seed=()
[ -n "${API_FUZZ_SEED:-}" ] && seed=(--seed "$API_FUZZ_SEED")
echo "== schemathesis $("$schemathesis" --version | awk '{print $NF}') against $base" \
    "(at most $examples examples per operation, ${seconds}s)"
started=$SECONDS
status=0
# From the temporary directory: Schemathesis keeps its cache (.schemathesis/) where it runs.
# One worker: with two, Debian 12's Python 3.11.2 fails now and then in `ast.parse` ("AST
# constructor recursion depth mismatch", a CPython race fixed in later 3.11 releases).
(cd "$work" && API_FUZZ_ADMIN="$fuzz_admin" API_FUZZ_SECOND_ADMIN="$second_admin" \
    SCHEMATHESIS_HOOKS="$OLDPWD/scripts/api_fuzz_hooks.py" \
    timeout --signal=TERM --kill-after=10 "$seconds" \
    "$schemathesis" run "${location[@]}" \
    --header "Authorization: Bearer $token" \
    --checks "$checks" \
    --max-examples "$examples" \
    --request-timeout 10 \
    --workers 1 \
    --no-color \
    --generation-database none \
    --report junit,har --report-dir "$report" \
    "${seed[@]}") || status=$?
elapsed=$((SECONDS - started))
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "error: the API fuzzer did not finish within ${seconds}s" >&2
fi

# The controller survived, still knows its admin, and never panicked.
if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "error: the controller exited during the run:" >&2
    status=1
elif [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/api/v1/me")" != 200 ]; then
    echo "error: the fuzzer's admin token no longer works after the run" >&2
    status=1
fi
if grep -q "panicked" "$work/server.log"; then
    echo "error: the controller panicked during the run:" >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "-- the controller's log (last 50 lines):" >&2
    tail -n 50 "$work/server.log" >&2
    exit "$status"
fi
echo "== the API fuzzer found nothing in ${elapsed}s"
