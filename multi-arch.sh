#!/usr/bin/env bash
# The demo, end to end, for people who want to read the commands: each command is
# printed before it runs. It is the story `multiarch demo` tells in one command.
#
#   ./multi-arch.sh                       REGISTRY, IMAGE and PLATFORMS can be overridden:
#   PLATFORMS=linux/amd64,linux/arm64,linux/arm/v7 ./multi-arch.sh
#
# Works on a machine prepared by `sudo scripts/testbed.sh up`, and on a laptop with
# Docker Desktop (where, without an arm64 cross toolchain, the Dockerfile compiles).
set -euo pipefail
cd "$(dirname "$0")"

REGISTRY=${REGISTRY:-localhost:5000}
IMAGE=${IMAGE:-$REGISTRY/arch-server:latest}
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64}

bold='' plain=''
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
run() {
  printf '\n%s$ %s%s\n' "$bold" "$*" "$plain" >&2
  "$@"
}

containers=()
cleanup() {
  if [ ${#containers[@]} -gt 0 ]; then
    docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if command -v multiarch >/dev/null; then
  multiarch=multiarch
else
  run cargo build --release --quiet -p multiarch
  multiarch=target/release/multiarch
fi

run "$multiarch" doctor --registry "$REGISTRY" || true
run "$multiarch" registry up
# The builder the card names: a buildx builder, a BuildKit container configured by
# buildkitd.toml, when a BuildKit image is here (pulled, or built from Debian's sources by
# the test bed); otherwise the engine's own BuildKit, said plainly. buildx lists it, and
# it opens no port: BuildKit is reached through the engine, as buildx reaches it.
driver=docker
for image in moby/buildkit:v0.25.1 multiarch-testbed/buildkit:debian; do
  if docker image inspect "$image" >/dev/null 2>&1; then driver=docker-container; break; fi
done
if [ "$driver" = docker ]; then
  echo "no BuildKit image here: the engine's own BuildKit builds instead (sudo scripts/buildkit-image.sh makes one)" >&2
fi
builder=multiarch-$driver
run "$multiarch" builder create --name "$builder" --driver "$driver" --config buildkitd.toml --registry "$REGISTRY"
[ "$driver" = docker ] || run docker buildx ls

# Cross-compile on the host when the toolchain is here; otherwise the Dockerfile does.
context=()
archs=$(tr ',' '\n' <<<"$PLATFORMS" | cut -d/ -f2- | sort -u | tr '\n' ' ')
# shellcheck disable=SC2086 # one argument per architecture
if scripts/build-dist.sh $archs 2>/dev/null; then
  context=(--build-context build=dist)
fi
run "$multiarch" build --builder "$builder" --tag "$IMAGE" --platform "$PLATFORMS" "${context[@]}" --push .

run docker buildx imagetools inspect "$IMAGE"
run "$multiarch" inspect "$IMAGE"

for platform in ${PLATFORMS//,/ }; do
  run docker pull --quiet --platform "$platform" "$IMAGE"
  # QEMU's default 32-bit ARM core is an ARMv7: ask for the Pi Zero's ARMv6 core, so the
  # v6 image says `armv6l` (a real ARM CPU ignores the variable).
  cpu=()
  [ "$platform" != linux/arm/v6 ] || cpu=(--env QEMU_CPU=arm1176)
  id=$(run docker run --detach --platform "$platform" "${cpu[@]}" --publish 127.0.0.1::80 \
    --label io.github.multiarch.managed-by=multiarch "$IMAGE")
  containers+=("$id")
  port=$(docker port "$id" 80/tcp | sed -n '1s/.*://p')
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.2
  done
  run curl -s "http://127.0.0.1:$port/arch"
  echo
  run docker stop "$id" >/dev/null
done

run "$multiarch" verify "$IMAGE"
