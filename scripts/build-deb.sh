#!/usr/bin/env bash
# Builds patchwarden_<version>_<arch>.deb from a staged tree with plain `dpkg-deb --build
# --root-owner-group` (docs/packaging.md). Prints the .deb's path as its last line.
#
#   scripts/build-deb.sh [--profile release|debug] [--binary FILE] [--out DIR]
#                        [--compression xz|gzip|none] [--stage DIR]
#
# --binary packages an already built binary instead of running cargo (the end-to-end test passes
# its own); --stage keeps the staged tree in DIR (it must not exist yet).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
profile=release binary= out="$root/target/deb" compression=xz stage=
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --compression) compression=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    *) echo "error: unknown argument $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
case "$profile" in release|debug) ;; *) echo "error: --profile is release or debug" >&2; exit 2 ;; esac
case "$compression" in xz|gzip|none) ;; *) echo "error: --compression is xz, gzip or none" >&2; exit 2 ;; esac
for tool in dpkg-deb dpkg strip objdump ldd; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install dpkg binutils libc-bin)" >&2; exit 1; }
done

if [ -z "$binary" ]; then
  if [ "$profile" = release ]; then
    cargo build --manifest-path "$root/Cargo.toml" -p patchwarden --release >&2
  else
    cargo build --manifest-path "$root/Cargo.toml" -p patchwarden >&2
  fi
  binary="${CARGO_TARGET_DIR:-$root/target}/$profile/patchwarden"
fi
[ -x "$binary" ] || { echo "error: $binary is not an executable" >&2; exit 1; }

# The workspace version ([workspace.package] in Cargo.toml).
version=$(awk '/^\[workspace.package\]/ {p=1; next} /^\[/ {p=0} p && $1 == "version" {gsub(/"/, "", $3); print $3; exit}' "$root/Cargo.toml")
[ -n "$version" ] || { echo "error: no version in [workspace.package] of Cargo.toml" >&2; exit 1; }
arch=$(dpkg --print-architecture)

# Run-time dependencies from the binary itself: every shared library must map to a known package,
# and libc6's minimum version is the newest GLIBC_ symbol version the binary uses.
depends=()
while read -r lib; do
  case "$lib" in
    linux-vdso.so.*|libc.so.6|libm.so.6|libpthread.so.0|libdl.so.2|librt.so.1|ld-linux*) ;;
    libgcc_s.so.1) depends+=("libgcc-s1") ;;
    *) echo "error: $binary needs $lib; add its package to Depends in $0" >&2; exit 1 ;;
  esac
done < <(ldd "$binary" | awk '{print $1}' | xargs -n1 basename)
glibc=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
[ -n "$glibc" ] || { echo "error: no GLIBC_ symbol versions in $binary" >&2; exit 1; }
depends=("libc6 (>= $glibc)" "${depends[@]}")

if [ -z "$stage" ]; then
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
else
  mkdir "$stage"
fi
chmod 0755 "$stage"
pkg="$root/packaging"
install -D -m 0755 "$binary" "$stage/usr/bin/patchwarden"
strip --strip-unneeded "$stage/usr/bin/patchwarden"
install -D -m 0644 -t "$stage/lib/systemd/system" "$pkg/systemd/patchwarden-server.service" \
  "$pkg/systemd/patchwarden-agent.service"
install -D -m 0644 "$pkg/debian/server.toml" "$stage/etc/patchwarden/server.toml"
install -D -m 0644 -t "$stage/usr/share/doc/patchwarden" "$pkg/debian/copyright" \
  "$root/docs/packaging.md"
install -d -m 0755 "$stage/DEBIAN"
install -m 0755 -t "$stage/DEBIAN" "$pkg/debian/postinst" "$pkg/debian/prerm" "$pkg/debian/postrm"
install -m 0644 "$pkg/debian/conffiles" "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
deps=$(IFS=,; echo "${depends[*]}" | sed 's/,/, /g')
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$size/" \
  -e "s/@DEPENDS@/$deps/" "$pkg/debian/control.in" > "$stage/DEBIAN/control"

mkdir -p "$out"
deb="$out/patchwarden_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compression" --build "$stage" "$deb" >&2
echo "$deb"
