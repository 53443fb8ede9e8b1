#!/usr/bin/env bash
# Sets up everything the tests need, then runs every test:
#   the test bed (Docker engine, buildx, QEMU, registry:2 image, arm64 cross toolchain),
#   then `cargo test` for the whole workspace, the engine tests included
#   (`--include-ignored`: a plain `cargo test` reports them as ignored).
# Needs root for the set-up on a fresh Debian machine (it says so otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
  scripts/testbed.sh up
elif command -v sudo >/dev/null; then
  sudo --preserve-env=PATH,HOME,RUSTUP_HOME,CARGO_HOME scripts/testbed.sh up
else
  scripts/testbed.sh up
fi

# Tests that need the engine are ignored by a plain `cargo test` (reported as such, never
# as passed); here the engine is up, so they run too, and fail if it is not.
# Arguments are cargo's, then, after a `--` of their own, the test binaries'.
separator=false
for arg in "$@"; do [ "$arg" != -- ] || separator=true; done
if $separator; then
  cargo test --workspace --locked "$@" --include-ignored
else
  cargo test --workspace --locked "$@" -- --include-ignored
fi
