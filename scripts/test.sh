#!/usr/bin/env bash
# The full test suite, exactly as CI runs it. Installs what the tests need on a fresh Debian 12
# machine (Rust toolchain present), then checks formatting and lints, runs every test, fuzzes the
# HTTP API from its OpenAPI document, and runs each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."

# insta snapshots (docs/testing.md): a changed or missing snapshot fails the run; nothing is
# written or accepted here (no .snap.new files, no forced passes).
export INSTA_UPDATE=no CI="${CI:-true}"
unset INSTA_FORCE_PASS INSTA_FORCE_UPDATE

scripts/install-test-deps.sh

echo "== rustfmt"
cargo fmt --all -- --check
echo "== one TLS crypto provider (ring): aws-lc-rs and OpenSSL must not be linked"
for crate in aws-lc-rs openssl-sys; do
  if cargo tree --workspace -i "$crate" >/dev/null 2>&1; then
    echo "error: $crate is in the dependency graph (see docs/design/decisions.md)"; cargo tree --workspace -i "$crate"; exit 1
  fi
done
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --locked --no-fail-fast
echo "== API fuzzer (Schemathesis against a real controller; docs/robustness.md)"
cargo build -p patchwarden --bin patchwarden --locked
scripts/api-fuzz.sh
echo "== fuzz smoke (${FUZZ_SECONDS:-5}s per target)"
scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-5}"
echo "== all tests passed"
