#!/usr/bin/env bash
# The full test suite, exactly as CI runs it. Installs what the tests need on a fresh Debian 12
# machine (Rust toolchain present), then checks formatting and lints, runs every test, and runs
# each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

echo "== rustfmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --locked
echo "== fuzz smoke (${FUZZ_SECONDS:-10}s per target)"
scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-10}"
echo "== all tests passed"
