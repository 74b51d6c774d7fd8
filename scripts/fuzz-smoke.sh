#!/usr/bin/env bash
# Runs every fuzz target for a few seconds (default 15) from its seeds: a CI smoke test that the
# parsers survive random input. Longer runs: see docs/robustness.md.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS] [TARGET...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain RUSTC_BOOTSTRAP=1 is set
# here because cargo-fuzz passes nightly-only sanitizer flags.
set -euo pipefail

seconds="${1:-15}"
shift || true
root="$(cd "$(dirname "$0")/.." && pwd)"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(dpkg_status rpm_qa os_release policy osv apt_simulation apt_cache dpkg_conffiles dpkg_query debian_changelog restart rrule file_stat kev epss debian_tracker inventory_rows)
fi
target_dir="${CARGO_TARGET_DIR:-$root/fuzz/target}"
export RUSTC_BOOTSTRAP=1

cd "$root/fuzz"
for target in "${targets[@]}"; do
    corpus="$root/fuzz/corpus/$target"
    mkdir -p "$corpus"
    echo "== fuzz $target for ${seconds}s"
    cargo fuzz run --target-dir "$target_dir" "$target" "$corpus" "$root/fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1
done
echo "== all fuzz targets ran ${seconds}s without a crash"
