#!/usr/bin/env bash
# What a laptop with Docker and no Rust pays for the demo: `./multi-arch.sh` run to its
# end with a PATH that holds no cargo, once with multiarch installed and once through the
# CLI image (as multi-arch.sh runs it), cold (a new builder: BuildKit's cache mounts are
# empty, so the compile stage fetches and compiles every crate) and warm (the same
# builder again), in one run. Both compile arch-server in the Dockerfile's compile stage,
# so the difference is what reaching the kit through a container costs.
# Writes BENCHMARKS.md's demo-alone section.
#
#   bench/demo-alone.sh     (needs the test bed: sudo scripts/testbed.sh up)
#   WARM_RUNS=N             warm runs of each (default 3; one cold run each)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
WARM_RUNS=${WARM_RUNS:-3}
BASE=multiarch-testbed/debian:trixie-slim
PLATFORMS=linux/amd64,linux/arm64

cargo build --release -q -p multiarch
scratch=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
registry=localhost:$port
cli=multiarch-bench/cli:$$
builders=()
cleanup() {
  for builder in "${builders[@]}"; do
    docker rm -f -v "buildx_buildkit_${builder}0" >/dev/null 2>&1 || true
    docker volume rm "buildx_buildkit_${builder}0_state" >/dev/null 2>&1 || true
  done
  target/release/multiarch registry --file "$scratch/registry.yml" down --volumes >/dev/null 2>&1 || true
  docker rmi -f "$cli" "$registry/$BASE" "$registry/arch-server:bench" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

extra=()
certificates=/usr/local/share/ca-certificates # a TLS-intercepting proxy's, where there is one
[ -d "$certificates" ] && extra=(--build-context "extra-certificates=$certificates")
target/release/multiarch build --builder default --target cli --build-arg PACKAGE=multiarch \
  --build-arg "BUILD_IMAGE=$BASE" "${extra[@]}" --platform linux/amd64 --load -t "$cli" \
  --plain . >/dev/null 2>&1

# A registry of this run's own, holding the stand-in base the builders pull.
sed -e "s/127.0.0.1:5000:5000/127.0.0.1:$port:5000/" -e "s/^name: multiarch$/name: multiarch-bench-$$/" \
  -e "s/container_name: multiarch-registry$/container_name: multiarch-bench-registry-$$/" \
  -e "s/name: multiarch-registry-data$/name: multiarch-bench-registry-data-$$/" registry.yml \
  >"$scratch/registry.yml"
target/release/multiarch registry --file "$scratch/registry.yml" up >/dev/null 2>&1
docker tag "$BASE" "$registry/$BASE"
docker push --quiet "$registry/$BASE" >/dev/null

# PATHs with the programs multi-arch.sh runs and no cargo; one also with multiarch.
mkdir -p "$scratch/docker-only" "$scratch/installed"
for program in bash docker curl id stat mkdir dirname tr cut sort sed seq sleep cat; do
  ln -s "$(command -v "$program")" "$scratch/docker-only/$program"
  ln -s "$(command -v "$program")" "$scratch/installed/$program"
done
ln -s "$PWD/target/release/multiarch" "$scratch/installed/multiarch"

demo() { # installed|image BUILDER
  local bin=$scratch/docker-only
  [ "$1" = image ] || bin=$scratch/installed
  mkdir -p "$scratch/home-$2"
  env -i PATH="$bin" HOME="$scratch/home-$2" NO_COLOR=1 REGISTRY="$registry" \
    REGISTRY_FILE="$scratch/registry.yml" IMAGE="$registry/arch-server:bench" \
    PLATFORMS="$PLATFORMS" MULTIARCH_IMAGE="$cli" BUILD_IMAGE="$registry/$BASE" \
    BUILDER="$2" ${extra:+EXTRA_CERTIFICATES="$certificates"} ./multi-arch.sh
}

declare -A cold warm
for how in installed image; do
  builder=multiarch-bench-alone-$how-$$
  builders+=("$builder")
  cold[$how]=$(seconds demo "$how" "$builder")
  warm[$how]=""
  for _ in $(seq 1 "$WARM_RUNS"); do warm[$how]+="$(seconds demo "$how" "$builder") "; done
done

out=$(mktemp)
{
  echo "<!-- demo-alone:start -->"
  echo "## The demo with Docker alone: the CLI image against the installed binary"
  echo
  echo "- command: \`bench/demo-alone.sh\` (\`./multi-arch.sh\` to its end with a PATH without cargo, $PLATFORMS; one cold run each, a new builder; $WARM_RUNS warm runs each, the same builder)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); Docker $(docker version -f '{{.Server.Version}}'); the compile stage on the test bed's stand-in for debian:trixie-slim"
  echo
  echo "| multiarch reached as | cold (s) | warm, runs (s) | warm, median |"
  echo "| --- | ---: | --- | ---: |"
  echo "| the installed binary | ${cold[installed]} | ${warm[installed]% } | $(echo "${warm[installed]}" | median) s |"
  echo "| the CLI image (\`docker run\` per command) | ${cold[image]} | ${warm[image]% } | $(echo "${warm[image]}" | median) s |"
  echo
  echo "Cold, the compile stage fetches and compiles every crate for both platforms in the builder's cache mounts, which is most of the time; warm, BuildKit's cache serves the compile and the runs are the registry, the builder, the pushes and the two containers. The CLI image adds one container start to each of the six multiarch commands."
  echo "<!-- demo-alone:end -->"
} >"$out"
write_section demo-alone "$out"
