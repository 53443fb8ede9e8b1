#!/usr/bin/env bash
# 1. `multiarch demo` end to end with warm caches (target: under 120 s on 2 cores).
# 2. A two-platform build and push after a one-line source change, cross-compiled on the
#    host (scripts/build-dist.sh, then the Dockerfile with the binaries as its `build`
#    stage), against the same change compiled inside toolchain images of each platform
#    (bench/emulated/Dockerfile: the arm64 half runs rustc under QEMU), in the same run.
#    The emulated reference needs bench/rust-images.sh once (about 8 minutes), and its
#    first build compiles every crate under QEMU (about half an hour); EMULATED=0 skips it.
# Writes the results into BENCHMARKS.md between the demo markers.
#
#   bench/demo.sh       (needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-3}
EMULATED=${EMULATED:-1}
# Each emulated rebuild takes minutes (the link-time optimisation runs under QEMU too).
EMULATED_RUNS=${EMULATED_RUNS:-1}

cargo build --release -q -p multiarch
scripts/build-dist.sh amd64 arm64 2>/dev/null
state=$(mktemp -d)
export MULTIARCH_STATE_DIR=$state
# The changed file goes back with its old modification time too (`cp -p`), so that the
# builds after this one do not see a change that is not there: under QEMU a needless
# rebuild costs half an hour.
cp -p src/machine.rs "$state/machine.rs"
restore_source() { cp -p "$state/machine.rs" src/machine.rs; }
registry_was_up=false
target/release/multiarch registry status >/dev/null 2>&1 && registry_was_up=true
restore() {
  restore_source
  $registry_was_up || target/release/multiarch registry down --volumes >/dev/null 2>&1 || true
  docker rmi -f localhost:5000/arch-server:demo localhost:5000/arch-server:bench \
    localhost:5000/arch-server:bench-emulated >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap restore EXIT

# Warm-up run: registry image, builder, layers in the engine's cache.
target/release/multiarch demo --binaries dist >/dev/null 2>&1
demo_times=()
for _ in $(seq 1 "$RUNS"); do
  start=$(date +%s.%N)
  target/release/multiarch demo --binaries dist >/dev/null 2>&1
  demo_times+=("$(echo "$(date +%s.%N) - $start" | bc)")
done

# A one-line change, cross-compiled for both platforms, built and pushed.
cross_times=()
for i in $(seq 1 "$RUNS"); do
  echo "// bench change $i" >>src/machine.rs
  start=$(date +%s.%N)
  scripts/build-dist.sh amd64 arm64 2>/dev/null
  target/release/multiarch build -t localhost:5000/arch-server:bench --build-context build=dist \
    --push --plain . >/dev/null 2>&1
  cross_times+=("$(echo "$(date +%s.%N) - $start" | bc)")
  restore_source
done
scripts/build-dist.sh amd64 arm64 2>/dev/null

# The same one-line change, compiled under emulation for arm64 (natively for amd64).
emulated_times=()
if [ "$EMULATED" = 1 ]; then
  bash bench/rust-images.sh >&2
  emulated_build() {
    target/release/multiarch build target/bench-emulated/context -f bench/emulated/Dockerfile \
      -t localhost:5000/arch-server:bench-emulated --push --plain >/dev/null 2>&1
  }
  bench/emulated/context.sh >/dev/null
  emulated_build # warm-up: every crate, once
  for i in $(seq 1 "$EMULATED_RUNS"); do
    echo "// bench change $i" >>src/machine.rs
    bench/emulated/context.sh >/dev/null
    start=$(date +%s.%N)
    emulated_build
    emulated_times+=("$(echo "$(date +%s.%N) - $start" | bc)")
    restore_source
  done
fi

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
section=$(mktemp)
{
  echo "<!-- demo:start -->"
  echo "## The demo, and rebuilding after a one-line change"
  echo
  echo "- command: \`bench/demo.sh\` ($RUNS runs each, $EMULATED_RUNS for the emulated build, after one warm-up run)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), Docker $(docker version -f '{{.Server.Version}}')"
  echo
  echo "| what | runs (s) | median |"
  echo "| --- | --- | ---: |"
  echo "| \`multiarch demo\`, warm (target: under 120 s) | $(printf '%.1f ' "${demo_times[@]}") | $(printf '%.1f' "$(median "${demo_times[@]}")") s |"
  echo "| one-line change, cross-compiled on the host, both platforms built and pushed | $(printf '%.1f ' "${cross_times[@]}") | $(printf '%.1f' "$(median "${cross_times[@]}")") s |"
  if [ ${#emulated_times[@]} -gt 0 ]; then
    cross=$(median "${cross_times[@]}")
    emulated=$(median "${emulated_times[@]}")
    echo "| the same change compiled inside toolchain images (arm64 under QEMU, amd64 native) | $(printf '%.1f ' "${emulated_times[@]}") | $(printf '%.1f' "$emulated") s |"
    echo
    echo "Cross-compiling is **$(echo "scale=1; $emulated / $cross" | bc)×** faster than compiling under emulation for this change (target: at least 10×)."
    echo "Both rebuild only the changed crate with warm caches (host \`target/\` for the cross build, a cache mount per platform for the emulated one) and push both platforms."
    echo "The toolchain images are Debian trixie's rustc and cargo 1.85, debootstrapped by \`bench/rust-images.sh\`; the cross build uses rustup's toolchain for amd64 and Debian's rustc 1.85 for arm64."
  else
    echo "| the same, compiled under QEMU emulation | skipped (EMULATED=0) | - |"
  fi
  echo "<!-- demo:end -->"
} >"$section"
write_section demo "$section"
