#!/usr/bin/env bash
# Cross-compiles arch-server on the host, one static binary per platform:
#   dist/<arch>/arch-server     (arch as Docker's TARGETARCH: amd64, arm64)
# `docker buildx build --build-context build=dist ...` then packs them into the
# image without running the Dockerfile's compile stage (see the README).
#
#   scripts/build-dist.sh [ARCH...]     default: amd64 arm64
#
# amd64 uses the toolchain on PATH. arm64 uses rustup's aarch64 target when it is
# installed, else Debian's rustc with the aarch64 std that `scripts/testbed.sh up` set up.
set -euo pipefail
cd "$(dirname "$0")/.."

CROSS_SYSROOT=${MULTIARCH_CROSS_SYSROOT:-/opt/multiarch-testbed/rust-sysroot}
STATIC='-C target-feature=+crt-static'
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64)

rustup_has() { command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$1"; }

build() {
  local arch=$1 triple
  case "$arch" in
    amd64) triple=x86_64-unknown-linux-gnu ;;
    arm64) triple=aarch64-unknown-linux-gnu ;;
    *)
      echo "error: no host build for \`$arch\` yet (known: amd64, arm64)" >&2
      echo "hint: build it through the Dockerfile's compile stage: docker buildx build --platform linux/$arch ." >&2
      exit 1
      ;;
  esac
  local started=$SECONDS
  echo "==> building arch-server for linux/$arch ($triple)" >&2
  if [ "$arch" = amd64 ] && [ "$(uname -m)" = x86_64 ] || rustup_has "$triple"; then
    RUSTFLAGS="$STATIC" CARGO_TARGET_DIR=target/dist \
      cargo build --release --locked -q -p arch-server --target "$triple"
    local out=target/dist/$triple/release/arch-server
  elif [ -d "$CROSS_SYSROOT/lib/rustlib/$triple" ]; then
    # Debian's rustc gets a target dir of its own, so the two compilers never
    # rebuild each other's artifacts.
    local linker_var
    linker_var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER"
    env RUSTC=/usr/bin/rustc "$linker_var=${triple%%-*}-linux-gnu-gcc" \
      RUSTFLAGS="--sysroot=$CROSS_SYSROOT $STATIC" CARGO_TARGET_DIR=target/dist-debian-rustc \
      cargo build --release --locked -q -p arch-server --target "$triple"
    local out=target/dist-debian-rustc/$triple/release/arch-server
  else
    echo "error: no Rust toolchain for \`$triple\` on this machine" >&2
    echo "hint: run \`sudo scripts/testbed.sh up\`, or \`rustup target add $triple\` with an aarch64 linker" >&2
    exit 1
  fi
  mkdir -p "dist/$arch"
  cp "$out" "dist/$arch/arch-server"
  echo "    dist/$arch/arch-server: $(stat -c %s "dist/$arch/arch-server") bytes, $((SECONDS - started)) s" >&2
}

for arch in "${archs[@]}"; do build "$arch"; done
