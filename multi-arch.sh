#!/usr/bin/env bash
# The demo, end to end, for people who want to read the commands: each command is
# printed before it runs. It is the story `multiarch demo` tells in one command.
#
#   ./multi-arch.sh                       REGISTRY, IMAGE and PLATFORMS can be overridden:
#   PLATFORMS=linux/amd64,linux/arm64,linux/arm/v7 ./multi-arch.sh
#
# Needs Docker alone. The multiarch CLI is the installed one, else one cargo builds,
# else the CLI image run with the engine's socket: MULTIARCH_IMAGE when given, else the
# published one when it can be had, else one built here from this checkout's Dockerfile
# (a few minutes the first time); it says which.
# Without a cross toolchain on the host, the Dockerfile's compile stage compiles.
# Also read: REGISTRY_FILE (the registry's compose file, default ./registry.yml),
# BUILD_IMAGE (the compile stage's base, default debian:trixie-slim), and
# EXTRA_CERTIFICATES (a folder of *.crt of a TLS-intercepting proxy, for cargo) and
# BUILDER (the builder's name, default multiarch-docker-container).
set -euo pipefail
cd "$(dirname "$0")"

REGISTRY=${REGISTRY:-localhost:5000}
IMAGE=${IMAGE:-$REGISTRY/arch-server:latest}
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64}
PUBLISHED_IMAGE=ghcr.io/multiarch-kit/multiarch:0.1.0
cli_image=${MULTIARCH_IMAGE:-}
REGISTRY_FILE=${REGISTRY_FILE:-registry.yml}

bold='' plain=''
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
run() {
  printf '\n%s$ %s%s\n' "$bold" "$*" "$plain" >&2
  "$@"
}

containers=()
cleanup() {
  if [ ${#containers[@]} -gt 0 ]; then
    docker rm -f -v "${containers[@]}" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

# The CLI image sees the engine through its socket, this folder (and the files named
# above) at the same paths, and the host's network, where localhost:5000 and the
# containers verify publishes are (see the README for Docker Desktop).
cli_in_a_container() {
  local socket=/var/run/docker.sock mounts=() path
  case "${DOCKER_HOST:-}" in unix://*) socket=${DOCKER_HOST#unix://} ;; esac
  [ -S "$socket" ] || { echo "error: no Docker socket at $socket" >&2; exit 1; }
  # The kit's builder records and buildx's store outlive each container.
  local state=${MULTIARCH_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/multiarch}
  local buildx=${BUILDX_CONFIG:-${DOCKER_CONFIG:-$HOME/.docker}/buildx}
  mkdir -p "$state" "$buildx"
  for path in "$PWD" "$state" "$buildx" "$(cd "$(dirname "$REGISTRY_FILE")" && pwd)" ${EXTRA_CERTIFICATES:+"$EXTRA_CERTIFICATES"}; do
    mounts+=(--volume "$path:$path")
  done
  multiarch=(docker run --rm --network host --user "$(id -u):$(id -g)"
    --group-add "$(stat -c %g "$socket")" --volume "$socket:/var/run/docker.sock"
    --env HOME="$HOME" --env MULTIARCH_STATE_DIR="$state" --env BUILDX_CONFIG="$buildx"
    --env NO_COLOR="${NO_COLOR:-}" "${mounts[@]}" --workdir "$PWD" "$cli_image")
}

# The CLI image when there is neither multiarch nor cargo: the published one when it is here
# or can be pulled, else one built from this checkout's Dockerfile (`--target cli`, for this
# engine's own platform), tagged by what it was built from so a second run finds it. A pull
# refused for another reason than "no such image" (a login, a rate limit) is said as such.
cli_sources() { printf '%s\n' Dockerfile Cargo.toml Cargo.lock build.rs buildkitd.toml registry.yml multiarch/Cargo.toml; find crates src multiarch/src -type f; }
checksum() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi; }
cli_source_key() {
  local file
  cli_sources | LC_ALL=C sort | while IFS= read -r file; do printf '%s\n' "$file"; cat "$file"; done |
    checksum | cut -c1-12
}

# Why a pull failed, from the engine's words: "missing" (no such image, or no such host:
# build it), else what it was. ghcr.io answers `unauthorized` to an anonymous pull of an
# image it does not show, and `denied` to stale credentials.
pull_refusal() {
  case "$1" in
    *toomanyrequests* | *"rate limit"* | *"Too Many Requests"*) echo "the registry's rate limit (toomanyrequests)" ;;
    *denied*) echo "access denied: stale or wrong credentials for ghcr.io (docker logout ghcr.io, or docker login ghcr.io)" ;;
    *unauthorized* | *"authentication required"*) echo "unauthorized: the image is not public yet, or needs a login (docker login ghcr.io)" ;;
    *"manifest unknown"* | *"not found"* | *"name unknown"* | *"no such host"* | *"does not exist"* | *"no route to host"* | *"network is unreachable"* | *"dial tcp"*) echo missing ;;
    *) printf '%s\n' "$1" | tail -n 1 ;;
  esac
}

