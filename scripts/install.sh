#!/usr/bin/env bash
# Installs lmbatch into PREFIX: include/lmbatch.h and lmbatch.hpp, lib/liblmbatch.so and .a,
# lib/cmake/lmbatch (find_package(lmbatch CONFIG REQUIRED) -> lmbatch::lmbatch) and
# lib/pkgconfig/lmbatch.pc.
#
#   scripts/install.sh PREFIX            builds the release library first
#   scripts/install.sh PREFIX LIB_DIR    installs the library already built in LIB_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:?usage: install.sh PREFIX [LIB_DIR]}"
lib_dir="${2:-}"
if [ -z "$lib_dir" ]; then
  (cd "$root" && cargo build --release --locked --lib)
  lib_dir="${CARGO_TARGET_DIR:-$root/target}/release"
fi
[ -f "$lib_dir/liblmbatch.so" ] || { echo "no liblmbatch.so in $lib_dir" >&2; exit 1; }
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)"
major="${version%%.*}"
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"

install -d "$prefix/include" "$prefix/lib/cmake/lmbatch" "$prefix/lib/pkgconfig"
install -m 644 "$root/include/lmbatch.h" "$root/include/lmbatch.hpp" "$prefix/include/"
install -m 755 "$lib_dir/liblmbatch.so" "$prefix/lib/"
[ -f "$lib_dir/liblmbatch.a" ] && install -m 644 "$lib_dir/liblmbatch.a" "$prefix/lib/"
fill() { sed -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" -e "s|@PREFIX@|$prefix|g" "$1" > "$2"; }
fill "$root/packaging/lmbatchConfig.cmake.in" "$prefix/lib/cmake/lmbatch/lmbatchConfig.cmake"
fill "$root/packaging/lmbatchConfigVersion.cmake.in" "$prefix/lib/cmake/lmbatch/lmbatchConfigVersion.cmake"
fill "$root/packaging/lmbatch.pc.in" "$prefix/lib/pkgconfig/lmbatch.pc"
echo "installed lmbatch $version into $prefix"
