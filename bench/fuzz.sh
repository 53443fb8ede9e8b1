#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input, each for SECONDS (300 by default):
# platform strings, image references, index/manifest bytes, ELF headers and layers.
# cargo-fuzz installs from crates.io; RUSTC_BOOTSTRAP lets the stable toolchain take the
# sanitizer flags libFuzzer needs. A crash stops the run with the input in
# fuzz/artifacts/<target>/; fix it and add that input as a regression test.
#
#   bench/fuzz.sh [TARGET...]       default: platform reference manifest elf
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-300}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(platform reference manifest elf)
for target in "${targets[@]}"; do
  echo "==> fuzzing $target for ${SECONDS_EACH} s" >&2
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" --fuzz-dir fuzz -- -max_total_time="$SECONDS_EACH"
done
