#!/usr/bin/env bash
# Runs the Go binding's tests against the liblmbatch.so in LIBDIR:
#   bindings/go/run-tests.sh /path/to/target/release
# Needs Go >= 1.19 and gcc (Debian: apt-get install -y golang-go gcc). No network: the module
# has no dependencies.
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
cd "$here"

export CGO_ENABLED=1
export CGO_LDFLAGS="-L$libdir -Wl,-rpath,$libdir"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GOFLAGS=-mod=mod
export GOPROXY=off
export GO111MODULE=on
# A writable build cache even when HOME is unset or read-only.
if [ -z "${GOCACHE:-}" ]; then
	if [ -n "${HOME:-}" ] && [ -w "${HOME}" ]; then
		GOCACHE="$HOME/.cache/go-build"
	else
		GOCACHE="${TMPDIR:-/tmp}/lmbatch-go-cache"
	fi
	export GOCACHE
fi
export GOPATH="${GOPATH:-${TMPDIR:-/tmp}/lmbatch-gopath}"

echo "== go $(go env GOVERSION), library $libdir/liblmbatch.so"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting: $unformatted" >&2
	exit 1
fi
go vet ./...
echo "== go test"
# cgocheck=2: the strict check of cgo's pointer-passing rules.
GODEBUG=cgocheck=2 go test -count=1 -v ./...
echo "== go test -race"
go test -race -count=1 ./...
