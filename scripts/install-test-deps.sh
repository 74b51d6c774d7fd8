#!/usr/bin/env bash
# Installs everything the test suite needs that a fresh Debian 12 machine with a Rust toolchain
# lacks. Idempotent; safe to run again.
set -euo pipefail

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc)
command -v python3 >/dev/null || need_apt+=(python3)
# The downgrade check's reference (crates/patchwarden/tests/downgrade_reference.rs) and the
# matching references: libapt-pkg's version comparison from Python (python3-apt).
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import apt_pkg' >/dev/null 2>&1 || need_apt+=(python3-apt)
# End-to-end test bed (crates/pw-testbed, docs/testbed.md): mmdebstrap builds the Debian 12 host
# image, dpkg-dev/apt-utils build the fake apt repository (dpkg-deb, apt-ftparchive).
command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)
command -v dpkg-architecture >/dev/null || need_apt+=(dpkg-dev)
command -v apt-ftparchive >/dev/null || need_apt+=(apt-utils)
# The package test (crates/patchwarden/tests/package_deb.rs): strip, objdump (binutils) and ldd
# (libc-bin) in scripts/build-deb.sh, readelf (binutils) in the test; dpkg-deb comes with dpkg.
# `systemd-analyze verify` runs inside the test-bed host (pw-testbed's systemd image variant).
command -v strip >/dev/null && command -v objdump >/dev/null && command -v readelf >/dev/null || need_apt+=(binutils)
# The page's browser test (crates/patchwarden/tests/page_browser.rs): Debian's chromium, driven
# headless through chromedriver (package chromium-driver).
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# Report PDFs (docs/reports.md): the controller prints them with the same chromium; the tests
# read them back with pdftotext (package poppler-utils).
command -v pdftotext >/dev/null || need_apt+=(poppler-utils)
# A CJK font, so the zh-CN page's screenshots (target/tmp/page-zh-CN.png) are readable.
dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || need_apt+=(fonts-wqy-zenhei)
# The API fuzzer (scripts/api-fuzz.sh, docs/robustness.md): Schemathesis from PyPI in a venv built
# from Debian's python3 (python3-venv), and curl to wait for the controller to answer.
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v curl >/dev/null || need_apt+=(curl)
# PostgreSQL (pw-store's tests run on both backends; pw_testbed::postgres creates a throwaway
# cluster with initdb + pg_ctl from /usr/lib/postgresql/*/bin, as the postgres user via runuser).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# The protection providers' snapshot test (crates/pw-testbed/tests/protection.rs,
# docs/protection.md): qemu-img internal snapshots of a real qcow2 image (qemu-utils).
command -v qemu-img >/dev/null || need_apt+=(qemu-utils)
# The email notification test (crates/patchwarden/tests/notify_cli.rs): a real SMTP server with
# STARTTLS, Debian's aiosmtpd (run with /usr/bin/python3 -m aiosmtpd).
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need_apt+=(python3-aiosmtpd)
# The PromQL gate test (crates/pw-controller/tests/promql_gate.rs): a real Prometheus server
# (Debian's package), started by the test on a loopback port with a temporary TSDB.
command -v prometheus >/dev/null || need_apt+=(prometheus)
# Docker: only when there is no docker CLI at all. A machine with Docker Engine (or a docker CLI
# talking to a remote daemon) keeps what it has.
command -v docker >/dev/null || need_apt+=(docker.io)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi

# The end-to-end tests need a Docker daemon that answers. Start the packaged one if it is down.
if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl start docker >/dev/null 2>&1 || true
  elif command -v service >/dev/null; then
    service docker start >/dev/null 2>&1 || true
  fi
  for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
if ! docker_error=$(docker info 2>&1 >/dev/null); then
  echo "error: the Docker daemon is not reachable ('docker info' failed):" >&2
  echo "$docker_error" | sed 's/^/  /' >&2
  echo "The end-to-end tests (crates/pw-testbed) run Debian 12 hosts as containers; start dockerd" >&2
  echo "(systemctl start docker) or point DOCKER_HOST at a daemon, then run this script again." >&2
  exit 1
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
if ! command -v cargo-fuzz >/dev/null; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# Schemathesis, pinned, in its own venv outside the repository (scripts/api-fuzz.sh runs it).
SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_VENV=${SCHEMATHESIS_VENV:-/var/cache/patchwarden-testbed/schemathesis-venv}
if ! "$SCHEMATHESIS_VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $SCHEMATHESIS_VENV"
  mkdir -p "$(dirname "$SCHEMATHESIS_VENV")"
  /usr/bin/python3 -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
