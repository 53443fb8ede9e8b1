#!/usr/bin/env bash
# A stand-in for the moby/buildkit image, made on a machine that can pull no image:
# buildkitd and buildctl compiled offline from the BuildKit sources that Debian's Docker
# development package ships (scripts/buildkit/README.md says what had to change), with
# runc and its libraries, busybox for a shell, and the CA certificates, laid out as
# buildx's docker-container driver expects (entrypoint buildkitd, buildctl on PATH, the
# config at /etc/buildkit/buildkitd.toml, state in /var/lib/buildkit).
#
#   scripts/buildkit-image.sh [TAG]    default: multiarch-testbed/buildkit:debian
#
# The binaries are compiled once per set of package versions and kept in
# $MULTIARCH_CACHE/buildkit/<key> (default /var/cache/multiarch); the image carries the
# key as a label and is made again only when the key changes. It never takes a real
# moby/buildkit tag: the kit uses a pulled one when the machine has it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

TAG=${1:-multiarch-testbed/buildkit:debian}
CACHE=${MULTIARCH_CACHE:-/var/cache/multiarch}/buildkit
SUITE=forky
# Docker 28.5 vendors BuildKit 0.25; Debian's package does not record the exact release.
BUILDKIT_VERSION=v0.25.0+debian
LABEL=io.github.multiarch.testbed

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

mapfile -t packages < <(grep -v '^#' "$here/buildkit/debian-packages.txt" | cut -d= -f1)

# What forky has today, as file names (name_version_arch.deb): the cache key, and the
# packages that moved since this was verified. grep -m1 reads here-strings, never a pipe:
# under pipefail a writer cut off by grep's early exit fails the script (exit 141).
say "resolving ${#packages[@]} Debian packages from $SUITE"
uris=$(apt-get download --print-uris "${packages[@]/%//$SUITE}" 2>&1) ||
  die "apt cannot find the packages to build BuildKit from: $(grep -m1 '^E:' <<<"$uris")" \
    "the test bed adds Debian $SUITE as a low-priority suite: run scripts/testbed.sh up first"
debs=$(printf '%s\n' "$uris" | awk '{print $2}' | sort)
while IFS='=' read -r name verified; do
  now=$(grep -m1 "^${name}_" <<<"$debs" | cut -d_ -f2)
  [ "$now" = "${verified//:/%3a}" ] || printf '    moved: %s %s -> %s\n' "$name" "$verified" "$now" >&2
