#!/usr/bin/env bash
# The docker-container builder (a BuildKit container configured by buildkitd.toml)
# against the engine's own BuildKit, in one run: the repository's image for linux/amd64
# and linux/arm64, with the host-built binaries as its `build` stage, built and pushed to
# the local registry. "cold" builds with --no-cache on a builder created just before
# (its cache volume new); "warm" repeats the build with nothing changed. Then the
# stand-in BuildKit image: its build from Debian's sources (cold: a scratch cache, so the
# compile runs) and its size.
#
#   bench/container-builder.sh     (needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-3}

cargo build --release -q -p multiarch
scripts/build-dist.sh amd64 arm64 2>/dev/null
m=target/release/multiarch
state=$(mktemp -d)
export MULTIARCH_STATE_DIR=$state
registry_was_up=false
$m registry status >/dev/null 2>&1 && registry_was_up=true
cleanup() {
  $m builder rm bench-container --volumes >/dev/null 2>&1 || true
  $m builder rm bench-engine >/dev/null 2>&1 || true
  $registry_was_up || $m registry down --volumes >/dev/null 2>&1 || true
  docker rmi -f localhost:5000/arch-server:bench-container localhost:5000/arch-server:bench-engine \
    multiarch-testbed-bench/buildkit:cold >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT
$m registry up >/dev/null 2>&1

build() { # builder tag [extra flags]
  local builder=$1 tag=$2
  shift 2
  $m build --builder "$builder" -t "localhost:5000/arch-server:$tag" \
    --platform linux/amd64,linux/arm64 --build-context build=dist --push "$@" .
}

declare -A cold warm
for driver in docker-container docker; do
  if [ "$driver" = docker-container ]; then name=bench-container; else name=bench-engine; fi
  cold[$driver]="" warm[$driver]=""
  for _ in $(seq 1 "$RUNS"); do
    $m builder rm "$name" --volumes >/dev/null 2>&1 || true
    $m builder create --name "$name" --driver "$driver" --config buildkitd.toml >/dev/null 2>&1
    cold[$driver]+="$(seconds build "$name" "$name" --no-cache) "
    warm[$driver]+="$(seconds build "$name" "$name") "
  done
done

image_cache=$(mktemp -d)
image_seconds=$(seconds env MULTIARCH_CACHE="$image_cache" scripts/buildkit-image.sh multiarch-testbed-bench/buildkit:cold)
image_bytes=$(docker image inspect -f '{{.Size}}' multiarch-testbed-bench/buildkit:cold)
binaries=$(du -cb "$image_cache"/buildkit/*/buildkitd "$image_cache"/buildkit/*/buildctl | tail -n1 | cut -f1)
rm -rf "$image_cache"

row() { # label runs
  printf '| %s | %s | %.2f s |\n' "$1" "$2" "$(echo "$2" | median)"
}
out=$(mktemp)
{
  echo "<!-- container-builder:start -->"
  echo "## The docker-container builder against the engine's BuildKit"
  echo
  echo "- command: \`bench/container-builder.sh\` ($RUNS runs each; the repository's image for linux/amd64 and linux/arm64 with the host-built binaries as its \`build\` stage, pushed to the local registry; cold: \`--no-cache\` on a builder created just before; warm: the same build again)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); Docker $(docker version -f '{{.Server.Version}}'); BuildKit container: $(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' multiarch-testbed/buildkit:debian) (the test bed's stand-in)"
  echo
  echo "| build and push | runs (s) | median |"
  echo "| --- | --- | ---: |"
  row "docker-container builder, cold" "${cold[docker-container]% }"
  row "docker-container builder, warm" "${warm[docker-container]% }"
  row "engine's BuildKit (docker driver), cold" "${cold[docker]% }"
  row "engine's BuildKit (docker driver), warm" "${warm[docker]% }"
  echo
  echo "The stand-in BuildKit image from Debian's sources (\`scripts/buildkit-image.sh\`, empty cache: download, compile, pack): $(printf '%.0f' "$image_seconds") s; image $(numfmt --to=iec-i --suffix=B "$image_bytes") as the engine reports it; buildkitd and buildctl $(numfmt --to=iec-i --suffix=B "$binaries") together."
  echo "<!-- container-builder:end -->"
} >"$out"
write_section container-builder "$out"
