#!/usr/bin/env bash
# Cross-compiles arch-server on the host, one static binary per platform:
#   dist/<arch><variant>/arch-server   (Docker's TARGETARCH and TARGETVARIANT: amd64,
#                                       arm64, 386, armv6, armv7, ppc64le, s390x, riscv64)
# `multiarch build --build-context build=dist ...` then packs them into the image
# without running the Dockerfile's compile stage (see the README).
#
#   scripts/build-dist.sh [PLATFORM...]   amd64 arm64 386 arm/v6 arm/v7 ppc64le s390x
#                                         riscv64 (linux/ may lead); default: amd64 arm64
#
# MULTIARCH_DIST_PACKAGE=multiarch builds the CLI instead (scripts/release.sh does), and
# MULTIARCH_DIST_OUT=DIR puts the binaries in DIR/<arch><variant>/ instead of dist/.
#
# amd64 uses the toolchain on PATH. arm64 uses rustup's aarch64 target when it is
# installed, else Debian's rustc with the aarch64 std that `scripts/testbed.sh up` set up.
# The others use rustup's target when installed, else Debian's rustc building the std
# from its sources (-Zbuild-std), each target in a folder of its own under
# $MULTIARCH_CACHE/build-std (the std compiles once per target, then is reused).
set -euo pipefail
cd "$(dirname "$0")/.."

# ring's C build (through cc-rs) asks to be rerun when CARGO_MANIFEST_DIR, CARGO_PKG_* or
# SOURCE_DATE_EPOCH change, and cargo compares them in its own environment: inherited from
# a parent cargo (`cargo test` running this) or set per commit by scripts/release.sh, they
# recompiled ring and every crate above it on each run. Nothing compiled here reads them.
while IFS= read -r var; do
  case $var in
    CARGO_MANIFEST_* | CARGO_PKG_* | CARGO_CRATE_NAME | CARGO_BIN_* | CARGO_PRIMARY_PACKAGE | CARGO_TARGET_TMPDIR | SOURCE_DATE_EPOCH)
      unset "$var" ;;
  esac
done < <(compgen -e)

CROSS_SYSROOT=${MULTIARCH_CROSS_SYSROOT:-/opt/multiarch-testbed/rust-sysroot}
# Outside the clone where it can be (scripts/cache-target.sh), so a fresh clone reuses
# the compiled dependencies; `dist/` itself stays in the checkout.
TARGET=$(scripts/cache-target.sh)
BUILD_STD_CACHE=${MULTIARCH_CACHE:-/var/cache/multiarch}/build-std
STATIC='-C target-feature=+crt-static'
PACKAGE=${MULTIARCH_DIST_PACKAGE:-arch-server}
# The CLI takes Cargo.toml's `cli` profile, as its images do (release without LTO: the
# CLI waits on registries, and thin LTO over its ~300 crates is minutes per target).
PROFILE=release
[ "$PACKAGE" = multiarch ] && PROFILE=cli
# Each package has its own copy of the sources and its own target folders (below): the
# CLI's release compile takes minutes after a change to its sources, and would otherwise
# hold the copy, and cargo's lock on the shared folders, while the tests' eight-platform
# image waits for arch-server binaries that are already compiled.
OWN=""
[ "$PACKAGE" = arch-server ] || OWN=-$PACKAGE
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64)

# The Rust target and cross C compiler for PLATFORM: `TRIPLE [GCC]`.
target_of() {
  case "${1#linux/}" in
    amd64) echo x86_64-unknown-linux-gnu ;;
    arm64) echo aarch64-unknown-linux-gnu ;;
    386) echo i686-unknown-linux-gnu i686-linux-gnu ;;
    # ARMv6 (Raspberry Pi Zero and 1): an ARMv6 target and Debian's armel (soft-float)
    # C library; armhf code would die there with "illegal instruction".
    arm/v6) echo arm-unknown-linux-gnueabi arm-linux-gnueabi ;;
    arm/v7) echo armv7-unknown-linux-gnueabihf arm-linux-gnueabihf ;;
    ppc64le) echo powerpc64le-unknown-linux-gnu powerpc64le-linux-gnu ;;
    s390x) echo s390x-unknown-linux-gnu s390x-linux-gnu ;;
    riscv64) echo riscv64gc-unknown-linux-gnu riscv64-linux-gnu ;;
    *)
      echo "error: no host build for \`${1#linux/}\` (known: amd64 arm64 386 arm/v6 arm/v7 ppc64le s390x riscv64)" >&2
      echo "hint: build it through the Dockerfile's compile stage: docker buildx build --platform linux/${1#linux/} ." >&2
      exit 1
      ;;
  esac
}
# `scripts/build-dist.sh --triple PLATFORM` prints the Rust target only.
if [ "${1:-}" = --triple ]; then
  read -r triple _ < <(target_of "$2")
  echo "$triple"
  exit 0
