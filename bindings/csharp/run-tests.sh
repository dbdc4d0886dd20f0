#!/usr/bin/env bash
# Builds and runs the C# binding's tests with mono against the liblmbatch.so in LIBDIR:
#   bindings/csharp/run-tests.sh /path/to/target/release
# Needs gcc, mcs and mono (Debian: apt-get install -y gcc mono-mcs mono-runtime).
# Build outputs go to a temporary folder (or $LMBATCH_CS_OUT), never into the source tree.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 LIBDIR (the folder holding liblmbatch.so)" >&2
	exit 2
fi
libdir=$(cd "$1" && pwd)
if [ ! -e "$libdir/liblmbatch.so" ]; then
	echo "$0: no liblmbatch.so in $libdir" >&2
	exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
for tool in gcc mcs mono; do
	command -v "$tool" >/dev/null || { echo "$0: $tool is missing (apt-get install -y gcc mono-mcs mono-runtime)" >&2; exit 2; }
done

if [ -n "${LMBATCH_CS_OUT:-}" ]; then
	out=$LMBATCH_CS_OUT
	mkdir -p "$out"
else
	out=$(mktemp -d "${TMPDIR:-/tmp}/lmbatch-cs.XXXXXX")
	trap 'rm -rf "$out"' EXIT
fi

echo "== struct_sizes.c (gcc, include/lmbatch.h)"
gcc -std=c11 -Wall -Wextra -Werror -I"$repo/include" "$here/struct_sizes.c" -o "$out/struct_sizes"
"$out/struct_sizes" >"$out/struct_sizes.txt"
echo "$(wc -l <"$out/struct_sizes.txt") layout lines"

echo "== mcs $(mcs --version | awk '{print $NF}')"
mcs -nologo -warn:4 -warnaserror -optimize+ -debug -target:library \
	-out:"$out/Lmbatch.dll" "$here/Lmbatch.cs"
mcs -nologo -warn:4 -warnaserror -debug -target:exe -r:"$out/Lmbatch.dll" \
	-out:"$out/Lmbatch.Tests.exe" "$here"/tests/*.cs

echo "== mono Lmbatch.Tests.exe, library $libdir/liblmbatch.so"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	mono --debug "$out/Lmbatch.Tests.exe" --sizes "$out/struct_sizes.txt" --data "$repo/tests/data"
