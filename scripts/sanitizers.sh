#!/usr/bin/env bash
# ThreadSanitizer and AddressSanitizer runs of the Rust concurrency tests (the pipeline's and the
# randomised C ABI sequences), where a nightly toolchain with rust-src exists; prints why it is
# skipped otherwise. The standard library is rebuilt instrumented (-Zbuild-std), and the tract
# backend is left out (those tests do not use it), so the build stays short.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "sanitizers: SKIPPED: no nightly toolchain (cargo +nightly does not run)"
  exit 0
fi
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || {
    echo "sanitizers: SKIPPED: the nightly toolchain has no rust-src (needed by -Zbuild-std)"
    exit 0
  }
fi
host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
for sanitizer in thread address; do
  echo "== -Zsanitizer=$sanitizer"
  RUSTFLAGS="-Zsanitizer=$sanitizer" RUSTDOCFLAGS="-Zsanitizer=$sanitizer" \
  TSAN_OPTIONS="halt_on_error=1" ASAN_OPTIONS="detect_leaks=1" \
    cargo +nightly test -Zbuild-std --target "$host" --no-default-features \
      --target-dir target/sanitize-"$sanitizer" --lib --test pipeline --test torture --test completion
done
