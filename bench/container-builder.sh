#!/usr/bin/env bash
# The docker-container builder, a buildx builder, against buildx itself on the same kind
# of builder, and against the kit's earlier TCP path and the engine's own BuildKit, in one
# run. Each row is timed RUNS times (median):
#   - create, cold (no state volume) and warm (the state volume kept by `rm --keep-state`):
#     `multiarch builder create --driver docker-container` against `docker buildx create
#     --driver docker-container --bootstrap` with the same image, options and config;
#   - a two-platform build and push of the repository's image (the host-built binaries as
#     its `build` stage), `--no-cache` and warm: `multiarch build` against `docker buildx
#     build --push`, both on the builder the kit made;
#   - `multiarch builder ls` against `docker buildx ls` (both ask the running BuildKit);
#   - the same build through the kit's earlier path, BuildKit on a loopback TCP port
#     (the binary built from TCP_REV, cached outside the clone; TCP_REV=none skips it),
#     and through the engine's own BuildKit (docker driver);
#   - the stand-in BuildKit image from Debian's sources, built with an empty cache
#     (IMAGE_BUILD=0 skips it).
#
#   bench/container-builder.sh     (needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-3}
# The last commit whose docker-container builder listened on tcp://127.0.0.1:PORT.
TCP_REV=${TCP_REV:-a5ae906}
IMAGE=${BUILDKIT_IMAGE:-multiarch-testbed/buildkit:debian}
CACHE=${MULTIARCH_CACHE:-/var/cache/multiarch}

cargo build --release -q -p multiarch
scripts/build-dist.sh amd64 arm64 2>/dev/null
m=$PWD/target/release/multiarch
state=$(mktemp -d)
export MULTIARCH_STATE_DIR=$state/kit BUILDX_CONFIG=$state/buildx
tcp=""
if [ "$TCP_REV" != none ]; then
  # The earlier binary, built once per revision, outside the clone.
  rev=$(git rev-parse --short "$TCP_REV")
  tree=$CACHE/bench-tcp-path/$rev
  if [ ! -x "$tree/target/release/multiarch" ]; then
    rm -rf "$tree"
    mkdir -p "$(dirname "$tree")"
    git worktree add --detach "$tree" "$rev" >/dev/null 2>&1
    (cd "$tree" && cargo build --release -q -p multiarch)
  fi
  tcp=$tree/target/release/multiarch
