#!/usr/bin/env bash
# Builds the Rust toolchain images the emulated-compile reference needs, since no `rust`
# image can be pulled here: Debian trixie (rustc and cargo 1.85) debootstrapped for each
# architecture, the foreign one's second stage running under QEMU, then `docker import`ed
# as localhost:1/multiarch-bench/rust:trixie-<arch> (port 1 is closed, so nothing ever
# tries Docker Hub for them). Idempotent: an image that exists is kept.
#
#   bench/rust-images.sh [ARCH...]       default: amd64 arm64 (needs root and the test bed)
set -euo pipefail
cd "$(dirname "$0")/.."
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64)
label=io.github.multiarch.bench=rust-toolchain
mirror=$(awk '$1=="URIs:" {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
[ -n "$mirror" ] || { echo "error: no mirror in /etc/apt/sources.list.d/debian.sources" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null

for arch in "${arches[@]}"; do
  image=localhost:1/multiarch-bench/rust:trixie-$arch
  if docker image inspect "$image" >/dev/null 2>&1; then
    echo "ok: $image is present"
    continue
  fi
  root=$(mktemp -d "/var/tmp/multiarch-rust-$arch.XXXX")
  trap 'rm -rf "$root"' EXIT
  echo "==> debootstrap trixie $arch (rustc, cargo, gcc) into $root"
  start=$(date +%s)
  debootstrap --arch="$arch" --variant=minbase \
    --include=rustc,cargo,gcc,libc6-dev,ca-certificates trixie "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  echo "==> docker import as $image ($(( $(date +%s) - start )) s)"
  tar -C "$root" -c . | docker import --platform "linux/$arch" \
    --change "LABEL $label" --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'WORKDIR /src' - "$image" >/dev/null
  rm -rf "$root" "$root.log"
  trap - EXIT
done
