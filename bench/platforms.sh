#!/usr/bin/env bash
# The eight platforms (the is-tester demo's seven, and riscv64), in one run:
# 1. a one-line change to the server, cross-compiled on the host for all eight
#    (scripts/build-dist.sh) and built and pushed as one index;
# 2. `multiarch verify` of that image, static only and full (each platform run, seven of
#    them under QEMU), with `docker buildx imagetools inspect` of the same image beside it
#    for scale (it reads the index and prints it, nothing more).
# 3. the same one-line change compiled under QEMU for one non-native platform
#    (EMULATED_PLATFORM, linux/arm64 by default) inside a toolchain image of that
#    platform (bench/emulated/Dockerfile, images from bench/rust-images.sh), built and
#    pushed, after one warm-up build; EMULATED=0 skips it (it takes half an hour or more).
#
#   bench/platforms.sh     (needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-3}
EMULATED=${EMULATED:-1}
EMULATED_PLATFORM=${EMULATED_PLATFORM:-linux/arm64}
IMAGE=localhost:5000/arch-server:bench-eight
EMULATED_IMAGE=localhost:5000/arch-server:bench-eight-emulated

cargo build --release -q -p multiarch
m=target/release/multiarch
state=$(mktemp -d)
export MULTIARCH_STATE_DIR=$state
cp -p src/machine.rs "$state/machine.rs"
registry_was_up=false
$m registry status >/dev/null 2>&1 && registry_was_up=true
cleanup() {
  cp -p "$state/machine.rs" src/machine.rs
  $registry_was_up || $m registry down --volumes >/dev/null 2>&1 || true
  docker rmi -f "$IMAGE" "$EMULATED_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT
$m registry up >/dev/null 2>&1
# shellcheck disable=SC2046 # one argument per platform
scripts/build-dist.sh $(tr ',' ' ' <<<"$ALL") 2>/dev/null

rebuild() { # n
  echo "// bench change $1" >>src/machine.rs
  # shellcheck disable=SC2046
  scripts/build-dist.sh $(tr ',' ' ' <<<"$ALL") &&
    $m build -t "$IMAGE" --platform "$PLATFORMS" --build-context build=dist --push .
}

rebuilds="" static="" full="" imagetools="" emulated=""
for i in $(seq 1 "$RUNS"); do
  rebuilds+="$(seconds rebuild "$i") "
  cp -p "$state/machine.rs" src/machine.rs
done
if [ "$EMULATED" = 1 ]; then
  bash bench/rust-images.sh "${EMULATED_PLATFORM#linux/}" >&2
  emulated_build() {
    $m build target/bench-emulated/context -f bench/emulated/Dockerfile \
      -t "$EMULATED_IMAGE" --platform "$EMULATED_PLATFORM" --push --plain
  }
  bench/emulated/context.sh >/dev/null
  emulated_build >/dev/null 2>&1 # warm-up: every crate, once
  echo "// bench change emulated" >>src/machine.rs
  bench/emulated/context.sh >/dev/null
  emulated+="$(seconds emulated_build) "
  cp -p "$state/machine.rs" src/machine.rs
fi
for _ in $(seq 1 "$RUNS"); do
  static+="$(seconds $m verify "$IMAGE" --static-only) "
  full+="$(seconds $m verify "$IMAGE") "
  imagetools+="$(seconds docker buildx imagetools inspect "$IMAGE") "
done
sizes=$(for p in $(tr ',' ' ' <<<"$ALL"); do printf '%s %s, ' "$p" "$(numfmt --to=iec-i --suffix=B "$(stat -c %s "dist/${p//\//}/arch-server")")"; done)

row() { printf '| %s | %s | %s s |\n' "$1" "$2" "$(echo "$2" | median)"; }
out=$(mktemp)
{
  echo "<!-- platforms:start -->"
  echo "## Eight platforms: rebuild after a one-line change, and verify"
  echo
  echo "- command: \`bench/platforms.sh\` ($RUNS runs each; $PLATFORMS)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); Docker $(docker version -f '{{.Server.Version}}'); QEMU $(qemu-aarch64-static --version | head -n1 | awk '{print $3}')"
  echo
  echo "| what | runs (s) | median |"
  echo "| --- | --- | ---: |"
  row "one-line change: eight platforms cross-compiled on the host, built and pushed as one index" "${rebuilds% }"
  [ -z "$emulated" ] || row "the same change compiled under QEMU for $EMULATED_PLATFORM alone, in a toolchain image of that platform, built and pushed" "${emulated% }"
  row "\`multiarch verify --static-only\` (configs, ELF headers, ARM levels)" "${static% }"
  row "\`multiarch verify\` (also pulls and runs each platform, seven under QEMU)" "${full% }"
  row "reference: \`docker buildx imagetools inspect\` of the same image" "${imagetools% }"
  echo
  echo "Stripped static binaries: ${sizes%, }."
  if [ -n "$emulated" ]; then
    emulated_median=$(echo "$emulated" | median) rebuilds_median=$(echo "$rebuilds" | median)
    echo "One platform under QEMU took $(printf '%.1f' "$(echo "$emulated_median / $rebuilds_median" | bc -l)")× as long as all eight cross-compiled, $(printf '%.0f' "$(echo "8 * $emulated_median / $rebuilds_median" | bc -l)")× as long per platform (warm caches both: the host's target/ for the cross builds, a cache mount for the emulated one; both rebuild only the changed crate, release profile with thin LTO)."
  fi
  echo "<!-- platforms:end -->"
} >"$out"
write_section platforms "$out"
