#!/usr/bin/env bash
# Prints an include directory holding TensorRT's headers, for compiling the TensorRT shim where no
# TensorRT is installed: NVIDIA's Apache-2.0 TensorRT 11.4 headers as carried by the crates.io
# package trtx-sys. The package is fetched with cargo and unpacked under target/ (never built,
# never copied into the repository).
#   export TENSORRT_INCLUDE_DIR="$(scripts/tensorrt-headers.sh)"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="0.9.1"
work="${CARGO_TARGET_DIR:-$root/target}/tensorrt-headers"
dest="$work/trtx-sys-$version"
headers="$dest/TensorRT-Headers/TRT-Enterprise-11.4"
if [[ ! -f "$headers/NvInfer.h" ]]; then
    mkdir -p "$work/fetch/src"
    cat >"$work/fetch/Cargo.toml" <<TOML
[package]
name = "lmbatch-tensorrt-headers"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
trtx-sys = "=$version"
[workspace]
TOML
    : >"$work/fetch/src/lib.rs"
    cargo fetch --quiet --manifest-path "$work/fetch/Cargo.toml" >&2
    crate="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/trtx-sys-"$version"*.crate | head -n 1)"
    rm -rf "$dest" && mkdir -p "$work/unpack"
    tar -xzf "$crate" -C "$work/unpack"
    mv "$work/unpack"/trtx-sys-"$version"* "$dest"
fi
test -f "$headers/NvInfer.h" && test -f "$headers/NvOnnxParser.h"
echo "$headers"
