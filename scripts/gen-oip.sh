#!/usr/bin/env bash
# Regenerates the committed Open Inference Protocol code (src/backend/remote/oip.rs and
# tests/fake_oip/oip_server.rs) from proto/open_inference_grpc.proto with protox: no protoc needed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo run --quiet --manifest-path "$root/tools/oip-codegen/Cargo.toml" \
  --target-dir "$root/target/oip-codegen-build" -- "$root"
# The client is a module of the crate: keep it as `cargo fmt --check` wants it.
rustfmt --edition 2021 "$root/src/backend/remote/oip.rs"