fi

# Cargo keys what it compiled of a workspace by the workspace's path, so a fresh clone
# elsewhere (every CI run) would compile the server, and with -Zbuild-std the std, again
# for every target: minutes each. The tracked files are copied to one place outside the
# clone instead (one per package), a file only when its content differs (an unchanged
# file keeps its time, which is what cargo compares), and built there; one build of a
# package at a time, as its copy is shared.
SOURCE_COPY=${MULTIARCH_CACHE:-/var/cache/multiarch}/dist-source$OWN
checkout=$PWD
OUT=${MULTIARCH_DIST_OUT:-$checkout/dist}
if [ -z "${MULTIARCH_DIST_IN_PLACE:-}" ] && git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
  mkdir -p "$SOURCE_COPY" 2>/dev/null; then
  exec 9>"$SOURCE_COPY.lock"
  flock 9
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
    [ -f "$file" ] || continue
    cmp -s "$file" "$SOURCE_COPY/$file" 2>/dev/null && continue
    mkdir -p "$SOURCE_COPY/$(dirname "$file")"
    cp -p "$file" "$SOURCE_COPY/$file"
  done
  cd "$SOURCE_COPY"
fi

rustup_has() { command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$1"; }

build() {
  local platform=${1#linux/} triple gcc="" spec
  spec=$(target_of "$platform")
  read -r triple gcc <<<"$spec"
  local folder=${platform//\//} started=$SECONDS out
  local linker_var
  linker_var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER"
  echo "==> building $PACKAGE for linux/$platform ($triple)" >&2
  if [ "$platform" = amd64 ] && [ "$(uname -m)" = x86_64 ]; then
    RUSTFLAGS="$STATIC" CARGO_TARGET_DIR="$TARGET/dist$OWN" \
      cargo build --profile "$PROFILE" --locked -q -p "$PACKAGE" --target "$triple"
    out=$TARGET/dist$OWN/$triple/$PROFILE/$PACKAGE
  elif rustup_has "$triple"; then
    env "$linker_var=${gcc:-${triple%%-*}-linux-gnu}-gcc" RUSTFLAGS="$STATIC" CARGO_TARGET_DIR="$TARGET/dist$OWN" \
      cargo build --profile "$PROFILE" --locked -q -p "$PACKAGE" --target "$triple"
    out=$TARGET/dist$OWN/$triple/$PROFILE/$PACKAGE
  elif [ -z "$gcc" ] && [ -d "$CROSS_SYSROOT/lib/rustlib/$triple" ]; then
    # Debian's rustc gets a target dir of its own, so the two compilers never
    # rebuild each other's artifacts.
    env RUSTC=/usr/bin/rustc "$linker_var=${triple%%-*}-linux-gnu-gcc" \
      RUSTFLAGS="--sysroot=$CROSS_SYSROOT $STATIC" CARGO_TARGET_DIR="$TARGET/dist-debian-rustc$OWN" \
      cargo build --profile "$PROFILE" --locked -q -p "$PACKAGE" --target "$triple"
    out=$TARGET/dist-debian-rustc$OWN/$triple/$PROFILE/$PACKAGE
  elif [ -n "$gcc" ] && command -v "$gcc-gcc" >/dev/null && [ -d /usr/lib/rustlib/src/rust/library/std ]; then
    local dir
    dir=$BUILD_STD_CACHE/$(/usr/bin/rustc --version | cut -d' ' -f2)/$triple$OWN
    mkdir -p "$dir"
    env RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 "$linker_var=$gcc-gcc" RUSTFLAGS="$STATIC" \
      CARGO_TARGET_DIR="$dir" \
      cargo build -Zbuild-std=std,panic_abort --profile "$PROFILE" --locked -q -p "$PACKAGE" --target "$triple"
    out=$dir/$triple/$PROFILE/$PACKAGE
  else
    echo "error: no Rust toolchain for \`$triple\` on this machine" >&2
    echo "hint: run \`sudo scripts/testbed.sh up\`, or \`rustup target add $triple\` with its cross linker" >&2
    exit 1
  fi
  mkdir -p "$OUT/$folder"
  cp "$out" "$OUT/$folder/$PACKAGE"
  echo "    ${OUT#"$checkout"/}/$folder/$PACKAGE: $(stat -c %s "$OUT/$folder/$PACKAGE") bytes, $((SECONDS - started)) s" >&2
}

for arch in "${archs[@]}"; do build "$arch"; done
