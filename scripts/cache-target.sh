#!/usr/bin/env bash
# Prints the cargo target folder for this checkout, outside it: $MULTIARCH_CACHE/target/<key>
# (default /var/cache/multiarch), keyed by the compiler that fills it, as a CI system keys
# its cache (cargo's own fingerprints decide, crate by crate, what a changed Cargo.lock
# rebuilds). Clones of any path share it, so a fresh clone compiles its own crates, not its
# dependencies. Folders of other compilers unused for 7 days are removed, and a folder
# grown past 30 GiB starts again empty. Where the cache cannot be written, ./target.
#
#   CARGO_TARGET_DIR=$(scripts/cache-target.sh) cargo test
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${MULTIARCH_CACHE:-/var/cache/multiarch}/target
key=$(rustc -vV | sha256sum | cut -c1-16)
# Not writable (a user without root on a shared machine): cargo's own ./target.
if ! mkdir -p "$cache/$key" 2>/dev/null || ! [ -w "$cache/$key" ]; then
  echo "$PWD/target"
  exit 0
fi
touch "$cache/$key"
if [ "$(du -s --block-size=1G "$cache/$key" | cut -f1)" -gt 30 ]; then
  rm -rf "${cache:?}/$key" && mkdir -p "$cache/$key"
fi
find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -mtime +7 -exec rm -rf {} + 2>/dev/null || true
echo "$cache/$key"
