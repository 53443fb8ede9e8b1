#!/usr/bin/env bash
# What the image's malloc settings (GLIBC_TUNABLES in the Dockerfile: one arena, no
# thread caches) give and cost, against glibc's defaults, on the same binary: the
# server's anonymous memory idle and 4 s after a burst of 1,000 connections, and
# requests/s at concurrency 64. The two settings take turns, ROUNDS times each, because
# run-to-run noise on this machine is larger than the difference; medians are reported.
# Writes the results into BENCHMARKS.md between the malloc markers.
#
#   bench/malloc.sh          (ROUNDS=5, DURATION=10s by default)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
PORT=18190
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
cargo build --release -q -p arch-server --bin arch-server
image_tunables=$(sed -n 's/^ENV GLIBC_TUNABLES=//p' Dockerfile)
[ -n "$image_tunables" ] || { echo "error: no ENV GLIBC_TUNABLES in the Dockerfile" >&2; exit 1; }

anon_kib() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }

declare -A IDLE REST RPS
one_round() { # name tunables
  local name=$1 tunables=$2 pid
  env GLIBC_TUNABLES="$tunables" target/release/arch-server --port "$PORT" 2>/dev/null &
  pid=$!
  until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.1; done
  sleep 1
  IDLE[$name]+="$(anon_kib "$pid") "
  wrk -t2 -c1000 -d"$DURATION" --timeout 10s "http://127.0.0.1:$PORT/arch" >/dev/null
  # The server trims its heap at the first quiet 2-second tick (src/memory.rs).
  sleep 4
  REST[$name]+="$(anon_kib "$pid") "
  RPS[$name]+="$(wrk -t2 -c64 -d"$DURATION" "http://127.0.0.1:$PORT/arch" | awk '/^Requests\/sec/ {printf "%.0f", $2}') "
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
for round in $(seq 1 "$ROUNDS"); do
  echo "==> round $round of $ROUNDS" >&2
  one_round default ""
  one_round image "$image_tunables"
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
section=$(mktemp)
{
  echo "<!-- malloc:start -->"
  echo "## The image's malloc settings against glibc's defaults (\`bench/malloc.sh\`)"
  echo
  echo "- command: \`bench/malloc.sh\` ($ROUNDS rounds, the two settings taking turns; wrk ${DURATION} per load; the release binary on loopback)"
  echo "- date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, $(uname -m), $(. /etc/os-release; echo "$PRETTY_NAME"), $(ldd --version | head -n1)"
  echo
  echo "| malloc settings | anonymous memory idle | 4 s after 1,000 connections | requests/s at concurrency 64 |"
  echo "| --- | --- | --- | --- |"
  for name in default image; do
    label=$([ "$name" = default ] && echo "glibc defaults" || echo "\`$image_tunables\` (the image)")
    echo "| $label | $(median "${IDLE[$name]}") KiB (${IDLE[$name]% }) | $(median "${REST[$name]}") KiB (${REST[$name]% }) | $(median "${RPS[$name]}") (${RPS[$name]% }) |"
  done
  echo
  echo "The image's settings serve $(awk -v i="$(median "${RPS[image]}")" -v d="$(median "${RPS[default]}")" 'BEGIN {printf "%.0f", 100 * i / d}')% of the defaults' requests/s at concurrency 64 (median against median)."
  echo "Medians, each round's figure in brackets. With the defaults, chunks parked in each"
  echo "thread's cache and at the top of the second arena keep memory above idle after the"
  echo "trim; with one arena and no thread caches it goes back to the idle figure."
  echo "<!-- malloc:end -->"
} >"$section"
write_section malloc "$section"
