#!/usr/bin/env bash
# ctest: installs the built library into a scratch prefix, then builds a consumer against the
# installed package twice: with CMake's find_package and with pkg-config.
set -euo pipefail
lib_dir="$1"
work="$2"
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$work"
"$here/../scripts/install.sh" "$work/prefix" "$lib_dir"
cmake -S "$here/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_RPATH="$work/prefix/lib" >/dev/null
cmake --build "$work/build"
"$work/build/consumer"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
c++ -std=c++17 -Wall -Wextra -Werror "$here/consumer/main.cpp" -o "$work/consumer_pc" \
  $(pkg-config --cflags --libs lmbatch) -Wl,-rpath,"$work/prefix/lib"
"$work/consumer_pc"
# The scratch prefix holds a copy of the library (.so and .a); only the check needed it.
rm -rf "$work/prefix"
