#!/usr/bin/env bash
# Sets up everything the tests need, then runs every test:
#   the test bed (Docker engine, buildx, QEMU, registry:2 image, arm64 cross toolchain),
#   then `cargo test` for the whole workspace, end-to-end tests included.
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

cargo test --workspace --locked "$@"