build_cli_image() {
  local tag=$1 platform log args=()
  platform=$(docker version -f '{{.Server.Os}}/{{.Server.Arch}}')
  echo "multiarch: building the CLI image $tag from this checkout's Dockerfile (--target cli, $platform):" >&2
  echo "  a few minutes the first time (it compiles every crate; see BENCHMARKS.md, demo-alone), seconds after" >&2
  [ -z "${BUILD_IMAGE:-}" ] || args+=(--build-arg "BUILD_IMAGE=$BUILD_IMAGE")
  # A second run after an edit recompiles what the edit reaches, not the whole CLI.
  args+=(--build-arg CARGO_INCREMENTAL=1)
  [ -z "${EXTRA_CERTIFICATES:-}" ] || args+=(--build-context "extra-certificates=$EXTRA_CERTIFICATES")
  log=$(mktemp)
  printf '\n%s$ %s%s\n' "$bold" "docker buildx build --target cli --build-arg PACKAGE=multiarch ${args[*]} --load -t $tag ." "$plain" >&2
  # Each step's first line shows progress; the whole log is kept for a failure.
  if docker buildx build --target cli --build-arg PACKAGE=multiarch "${args[@]}" \
    --label io.github.multiarch.managed-by=multiarch --label "io.github.multiarch.cli-source=$tag" \
    --progress plain --load -t "$tag" . 2>&1 | tee "$log" | awk '/^#[0-9]+ \[/ && !seen[$0]++ {print "  " $0; fflush()}' >&2; then
    rm -f "$log"
    return 0
  fi
  echo "error: the CLI image did not build; the build's last lines:" >&2
  tail -n 25 "$log" | sed 's/^/  /' >&2
  rm -f "$log"
  echo "hint: install multiarch (cargo install --path multiarch), or fix what the lines above name and run this again" >&2
  exit 1
}

ensure_cli_image() {
  local out why local_tag
  if [ -n "${MULTIARCH_IMAGE:-}" ]; then
    cli_image=$MULTIARCH_IMAGE
    docker image inspect "$cli_image" >/dev/null 2>&1 && return 0
    run docker pull "$cli_image" && return 0
    echo "error: the CLI image $cli_image (MULTIARCH_IMAGE) is neither here nor pullable" >&2
    exit 1
  fi
  local_tag=multiarch-local/multiarch:$(cli_source_key)
  for cli_image in "$local_tag" "$PUBLISHED_IMAGE"; do
    docker image inspect "$cli_image" >/dev/null 2>&1 && return 0
  done
  printf '\n%s$ %s%s\n' "$bold" "docker pull $PUBLISHED_IMAGE" "$plain" >&2
  if out=$(docker pull "$PUBLISHED_IMAGE" 2>&1); then
    cli_image=$PUBLISHED_IMAGE
    return 0
  fi
  printf '%s\n' "$out" | sed 's/^/  /' >&2
  why=$(pull_refusal "$out")
  if [ "$why" = missing ]; then
    echo "multiarch: $PUBLISHED_IMAGE is not published where this machine can reach it" >&2
  else
    echo "warning: the pull of $PUBLISHED_IMAGE failed: $why; building it from this checkout instead" >&2
  fi
  cli_image=$local_tag
  build_cli_image "$cli_image"
}

if command -v multiarch >/dev/null; then
  multiarch=(multiarch)
  echo "multiarch: the installed one, $(command -v multiarch)" >&2
elif command -v cargo >/dev/null; then
  echo "multiarch: built here by cargo" >&2
  run cargo build --release --quiet -p multiarch
  multiarch=(target/release/multiarch)
else
  echo "multiarch: neither installed nor cargo here, so the CLI image" >&2
  ensure_cli_image
  echo "multiarch: the CLI image $cli_image (run with the engine's socket)" >&2
  cli_in_a_container
fi

run "${multiarch[@]}" doctor --registry "$REGISTRY" || true
run "${multiarch[@]}" registry --file "$REGISTRY_FILE" up
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
builder=${BUILDER:-multiarch-$driver}
run "${multiarch[@]}" builder create --name "$builder" --driver "$driver" --config buildkitd.toml --registry "$REGISTRY"
[ "$driver" = docker ] || run docker buildx ls

# Cross-compile on the host when the toolchain is here; otherwise the Dockerfile does.
context=()
[ -z "${BUILD_IMAGE:-}" ] || context+=(--build-arg "BUILD_IMAGE=$BUILD_IMAGE")
[ -z "${EXTRA_CERTIFICATES:-}" ] || context+=(--build-context "extra-certificates=$EXTRA_CERTIFICATES")
archs=$(tr ',' '\n' <<<"$PLATFORMS" | cut -d/ -f2- | sort -u | tr '\n' ' ')
# shellcheck disable=SC2086 # one argument per architecture
if command -v cargo >/dev/null && scripts/build-dist.sh $archs 2>/dev/null; then
  context+=(--build-context build=dist)
fi
run "${multiarch[@]}" build --builder "$builder" --tag "$IMAGE" --platform "$PLATFORMS" "${context[@]}" --push .

run docker buildx imagetools inspect "$IMAGE"
run "${multiarch[@]}" inspect "$IMAGE"

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

run "${multiarch[@]}" verify "$IMAGE"