done < <(grep -v '^#' "$here/buildkit/debian-packages.txt")
key=$( { printf '%s\n' "$debs"; cat "$0" "$here"/buildkit/*; } | sha256sum | cut -c1-16)
docker_dev=$(grep -m1 '^golang-github-docker-docker-dev_' <<<"$debs" | cut -d_ -f2)
bin=$CACHE/$key

if [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL.buildkit-key\"}}" "$TAG" 2>/dev/null)" = "$key" ]; then
  ok "$TAG is up to date (key $key)"
  exit 0
fi

work=$(mktemp -d /var/tmp/multiarch-buildkit.XXXX)
trap 'rm -rf "$work"' EXIT

if [ -x "$bin/buildkitd" ] && [ -x "$bin/buildctl" ]; then
  ok "buildkitd and buildctl for key $key are cached in $bin"
else
  started=$SECONDS
  say "downloading and unpacking them"
  mkdir -p "$work/debs" "$work/root"
  chmod 755 "$work" "$work/debs"
  (cd "$work/debs" && apt-get download -qq -o APT::Sandbox::User=root "${packages[@]/%//$SUITE}")
  for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done

  export GOROOT GOPATH=$work/gopath GOCACHE=$work/gocache
  GOROOT=$(echo "$work"/root/usr/lib/go-*)
  say "compiling buildkitd and buildctl (Go ${GOROOT##*/go-}, GOPATH mode, offline)"
  export GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath
  mkdir -p "$GOPATH"
  cp -a "$work/root/usr/share/gocode/src" "$GOPATH/src"
  src=$GOPATH/src/github.com/moby/buildkit
  [ -d "$src/cmd/buildkitd" ] ||
    die "golang-github-docker-docker-dev $docker_dev no longer ships BuildKit's sources at github.com/moby/buildkit"
  patch -d "$src" -p1 --batch --forward --quiet <"$here/buildkit/debian-sources.patch" ||
    die "BuildKit's sources in golang-github-docker-docker-dev $docker_dev no longer take scripts/buildkit/debian-sources.patch" \
      "Debian's sources moved: update the patch against them (scripts/buildkit/README.md says what it does)"
  echo 'module github.com/moby/buildkit' >"$src/go.mod"
  mkdir -p "$GOPATH/src/github.com/moby/profiles/seccomp"
  cp "$here/buildkit/seccomp-shim.go" "$GOPATH/src/github.com/moby/profiles/seccomp/seccomp.go"
  for cmd in buildkitd buildctl; do
    printf '//go:debug default=go1.24\n\npackage main\n' >"$src/cmd/$cmd/debug_defaults.go"
  done
  ldflags="-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION"
  ldflags+=" -X github.com/moby/buildkit/version.Revision=golang-github-docker-docker-dev=$docker_dev"
  mkdir -p "$work/bin"
  for cmd in buildkitd buildctl; do
    (cd "$src" && "$GOROOT/bin/go" build -ldflags "$ldflags" -o "$work/bin/$cmd" "./cmd/$cmd") ||
      die "buildkitd did not compile from golang-github-docker-docker-dev $docker_dev" \
        "Debian's sources moved under the build: the compiler's lines above say where"
  done
  mkdir -p "$CACHE"
  rm -rf "$bin"
  mv "$work/bin" "$bin"
  ok "compiled in $((SECONDS - started)) s: buildkitd $(stat -c %s "$bin/buildkitd") bytes, buildctl $(stat -c %s "$bin/buildctl") bytes"
fi

say "packing $TAG"
rootfs=$work/rootfs
mkdir -p "$rootfs/usr/bin" "$rootfs/bin" "$rootfs/etc/buildkit" "$rootfs/etc/ssl/certs" \
  "$rootfs/var/lib/buildkit" "$rootfs/tmp" "$rootfs/run"
cp "$bin/buildkitd" "$bin/buildctl" "$rootfs/usr/bin/"
# runc is linked against libseccomp and libc: its libraries and the loader go with it.
runc=$(command -v runc) || die "no runc on this machine" "run scripts/testbed.sh up (the engine brings runc)"
cp "$runc" "$rootfs/usr/bin/runc"
for lib in $(ldd "$runc" | grep -o '/[^ ]*'); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
# busybox for /bin/sh and the usual tools (buildx runs `buildctl dial-stdio` through exec).
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root busybox-static)
dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"
cp "$work/busybox/bin/busybox" "$rootfs/bin/busybox"
for tool in sh ls cat mkdir rm mv cp ps kill mount umount; do ln -s busybox "$rootfs/bin/$tool"; done
cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
previous=$(docker image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)
tar -C "$rootfs" -c . | docker import \
  --change 'ENTRYPOINT ["buildkitd"]' \
  --change 'ENV PATH=/usr/bin:/bin' \
  --change 'VOLUME /var/lib/buildkit' \
  --change "LABEL $LABEL=built-from-debian" \
  --change "LABEL $LABEL.buildkit-key=$key" \
  --change "LABEL org.opencontainers.image.version=$BUILDKIT_VERSION" \
  --change "LABEL org.opencontainers.image.source=golang-github-docker-docker-dev=$docker_dev" \
  - "$TAG" >/dev/null
# The image this one replaces would be left untagged: remove it (unless a container uses it).
[ -z "$previous" ] || docker image rm "$previous" >/dev/null 2>&1 || true
ok "$TAG: $(docker image inspect -f '{{.Size}}' "$TAG") bytes (key $key)"