fi
registry_was_up=false
$m registry status >/dev/null 2>&1 && registry_was_up=true
cleanup() {
  $m builder rm bench-kit >/dev/null 2>&1 || true
  docker buildx rm bench-buildx >/dev/null 2>&1 || true
  $m builder rm bench-engine >/dev/null 2>&1 || true
  if [ -n "$tcp" ]; then
    MULTIARCH_STATE_DIR=$state/tcp $tcp builder rm bench-tcp --volumes >/dev/null 2>&1 || true
  fi
  $registry_was_up || $m registry down --volumes >/dev/null 2>&1 || true
  docker rmi -f multiarch-testbed-bench/buildkit:cold >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT
$m registry up >/dev/null 2>&1

kit_create() { $m builder create --name bench-kit --driver docker-container --image "$IMAGE" --config buildkitd.toml; }
buildx_create() {
  docker buildx create --name bench-buildx --driver docker-container \
    --driver-opt "image=$IMAGE,network=host" --buildkitd-config buildkitd.toml --bootstrap
}
kit_build() { # binary builder tag [flags]
  local binary=$1 builder=$2 tag=$3
  shift 3
  $binary build --builder "$builder" -t "localhost:5000/arch-server:$tag" \
    --platform linux/amd64,linux/arm64 --build-context build=dist --push "$@" .
}
buildx_build() { # tag [flags]
  local tag=$1
  shift
  docker buildx build --builder bench-kit -t "localhost:5000/arch-server:$tag" \
    --platform linux/amd64,linux/arm64 --build-context build=dist --push "$@" .
}

declare -A t
add() { t[$1]+="$2 "; }
for _ in $(seq 1 "$RUNS"); do
  # Create: cold (no state volume), then warm (the volume kept).
  $m builder rm bench-kit >/dev/null 2>&1 || true
  add kit-create-cold "$(seconds kit_create)"
  $m builder rm bench-kit --keep-state >/dev/null
  add kit-create-warm "$(seconds kit_create)"
  docker buildx rm bench-buildx >/dev/null 2>&1 || true
  add buildx-create-cold "$(seconds buildx_create)"
  docker buildx rm --keep-state bench-buildx >/dev/null
  add buildx-create-warm "$(seconds buildx_create)"
  docker buildx rm bench-buildx >/dev/null

  # Build and push, on the builder the kit made.
  add kit-build-cold "$(seconds kit_build "$m" bench-kit kit --no-cache)"
  add kit-build-warm "$(seconds kit_build "$m" bench-kit kit)"
  # Like for like with the earlier path, which asked for no attestation.
  add kit-noattest-cold "$(seconds kit_build "$m" bench-kit kit-none --no-cache --provenance=false)"
  add kit-noattest-warm "$(seconds kit_build "$m" bench-kit kit-none --provenance=false)"
  add buildx-build-cold "$(seconds buildx_build buildx --no-cache)"
  add buildx-build-warm "$(seconds buildx_build buildx)"
  add kit-ls "$(seconds "$m" builder ls)"
  add buildx-ls "$(seconds docker buildx ls)"

  # References: the earlier TCP path, and the engine's BuildKit.
  if [ -n "$tcp" ]; then
    export MULTIARCH_STATE_DIR=$state/tcp
    $tcp builder rm bench-tcp --volumes >/dev/null 2>&1 || true
    $tcp builder create --name bench-tcp --driver docker-container --image "$IMAGE" --config buildkitd.toml >/dev/null 2>&1
    add tcp-build-cold "$(seconds kit_build "$tcp" bench-tcp tcp --no-cache)"
    add tcp-build-warm "$(seconds kit_build "$tcp" bench-tcp tcp)"
    export MULTIARCH_STATE_DIR=$state/kit
  fi
  $m builder create --name bench-engine --driver docker --config buildkitd.toml >/dev/null 2>&1
  add engine-build-cold "$(seconds kit_build "$m" bench-engine engine --no-cache)"
  add engine-build-warm "$(seconds kit_build "$m" bench-engine engine)"
done

image_line="The stand-in BuildKit image was not built in this run (IMAGE_BUILD=0)."
if [ "${IMAGE_BUILD:-1}" != 0 ]; then
  image_cache=$(mktemp -d)
  image_seconds=$(seconds env MULTIARCH_CACHE="$image_cache" scripts/buildkit-image.sh multiarch-testbed-bench/buildkit:cold)
  image_bytes=$(docker image inspect -f '{{.Size}}' multiarch-testbed-bench/buildkit:cold)
  binaries=$(du -cb "$image_cache"/buildkit/*/buildkitd "$image_cache"/buildkit/*/buildctl | tail -n1 | cut -f1)
  rm -rf "$image_cache"
  image_line="The stand-in BuildKit image from Debian's sources (\`scripts/buildkit-image.sh\`, empty cache: download, compile, pack): $(printf '%.0f' "$image_seconds") s; image $(numfmt --to=iec-i --suffix=B "$image_bytes") as the engine reports it; buildkitd and buildctl $(numfmt --to=iec-i --suffix=B "$binaries") together."
fi

row() { # label key
  local runs=${t[$2]:-}
  [ -n "$runs" ] || return 0
  printf '| %s | %s | %.2f s |\n' "$1" "${runs% }" "$(echo "$runs" | median)"
}
out=$(mktemp)
{
  echo "<!-- container-builder:start -->"
  echo "## The docker-container builder: the kit against buildx, same run"
  echo
  echo "- command: \`bench/container-builder.sh\` ($RUNS runs each, median; the repository's image for linux/amd64 and linux/arm64 with the host-built binaries as its \`build\` stage, pushed to the local registry; cold: \`--no-cache\`; warm: the same build again)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); Docker $(docker version -f '{{.Server.Version}}'); $(docker buildx version | cut -d' ' -f1-2); BuildKit container: $(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$IMAGE") ($IMAGE)"
  echo
  echo "| what | runs (s) | median |"
  echo "| --- | --- | ---: |"
  row "\`multiarch builder create\`, no state volume" kit-create-cold
  row "reference: \`docker buildx create --bootstrap\`, no state volume" buildx-create-cold
  row "\`multiarch builder create\`, state volume kept" kit-create-warm
  row "reference: \`docker buildx create --bootstrap\`, state volume kept" buildx-create-warm
  row "\`multiarch build --push\` (BuildKit through \`buildctl dial-stdio\`), cold" kit-build-cold
  row "reference: \`docker buildx build --push\`, same builder, cold" buildx-build-cold
  row "\`multiarch build --push\`, warm" kit-build-warm
  row "reference: \`docker buildx build --push\`, same builder, warm" buildx-build-warm
  row "\`multiarch build --push --provenance=false\`, cold" kit-noattest-cold
  row "reference: the kit's earlier path (BuildKit on loopback TCP, $TCP_REV; it asked for no attestation), cold" tcp-build-cold
  row "\`multiarch build --push --provenance=false\`, warm" kit-noattest-warm
  row "reference: the kit's earlier path, warm" tcp-build-warm
  row "reference: the engine's BuildKit (docker driver), cold" engine-build-cold
  row "reference: the engine's BuildKit, warm" engine-build-warm
  row "\`multiarch builder ls\` (asks each BuildKit through the engine)" kit-ls
  row "reference: \`docker buildx ls\`" buildx-ls
  echo
  echo "$image_line"
  echo "<!-- container-builder:end -->"
} >"$out"
write_section container-builder "$out"
