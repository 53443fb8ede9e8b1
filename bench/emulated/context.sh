#!/usr/bin/env bash
# Prepares the build context for bench/emulated/Dockerfile in target/bench-emulated/context:
# the workspace's sources and every crate they use, vendored, so that cargo inside the
# toolchain image builds offline. Prints the context's path.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/bench-emulated
mkdir -p "$out/context/.cargo"
# Vendored again whenever Cargo.lock changed: cargo --offline needs every locked crate.
if ! cmp -s Cargo.lock "$out/vendor.lock"; then
  rm -rf "$out/vendor" "$out/context/vendor"
  cargo vendor --locked -q "$out/vendor" >/dev/null
  cp Cargo.lock "$out/vendor.lock"
fi
# Sources again each time (tar keeps modification times, so cargo rebuilds only what
# changed); the vendored crates once.
find "$out/context" -mindepth 1 -maxdepth 1 ! -name vendor ! -name .cargo -exec rm -rf {} +
tar -c --exclude=./target --exclude=./dist --exclude=./fuzz --exclude=./.git --exclude=./captures \
  --exclude=./bench --exclude=./.venv* . | tar -x -C "$out/context"
[ -d "$out/context/vendor" ] || cp -a "$out/vendor" "$out/context/vendor"
# The repository's .dockerignore is an allow-list for its own Dockerfile; this one
# sends the vendored crates too.
printf 'target\n' >"$out/context/.dockerignore"
cat >"$out/context/.cargo/config.toml" <<'TOML'
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"
TOML
echo "$out/context"
