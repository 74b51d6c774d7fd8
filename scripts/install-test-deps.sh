#!/usr/bin/env bash
# Installs everything the test suite needs that a fresh Debian 12 machine with a Rust toolchain
# lacks. Idempotent; safe to run again.
set -euo pipefail

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc)
command -v python3 >/dev/null || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
if ! command -v cargo-fuzz >/dev/null; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
