#!/usr/bin/env bash
# The pre-flight check against the build's own time to its first failure (issue #28),
# same run: an app whose final stage starts FROM a base that lacks linux/arm64, after a
# stage that works a while for each platform (a CPU-bound step, arm64 under QEMU), built
# for linux/amd64,linux/arm64. `multiarch build --preflight` answers from manifests;
# `multiarch build --no-preflight` finds out when BuildKit gets there. Both must fail.
# Then the same app on a base whose arm64 entry holds amd64 programs: the pre-flight
# check fails it; the build itself succeeds, on the wrong base.
#
#   bench/preflight.sh     (needs the test bed: sudo scripts/testbed.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-3}
LOOP=${LOOP:-2000000}

cargo build --release -q -p multiarch
m=target/release/multiarch
work=$(mktemp -d)
registry_was_up=false
$m registry status >/dev/null 2>&1 && registry_was_up=true
base=localhost:5000/bench-preflight/amd64-only:1
worker=localhost:5000/bench-preflight/busybox:1
liar=localhost:5000/bench-preflight/liar:1
cleanup() {
  $registry_was_up || $m registry down --volumes >/dev/null 2>&1 || true
  docker rmi -f "$base" "$worker" "$liar" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
$m registry up >/dev/null 2>&1
busybox=${MULTIARCH_BUSYBOX_DIR:-/var/cache/multiarch/busybox}
for arch in amd64 arm64; do mkdir -p "$work/base/$arch/bin" && cp "$busybox/$arch/busybox" "$work/base/$arch/bin/"; done
# shellcheck disable=SC2016 # the Dockerfile expands it
printf 'FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}/ /\nENTRYPOINT ["/bin/busybox"]\n' >"$work/base/Dockerfile"
docker buildx build --builder default --quiet --platform linux/amd64 -t "$base" --push "$work/base" >/dev/null
docker buildx build --builder default --quiet --platform linux/amd64,linux/arm64 -t "$worker" --push "$work/base" >/dev/null
# The liar: amd64's busybox in both entries.
mkdir -p "$work/liar/arm64" && cp -r "$work/base/amd64" "$work/liar/amd64" && cp -r "$work/base/amd64/bin" "$work/liar/arm64/bin"
cp "$work/base/Dockerfile" "$work/liar/"
docker buildx build --builder default --quiet --platform linux/amd64,linux/arm64 -t "$liar" --push "$work/liar" >/dev/null
app() { # dir base
  mkdir -p "$1"
  cat >"$1/Dockerfile" <<DOCKERFILE
FROM $worker AS work
ARG TARGETARCH
RUN ["/bin/busybox", "sh", "-c", "i=0; while [ \$i -lt $LOOP ]; do i=\$((i+1)); done; echo \$TARGETARCH > /done"]
FROM $2
COPY --from=work /done /done
DOCKERFILE
}
app "$work/app" "$base"
app "$work/liar-app" "$liar"

# Wall seconds of a command that must fail (a success is a broken benchmark).
failing() {
  local t0
  t0=$(date +%s.%N)
  if "$@" >/dev/null 2>&1; then
    echo "error: \`$*\` succeeded; it should have failed on the base" >&2
    exit 1
  fi
  printf '%.2f\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
}
state=$(mktemp -d -p "$work")
export MULTIARCH_STATE_DIR=$state
preflight="" build="" liar_preflight="" liar_build=""
for i in $(seq 1 "$RUNS"); do
  target=localhost:5000/bench-preflight/app:$i
  preflight+="$(failing $m build "$work/app" -t "$target" --platform linux/amd64,linux/arm64 --push --preflight) "
  build+="$(failing $m build "$work/app" -t "$target" --platform linux/amd64,linux/arm64 --push --no-preflight --no-cache) "
  liar_preflight+="$(failing $m build "$work/liar-app" -t "$target" --platform linux/amd64,linux/arm64 --push --preflight) "
  liar_build+="$(seconds $m build "$work/liar-app" -t "$target" --platform linux/amd64,linux/arm64 --push --no-preflight --no-cache) "
done

row() { printf '| %s | %s | %s s |\n' "$1" "${2% }" "$(echo "$2" | median)"; }
out=$(mktemp)
{
  echo "<!-- preflight:start -->"
  echo "## A base that lacks a platform: the pre-flight check against the build"
  echo
  echo "- command: \`bench/preflight.sh\` ($RUNS runs each, alternating; LOOP=$LOOP)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, $(uname -m); Docker $(docker version -f '{{.Server.Version}}'); the engine's BuildKit"
  echo "- the app: a stage that counts to $LOOP in busybox sh for each platform (arm64 under QEMU), then a final stage FROM a base with linux/amd64 only; built for linux/amd64,linux/arm64"
  echo
  echo "| what | runs (s) | median |"
  echo "| --- | --- | ---: |"
  row "\`multiarch build --preflight\`: the table, then exit 1" "${preflight% }"
  row "reference: \`multiarch build --no-preflight --no-cache\` until BuildKit fails on the base" "${build% }"
  row "a base whose arm64 entry holds amd64 programs: \`--preflight\`, exit 1 naming it" "${liar_preflight% }"
  row "reference: the same build without it: succeeds, on the wrong base" "${liar_build% }"
  echo "<!-- preflight:end -->"
} >"$out"
write_section preflight "$out"
