#!/usr/bin/env bash
# What proving a CPU floor costs (issue #25): `multiarch verify` of the eight-platform
# image as it runs without `--cpu` (QEMU's default CPUs, the host's own CPU for amd64
# and 386) against `--cpu baseline` (every platform on the oldest CPU its name promises,
# amd64 and 386 under QEMU copied into their containers), same run; and the host's own
# platform alone, natively against under QEMU as x86-64-v1; and `--parity` (every layer
# read again for its paths) against `--static-only` alone.
#
#   bench/cpu-profiles.sh     (needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-3}
IMAGE=localhost:5000/arch-server:bench-cpu

cargo build --release -q -p multiarch
m=target/release/multiarch
state=$(mktemp -d)
export MULTIARCH_STATE_DIR=$state
registry_was_up=false
$m registry status >/dev/null 2>&1 && registry_was_up=true
cleanup() {
  $registry_was_up || $m registry down --volumes >/dev/null 2>&1 || true
  docker rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT
$m registry up >/dev/null 2>&1
# shellcheck disable=SC2046 # one argument per platform
scripts/build-dist.sh $(tr ',' ' ' <<<"$ALL") 2>/dev/null
$m build -t "$IMAGE" --platform "$PLATFORMS" --build-context build=dist --push . >/dev/null 2>&1

plain="" baseline="" native="" under_qemu="" static="" parity=""
for _ in $(seq 1 "$RUNS"); do
  plain+="$(seconds $m verify "$IMAGE") "
  baseline+="$(seconds $m verify "$IMAGE" --cpu baseline) "
  native+="$(seconds $m verify "$IMAGE" --platform linux/amd64) "
  under_qemu+="$(seconds $m verify "$IMAGE" --platform linux/amd64 --cpu x86-64-v1) "
  static+="$(seconds $m verify "$IMAGE" --static-only) "
  parity+="$(seconds $m verify "$IMAGE" --static-only --parity) "
done

row() { printf '| %s | %s | %s s |\n' "$1" "$2" "$(echo "$2" | median)"; }
out=$(mktemp)
{
  echo "<!-- cpu-profiles:start -->"
  echo "## The release gate: verify --cpu and --parity"
  echo
  echo "- command: \`bench/cpu-profiles.sh\` ($RUNS runs each, alternating; $PLATFORMS)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); Docker $(docker version -f '{{.Server.Version}}'); QEMU $(qemu-aarch64-static --version | head -n1 | awk '{print $3}')"
  echo
  echo "| what | runs (s) | median |"
  echo "| --- | --- | ---: |"
  row "reference: \`multiarch verify\`, QEMU's default CPUs, amd64 and 386 on the host's CPU" "${plain% }"
  row "\`multiarch verify --cpu baseline\`, every platform on its oldest CPU" "${baseline% }"
  row "linux/amd64 alone, natively" "${native% }"
  row "linux/amd64 alone, under QEMU in the container as x86-64-v1" "${under_qemu% }"
  row "reference: \`multiarch verify --static-only\`" "${static% }"
  row "\`multiarch verify --static-only --parity\`, the eight compared with each other" "${parity% }"
  echo "<!-- cpu-profiles:end -->"
} >"$out"
write_section cpu-profiles "$out"
