#!/usr/bin/env bash
# A stand-in for the `debian:trixie-slim` image, made on a machine that can pull no image:
# Debian 13's minimal base (debootstrap --variant=minbase, the package set Debian's
# official images start from) imported into the engine for the build machine's platform
# only, which is all the Dockerfile's compile stage runs on (FROM --platform=$BUILDPLATFORM).
#
#   scripts/debian-image.sh [TAG]    default: multiarch-testbed/debian:trixie-slim
#
# It never takes the real `debian:` name: the image says what it stands in for in a label,
# and the Dockerfile is given it with --build-arg BUILD_IMAGE=TAG. The root file system is
# kept in $MULTIARCH_CACHE/debian/<key>.tar (default /var/cache/multiarch), where the key is
# this script and the versions of trixie's base packages today: a Debian point release
# makes it again.
set -euo pipefail

TAG=${1:-multiarch-testbed/debian:trixie-slim}
SUITE=trixie
MIRROR=http://deb.debian.org/debian
CACHE=${MULTIARCH_CACHE:-/var/cache/multiarch}/debian
LABEL=io.github.multiarch.testbed

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

command -v debootstrap >/dev/null ||
  die "debootstrap is not installed" "run scripts/testbed.sh up (it installs it), or apt-get install debootstrap"

# The versions trixie holds today of what every minimal base has; apt reads them from the
# suite the test bed added (multiarch-trixie.sources).
versions=$(apt-cache madison base-files libc6 dpkg apt bash coreutils 2>/dev/null |
  awk -v suite="$SUITE" '$0 ~ suite"/main" {print $1 "=" $3}' | sort -u)
[ -n "$versions" ] ||
  die "apt knows no $SUITE packages" "the test bed adds Debian $SUITE as a low-priority suite: run scripts/testbed.sh up first"
key=$( { printf '%s\n' "$versions"; cat "$0"; } | sha256sum | cut -c1-16)
rootfs=$CACHE/$key.tar

if [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL.debian-key\"}}" "$TAG" 2>/dev/null)" = "$key" ]; then
  ok "$TAG is up to date (key $key)"
  exit 0
fi

if [ -s "$rootfs" ]; then
  ok "Debian $SUITE's minimal base for key $key is cached in $rootfs"
else
  started=$SECONDS
  say "debootstrap --variant=minbase $SUITE (Debian's minimal base, about 90 packages)"
  work=$(mktemp -d /var/tmp/multiarch-debian.XXXX)
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase --arch="$(dpkg --print-architecture)" "$SUITE" "$work/root" "$MIRROR" \
    >"$work/debootstrap.log" 2>&1 ||
    die "debootstrap of $SUITE failed: $(tail -n 3 "$work/debootstrap.log" | tr '\n' ' ')" \
      "Debian's mirror must answer at $MIRROR"
  # What the official slim images drop: apt's downloaded lists and packages, and logs.
  rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/log/"*
  mkdir -p "$CACHE"
  tar -C "$work/root" --numeric-owner -cf "$rootfs.partial" .
  mv "$rootfs.partial" "$rootfs"
  find "$CACHE" -name '*.tar' ! -name "$key.tar" -delete
  ok "made in $((SECONDS - started)) s: $(du -h "$rootfs" | cut -f1)"
fi

say "importing it as $TAG"
docker import \
  --change 'CMD ["bash"]' \
  --change "LABEL $LABEL=stand-in $LABEL.stand-in-for=debian:$SUITE-slim $LABEL.debian-key=$key" \
  "$rootfs" "$TAG" >/dev/null
ok "$TAG (a stand-in for debian:$SUITE-slim, key $key)"
